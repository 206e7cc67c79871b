package io.volumeclone.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.contract.AgentFailures;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * How the agent's way of ending becomes the clone's phase: a permanent failure (reported, or only
 * seen as exit code 3) fails the clone and removes the Pod the kubelet would restart; a transient
 * one does not; exit 0 without CutOver=True is not Completed.
 */
class AgentFailureTest {

  private final Harness h =
      new Harness(
          Map.of(
              "agent.privileged", "true", "allowedDevicePrefixes", Harness.TEST_DEVICE_PREFIXES));

  @AfterEach
  void close() {
    h.close();
  }

  private void runningClone(String name, Long ttl) {
    h.cluster.node("n1");
    h.cluster.claim(Harness.NS, name + "-src", "1Gi");
    h.cluster.claim(Harness.NS, name + "-dst", "1Gi");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, name, name + "-src", name + "-dst");
    c.getSpec().setNodeName("n1");
    c.getSpec().setTtlSecondsAfterFinished(ttl);
    h.cluster.create(c);
    h.reconcile(name);
    h.podPhase(name, "Running", null);
    h.reconcile(name);
    assertThat(h.status(name).getPhase()).isEqualTo(Phase.Copying);
  }

  private static Condition agentCondition(String type, String status, String reason, String msg) {
    return new ConditionBuilder()
        .withType(type)
        .withStatus(status)
        .withReason(reason)
        .withMessage(msg)
        .withLastTransitionTime("2026-01-01T00:00:00Z")
        .build();
  }

  /** The kubelet's view after the agent's container ended with {@code exit} under OnFailure. */
  private void containerExited(String name, int exit, String message) {
    Pod pod = h.pod(name);
    pod.setStatus(
        new PodStatusBuilder()
            .withPhase("Running")
            .withContainerStatuses(
                new ContainerStatusBuilder()
                    .withName("agent")
                    .withRestartCount(1)
                    .withNewState()
                    .withNewWaiting()
                    .withReason("CrashLoopBackOff")
                    .endWaiting()
                    .endState()
                    .withNewLastState()
                    .withNewTerminated()
                    .withExitCode(exit)
                    .withReason("Error")
                    .withMessage(message)
                    .endTerminated()
                    .endLastState()
                    .build())
            .build());
    h.cluster.client.resource(pod).updateStatus();
  }

  private Condition condition(String name, String type) {
    return h.status(name).condition(type).orElseThrow();
  }

  @Test
  void aReportedPermanentFailureFailsTheCloneAndStopsThePod() {
    runningClone("c", 60L);
    String message =
        "cannot clone /dev/volume-clone/source to /dev/volume-clone/destination: the destination"
            + " (1048576 bytes) is too small for 4194304 bytes at offset 0";
    h.agentWrites(
        "c",
        s ->
            s.getConditions()
                .add(
                    agentCondition(
                        ConditionTypes.DEGRADED, "True", AgentFailures.INVALID_GEOMETRY, message)));
    containerExited("c", AgentFailures.EXIT_PERMANENT, null);

    var control = h.reconcile("c");

    var status = h.status("c");
    assertThat(status.getPhase()).isEqualTo(Phase.Failed);
    assertThat(status.getMessage()).isEqualTo(message);
    assertThat(status.getCompletionTime()).isNotNull();
    Condition stalled = condition("c", ConditionTypes.STALLED);
    assertThat(stalled.getStatus()).isEqualTo("True");
    assertThat(stalled.getReason()).isEqualTo(AgentFailures.INVALID_GEOMETRY);
    assertThat(stalled.getMessage()).isEqualTo(message);
    assertThat(condition("c", ConditionTypes.READY).getStatus()).isEqualTo("False");
    assertThat(condition("c", ConditionTypes.RECONCILING).getStatus()).isEqualTo("False");
    // the agent's own report is kept as it wrote it
    assertThat(condition("c", ConditionTypes.DEGRADED).getReason())
        .isEqualTo(AgentFailures.INVALID_GEOMETRY);
    assertThat(h.events("c"))
        .anySatisfy(
            e -> {
              assertThat(e.getType()).isEqualTo("Warning");
              assertThat(e.getReason()).isEqualTo("Failed");
              assertThat(e.getMessage()).startsWith("InvalidGeometry: ").contains("too small");
            });
    assertThat(h.eventReasons("c")).contains("AgentStopped");
    assertThat(h.pod("c")).as("the Pod the kubelet would restart is removed").isNull();
    assertThat(control.getScheduleDelay()).contains(Duration.ofSeconds(60).toMillis());

    // Failed is final: no new Pod, and the TTL applies.
    h.reconcile("c");
    assertThat(h.pod("c")).isNull();
    assertThat(h.status("c").getPhase()).isEqualTo(Phase.Failed);
    assertThat(condition("c", ConditionTypes.STALLED).getReason())
        .isEqualTo(AgentFailures.INVALID_GEOMETRY);
    h.clock.advance(Duration.ofSeconds(60));
    h.reconcile("c");
    assertThat(h.clone("c")).isNull();
  }

  @Test
  void exitCodeThreeAloneFailsTheCloneWithTheTerminationMessage() {
    runningClone("c", null);
    containerExited("c", AgentFailures.EXIT_PERMANENT, "metadata /dev/volume-clone/metadata ...");

    h.reconcile("c");

    assertThat(h.status("c").getPhase()).isEqualTo(Phase.Failed);
    Condition stalled = condition("c", ConditionTypes.STALLED);
    assertThat(stalled.getReason()).isEqualTo("AgentFailedPermanently");
    assertThat(stalled.getMessage())
        .contains("volume-clone-c exited with code 3")
        .contains("metadata /dev/volume-clone/metadata");
    assertThat(h.pod("c")).isNull();
  }

  @Test
  void aFailedCloneWhosePodSurvivedIsStoppedOnTheNextReconcile() {
    runningClone("c", null);
    h.agentWrites(
        "c",
        s ->
            s.getConditions()
                .add(
                    agentCondition(
                        ConditionTypes.DEGRADED,
                        "True",
                        AgentFailures.METADATA_MISMATCH,
                        "metadata records another clone")));
    h.reconcile("c");
    assertThat(h.status("c").getPhase()).isEqualTo(Phase.Failed);
    // as if the operator had died before deleting: a new Pod object stands where the old one was
    h.reconcile("c");
    assertThat(h.pod("c")).isNull();
    h.cluster.client.pods().resource(podLike("c")).create();
    h.reconcile("c");
    assertThat(h.pod("c")).as("removed by the finished-clone path").isNull();
    assertThat(condition("c", ConditionTypes.STALLED).getReason())
        .isEqualTo(AgentFailures.METADATA_MISMATCH);
  }

  private Pod podLike(String name) {
    VolumeClone clone = h.clone(name);
    Pod pod =
        new io.fabric8.kubernetes.api.model.PodBuilder()
            .withNewMetadata()
            .withName(AgentPodFactory.podName(name))
            .withNamespace(Harness.NS)
            .addNewOwnerReference()
            .withApiVersion("volumeclone.io/v1alpha1")
            .withKind("VolumeClone")
            .withName(name)
            .withUid(clone.getMetadata().getUid())
            .withController(true)
            .endOwnerReference()
            .endMetadata()
            .withNewSpec()
            .addNewContainer()
            .withName("agent")
            .withImage("x")
            .endContainer()
            .endSpec()
            .withNewStatus()
            .withPhase("Running")
            .endStatus()
            .build();
    return pod;
  }

  @Test
  void aTransientFailureLeavesTheCloneCopyingAndThePodToTheKubelet() {
    runningClone("c", null);
    h.agentWrites(
        "c",
        s ->
            s.getConditions()
                .add(
                    agentCondition(
                        ConditionTypes.DEGRADED,
                        "True",
                        "DeviceUnavailable",
                        "/dev/volume-clone/destination: no such device")));
    containerExited("c", 1, null);
    String uid = h.pod("c").getMetadata().getUid();

    h.reconcile("c");

    assertThat(h.status("c").getPhase()).isEqualTo(Phase.Copying);
    assertThat(h.pod("c").getMetadata().getUid()).isEqualTo(uid);
    assertThat(h.eventReasons("c")).doesNotContain("Failed", "AgentStopped");
  }

  @Test
  void aPodThatSucceededWithoutCutOverIsNotCompletedButRunAgain() {
    runningClone("c", null);
    String firstUid = h.pod("c").getMetadata().getUid();
    h.podPhase("c", "Succeeded", null);

    h.reconcile("c");

    assertThat(h.status("c").getPhase()).isEqualTo(Phase.Copying);
    assertThat(h.status("c").getCompletionTime()).isNull();
    assertThat(h.pod("c")).as("removed, to run again").isNull();
    assertThat(h.eventReasons("c")).contains("AgentExitedWithoutCutOver");
    h.reconcile("c");
    assertThat(h.pod("c").getMetadata().getUid()).isNotEqualTo(firstUid);

    // The new agent reports from the cut-over metadata and exits 0: now it is Completed.
    h.agentWrites(
        "c",
        s ->
            s.getConditions()
                .add(agentCondition(ConditionTypes.CUT_OVER, "True", "CutOver", "cut over")));
    h.podPhase("c", "Succeeded", null);
    h.reconcile("c");
    assertThat(h.status("c").getPhase()).isEqualTo(Phase.Completed);
    assertThat(h.pod("c")).as("left alone after completion").isNotNull();
  }

  @Test
  void aPodThatKeepsSucceedingWithoutCutOverFailsTheClone() {
    runningClone("c", null);
    for (int run = 1; run <= CloneRules.MAX_RERUNS_WITHOUT_CUTOVER; run++) {
      h.podPhase("c", "Succeeded", null);
      h.reconcile("c"); // removes it
      assertThat(h.pod("c")).isNull();
      h.reconcile("c"); // starts it again
      assertThat(h.status("c").getPhase()).isNotEqualTo(Phase.Failed);
    }
    h.podPhase("c", "Succeeded", null);
    h.reconcile("c");

    assertThat(h.status("c").getPhase()).isEqualTo(Phase.Failed);
    Condition stalled = condition("c", ConditionTypes.STALLED);
    assertThat(stalled.getReason()).isEqualTo("AgentExitedWithoutCutOver");
    assertThat(stalled.getMessage()).contains("without reporting CutOver=True");
    assertThat(h.pod("c")).as("a Succeeded Pod is kept for its log").isNotNull();
  }

  @Test
  void theRerunCountSurvivesAnOperatorRestart() {
    runningClone("c", null);
    for (int run = 1; run <= CloneRules.MAX_RERUNS_WITHOUT_CUTOVER; run++) {
      // Each run is seen by a new operator process, which has nothing in memory.
      h.podPhase("c", "Succeeded", null);
      reconcileInANewOperator("c");
      assertThat(h.pod("c")).isNull();
      assertThat(h.status("c").getRerunsWithoutCutover()).isEqualTo(run);
      reconcileInANewOperator("c");
      assertThat(h.status("c").getPhase()).isNotEqualTo(Phase.Failed);
    }
    h.podPhase("c", "Succeeded", null);
    reconcileInANewOperator("c");

    assertThat(h.status("c").getPhase())
        .as("the limit holds across restarts, so no restart can make the reruns endless")
        .isEqualTo(Phase.Failed);
    assertThat(condition("c", ConditionTypes.STALLED).getReason())
        .isEqualTo("AgentExitedWithoutCutOver");
    assertThat(h.status("c").getRerunsWithoutCutover())
        .as("a finished clone forgets its counters")
        .isNull();
  }

  private void reconcileInANewOperator(String name) {
    VolumeCloneReconciler fresh =
        new VolumeCloneReconciler(
            h.cluster.client,
            OperatorOptions.of(
                Map.of(
                    "agent.privileged",
                    "true",
                    "allowedDevicePrefixes",
                    Harness.TEST_DEVICE_PREFIXES)),
            h.clock);
    VolumeClone clone = h.clone(name);
    fresh.reconcile(clone, new TestingContext(h.cluster.client, clone));
  }
}
