package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.volumeclone.api.Durations;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.contract.AgentPaths;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Carries out what {@link DeletionRules} decides when a VolumeClone is deleted (this is cancel):
 * what it reads comes from {@link CloneObserver}, what it does is Pod deletions and creations and
 * the Events that tell the user; the metadata-removal Pod is a dependent resource ({@link
 * MetadataRemovalPodDependent}). No device data is ever deleted.
 */
final class CloneDeletion {

  private final KubernetesClient client;
  private final OperatorOptions options;
  private final Clock clock;
  private final MetadataRemovalPodDependent metadataRemoval;
  private final CloneObserver observer;
  private final EventRecorder events;

  CloneDeletion(
      KubernetesClient client,
      OperatorOptions options,
      Clock clock,
      MetadataRemovalPodDependent metadataRemoval,
      CloneObserver observer,
      EventRecorder events) {
    this.client = client;
    this.options = options;
    this.clock = clock;
    this.metadataRemoval = metadataRemoval;
    this.observer = observer;
    this.events = events;
  }

  /** How long to wait before asking again, or empty once the finalizer may go. */
  Optional<Duration> stop(VolumeClone clone, Context<VolumeClone> context) {
    DeletionRules.Seen seen =
        new DeletionRules.Seen(
            clone,
            observer.ownedPod(clone, AgentPodFactory.podName(clone.getMetadata().getName())),
            DeletionRules.ownsDefaultMetadataOnANode(clone)
                ? metadataRemoval
                    .current(clone, context)
                    .filter(pod -> AgentPodState.ownedBy(pod, clone))
                    .orElse(null)
                : null,
            clock.instant());
    Duration timeout = options.get(OperatorOptions.AGENT_DELETION_TIMEOUT);
    switch (DeletionRules.next(seen, timeout)) {
      case DeletionRules.Step.Wait wait -> {
        return Optional.of(wait.delay());
      }
      case DeletionRules.Step.StopAgent stop -> {
        Duration grace = options.get(OperatorOptions.AGENT_STOP_GRACE_PERIOD);
        events.normal(
            clone,
            "Stopping",
            "VolumeClone deleted: stopping agent Pod "
                + stop.pod().getMetadata().getName()
                + " (grace period "
                + grace.toSeconds()
                + "s) so it commits its metadata; no device data is deleted");
        deletePod(stop.pod(), grace.toSeconds());
        return Optional.of(DeletionRules.POLL);
      }
      case DeletionRules.Step.LeaveAgentBehind leave -> {
        events.warning(clone, "AgentLeftBehind", leftBehind(clone, leave.pod()));
        return Optional.empty();
      }
      case DeletionRules.Step.RemoveMetadata remove -> {
        metadataRemoval.reconcileFor(clone, context);
        events.normal(
            clone,
            "RemovingMetadata",
            "the clone completed: removing its default metadata file "
                + metadataFile(clone)
                + " on node "
                + remove.node());
        return Optional.of(DeletionRules.POLL);
      }
      case DeletionRules.Step.MetadataDone done -> {
        reportRemoval(clone, done);
        deletePod(done.pod(), 0);
        released(clone);
        return Optional.empty();
      }
      case DeletionRules.Step.Release ignored -> {
        released(clone);
        return Optional.empty();
      }
    }
  }

  private void released(VolumeClone clone) {
    events.normal(clone, "Released", "agent stopped; the VolumeClone is removed");
  }

  private void deletePod(Pod pod, long graceSeconds) {
    client
        .pods()
        .inNamespace(pod.getMetadata().getNamespace())
        .withName(pod.getMetadata().getName())
        .withGracePeriod(graceSeconds)
        .delete();
  }

  private void reportRemoval(VolumeClone clone, DeletionRules.Step.MetadataDone done) {
    String file = metadataFile(clone);
    String podName = done.pod().getMetadata().getName();
    switch (done.removal()) {
      case REMOVED ->
          events.normal(
              clone,
              "MetadataRemoved",
              "removed the default metadata file " + file + " on node " + done.node());
      case FAILED ->
          events.warning(
              clone,
              "MetadataLeftBehind",
              "Pod "
                  + podName
                  + " could not remove the default metadata file "
                  + file
                  + " on node "
                  + done.node()
                  + ": "
                  + AgentPodState.why(done.pod())
                  + "; the file stays (remove it by hand once no clone of this name runs there)");
      case TIMED_OUT ->
          events.warning(
              clone,
              "MetadataLeftBehind",
              "Pod "
                  + podName
                  + " did not remove the default metadata file "
                  + file
                  + " within agent.deletionTimeout ("
                  + Durations.format(options.get(OperatorOptions.AGENT_DELETION_TIMEOUT))
                  + "); node "
                  + done.node()
                  + " is "
                  + observer.nodeState(done.node())
                  + ". The file stays on that node");
    }
  }

  private String stateDirectory(VolumeClone clone) {
    return AgentPaths.stateDirectory(
        options.get(OperatorOptions.AGENT_STATE_DIRECTORY),
        clone.getMetadata().getNamespace(),
        clone.getMetadata().getName());
  }

  private String metadataFile(VolumeClone clone) {
    return stateDirectory(clone) + "/" + AgentPaths.METADATA_FILE;
  }

  /** The Warning of a deletion that gave up waiting for the agent Pod: what is left, and where. */
  private String leftBehind(VolumeClone clone, Pod pod) {
    String namespace = clone.getMetadata().getNamespace();
    String podName = pod.getMetadata().getName();
    String node = pod.getSpec() == null ? null : pod.getSpec().getNodeName();
    if (node == null && clone.getStatus() != null) {
      node = clone.getStatus().getNodeName();
    }
    String stateDirectory = stateDirectory(clone);
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
