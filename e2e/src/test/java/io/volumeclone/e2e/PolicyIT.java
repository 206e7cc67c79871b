package io.volumeclone.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Manual cutover, validation and TTL, as a user meets them through kubectl. */
class PolicyIT {

  @Test
  void manualCutoverWaitsForApproval() throws Exception {
    String ns = E2e.namespace("manual");
    int size = 4 << 20;
    Path src = E2e.randomDevice(ns + "-src", size, 31);
    Path dst = E2e.emptyDevice(ns + "-dst", size);
    E2e.apply(Manifests.deviceClone(ns, "m", src, dst, "  cutover: Manual\n"));

    VolumeClone copied =
        E2e.awaitClone(
            ns,
            "m",
            "phase Copied",
            c -> Clones.phase(c, Phase.Copied) && Clones.conditionTrue(c, ConditionTypes.COPIED));
    assertThat(copied.getStatus().isTrue(ConditionTypes.CUT_OVER))
        .as("not cut over before approval")
        .isFalse();
    assertThat(copied.getStatus().isTrue(ConditionTypes.READY)).isFalse();
    // Still waiting after further reports: the agent is alive and the phase has not moved.
    String pod = copied.getStatus().getAgentPod();
    E2e.await(
        "the agent Pod running while it waits",
        () -> E2e.pod(ns, pod),
        p -> p != null && "Running".equals(p.getStatus().getPhase()));
    assertThat(E2e.clone(ns, "m").getStatus().getPhase()).isEqualTo(Phase.Copied);

    E2e.approveCutover(ns, "m");
    E2e.awaitClone(
        ns,
        "m",
        "phase Completed after approval",
        c -> Clones.phase(c, Phase.Completed) && Clones.conditionTrue(c, ConditionTypes.CUT_OVER));
    Clones.assertSameBytes(src, dst);
  }

  @Test
  void invalidClonesGetAConditionThatSaysWhy() throws Exception {
    String ns = E2e.namespace("invalid");
    Path src = E2e.randomDevice(ns + "-src", 4 << 20, 41);

    // A device outside the allowed prefixes: refused by the operator, no agent started.
    E2e.apply(Manifests.deviceClone(ns, "outside", src, Path.of("/var/tmp/not-allowed.img"), ""));
    VolumeClone refused =
        E2e.awaitClone(
            ns, "outside", "Stalled=True", c -> Clones.conditionTrue(c, ConditionTypes.STALLED));
    var stalled = refused.getStatus().condition(ConditionTypes.STALLED).orElseThrow();
    assertThat(stalled.getReason()).isEqualTo("DevicePathNotAllowed");
    assertThat(stalled.getMessage()).contains("/var/tmp/not-allowed.img");
    assertThat(refused.getStatus().getAgentPod()).isNull();
    assertThat(E2e.kubectl("-n", ns, "describe", "vc", "outside")).contains("DevicePathNotAllowed");

    // The source as its own destination: the API server refuses it already (the CRD's CEL rule;
    // the operator's SourceIsDestination check is left for objects stored before the rule).
    Path self = java.nio.file.Files.createTempFile("volumeclone-self", ".yaml");
    java.nio.file.Files.writeString(self, Manifests.deviceClone(ns, "self", src, src, ""));
    Tools.Result refusedByServer = E2e.kubectlResult("apply", "-f", self.toString());
    java.nio.file.Files.delete(self);
    assertThat(refusedByServer.exitCode()).isNotZero();
    assertThat(refusedByServer.stderr())
        .contains("source and destination must be different volumes");
    assertThat(E2e.clone(ns, "self")).isNull();

    // A host device too small for the source: only the node can see device sizes, so the agent
    // refuses it (a permanent failure: Degraded=True InvalidGeometry, exit 3) and the operator
    // fails the clone, says why in Stalled and removes the agent Pod instead of letting the
    // kubelet restart it forever; nothing is written to either device.
    Path small = E2e.emptyDevice(ns + "-small", 1 << 20);
    E2e.apply(Manifests.deviceClone(ns, "toosmall", src, small, ""));
    VolumeClone tooSmall =
        E2e.awaitClone(ns, "toosmall", "phase Failed", c -> Clones.phase(c, Phase.Failed));
    var failedStalled = tooSmall.getStatus().condition(ConditionTypes.STALLED).orElseThrow();
    assertThat(failedStalled.getStatus()).isEqualTo("True");
    assertThat(failedStalled.getReason()).isEqualTo("InvalidGeometry");
    assertThat(failedStalled.getMessage()).contains("too small").contains(small.toString());
    assertThat(tooSmall.getStatus().isTrue(ConditionTypes.READY)).isFalse();
    assertThat(tooSmall.getStatus().isTrue(ConditionTypes.RECONCILING)).isFalse();
    var degraded = tooSmall.getStatus().condition(ConditionTypes.DEGRADED).orElseThrow();
    assertThat(degraded.getStatus()).isEqualTo("True");
    assertThat(degraded.getReason()).isEqualTo("InvalidGeometry");
    String agentPod = tooSmall.getStatus().getAgentPod();
    E2e.await("the failed agent Pod removed", () -> E2e.pod(ns, agentPod) == null, gone -> gone);
    assertThat(E2e.kubectl("-n", ns, "describe", "vc", "toosmall")).contains("InvalidGeometry");
    assertThat(E2e.clone(ns, "toosmall").getStatus().getPhase()).isEqualTo(Phase.Failed);
    assertThat(java.nio.file.Files.readAllBytes(small)).containsOnly((byte) 0);
  }

  @Test
  void ttlRemovesAFinishedClone() throws Exception {
    String ns = E2e.namespace("ttl");
    int size = 2 << 20;
    Path src = E2e.randomDevice(ns + "-src", size, 51);
    Path dst = E2e.emptyDevice(ns + "-dst", size);
    E2e.apply(Manifests.deviceClone(ns, "short", src, dst, "  ttlSecondsAfterFinished: 2\n"));
    E2e.await(
        "VolumeClone short completed and then removed by its TTL",
        () -> E2e.clone(ns, "short") == null,
        gone -> gone);
    Clones.assertSameBytes(src, dst); // the data stays
  }
}
