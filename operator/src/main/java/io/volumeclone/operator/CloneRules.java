package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Pod;
import io.volumeclone.api.Durations;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.CutoverMode;
import io.volumeclone.api.v1alpha1.status.AgentRejection;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import io.volumeclone.contract.AgentFailures;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Optional;

/**
 * What to do about a started clone, decided from an {@link Observation} alone: no client, no clock,
 * no memory. The reconciler carries the {@link Step} out.
 *
 * <p>The phase combines the operator's and the agent's views: Pending until the agent runs, Copying
 * while it does, Copied when the agent reports {@code Copied} (waiting for a manual cutover),
 * Completed when it reports {@code CutOver=True} and only then, Failed when the agent fails
 * permanently or its Pod fails for a reason other than losing its node or being rejected by it.
 *
 * <p>An agent exits 0 only after CutOver=True is in the status. A Pod that Succeeded while the
 * status says otherwise is removed and started again: the new agent opens the cut-over metadata and
 * reports it. After {@value #MAX_RERUNS_WITHOUT_CUTOVER} such runs the clone fails, saying so. The
 * count is in the status, so an operator restart does not reset it.
 */
final class CloneRules {

  static final int MAX_RERUNS_WITHOUT_CUTOVER = 3;
  static final Duration REJECTION_BACKOFF = Duration.ofSeconds(10);
  static final Duration REJECTION_BACKOFF_LIMIT = Duration.ofMinutes(5);

  private CloneRules() {}

  /** One round's decision for a started clone. */
  sealed interface Step {

    /** The agent Pod is gone before the clone finished: start a new one, which resumes. */
    record Recreate() implements Step {}

    /**
     * Remove the agent Pod so that the next round starts a new one. {@code status} (to be written
     * first, so that what it counts survives) and {@code warning} (an Event of {@code reason}) are
     * null when there is none.
     */
    record Replace(String reason, String warning, StatusWriter.Desired status) implements Step {}

    /** A node rejected the Pod: keep it for people to see until {@code left} has passed. */
    record AwaitBackOff(StatusWriter.Desired status, String warning, Duration left)
        implements Step {}

    /** Record this status; a Failed one also stops the agent, a finished one ends the clone. */
    record Report(StatusWriter.Desired status) implements Step {}
  }

  static Step next(Observation seen) {
    Pod pod = seen.pod();
    if (pod == null) {
      return new Step.Recreate();
    }
    if (!AgentPodState.terminating(pod) && AgentPodState.rejected(pod)) {
      return backOff(seen);
    }
    if (!AgentPodState.terminating(pod) && AgentPodState.lostNode(pod)) {
      return new Step.Replace(
          "AgentLost",
          "agent Pod "
              + seen.podName()
              + " on node "
              + seen.node()
              + " ended with "
              + pod.getStatus().getReason()
              + "; starting a new one, which resumes from the metadata",
          null);
    }
    if (AgentPodState.succeededWithoutCutover(seen.volumeClone(), pod)) {
      int run = seen.reruns() + 1;
      if (run <= MAX_RERUNS_WITHOUT_CUTOVER) {
        String message =
            "agent Pod "
                + seen.podName()
                + " exited 0 but the VolumeClone does not report CutOver=True; starting the"
                + " agent again (run "
                + run
                + " of "
                + MAX_RERUNS_WITHOUT_CUTOVER
                + "), it reports from the metadata";
        Phase phase = seen.status().getPhase() == null ? Phase.Pending : seen.status().getPhase();
        return new Step.Replace(
            "AgentExitedWithoutCutOver",
            message,
            CloneStatuses.progressing(
                    seen.volumeClone(),
                    phase,
                    "AgentExitedWithoutCutOver",
                    message,
                    seen.node(),
                    seen.podName())
                .withCounters(run, seen.rejection()));
      }
    }
    return new Step.Report(status(seen));
  }

  /**
   * A node refused the agent Pod (not enough CPU or memory by the kubelet's count, labels that no
   * longer match): not the clone's failure and not a lost node. The rejected Pod stays until the
   * back-off ends; then it is removed and the next round creates a new one, which the scheduler
   * places again. Never a loop of Pods: each rejection doubles the wait.
   */
  private static Step backOff(Observation seen) {
    String podUid = seen.pod().getMetadata().getUid();
    AgentRejection before = seen.rejection();
    boolean fresh = before == null || !podUid.equals(before.getPodUid());
    int count = fresh ? (before == null ? 1 : before.getCount() + 1) : before.getCount();
    Instant retryAt =
        fresh ? seen.now().plus(rejectionBackoff(count)) : parse(before.getRetryAt(), seen.now());
    AgentRejection rejection = new AgentRejection(podUid, count, retryAt.toString());
    Duration left = Duration.between(seen.now(), retryAt);
    String message =
        "node "
            + seen.node()
            + " rejected agent Pod "
            + seen.podName()
            + ": "
            + AgentPodState.why(seen.pod())
            + ". Not the clone's failure: a new agent Pod is created "
            + (left.isNegative() || left.isZero()
                ? "now"
                : "in " + Durations.format(left) + " (at " + retryAt + ")")
            + ", rejection "
            + count
            + "; the wait doubles with each rejection, up to "
            + Durations.format(REJECTION_BACKOFF_LIMIT);
    StatusWriter.Desired status =
        CloneStatuses.progressing(
                seen.volumeClone(),
                Phase.Pending,
                "AgentRejected",
                message,
                seen.node(),
                seen.podName())
            .withCounters(seen.reruns(), rejection);
    String warning = fresh ? message : null;
    if (!seen.now().isBefore(retryAt)) {
      return new Step.Replace("AgentRejected", warning, fresh ? status : null);
    }
    return new Step.AwaitBackOff(status, warning, left);
  }

  /**
   * The wait before the {@code count}-th new Pod after rejections: 10 s, 20 s, ... at most 5 min.
   */
  static Duration rejectionBackoff(int count) {
    Duration wait = REJECTION_BACKOFF;
    for (int i = 1; i < count && wait.compareTo(REJECTION_BACKOFF_LIMIT) < 0; i++) {
      wait = wait.multipliedBy(2);
    }
    return wait.compareTo(REJECTION_BACKOFF_LIMIT) > 0 ? REJECTION_BACKOFF_LIMIT : wait;
  }

  /** The operator's status for a started clone whose agent Pod is there. */
  static StatusWriter.Desired status(Observation seen) {
    VolumeClone clone = seen.volumeClone();
    VolumeCloneStatus reported = seen.status();
    Pod pod = seen.pod();
    String node = seen.node();
    String podName = seen.podName();
    String podPhase = AgentPodState.phase(pod);
    if (reported.isTrue(ConditionTypes.CUT_OVER)) {
      return CloneStatuses.completed(clone, node, podName);
    }
    Optional<AgentFailure> permanent = permanentFailure(reported, pod);
    if (permanent.isPresent()) {
      return CloneStatuses.failed(
          clone, node, podName, permanent.get().reason(), permanent.get().message());
    }
    if ("Succeeded".equals(podPhase)) {
      return CloneStatuses.failed(
          clone,
          node,
          podName,
          "AgentExitedWithoutCutOver",
          "agent Pod "
              + podName
              + " exited 0 "
              + (MAX_RERUNS_WITHOUT_CUTOVER + 1)
              + " times without reporting CutOver=True. Check that the agent's service account"
              + " may update volumeclones/status; `volume-clone status --metadata` on node "
              + node
              + " shows whether the copy is complete");
    }
    if ("Failed".equals(podPhase) && !AgentPodState.lostNode(pod) && !AgentPodState.rejected(pod)) {
      return CloneStatuses.failed(
          clone,
          node,
          podName,
          "AgentFailed",
          "agent Pod " + podName + " failed: " + AgentPodState.why(pod));
    }
    // Still on its way: the counters go on; a Pod that runs ends the rejection streak.
    AgentRejection rejection = "Running".equals(podPhase) ? null : seen.rejection();
    return progressingStatus(seen, reported, podPhase).withCounters(seen.reruns(), rejection);
  }

  private static StatusWriter.Desired progressingStatus(
      Observation seen, VolumeCloneStatus reported, String podPhase) {
    VolumeClone clone = seen.volumeClone();
    String node = seen.node();
    String podName = seen.podName();
    if (reported.isTrue(ConditionTypes.COPIED)) {
      boolean manual = clone.getSpec().cutoverOrDefault() == CutoverMode.Manual;
      String message =
          manual && !clone.getSpec().cutoverApprovedOrDefault()
              ? "every region is copied; set spec.cutoverApproved: true to cut over"
              : "every region is copied; cutting over";
      return CloneStatuses.progressing(
          clone, Phase.Copied, "AwaitingCutover", message, node, podName);
    }
    boolean running =
        "Running".equals(podPhase)
            || reported.condition(ConditionTypes.AVAILABLE).isPresent()
            || reported.getProgress() != null;
    if (running) {
      return CloneStatuses.progressing(
          clone,
          Phase.Copying,
          "Copying",
          "copying on node " + node + " by " + podName,
          node,
          podName);
    }
    if (seen.pod().getSpec().getNodeName() == null) {
      String unschedulable = AgentPodState.unschedulable(seen.pod());
      return CloneStatuses.progressing(
          clone,
          Phase.Pending,
          "AgentScheduling",
          "waiting for kube-scheduler to place agent Pod "
              + podName
              + " on a node where its claims can be used"
              + (unschedulable == null ? "" : " (" + unschedulable + ")"),
          node,
          podName);
    }
    return CloneStatuses.progressing(
        clone,
        Phase.Pending,
        "AgentStarting",
        "waiting for agent Pod " + podName + " to start on node " + node,
        node,
        podName);
  }

  /**
   * The status of a clone already Completed or Failed, as recorded: final, so it is only written
   * again (without counters) if something else changed it.
   */
  static StatusWriter.Desired finishedStatus(VolumeClone clone) {
    VolumeCloneStatus status = clone.getStatus();
    if (status.getPhase() == Phase.Completed) {
      return CloneStatuses.completed(clone, status.getNodeName(), status.getAgentPod());
    }
    var stalled = status.condition(ConditionTypes.STALLED);
    return CloneStatuses.failed(
        clone,
        status.getNodeName(),
        status.getAgentPod(),
        stalled.map(Condition::getReason).orElse("AgentFailed"),
        stalled.map(Condition::getMessage).orElse(status.getMessage()));
  }

  /** Why the agent gave up for good, as it reported it or as its exit code says. */
  record AgentFailure(String reason, String message) {}

  static Optional<AgentFailure> permanentFailure(VolumeCloneStatus status, Pod pod) {
    var degraded = AgentFailures.reported(status);
    if (degraded.isPresent()) {
      String reason = degraded.get().getReason();
      String message = degraded.get().getMessage();
      return Optional.of(
          new AgentFailure(
              reason,
              message == null || message.isBlank()
                  ? "the agent reported " + reason + " without a message; its log says why"
                  : message));
    }
    return AgentPodState.permanentExit(pod)
        .map(message -> new AgentFailure("AgentFailedPermanently", message));
  }

  /** Time left before a finished clone is deleted; zero when due; empty when there is no TTL. */
  static Optional<Duration> ttl(VolumeClone clone, Instant now) {
    Long ttl = clone.getSpec() == null ? null : clone.getSpec().getTtlSecondsAfterFinished();
    if (ttl == null) {
      return Optional.empty();
    }
    String at = clone.getStatus() == null ? null : clone.getStatus().getCompletionTime();
    Duration left = Duration.between(now, parse(at, now).plusSeconds(ttl));
    return Optional.of(left.isNegative() ? Duration.ZERO : left);
  }

  private static Instant parse(String instant, Instant fallback) {
    if (instant == null) {
      return fallback;
    }
    try {
      return Instant.parse(instant);
    } catch (DateTimeParseException e) {
      return fallback;
    }
  }
}
