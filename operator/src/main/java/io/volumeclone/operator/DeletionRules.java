package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.Pod;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;

/**
 * What deleting a VolumeClone needs next, decided from what was seen alone (no client, no clock):
 * stop the agent Pod and wait for it, give up on one whose node no longer finishes it, then remove
 * a completed clone's default metadata file on its node, then let the finalizer go.
 *
 * <p>Waiting has an end: a Pod's deletionTimestamp is when its grace period ends, and past that
 * plus {@code agent.deletionTimeout} the kubelet is taken to be gone (node lost, NotReady,
 * deleted). Waiting forever would keep the VolumeClone, and every namespace deletion with it,
 * forever. The metadata-removal Pod gets the same timeout from its creation.
 */
final class DeletionRules {

  static final Duration POLL = Duration.ofSeconds(2);

  private DeletionRules() {}

  /**
   * One deletion round's view: the clone, its agent Pod and its metadata-removal Pod (each only if
   * the clone owns it, else null), and the round's instant.
   */
  record Seen(VolumeClone volumeClone, Pod agentPod, Pod forgetPod, Instant now) {}

  /** How the metadata-removal Pod ended. */
  enum Removal {
    REMOVED,
    FAILED,
    TIMED_OUT
  }

  sealed interface Step {

    /** Stop the running agent with its grace period, so that it commits its metadata. */
    record StopAgent(Pod pod) implements Step {}

    /** Wait this long, then look again. */
    record Wait(Duration delay) implements Step {}

    /** The agent Pod is overdue: remove the VolumeClone anyway, saying what is left and where. */
    record LeaveAgentBehind(Pod pod) implements Step {}

    /** Start the Pod that removes the completed clone's default metadata file on its node. */
    record RemoveMetadata(String node) implements Step {}

    /** The metadata-removal Pod ended (or is overdue): report, remove it, release. */
    record MetadataDone(Pod pod, String node, Removal removal) implements Step {}

    /** Nothing left to do: the finalizer may go. */
    record Release() implements Step {}
  }

  static Step next(Seen seen, Duration deletionTimeout) {
    Pod agent = seen.agentPod();
    if (agent != null && AgentPodState.terminating(agent)) {
      Duration left = leftToTerminate(agent, deletionTimeout, seen.now());
      return left.isZero() ? new Step.LeaveAgentBehind(agent) : new Step.Wait(left);
    }
    if (agent != null) {
      return new Step.StopAgent(agent);
    }
    VolumeClone clone = seen.volumeClone();
    if (!ownsDefaultMetadataOnANode(clone)) {
      return new Step.Release();
    }
    String node = clone.getStatus().getNodeName();
    Pod forget = seen.forgetPod();
    if (forget == null) {
      return new Step.RemoveMetadata(node);
    }
    String phase = AgentPodState.phase(forget);
    if ("Succeeded".equals(phase)) {
      return new Step.MetadataDone(forget, node, Removal.REMOVED);
    }
    if ("Failed".equals(phase)) {
      return new Step.MetadataDone(forget, node, Removal.FAILED);
    }
    Instant created = parse(forget.getMetadata().getCreationTimestamp(), seen.now());
    if (seen.now().isBefore(created.plus(deletionTimeout))) {
      return new Step.Wait(POLL);
    }
    return new Step.MetadataDone(forget, node, Removal.TIMED_OUT);
  }

  /**
   * A completed clone whose metadata is the default file, on the node the status names: the file
   * only records that every region was copied, and left there it would make a new clone of the same
   * name refuse to start (it is bound to this clone's uid).
   */
  static boolean ownsDefaultMetadataOnANode(VolumeClone clone) {
    return clone.getStatus() != null
        && clone.getStatus().getPhase() == Phase.Completed
        && clone.getStatus().getNodeName() != null
        && clone.getSpec() != null
        && clone.getSpec().getMetadata() == null;
  }

  /** How much longer to wait for a terminating Pod, at most {@link #POLL}; zero once overdue. */
  private static Duration leftToTerminate(Pod pod, Duration deletionTimeout, Instant now) {
    Instant deadline;
    try {
      deadline = Instant.parse(pod.getMetadata().getDeletionTimestamp()).plus(deletionTimeout);
    } catch (DateTimeParseException e) {
      return POLL;
    }
    Duration left = Duration.between(now, deadline);
    if (left.isNegative() || left.isZero()) {
      return Duration.ZERO;
    }
    return left.compareTo(POLL) < 0 ? left : POLL;
  }

  private static Instant parse(String instant, Instant fallback) {
    try {
      return Instant.parse(instant);
    } catch (RuntimeException e) {
      return fallback;
    }
  }
}
