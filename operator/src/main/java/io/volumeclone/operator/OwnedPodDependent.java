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
 * A Pod of one VolumeClone as a java-operator-sdk dependent resource: found by its fixed name among
 * the Pods its informer (one label selector) sees, created from {@link #desired} when missing,
 * never updated (a Pod's spec cannot change: when one must go, the operator removes it and the next
 * round creates the new one), and deleted by Kubernetes with its VolumeClone through the controller
 * reference {@link AgentPodFactory} sets.
 */
abstract class OwnedPodDependent extends KubernetesDependentResource<Pod, VolumeClone>
    implements Creator<Pod, VolumeClone>, GarbageCollected<VolumeClone> {

  private final String selector;

  OwnedPodDependent(String selector) {
    super(Pod.class);
    this.selector = selector;
  }

  /** The Pod's name for a clone of this name. */
  abstract String podName(String cloneName);

  /** The clone's Pod from the informer's cache (which maps Pods to clones by owner). */
  Optional<Pod> current(VolumeClone clone, Context<VolumeClone> context) {
    return getSecondaryResource(clone, context);
  }

  /** The clone's Pod: the one there is, or a new one built by {@link #desired}. */
  Pod reconcileFor(VolumeClone clone, Context<VolumeClone> context) {
    return reconcile(clone, context)
        .getSingleResource()
        .orElseThrow(
            () ->
                new IllegalStateException(
                    "no Pod "
                        + podName(clone.getMetadata().getName())
                        + " for VolumeClone "
                        + clone.getMetadata().getNamespace()
                        + "/"
                        + clone.getMetadata().getName()));
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

  /** The factory sets the controller reference itself (with the right blockOwnerDeletion). */
  @Override
  protected void addReferenceHandlingMetadata(Pod desired, VolumeClone clone) {}

  @Override
  protected ResourceID targetSecondaryResourceID(VolumeClone clone, Context<VolumeClone> context) {
    return new ResourceID(
        podName(clone.getMetadata().getName()), clone.getMetadata().getNamespace());
  }

  /** Only these Pods, not every Pod of the watched namespaces. */
  @Override
  protected InformerEventSourceConfiguration.Builder<Pod> informerConfigurationBuilder(
      EventSourceContext<VolumeClone> context) {
    return super.informerConfigurationBuilder(context).withLabelSelector(selector);
  }

  /** The informer this dependent registers, for the reconciler's event sources. */
  InformerEventSource<Pod, VolumeClone> eventSourceFor(EventSourceContext<VolumeClone> context) {
    return eventSource(context).orElseThrow();
  }
}
