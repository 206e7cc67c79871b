package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.Pod;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.volumeclone.api.v1alpha1.VolumeClone;

/**
 * The short Pod that runs {@code volume-clone forget} on a deleted, completed clone's node to
 * remove its default metadata file, as a dependent resource: {@link #desired} is {@link
 * AgentPodFactory#forgetPod} on the node the status names. Its informer wakes the deletion when the
 * Pod ends.
 */
final class MetadataRemovalPodDependent extends OwnedPodDependent {

  private final AgentPodFactory pods;

  MetadataRemovalPodDependent(AgentPodFactory pods) {
    super(AgentPodFactory.METADATA_REMOVAL_SELECTOR);
    this.pods = pods;
  }

  @Override
  String podName(String cloneName) {
    return AgentPodFactory.forgetPodName(cloneName);
  }

  @Override
  protected Pod desired(VolumeClone clone, Context<VolumeClone> context) {
    return pods.forgetPod(clone, clone.getStatus().getNodeName());
  }
}
