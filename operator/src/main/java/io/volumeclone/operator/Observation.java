package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.Pod;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.AgentRejection;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import java.time.Instant;

/**
 * What the operator saw of one started clone in one round, read once by {@link CloneObserver} and
 * then only looked at: {@link CloneRules} decides from it alone.
 *
 * @param volumeClone the freshest copy read (from the API server when the cache may lag)
 * @param pod the agent Pod, or null when there is none
 * @param node where the clone runs: where the Pod is bound, else what the status says
 * @param now the round's instant
 */
record Observation(VolumeClone volumeClone, Pod pod, String node, Instant now) {

  VolumeCloneStatus status() {
    return volumeClone.getStatus() == null ? new VolumeCloneStatus() : volumeClone.getStatus();
  }

  String podName() {
    return pod == null ? null : pod.getMetadata().getName();
  }

  int reruns() {
    Integer reruns = status().getRerunsWithoutCutover();
    return reruns == null ? 0 : reruns;
  }

  AgentRejection rejection() {
    return status().getAgentRejection();
  }
}
