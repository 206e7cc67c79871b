package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.volumeclone.api.AgentPaths;
import io.volumeclone.api.Durations;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What deleting a VolumeClone does before its finalizer goes (this is cancel): stop the agent Pod
 * with its grace period so it commits its metadata, give up on a Pod whose node no longer finishes
 * it (saying what is left behind, and where), and remove a completed clone's default metadata file
 * on its node. No device data is ever deleted.
 */
final class CloneDeletion {

  static final Duration POLL = Duration.ofSeconds(2);

  private final KubernetesClient client;
  private final OperatorOptions options;
  private final Clock clock;
  private final AgentPodFactory pods;
  private final CloneObserver observer;
  private final EventRecorder events;

  CloneDeletion(
      KubernetesClient client,
      OperatorOptions options,
      Clock clock,
      AgentPodFactory pods,
      CloneObserver observer,
      EventRecorder events) {
    this.client = client;
    this.options = options;
    this.clock = clock;
    this.pods = pods;
    this.observer = observer;
    this.events = events;
  }

  /** How long to wait before asking again, or empty once the finalizer may go. */
  Optional<Duration> stop(VolumeClone clone) {
    String namespace = clone.getMetadata().getNamespace();
    String podName = AgentPodFactory.podName(clone.getMetadata().getName());
    Pod pod = client.pods().inNamespace(namespace).withName(podName).get();
    boolean leftBehind = false;
    if (pod != null && AgentPodState.ownedBy(pod, clone) && AgentPodState.terminating(pod)) {
      Optional<Duration> wait = stuckTermination(pod, clock.instant());
      if (wait.isPresent()) {
        return wait;
      }
      events.warning(clone, "AgentLeftBehind", leftBehind(clone, pod));
      leftBehind = true;
    } else if (pod != null && AgentPodState.ownedBy(pod, clone)) {
      Duration grace = options.get(OperatorOptions.AGENT_STOP_GRACE_PERIOD);
      events.normal(
          clone,
          "Stopping",
          "VolumeClone deleted: stopping agent Pod "
              + podName
              + " (grace period "
              + grace.toSeconds()
              + "s) so it commits its metadata; no device data is deleted");
      client
          .pods()
          .inNamespace(namespace)
          .withName(podName)
          .withGracePeriod(grace.toSeconds())
          .delete();
      return Optional.of(POLL);
    }
    if (!leftBehind && ownsDefaultMetadataOnANode(clone)) {
      Optional<Duration> wait = forgetMetadata(clone);
      if (wait.isPresent()) {
        return wait;
      }
    }
    if (!leftBehind) {
      events.normal(clone, "Released", "agent stopped; the VolumeClone is removed");
    }
    return Optional.empty();
  }

  /** A completed clone whose metadata is the default file, on the node the status names. */
  private static boolean ownsDefaultMetadataOnANode(VolumeClone clone) {
    return clone.getStatus() != null
        && clone.getStatus().getPhase() == Phase.Completed
        && clone.getStatus().getNodeName() != null
        && clone.getSpec() != null
        && clone.getSpec().getMetadata() == null;
  }

  /**
   * Removes a completed clone's default metadata file at its deletion: it only records that every
   * region was copied, and left on the node it would make a new clone of the same name refuse to
   * start (it is bound to this clone's uid). Only the node has the file, so a short Pod runs {@code
   * volume-clone forget} there; it removes nothing but this clone's cut-over file. Returns how long
   * to wait for that Pod, or empty when it is done, failed (a Warning says so and what is left) or
   * did not finish within {@code agent.deletionTimeout} (its node may be gone).
   */
  private Optional<Duration> forgetMetadata(VolumeClone clone) {
    String namespace = clone.getMetadata().getNamespace();
    String node = clone.getStatus().getNodeName();
    String file =
        AgentPaths.stateDirectory(
                options.get(OperatorOptions.AGENT_STATE_DIRECTORY),
                namespace,
                clone.getMetadata().getName())
            + "/"
            + AgentPaths.METADATA_FILE;
    var resource =
        client
            .pods()
            .inNamespace(namespace)
            .withName(AgentPodFactory.forgetPodName(clone.getMetadata().getName()));
    Pod pod = resource.get();
    if (pod == null || !AgentPodState.ownedBy(pod, clone)) {
      try {
        client.pods().resource(pods.forgetPod(clone, node)).create();
      } catch (KubernetesClientException e) {
        if (e.getCode() != 409) {
          throw e;
        }
      }
      events.normal(
          clone,
          "RemovingMetadata",
          "the clone completed: removing its default metadata file " + file + " on node " + node);
      return Optional.of(POLL);
    }
    String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
    String podName = pod.getMetadata().getName();
    if ("Succeeded".equals(phase)) {
      events.normal(
          clone,
          "MetadataRemoved",
          "removed the default metadata file " + file + " on node " + node);
    } else if ("Failed".equals(phase)) {
      events.warning(
          clone,
          "MetadataLeftBehind",
          "Pod "
              + podName
              + " could not remove the default metadata file "
              + file
              + " on node "
              + node
              + ": "
              + AgentPodState.why(pod)
              + "; the file stays (remove it by hand once no clone of this name runs there)");
    } else {
      Instant created;
      try {
        created = Instant.parse(pod.getMetadata().getCreationTimestamp());
      } catch (RuntimeException e) {
        created = clock.instant();
      }
      Duration timeout = options.get(OperatorOptions.AGENT_DELETION_TIMEOUT);
      if (clock.instant().isBefore(created.plus(timeout))) {
        return Optional.of(POLL);
      }
      events.warning(
          clone,
          "MetadataLeftBehind",
          "Pod "
              + podName
              + " did not remove the default metadata file "
              + file
              + " within agent.deletionTimeout ("
              + Durations.format(timeout)
              + "); node "
              + node
              + " is "
              + observer.nodeState(node)
              + ". The file stays on that node");
    }
    resource.withGracePeriod(0).delete();
    return Optional.empty();
  }

  /**
   * How much longer to wait for an agent Pod that is terminating, or empty once it is overdue. The
   * Pod's deletionTimestamp is when its grace period ends; past that the kubelet has killed the
   * process, unless the kubelet itself is gone (node lost, NotReady, deleted). Waiting for it
   * forever would keep the VolumeClone, and every namespace deletion with it, forever.
   */
  private Optional<Duration> stuckTermination(Pod pod, Instant now) {
    Instant deadline;
    try {
      deadline =
          Instant.parse(pod.getMetadata().getDeletionTimestamp())
              .plus(options.get(OperatorOptions.AGENT_DELETION_TIMEOUT));
    } catch (DateTimeParseException e) {
      return Optional.of(POLL);
    }
    Duration left = Duration.between(now, deadline);
    if (left.isNegative() || left.isZero()) {
      return Optional.empty();
    }
    return Optional.of(left.compareTo(POLL) < 0 ? left : POLL);
  }

  /** The Warning of a deletion that gave up waiting for the agent Pod: what is left, and where. */
  private String leftBehind(VolumeClone clone, Pod pod) {
    String namespace = clone.getMetadata().getNamespace();
    String podName = pod.getMetadata().getName();
    String node = pod.getSpec() == null ? null : pod.getSpec().getNodeName();
    if (node == null && clone.getStatus() != null) {
      node = clone.getStatus().getNodeName();
    }
    String stateDirectory =
        AgentPaths.stateDirectory(
            options.get(OperatorOptions.AGENT_STATE_DIRECTORY),
            namespace,
            clone.getMetadata().getName());
    List<String> held = new ArrayList<>();
    boolean metadataGiven = false;
    for (Side side : Side.of(clone)) {
      held.add(side.role().volumeName + " " + side.describe());
      metadataGiven |= side.role() == AgentPodFactory.Role.METADATA;
    }
    if (!metadataGiven) {
      held.add("metadata file " + stateDirectory + "/" + AgentPaths.METADATA_FILE);
    }
    Duration grace = options.get(OperatorOptions.AGENT_STOP_GRACE_PERIOD);
    Duration timeout = options.get(OperatorOptions.AGENT_DELETION_TIMEOUT);
    return "agent Pod "
        + podName
        + " did not terminate within its grace period ("
        + grace.toSeconds()
        + "s) plus agent.deletionTimeout ("
        + Durations.format(timeout)
        + ")"
        + (node == null ? "" : "; node " + node + " is " + observer.nodeState(node))
        + ". Removing the VolumeClone anyway. Left behind: Pod "
        + podName
        + " (Terminating until the node's kubelet finishes it; once the node is known to be"
        + " down: kubectl -n "
        + namespace
        + " delete pod "
        + podName
        + " --force --grace-period=0)"
        + (node == null
            ? ""
            : "; on node "
                + node
                + " its agent may still hold "
                + String.join(", ", held)
                + " and the state directory "
                + stateDirectory)
        + ". No device data was deleted; the metadata keeps what was copied";
  }
}
