package io.volumeclone.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaimBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.CloneRange;
import io.volumeclone.api.v1alpha1.spec.DestinationRef;
import io.volumeclone.api.v1alpha1.spec.MetadataRef;
import io.volumeclone.api.v1alpha1.spec.SourceRef;
import io.volumeclone.api.v1alpha1.status.Phase;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Every rule the reconciler checks beyond the CRD: its reason, its message, and that nothing
 * starts.
 */
class ValidationTest {

  private Harness h =
      new Harness(
          Map.of(
              "agent.privileged", "true", "allowedDevicePrefixes", Harness.TEST_DEVICE_PREFIXES));

  @AfterEach
  void close() {
    h.close();
  }

  private Condition refused(String name, String reason) {
    h.reconcile(name);
    var status = h.status(name);
    assertThat(status.getPhase()).isEqualTo(Phase.Pending);
    Condition stalled = status.condition(ConditionTypes.STALLED).orElseThrow();
    assertThat(stalled.getStatus()).isEqualTo("True");
    assertThat(stalled.getReason()).isEqualTo(reason);
    assertThat(status.isTrue(ConditionTypes.READY)).isFalse();
    assertThat(status.isTrue(ConditionTypes.RECONCILING)).isFalse();
    assertThat(h.pod(name)).as("nothing starts").isNull();
    assertThat(h.events(name))
        .anySatisfy(
            e -> {
              assertThat(e.getType()).isEqualTo("Warning");
              assertThat(e.getReason()).isEqualTo(reason);
              assertThat(e.getMessage()).isEqualTo(stalled.getMessage());
            });
    return stalled;
  }

  private VolumeClone deviceClone(String name, String source, String destination) {
    VolumeClone c = MockCluster.pvcClone(Harness.NS, name, "x", "y");
    c.getSpec().setSource(SourceRef.device(source));
    c.getSpec().setDestination(DestinationRef.device(destination));
    c.getSpec().setNodeName("n1");
    return c;
  }

  @Test
  void sameClaimForSourceAndDestinationIsRefused() {
    h.cluster.node("n1");
    h.cluster.claim(Harness.NS, "data", "1Gi");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "data", "data");
    c.getSpec().setNodeName("n1");
    h.cluster.create(c);
    assertThat(refused("c", "SourceIsDestination").getMessage())
        .isEqualTo(
            "spec.source.persistentVolumeClaim.claimName and"
                + " spec.destination.persistentVolumeClaim.claimName both name PVC data; the source"
                + " and the destination must be different devices");
  }

  @Test
  void sameDevicePathIsRefused() {
    h.cluster.node("n1");
    h.cluster.create(deviceClone("c", "/dev/disk/by-id/a", "/dev/disk/by-id/a"));
    assertThat(refused("c", "SourceIsDestination").getMessage())
        .contains("both name device /dev/disk/by-id/a");
  }

  @Test
  void twoClaimsOnOneVolumeAreTheSameDevice() {
    h.cluster.node("n1");
    h.cluster.claim(Harness.NS, "a", "1Gi");
    h.cluster
        .client
        .persistentVolumeClaims()
        .resource(
            new PersistentVolumeClaimBuilder()
                .withNewMetadata()
                .withName("b")
                .withNamespace(Harness.NS)
                .endMetadata()
                .withNewSpec()
                .withVolumeMode("Block")
                .withVolumeName("pv-db-a")
                .endSpec()
                .withNewStatus()
                .withPhase("Bound")
                .addToCapacity("storage", new Quantity("1Gi"))
                .endStatus()
                .build())
        .create();
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "a", "b");
    c.getSpec().setNodeName("n1");
    h.cluster.create(c);
    assertThat(refused("c", "SourceIsDestination").getMessage())
        .contains("are bound to the same PersistentVolume pv-db-a");
  }

  @Test
  void localVolumeAndDevicePathOfTheSameDiskAreRefused() {
    h.cluster.node("n1");
    h.cluster.claim(Harness.NS, "dst", "1Gi", "Block", "n1");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "x", "dst");
    c.getSpec().setSource(SourceRef.device("/dev/disk/by-id/local-dst"));
    c.getSpec().setNodeName("n1");
    h.cluster.create(c);
    assertThat(refused("c", "SourceIsDestination").getMessage())
        .contains("are the same device: PersistentVolume pv-db-dst is the local path");
  }

  @Test
  void metadataMustDifferFromData() {
    h.cluster.node("n1");
    VolumeClone c = deviceClone("c", "/dev/disk/by-id/a", "/dev/disk/by-id/b");
    c.getSpec().setMetadata(MetadataRef.device("/dev/disk/by-id/b"));
    h.cluster.create(c);
    assertThat(refused("c", "MetadataOverlapsData").getMessage())
        .startsWith("spec.destination.device.path and spec.metadata.device.path both name");
  }

  @Test
  void destinationSmallerThanTheRangeIsRefused() {
    h.cluster.node("n1");
    h.cluster.claim(Harness.NS, "src", "10Gi");
    h.cluster.claim(Harness.NS, "dst", "5Gi");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "src", "dst");
    c.getSpec().setNodeName("n1");
    h.cluster.create(c);
    assertThat(refused("c", "DestinationTooSmall").getMessage())
        .isEqualTo(
            "destination PVC dst holds 5368709120 bytes but the clone writes 10737418240 bytes at"
                + " offset 0 (needs 10737418240); use a destination of at least that size or a"
                + " smaller spec.range.size");
  }

  @Test
  void aRangeThatFitsIsAccepted() {
    h.cluster.node("n1");
    h.cluster.claim(Harness.NS, "src", "10Gi");
    h.cluster.claim(Harness.NS, "dst", "5Gi");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "src", "dst");
    c.getSpec().setNodeName("n1");
    c.getSpec().setRange(new CloneRange("1Gi", "1Gi", "4Gi"));
    h.cluster.create(c);
    h.reconcile("c");
    assertThat(h.status("c").isTrue(ConditionTypes.STALLED)).isFalse();
    assertThat(h.pod("c")).isNotNull();
  }

  @Test
  void aDecimalSizeMeansWhatKubernetesSaysSo100GFitsA100GClaim() {
    h.cluster.node("n1");
    h.cluster.claim(Harness.NS, "src", "100G");
    h.cluster.claim(Harness.NS, "dst", "100G");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "src", "dst");
    c.getSpec().setNodeName("n1");
    c.getSpec().setRange(new CloneRange("0", "0", "100G"));
    h.cluster.create(c);
    h.reconcile("c");
    assertThat(h.status("c").isTrue(ConditionTypes.STALLED)).isFalse();
    assertThat(h.pod("c")).isNotNull();
  }

  @Test
  void aBinarySizeDoesNotFitADecimalClaimOfTheSameNumber() {
    h.cluster.node("n1");
    h.cluster.claim(Harness.NS, "src", "200G");
    h.cluster.claim(Harness.NS, "dst", "100G");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "src", "dst");
    c.getSpec().setNodeName("n1");
    c.getSpec().setRange(new CloneRange("0", "0", "100Gi"));
    h.cluster.create(c);
    assertThat(refused("c", "DestinationTooSmall").getMessage())
        .startsWith(
            "destination PVC dst holds 100000000000 bytes but the clone writes 107374182400"
                + " bytes");
  }

  @Test
  void aRangePastTheSourceIsRefused() {
    h.cluster.node("n1");
    h.cluster.claim(Harness.NS, "src", "1Gi");
    h.cluster.claim(Harness.NS, "dst", "5Gi");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "src", "dst");
    c.getSpec().setNodeName("n1");
    c.getSpec().setRange(new CloneRange("512Mi", "0", "1Gi"));
    h.cluster.create(c);
    assertThat(refused("c", "RangeBeyondSource").getMessage())
        .contains("source PVC src holds 1073741824 bytes but spec.range asks for 1073741824 bytes")
        .contains("reduce spec.range.size or spec.range.sourceOffset");
  }

  @Test
  void devicePathsOutsideTheAllowedPrefixesAreRefused() {
    h.cluster.node("n1");
    h.cluster.create(deviceClone("c", "/dev/sda", "/dev/disk/by-id/b"));
    assertThat(refused("c", "DevicePathNotAllowed").getMessage())
        .isEqualTo(
            "spec.source.device.path /dev/sda is not under an allowed prefix (/dev/disk/by-id/,"
                + " /dev/mapper/); use a stable path under one of them, or add its directory to"
                + " the operator's allowedDevicePrefixes");
  }

  @Test
  void withTheDefaultEmptyPrefixListEveryDevicePathIsRefused() {
    h.close();
    h = new Harness(Map.of("agent.privileged", "true"));
    h.cluster.node("n1");
    h.cluster.create(deviceClone("c", "/dev/disk/by-id/a", "/dev/disk/by-id/b"));
    assertThat(refused("c", "DevicePathNotAllowed").getMessage())
        .isEqualTo(
            "spec.source.device.path /dev/disk/by-id/a: this operator allows no host device"
                + " paths (allowedDevicePrefixes is empty); clone a PVC (volumeMode: Block)"
                + " instead, or add the device's directory to allowedDevicePrefixes in the"
                + " chart's values");
  }

  @Test
  void pathsThatClimbOutOfAPrefixAreRefused() {
    h.cluster.node("n1");
    h.cluster.create(deviceClone("c", "/dev/disk/by-id/../../sda", "/dev/disk/by-id/b"));
    refused("c", "DevicePathNotAllowed");
  }

  @Test
  void hostDevicesNeedThePrivilegedSetting() {
    h.close();
    h = new Harness(Map.of("allowedDevicePrefixes", Harness.TEST_DEVICE_PREFIXES));
    h.cluster.node("n1");
    h.cluster.create(deviceClone("c", "/dev/disk/by-id/a", "/dev/disk/by-id/b"));
    assertThat(refused("c", "PrivilegedAgentRequired").getMessage())
        .contains("enable agent.privileged");
  }

  @Test
  void missingClaimIsRefused() {
    h.cluster.node("n1");
    h.cluster.claim(Harness.NS, "src", "1Gi");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "src", "nope");
    c.getSpec().setNodeName("n1");
    h.cluster.create(c);
    assertThat(refused("c", "ClaimNotFound").getMessage())
        .isEqualTo(
            "spec.destination.persistentVolumeClaim.claimName: PersistentVolumeClaim nope does"
                + " not exist in namespace db; create it (volumeMode: Block) or name an existing"
                + " claim");
  }

  @Test
  void aClaimInAnotherNamespaceIsNotFound() {
    h.cluster.node("n1");
    h.cluster.claim(Harness.NS, "src", "1Gi");
    h.cluster.claim("other", "dst", "1Gi");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "src", "dst");
    c.getSpec().setNodeName("n1");
    h.cluster.create(c);
    assertThat(refused("c", "ClaimNotFound").getMessage()).contains("in namespace db");
  }

  @Test
  void filesystemClaimsAreRefused() {
    h.cluster.node("n1");
    h.cluster.claim(Harness.NS, "src", "1Gi");
    h.cluster.claim(Harness.NS, "dst", "1Gi", "Filesystem", null);
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "src", "dst");
    c.getSpec().setNodeName("n1");
    h.cluster.create(c);
    assertThat(refused("c", "ClaimNotBlockMode").getMessage())
        .contains("PersistentVolumeClaim dst has volumeMode Filesystem")
        .contains("needs a claim with volumeMode: Block");
  }

  private void unboundClaim(String name) {
    h.cluster
        .client
        .persistentVolumeClaims()
        .resource(
            new PersistentVolumeClaimBuilder()
                .withNewMetadata()
                .withName(name)
                .withNamespace(Harness.NS)
                .endMetadata()
                .withNewSpec()
                .withVolumeMode("Block")
                .withStorageClassName("local-wait")
                .endSpec()
                .withNewStatus()
                .withPhase("Pending")
                .endStatus()
                .build())
        .create();
  }

  @Test
  void anUnboundClaimOfACloneOnAFixedNodeWaitsWithoutStalling() {
    h.cluster.node("n1");
    unboundClaim("dst");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "x", "dst");
    c.getSpec().setSource(SourceRef.device("/dev/disk/by-id/a"));
    c.getSpec().setNodeName("n1");
    h.cluster.create(c);
    h.reconcile("c");
    var reported = h.status("c");
    assertThat(reported.isTrue(ConditionTypes.STALLED)).isFalse();
    Condition reconciling = reported.condition(ConditionTypes.RECONCILING).orElseThrow();
    assertThat(reconciling.getStatus()).isEqualTo("True");
    assertThat(reconciling.getReason()).isEqualTo("ClaimNotBound");
    assertThat(reconciling.getMessage()).contains("names a device path");
    assertThat(h.pod("c")).isNull();
  }

  @Test
  void aCloneOfClaimsOnlyIsLeftToTheSchedulerWhichBindsWaitForFirstConsumerClaims() {
    h.cluster.node("n1");
    h.cluster.claim(Harness.NS, "src", "1Gi");
    unboundClaim("dst");
    h.cluster.create(MockCluster.pvcClone(Harness.NS, "c", "src", "dst"));
    h.reconcile("c");
    var pod = h.pod("c");
    assertThat(pod).as("the agent Pod is the claims' first consumer").isNotNull();
    assertThat(pod.getSpec().getNodeName()).as("no nodeName: kube-scheduler places it").isNull();
    assertThat(pod.getSpec().getAffinity()).isNull();
    assertThat(h.status("c").getNodeName()).as("not known before binding").isNull();
    var reconciling = h.status("c").condition(ConditionTypes.RECONCILING).orElseThrow();
    assertThat(reconciling.getReason()).isEqualTo("AgentScheduling");

    pod.getSpec().setNodeName("n1"); // what the scheduler's binding does
    h.cluster.client.resource(pod).update();
    h.reconcile("c");
    assertThat(h.status("c").getNodeName()).as("recorded once bound").isEqualTo("n1");
  }

  @Test
  void specNodeNameOfAScheduledCloneIsANodeAffinityNotANodeName() {
    h.cluster.node("n1");
    h.cluster.claim(Harness.NS, "src", "1Gi");
    h.cluster.claim(Harness.NS, "dst", "1Gi");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "src", "dst");
    c.getSpec().setNodeName("n1");
    h.cluster.create(c);
    h.reconcile("c");
    var spec = h.pod("c").getSpec();
    assertThat(spec.getNodeName()).isNull();
    var term =
        spec.getAffinity()
            .getNodeAffinity()
            .getRequiredDuringSchedulingIgnoredDuringExecution()
            .getNodeSelectorTerms()
            .get(0);
    assertThat(term.getMatchFields().get(0).getKey()).isEqualTo("metadata.name");
    assertThat(term.getMatchFields().get(0).getValues()).containsExactly("n1");
  }

  @Test
  void aMissingNodeIsRefused() {
    h.cluster.claim(Harness.NS, "src", "1Gi");
    h.cluster.claim(Harness.NS, "dst", "1Gi");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "src", "dst");
    c.getSpec().setNodeName("ghost");
    h.cluster.create(c);
    assertThat(refused("c", "NodeNotFound").getMessage())
        .isEqualTo(
            "node ghost (from spec.nodeName) does not exist; set spec.nodeName to an existing"
                + " node");
  }

  @Test
  void aCloneWithADevicePathAndNoNodeHasNoNode() {
    h.cluster.node("n1");
    h.cluster.claim(Harness.NS, "dst", "1Gi");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "x", "dst");
    c.getSpec().setSource(SourceRef.device("/dev/disk/by-id/a"));
    h.cluster.create(c);
    assertThat(refused("c", "NoNode").getMessage())
        .startsWith("no node to run on: a clone that names a device path runs on a fixed node;")
        .contains("set spec.nodeName");
  }

  @Test
  void claimsPinnedToDifferentNodesAreRefused() {
    h.cluster.node("n1");
    h.cluster.node("n2");
    h.cluster.claim(Harness.NS, "src", "1Gi", "Block", "n1");
    h.cluster.claim(Harness.NS, "dst", "1Gi", "Block", "n2");
    h.cluster.create(MockCluster.pvcClone(Harness.NS, "c", "src", "dst"));
    assertThat(refused("c", "NodeConflict").getMessage())
        .isEqualTo(
            "PVC dst (PersistentVolume pv-db-dst) can only be used on node n2 but PVC src"
                + " (PersistentVolume pv-db-src) requires node n1; use volumes that can be reached"
                + " from one node");
  }

  @Test
  void nodeNameAgainstALocalVolumeElsewhereIsRefused() {
    h.cluster.node("n1");
    h.cluster.node("n2");
    h.cluster.claim(Harness.NS, "src", "1Gi");
    h.cluster.claim(Harness.NS, "dst", "1Gi", "Block", "n2");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "src", "dst");
    c.getSpec().setNodeName("n1");
    h.cluster.create(c);
    assertThat(refused("c", "NodeConflict").getMessage())
        .contains("but spec.nodeName requires node n1");
  }

  @Test
  void fixingTheProblemLetsTheCloneStart() {
    h.cluster.node("n1");
    h.cluster.claim(Harness.NS, "src", "1Gi");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "src", "dst");
    c.getSpec().setNodeName("n1");
    h.cluster.create(c);
    refused("c", "ClaimNotFound");
    h.cluster.claim(Harness.NS, "dst", "1Gi");
    h.reconcile("c");
    assertThat(h.status("c").isTrue(ConditionTypes.STALLED)).isFalse();
    assertThat(h.pod("c")).isNotNull();
  }
}
