package io.volumeclone.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.status.ConditionSet;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import io.volumeclone.engine.CloneMetadata;
import io.volumeclone.engine.CloneStatus;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class AgentReportTest {

  static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
  static final Instant T1 = Instant.parse("2026-01-01T00:05:00Z");

  static CloneStatus status(CloneStatus.State state, long copied, long committed, boolean paused) {
    return new CloneStatus(
        "c",
        state,
        65536,
        100,
        copied,
        committed,
        100L * 65536,
        copied * 65536,
        CloneMetadata.Mode.WRITE,
        paused,
        false,
        0,
        null,
        paused ? 0 : 65536);
  }

  static AgentReport.Situation serving() {
    return new AgentReport.Situation(
        "nbd+unix:///c?socket=/s/nbd.sock",
        null,
        "node has no /dev/nbd0",
        false,
        false,
        false,
        "/dev/sdb",
        null,
        null,
        false,
        null);
  }

  @Test
  void progressDistinguishesCommittedFromCopied() {
    AgentReport r =
        AgentReport.of(status(CloneStatus.State.COPYING, 40, 32, false), serving(), 1L, T0);

    assertThat(r.progress().getRegionsCopied()).isEqualTo(40);
    assertThat(r.progress().getRegionsCommitted()).isEqualTo(32);
    assertThat(r.progress().getPercent()).isEqualTo("40.0");
    assertThat(r.progress().getBytesPerSecond()).isEqualTo(65536);
    // what kubectl get vc shows: PROGRESS, and RATE with -o wide
    assertThat(r.progress().getPercentText()).isEqualTo("40.0%");
    assertThat(r.progress().getRateText()).isEqualTo("64Ki/s");
    assertThat(r.progress().getEstimatedCompletionTime()).isEqualTo("2026-01-01T00:01:00Z");
  }

  @Test
  void operatorFieldsAndConditionsSurviveAndTransitionTimesStayWhileStatusIsUnchanged() {
    VolumeCloneStatus operator = new VolumeCloneStatus();
    operator.setPhase(Phase.Copying);
    operator.setNodeName("node-1");
    operator.setAgentPod("volume-clone-c");
    operator.setObservedGeneration(3L);
    List<Condition> conditions = new ArrayList<>();
    conditions.add(
        new ConditionBuilder()
            .withType(ConditionTypes.READY)
            .withStatus("False")
            .withReason("Copying")
            .withLastTransitionTime("2025-12-31T00:00:00Z")
            .build());
    operator.setConditions(conditions);

    VolumeCloneStatus first =
        AgentReport.of(status(CloneStatus.State.COPYING, 10, 8, false), serving(), 3L, T0)
            .applyTo(operator, T0);
    VolumeCloneStatus second =
        AgentReport.of(status(CloneStatus.State.COPYING, 20, 16, true), serving(), 3L, T1)
            .applyTo(first, T1);

    assertThat(second.getPhase()).isEqualTo(Phase.Copying);
    assertThat(second.getNodeName()).isEqualTo("node-1");
    assertThat(second.getAgentPod()).isEqualTo("volume-clone-c");
    assertThat(second.getObservedGeneration()).isEqualTo(3L);
    assertThat(second.condition(ConditionTypes.READY).orElseThrow().getLastTransitionTime())
        .isEqualTo("2025-12-31T00:00:00Z");
    // Available stayed True: its transition time is the first write's.
    assertThat(second.condition(ConditionTypes.AVAILABLE).orElseThrow().getLastTransitionTime())
        .isEqualTo(T0.toString());
    // Copied stayed False, only its reason moved to Paused: the time stays too.
    Condition copied = second.condition(ConditionTypes.COPIED).orElseThrow();
    assertThat(copied.getReason()).isEqualTo("Paused");
    assertThat(copied.getLastTransitionTime()).isEqualTo(T0.toString());
    assertThat(second.getConditions())
        .extracting(Condition::getType)
        .containsExactly(
            ConditionTypes.READY,
            ConditionTypes.AVAILABLE,
            ConditionTypes.COPIED,
            ConditionTypes.CUT_OVER,
            ConditionTypes.DEGRADED);
  }

  @Test
  void progressAloneIsNoPhaseChangeButAConditionChangeIs() {
    AgentReport a =
        AgentReport.of(status(CloneStatus.State.COPYING, 10, 8, false), serving(), 1L, T0);
    AgentReport b =
        AgentReport.of(status(CloneStatus.State.COPYING, 50, 40, false), serving(), 1L, T1);
    AgentReport c =
        AgentReport.of(status(CloneStatus.State.COPIED, 100, 100, false), serving(), 1L, T1);

    assertThat(a).isNotEqualTo(b);
    assertThat(a.phaseKey()).isEqualTo(b.phaseKey());
    assertThat(c.phaseKey()).isNotEqualTo(b.phaseKey());
  }

  @Test
  void manualCutoverWaitsForApprovalAndSaysHow() {
    AgentReport.Situation manual =
        new AgentReport.Situation(
            "nbd+unix:///c?socket=/s",
            null,
            "no nbd",
            false,
            true,
            false,
            "/dev/sdb",
            null,
            null,
            false,
            null);
    AgentReport r =
        AgentReport.of(status(CloneStatus.State.COPIED, 100, 100, false), manual, 1L, T0);

    var byType = r.conditions();
    assertThat(byType)
        .contains(
            new ConditionSet.Wanted(
                ConditionTypes.COPIED,
                true,
                "AllRegionsCopied",
                "every region is copied and committed to the metadata device"),
            new ConditionSet.Wanted(
                ConditionTypes.CUT_OVER,
                false,
                "AwaitingApproval",
                "every region is copied; set spec.cutoverApproved: true to cut over"));
  }

  @Test
  void exportOnlyNodesSaySoInAvailable() {
    AgentReport r =
        AgentReport.of(status(CloneStatus.State.COPYING, 1, 0, false), serving(), 1L, T0);

    assertThat(r.conditions().get(0).type()).isEqualTo(ConditionTypes.AVAILABLE);
    assertThat(r.conditions().get(0).status()).isTrue();
    assertThat(r.conditions().get(0).message())
        .isEqualTo(
            "served at nbd+unix:///c?socket=/s/nbd.sock; export-only (node has no /dev/nbd0):"
                + " connect an NBD client to it");
  }

  @Test
  void aCloneVolumeWithoutAKernelDeviceIsNotAvailableAndSaysWhatIsMissing() {
    AgentReport.Situation exportOnly =
        new AgentReport.Situation(
            "nbd+unix:///c?socket=/s/nbd.sock",
            null,
            "node has no /dev/nbd0",
            false,
            false,
            false,
            "pvc/db-data-raw",
            null,
            null,
            false,
            "db-data");
    Condition available =
        AgentReport.of(status(CloneStatus.State.COPYING, 10, 8, false), exportOnly, 1L, T0)
            .applyTo(new VolumeCloneStatus(), T0)
            .condition(ConditionTypes.AVAILABLE)
            .orElseThrow();

    assertThat(available.getStatus()).isEqualTo("False");
    assertThat(available.getReason()).isEqualTo("NoKernelAttach");
    assertThat(available.getMessage())
        .contains("db-data", "node has no /dev/nbd0", "bound after cutover", "pvc/db-data-raw");

    AgentReport.Situation attached =
        new AgentReport.Situation(
            "nbd+unix:///c?socket=/s/nbd.sock",
            "/dev/mapper/volume-clone-u1",
            null,
            false,
            false,
            false,
            "pvc/db-data-raw",
            null,
            null,
            false,
            "db-data");
    Condition served =
        AgentReport.of(status(CloneStatus.State.COPYING, 10, 8, false), attached, 1L, T0)
            .applyTo(new VolumeCloneStatus(), T0)
            .condition(ConditionTypes.AVAILABLE)
            .orElseThrow();
    assertThat(served.getStatus()).isEqualTo("True");
    assertThat(served.getReason()).isEqualTo("ExportServing");
  }
}
