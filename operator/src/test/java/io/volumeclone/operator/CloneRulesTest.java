package io.volumeclone.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.AgentRejection;
import io.volumeclone.api.v1alpha1.status.ConditionSet;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import io.volumeclone.contract.AgentFailures;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The decisions from an {@link Observation} alone, without a client or a cluster: what a Pod's
 * state and the agent's report make of the phase and conditions, and when the Pod is replaced.
 */
class CloneRulesTest {

  private static final Instant NOW = Instant.parse("2026-03-01T12:00:00Z");

  private static VolumeClone aClone() {
    VolumeClone clone = MockCluster.pvcClone("db", "c", "src", "dst");
    clone.getMetadata().setUid("uid-c");
    clone.getMetadata().setGeneration(1L);
    clone.setStatus(new VolumeCloneStatus());
    return clone;
  }

  private static Pod pod(String uid, String phase, String reason, String nodeName) {
    return new PodBuilder()
        .withNewMetadata()
        .withName(AgentPodFactory.podName("c"))
        .withNamespace("db")
        .withUid(uid)
        .endMetadata()
        .withNewSpec()
        .withNodeName(nodeName)
        .endSpec()
        .withNewStatus()
        .withPhase(phase)
        .withReason(reason)
        .endStatus()
        .build();
  }

  private static void agentReports(VolumeClone clone, String type, String reason, String message) {
    clone
        .getStatus()
        .getConditions()
        .add(
            new ConditionBuilder()
                .withType(type)
                .withStatus("True")
                .withReason(reason)
                .withMessage(message)
                .withLastTransitionTime("2026-01-01T00:00:00Z")
                .build());
  }

  private static Observation seen(VolumeClone clone, Pod pod) {
    return new Observation(clone, pod, "n1", NOW);
  }

  private static ConditionSet.Wanted wanted(StatusWriter.Desired desired, String type) {
    return desired.conditions().stream()
        .filter(c -> c.type().equals(type))
        .findFirst()
        .orElseThrow();
  }

  private static StatusWriter.Desired reported(CloneRules.Step step) {
    assertThat(step).isInstanceOf(CloneRules.Step.Report.class);
    return ((CloneRules.Step.Report) step).status();
  }

  @Test
  void aRunningAgentIsCopyingAndReconcilingOnly() {
    StatusWriter.Desired status =
        reported(CloneRules.next(seen(aClone(), pod("p1", "Running", null, "n1"))));

    assertThat(status.phase()).isEqualTo(Phase.Copying);
    assertThat(status.message()).isEqualTo("copying on node n1 by " + AgentPodFactory.podName("c"));
    assertThat(wanted(status, ConditionTypes.RECONCILING).status()).isTrue();
    assertThat(wanted(status, ConditionTypes.READY).status()).isFalse();
    assertThat(wanted(status, ConditionTypes.STALLED).status()).isFalse();
    assertThat(wanted(status, ConditionTypes.STALLED).message()).startsWith("not stuck: ");
    assertThat(status.started()).isTrue();
    assertThat(status.finished()).isFalse();
  }

  @Test
  void cutOverIsCompletedAndReadyAndForgetsTheCounters() {
    VolumeClone clone = aClone();
    agentReports(clone, ConditionTypes.CUT_OVER, "CutOver", "cut over");
    clone.getStatus().setRerunsWithoutCutover(2);

    StatusWriter.Desired status =
        reported(CloneRules.next(seen(clone, pod("p1", "Succeeded", null, "n1"))));

    assertThat(status.phase()).isEqualTo(Phase.Completed);
    assertThat(wanted(status, ConditionTypes.READY).status()).isTrue();
    assertThat(wanted(status, ConditionTypes.RECONCILING).status()).isFalse();
    assertThat(status.finished()).isTrue();
    assertThat(status.rerunsWithoutCutover()).isNull();
  }

  @Test
  void aPermanentFailureTheAgentReportedFailsTheCloneWithItsReason() {
    VolumeClone clone = aClone();
    String reason = AgentFailures.INVALID_GEOMETRY;
    agentReports(clone, ConditionTypes.DEGRADED, reason, "destination /dev/x is 1 byte short");

    StatusWriter.Desired status =
        reported(CloneRules.next(seen(clone, pod("p1", "Running", null, "n1"))));

    assertThat(status.phase()).isEqualTo(Phase.Failed);
    assertThat(wanted(status, ConditionTypes.STALLED).status()).isTrue();
    assertThat(wanted(status, ConditionTypes.STALLED).reason()).isEqualTo(reason);
    assertThat(status.message()).isEqualTo("destination /dev/x is 1 byte short");
  }

  @Test
  void aSucceededPodWithoutCutOverIsReplacedAndCountedUntilTheLimit() {
    VolumeClone clone = aClone();
    clone.getStatus().setPhase(Phase.Copying);
    clone.getStatus().setRerunsWithoutCutover(1);

    CloneRules.Step step = CloneRules.next(seen(clone, pod("p1", "Succeeded", null, "n1")));

    assertThat(step).isInstanceOf(CloneRules.Step.Replace.class);
    CloneRules.Step.Replace replace = (CloneRules.Step.Replace) step;
    assertThat(replace.reason()).isEqualTo("AgentExitedWithoutCutOver");
    assertThat(replace.warning()).contains("run 2 of " + CloneRules.MAX_RERUNS_WITHOUT_CUTOVER);
    assertThat(replace.status().rerunsWithoutCutover()).as("counted in the status").isEqualTo(2);
    assertThat(replace.status().phase()).isEqualTo(Phase.Copying);

    clone.getStatus().setRerunsWithoutCutover(CloneRules.MAX_RERUNS_WITHOUT_CUTOVER);
    StatusWriter.Desired failed =
        reported(CloneRules.next(seen(clone, pod("p4", "Succeeded", null, "n1"))));
    assertThat(failed.phase()).isEqualTo(Phase.Failed);
    assertThat(wanted(failed, ConditionTypes.STALLED).reason())
        .isEqualTo("AgentExitedWithoutCutOver");
    assertThat(failed.message()).contains("exited 0 4 times without reporting CutOver=True");
  }

  @Test
  void aRejectedPodWaitsOutABackOffThatTheStatusCarries() {
    VolumeClone clone = aClone();
    Pod rejected = pod("p1", "Failed", "OutOfcpu", "n1");

    CloneRules.Step first = CloneRules.next(seen(clone, rejected));
    assertThat(first).isInstanceOf(CloneRules.Step.AwaitBackOff.class);
    var wait = (CloneRules.Step.AwaitBackOff) first;
    assertThat(wait.left()).isEqualTo(Duration.ofSeconds(10));
    assertThat(wait.warning()).contains("node n1 rejected agent Pod").contains("rejection 1");
    assertThat(wait.status().phase()).isEqualTo(Phase.Pending);
    assertThat(wait.status().agentRejection())
        .isEqualTo(new AgentRejection("p1", 1, NOW.plusSeconds(10).toString()));

    // The same Pod later: the recorded back-off goes on, without a second Warning.
    clone.getStatus().setAgentRejection(wait.status().agentRejection());
    var later =
        (CloneRules.Step.AwaitBackOff)
            CloneRules.next(new Observation(clone, rejected, "n1", NOW.plusSeconds(4)));
    assertThat(later.left()).isEqualTo(Duration.ofSeconds(6));
    assertThat(later.warning()).isNull();

    CloneRules.Step due =
        CloneRules.next(new Observation(clone, rejected, "n1", NOW.plusSeconds(10)));
    assertThat(due).isInstanceOf(CloneRules.Step.Replace.class);
    assertThat(((CloneRules.Step.Replace) due).status()).as("nothing new to record").isNull();

    // The next Pod is rejected too: the count goes on and the wait doubles.
    var second =
        (CloneRules.Step.AwaitBackOff)
            CloneRules.next(
                new Observation(
                    clone, pod("p2", "Failed", "OutOfmemory", "n1"), "n1", NOW.plusSeconds(12)));
    assertThat(second.left()).isEqualTo(Duration.ofSeconds(20));
    assertThat(second.status().agentRejection().getCount()).isEqualTo(2);
    assertThat(second.warning()).contains("rejection 2");

    // A Pod that runs ends the streak.
    clone.getStatus().setAgentRejection(second.status().agentRejection());
    assertThat(
            reported(CloneRules.next(seen(clone, pod("p3", "Running", null, "n1"))))
                .agentRejection())
        .isNull();
  }

  @Test
  void thePodOfALostNodeIsReplacedAndAMissingOneRecreated() {
    CloneRules.Step lost = CloneRules.next(seen(aClone(), pod("p1", "Failed", "NodeLost", "n1")));
    assertThat(lost).isInstanceOf(CloneRules.Step.Replace.class);
    assertThat(((CloneRules.Step.Replace) lost).reason()).isEqualTo("AgentLost");
    assertThat(((CloneRules.Step.Replace) lost).warning()).contains("ended with NodeLost");

    assertThat(CloneRules.next(seen(aClone(), null))).isInstanceOf(CloneRules.Step.Recreate.class);
  }

  @Test
  void aPodOtherwiseFailedFailsTheCloneSayingWhy() {
    Pod pod = pod("p1", "Failed", null, "n1");
    pod.getStatus().setMessage("the container image is gone");

    StatusWriter.Desired status = reported(CloneRules.next(seen(aClone(), pod)));

    assertThat(status.phase()).isEqualTo(Phase.Failed);
    assertThat(wanted(status, ConditionTypes.STALLED).reason()).isEqualTo("AgentFailed");
    assertThat(status.message()).contains("failed: the container image is gone");
  }

  @Test
  void anUnscheduledPodSaysWhyKubeSchedulerHasNotPlacedIt() {
    Pod pod = pod("p1", "Pending", null, null);
    pod.getStatus()
        .setConditions(
            List.of(
                new PodConditionBuilder()
                    .withType("PodScheduled")
                    .withStatus("False")
                    .withReason("Unschedulable")
                    .withMessage("0/3 nodes are available")
                    .build()));

    StatusWriter.Desired status =
        reported(CloneRules.next(new Observation(aClone(), pod, null, NOW)));

    assertThat(status.phase()).isEqualTo(Phase.Pending);
    assertThat(wanted(status, ConditionTypes.RECONCILING).reason()).isEqualTo("AgentScheduling");
    assertThat(status.message()).contains("(Unschedulable: 0/3 nodes are available)");
  }

  @Test
  void theTtlCountsFromTheCompletionTime() {
    VolumeClone clone = aClone();
    assertThat(CloneRules.ttl(clone, NOW)).isEmpty();
    clone.getSpec().setTtlSecondsAfterFinished(60L);
    clone.getStatus().setCompletionTime(NOW.minusSeconds(20).toString());
    assertThat(CloneRules.ttl(clone, NOW)).contains(Duration.ofSeconds(40));
    assertThat(CloneRules.ttl(clone, NOW.plusSeconds(100))).contains(Duration.ZERO);
  }

  @Test
  void exactlyOneKstatusConditionIsTrue() {
    for (CloneStatuses.Kstatus state : CloneStatuses.Kstatus.values()) {
      assertThat(CloneStatuses.kstatus(state, "Why", "because"))
          .filteredOn(ConditionSet.Wanted::status)
          .hasSize(1);
    }
  }

  @Test
  void theRejectionBackOffDoublesUpToFiveMinutes() {
    assertThat(CloneRules.rejectionBackoff(1)).isEqualTo(Duration.ofSeconds(10));
    assertThat(CloneRules.rejectionBackoff(2)).isEqualTo(Duration.ofSeconds(20));
    assertThat(CloneRules.rejectionBackoff(5)).isEqualTo(Duration.ofSeconds(160));
    assertThat(CloneRules.rejectionBackoff(6)).isEqualTo(Duration.ofMinutes(5));
    assertThat(CloneRules.rejectionBackoff(1000)).isEqualTo(Duration.ofMinutes(5));
  }
}
