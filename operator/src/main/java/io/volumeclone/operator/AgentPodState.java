package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.ContainerState;
import io.fabric8.kubernetes.api.model.ContainerStateTerminated;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.contract.AgentFailures;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * What an agent Pod object says about the agent, read without a client: how it ended, whether its
 * node refused or lost it, and the words for it in messages. Kubernetes' Pod reasons are strings;
 * this is the one place that knows which of them mean what.
 */
final class AgentPodState {

  /** Reasons of a Pod that lost its place, not the agent's failure: a new Pod resumes. */
  private static final Set<String> NODE_LOSS_REASONS =
      Set.of("Evicted", "Preempting", "NodeLost", "NodeShutdown", "Shutdown", "Terminated");

  /**
   * Reasons of a Pod the kubelet refused to admit (besides {@code OutOf<resource>}): the node is
   * there and fine, it just cannot run this Pod now, so a new one waits out a back-off.
   */
  private static final Set<String> REJECTION_REASONS =
      Set.of("NodeAffinity", "UnexpectedAdmissionError", "NodeLabelsChanged");

  private AgentPodState() {}

  static String phase(Pod pod) {
    return pod == null || pod.getStatus() == null ? null : pod.getStatus().getPhase();
  }

  static boolean terminating(Pod pod) {
    return pod.getMetadata().getDeletionTimestamp() != null;
  }

  /** A Pod the kubelet refused to admit: Failed with OutOfcpu, OutOfmemory, NodeAffinity, ... */
  static boolean rejected(Pod pod) {
    if (!"Failed".equals(phase(pod))) {
      return false;
    }
    String reason = pod.getStatus().getReason();
    return reason != null && (reason.startsWith("OutOf") || REJECTION_REASONS.contains(reason));
  }

  static boolean lostNode(Pod pod) {
    return "Failed".equals(phase(pod))
        && pod.getStatus().getReason() != null
        && NODE_LOSS_REASONS.contains(pod.getStatus().getReason());
  }

  static boolean succeededWithoutCutover(VolumeClone clone, Pod pod) {
    return "Succeeded".equals(phase(pod))
        && !(clone.getStatus() != null && clone.getStatus().isTrue(ConditionTypes.CUT_OVER));
  }

  static boolean ownedBy(HasMetadata pod, VolumeClone clone) {
    return pod.getMetadata().getOwnerReferences() != null
        && pod.getMetadata().getOwnerReferences().stream()
            .anyMatch(o -> clone.getMetadata().getUid().equals(o.getUid()));
  }

  /** Why kube-scheduler has not placed the Pod, as its PodScheduled condition says, or null. */
  static String unschedulable(Pod pod) {
    if (pod.getStatus() == null || pod.getStatus().getConditions() == null) {
      return null;
    }
    return pod.getStatus().getConditions().stream()
        .filter(c -> "PodScheduled".equals(c.getType()) && "False".equals(c.getStatus()))
        .map(c -> c.getReason() + ": " + c.getMessage())
        .findFirst()
        .orElse(null);
  }

  /** The container's permanent-failure exit (now or before its last restart), as a message. */
  static Optional<String> permanentExit(Pod pod) {
    if (pod == null || pod.getStatus() == null || pod.getStatus().getContainerStatuses() == null) {
      return Optional.empty();
    }
    for (ContainerStatus cs : pod.getStatus().getContainerStatuses()) {
      for (ContainerState state : new ContainerState[] {cs.getState(), cs.getLastState()}) {
        ContainerStateTerminated t = state == null ? null : state.getTerminated();
        if (t != null
            && t.getExitCode() != null
            && t.getExitCode() == AgentFailures.EXIT_PERMANENT) {
          return Optional.of(
              "agent Pod "
                  + pod.getMetadata().getName()
                  + " exited with code "
                  + AgentFailures.EXIT_PERMANENT
                  + " (a failure that running again cannot cure)"
                  + (t.getMessage() == null || t.getMessage().isBlank()
                      ? ""
                      : ": " + t.getMessage().strip())
                  + "; its report did not reach the VolumeClone, the Pod's log says why");
        }
      }
    }
    return Optional.empty();
  }

  /** The Pod's reason, message and container exits, for a message that says why it ended. */
  static String why(Pod pod) {
    List<String> parts = new ArrayList<>();
    if (pod.getStatus().getReason() != null) {
      parts.add(pod.getStatus().getReason());
    }
    if (pod.getStatus().getMessage() != null) {
      parts.add(pod.getStatus().getMessage());
    }
    if (pod.getStatus().getContainerStatuses() != null) {
      for (ContainerStatus cs : pod.getStatus().getContainerStatuses()) {
        ContainerStateTerminated t = cs.getState() == null ? null : cs.getState().getTerminated();
        if (t != null) {
          parts.add(
              "container "
                  + cs.getName()
                  + " exited with code "
                  + t.getExitCode()
                  + (t.getMessage() == null ? "" : ": " + t.getMessage().strip()));
        }
      }
    }
    return parts.isEmpty() ? "no reason given" : String.join("; ", parts);
  }
}
