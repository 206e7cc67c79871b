package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.Pod;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.volumeclone.api.v1alpha1.VolumeClone;

/**
 * The agent Pod as a dependent resource: {@link #desired} is what {@link AgentPodFactory} builds
 * for the clone's placement.
 *
 * <p>Standalone rather than in a managed workflow: the Pod may only be created once the clone is
 * validated and admitted, and its placement (the node, the attachments) comes from that decision,
 * which the reconciler hands over in the context ({@link #reconcile(AgentPodFactory.Plan,
 * VolumeClone, Context)}).
 */
final class AgentPodDependent extends OwnedPodDependent {

  /** The context key of the placement {@link #desired} builds the Pod for. */
  private static final Class<AgentPodFactory.Plan> PLAN = AgentPodFactory.Plan.class;

  private final AgentPodFactory pods;

  AgentPodDependent(AgentPodFactory pods) {
    super(AgentPodFactory.AGENT_SELECTOR);
    this.pods = pods;
  }

  @Override
  String podName(String cloneName) {
    return AgentPodFactory.podName(cloneName);
  }

  /** The agent Pod for {@code plan}: the one there is, or a new one. */
  Pod reconcile(AgentPodFactory.Plan plan, VolumeClone clone, Context<VolumeClone> context) {
    context.managedWorkflowAndDependentResourceContext().put(PLAN, plan);
    return reconcileFor(clone, context);
  }

  @Override
  protected Pod desired(VolumeClone clone, Context<VolumeClone> context) {
    return pods.build(
        context.managedWorkflowAndDependentResourceContext().getMandatory(PLAN, PLAN));
  }
}
