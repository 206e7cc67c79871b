package io.volumeclone.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.javaoperatorsdk.operator.Operator;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The whole operator (JOSDK, informers, finalizer handling) against the mock server. */
class OperatorTest {

  private final MockCluster cluster = new MockCluster();
  private Operator operator;

  @AfterEach
  void close() {
    if (operator != null) {
      operator.stop();
    }
    cluster.close();
  }

  /** Waits for something the operator does asynchronously; fails with what it waited for. */
  static void await(String what, BooleanSupplier condition) {
    long deadline = System.nanoTime() + 60_000_000_000L;
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("gave up waiting for: " + what);
      }
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      }
    }
  }

  @Test
  void aCloneRunsToCompletionAndItsDeletionStopsTheAgentFirst() {
    operator =
        Main.start(
            cluster.client,
            OperatorOptions.of(Map.of("leaderElection.enabled", "false", "recheckInterval", "1s")),
            Map.of());
    cluster.node("n1");
    cluster.claim("db", "src", "1Gi");
    cluster.claim("db", "dst", "1Gi");
    VolumeClone clone = MockCluster.pvcClone("db", "c", "src", "dst");
    clone.getSpec().setNodeName("n1");
    cluster.create(clone);

    var pods = cluster.client.pods().inNamespace("db").withName(AgentPodFactory.podName("c"));
    await("the agent Pod", () -> pods.get() != null);
    await(
        "the operator's finalizer",
        () ->
            cluster
                .get("db", "c")
                .getMetadata()
                .getFinalizers()
                .contains(VolumeCloneReconciler.FINALIZER));
    await(
        "phase Pending with agentPod",
        () -> {
          var s = cluster.get("db", "c").getStatus();
          return s != null && s.getAgentPod() != null && s.getPhase() == Phase.Pending;
        });

    Pod pod = pods.get();
    pod.setStatus(new PodStatusBuilder().withPhase("Running").build());
    cluster.client.resource(pod).updateStatus();
    await("phase Copying", () -> cluster.get("db", "c").getStatus().getPhase() == Phase.Copying);

    // The agent reports cutover through the status subresource.
    VolumeClone current = cluster.get("db", "c");
    current
        .getStatus()
        .getConditions()
        .add(
            new ConditionBuilder()
                .withType(ConditionTypes.CUT_OVER)
                .withStatus("True")
                .withReason("CutOver")
                .withMessage("cut over")
                .withLastTransitionTime("2026-01-01T00:00:00Z")
                .build());
    cluster.client.resource(current).updateStatus();
    await(
        "phase Completed", () -> cluster.get("db", "c").getStatus().getPhase() == Phase.Completed);
    var status = cluster.get("db", "c").getStatus();
    assertThat(status.isTrue(ConditionTypes.READY)).isTrue();
    assertThat(status.isTrue(ConditionTypes.CUT_OVER))
        .as("the agent's condition survives the operator's writes")
        .isTrue();
    cluster.client.resource(cluster.get("db", "c")).delete();
    // It completed with the default metadata: a forget Pod removes that file on n1. Play its
    // kubelet.
    var forget =
        cluster.client.pods().inNamespace("db").withName(AgentPodFactory.forgetPodName("c"));
    await("the forget Pod", () -> forget.get() != null);
    assertThat(pods.get()).as("the agent Pod was deleted before the metadata is removed").isNull();
    assertThat(forget.get().getSpec().getNodeName()).isEqualTo("n1");
    Pod done = forget.get();
    done.setStatus(
        new io.fabric8.kubernetes.api.model.PodStatusBuilder().withPhase("Succeeded").build());
    cluster.client.resource(done).updateStatus();
    await("the clone is gone", () -> cluster.get("db", "c") == null);
    assertThat(forget.get()).as("the forget Pod is removed").isNull();
  }

  @Test
  void aDeletedCloneWaitsForItsAgentToExit() {
    operator =
        Main.start(
            cluster.client,
            OperatorOptions.of(Map.of("leaderElection.enabled", "false")),
            Map.of());
    cluster.node("n1");
    cluster.claim("db", "src", "1Gi");
    cluster.claim("db", "dst", "1Gi");
    VolumeClone clone = MockCluster.pvcClone("db", "c", "src", "dst");
    clone.getSpec().setNodeName("n1");
    cluster.create(clone);
    var pods = cluster.client.pods().inNamespace("db").withName(AgentPodFactory.podName("c"));
    await("the agent Pod", () -> pods.get() != null);
    await(
        "the operator's finalizer",
        () ->
            cluster
                .get("db", "c")
                .getMetadata()
                .getFinalizers()
                .contains(VolumeCloneReconciler.FINALIZER));
    // Something (as a kubelet during the grace period) keeps the Pod terminating.
    Pod pod = pods.get();
    pod.getMetadata().getFinalizers().add("test/kubelet");
    cluster.client.resource(pod).update();

    cluster.client.resource(cluster.get("db", "c")).delete();
    await(
        "the agent is asked to stop",
        () -> pods.get().getMetadata().getDeletionTimestamp() != null);
    assertThat(cluster.get("db", "c")).as("still there while its agent runs").isNotNull();

    Pod stopping = pods.get();
    stopping.getMetadata().getFinalizers().remove("test/kubelet");
    cluster.client.resource(stopping).update();
    await("the clone is gone", () -> cluster.get("db", "c") == null);
  }
}
