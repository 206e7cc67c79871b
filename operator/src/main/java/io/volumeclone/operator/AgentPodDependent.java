package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.dependent.GarbageCollected;
import io.javaoperatorsdk.operator.processing.dependent.Creator;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.volumeclone.api.v1alpha1.VolumeClone;
import java.util.Optional;

/**
 * The agent Pod as a java-operator-sdk dependent resource: {@link #desired} is what {@link
 * AgentPodFactory} builds for the clone's placement, and reconciling it creates the Pod when it is
 * missing. It is a Creator only: a Pod's spec cannot change, and when the agent Pod must go (a lost
 * node, a rejection, a rerun, a failed clone) the reconciler removes it and the next round creates
 * the new one here. Kubernetes deletes it with its VolumeClone (owner reference).
 *
 * <p>Standalone rather than in a managed workflow: the Pod may only be created once the clone is
 * validated and admitted, and its placement (the node, the attachments) comes from that decision,
 * which the reconciler hands over in the context ({@link #reconcile(AgentPodFactory.Plan,
 * VolumeClone, Context)}).
 */
final class AgentPodDependent extends KubernetesDependentResource<Pod, VolumeClone>
    implements Creator<Pod, VolumeClone>, GarbageCollected<VolumeClone> {

  /** The context key of the placement {@link #desired} builds the Pod for. */
  private static final Class<AgentPodFactory.Plan> PLAN = AgentPodFactory.Plan.class;

  private final AgentPodFactory pods;

  AgentPodDependent(AgentPodFactory pods) {
    super(Pod.class);
    this.pods = pods;
  }

  /** The clone's agent Pod, from the informer's cache. */
  Optional<Pod> current(VolumeClone clone, Context<VolumeClone> context) {
    return getSecondaryResource(clone, context);
  }

  /** The agent Pod for {@code plan}: the one there is, or a new one. */
  Pod reconcile(AgentPodFactory.Plan plan, VolumeClone clone, Context<VolumeClone> context) {
    context.managedWorkflowAndDependentResourceContext().put(PLAN, plan);
    return reconcile(clone, context)
        .getSingleResource()
        .orElseThrow(
            () ->
                new IllegalStateException(
                    "no agent Pod for VolumeClone "
                        + clone.getMetadata().getNamespace()
                        + "/"
                        + clone.getMetadata().getName()));
  }

  @Override
  protected Pod desired(VolumeClone clone, Context<VolumeClone> context) {
    return pods.build(
        context.managedWorkflowAndDependentResourceContext().getMandatory(PLAN, PLAN));
  }

  /**
   * Creates the Pod; one that already exists (our own create the informer has not seen yet, or a
   * second operator's) is taken as it is.
   */
  @Override
  public Pod create(Pod desired, VolumeClone clone, Context<VolumeClone> context) {
    try {
      return context.getClient().resource(desired).create();
    } catch (KubernetesClientException e) {
      if (e.getCode() != 409) {
        throw e;
      }
      Pod existing =
          context
              .getClient()
              .pods()
              .inNamespace(desired.getMetadata().getNamespace())
              .withName(desired.getMetadata().getName())
              .get();
      if (existing == null) {
        throw e;
      }
      return existing;
    }
  }

  /** The factory sets the controller reference itself (with blockOwnerDeletion). */
  @Override
  protected void addReferenceHandlingMetadata(Pod desired, VolumeClone clone) {}

  @Override
  protected ResourceID targetSecondaryResourceID(VolumeClone clone, Context<VolumeClone> context) {
    return new ResourceID(
        AgentPodFactory.podName(clone.getMetadata().getName()), clone.getMetadata().getNamespace());
  }

  /** Only the agent Pods, not every Pod of the watched namespaces. */
  @Override
  protected InformerEventSourceConfiguration.Builder<Pod> informerConfigurationBuilder(
      EventSourceContext<VolumeClone> context) {
    return super.informerConfigurationBuilder(context)
        .withLabelSelector(AgentPodFactory.AGENT_SELECTOR);
  }

  /** The informer this dependent registers, for the reconciler's event sources. */
  InformerEventSource<Pod, VolumeClone> eventSourceFor(EventSourceContext<VolumeClone> context) {
    return eventSource(context).orElseThrow();
  }
}
