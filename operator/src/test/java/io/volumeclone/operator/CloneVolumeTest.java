package io.volumeclone.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.api.model.PersistentVolume;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.Access;
import io.volumeclone.api.v1alpha1.spec.CloneVolume;
import io.volumeclone.api.v1alpha1.spec.VolumeMode;
import io.volumeclone.api.v1alpha1.status.ExportStatus;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.Progress;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import io.volumeclone.api.v1alpha1.status.VolumeStatus;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The clone volume (spec.volume) against the mock server: when the claim and the PersistentVolume
 * appear and what they hold, status.volume, a deletion refused while a Pod uses the claim, and the
 * agent's privileges.
 */
class CloneVolumeTest {

  static final long SIZE = 1L << 30;
  static final String MAPPER = "/dev/mapper/volume-clone-";
  static final String EXPORT = "nbd+unix:///c?socket=/var/lib/volume-clone/db/c/nbd.sock";

  private Harness h = new Harness();

  @AfterEach
  void close() {
    h.close();
  }

  /** A clone of src to a local dst on n1 that publishes db-data, started (its agent Pod exists). */
  private VolumeClone started(VolumeMode mode, String fsType, Access access) {
    h.cluster.node("n1");
    h.cluster.claim(Harness.NS, "src", "1Gi");
    h.cluster.claim(Harness.NS, "dst", "1Gi", "Block", "n1");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "src", "dst");
    c.getSpec().setVolume(new CloneVolume("db-data", mode, fsType));
    c.getSpec().setAccess(access);
    h.cluster.create(c);
    h.reconcile("c");
    Pod agent = h.pod("c");
    assertThat(agent).isNotNull();
    // what kube-scheduler does: dst is a local volume on n1
    agent.getSpec().setNodeName("n1");
    h.cluster.client.resource(agent).update();
    h.reconcile("c");
    return h.clone("c");
  }

  private void agentReports(Consumer<VolumeCloneStatus> change) {
    h.agentWrites(
        "c",
        s -> {
          Progress p = new Progress();
          p.setBytesTotal(SIZE);
          p.setBytesCopied(SIZE / 10);
          s.setProgress(p);
          change.accept(s);
        });
  }

  private static void condition(
      VolumeCloneStatus s, String type, boolean status, String reason, String message) {
    List<Condition> conditions = new ArrayList<>(s.getConditions());
    conditions.removeIf(c -> c.getType().equals(type));
    conditions.add(
        new ConditionBuilder()
            .withType(type)
            .withStatus(status ? "True" : "False")
            .withReason(reason)
            .withMessage(message)
            .withLastTransitionTime("2026-01-01T00:00:00Z")
            .build());
    s.setConditions(conditions);
  }

  private PersistentVolumeClaim claim() {
    return h.cluster
        .client
        .persistentVolumeClaims()
        .inNamespace(Harness.NS)
        .withName("db-data")
        .get();
  }

  private PersistentVolume volume(VolumeClone clone) {
    return h.cluster
        .client
        .persistentVolumes()
        .withName("volume-clone-" + clone.getMetadata().getUid())
        .get();
  }

  private VolumeStatus volumeStatus() {
    return h.status("c").getVolume();
  }

  @Test
  void immediateWithAKernelDevicePublishesAPersistentVolumeOnItPreBoundToTheClaim() {
    VolumeClone clone = started(VolumeMode.Filesystem, "ext4", Access.Immediate);
    String device = MAPPER + clone.getMetadata().getUid();
    agentReports(
        s -> {
          s.setExport(new ExportStatus(EXPORT, device));
          condition(s, ConditionTypes.AVAILABLE, true, "ExportServing", "served");
        });
    h.reconcile("c");

    PersistentVolumeClaim claim = claim();
    assertThat(claim.getMetadata().getOwnerReferences())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.getUid()).isEqualTo(clone.getMetadata().getUid());
              assertThat(o.getKind()).isEqualTo("VolumeClone");
              assertThat(o.getController()).isTrue();
            });
    assertThat(claim.getSpec().getStorageClassName()).isEmpty();
    assertThat(claim.getSpec().getVolumeName())
        .isEqualTo("volume-clone-" + clone.getMetadata().getUid());
    assertThat(claim.getSpec().getVolumeMode()).isEqualTo("Filesystem");
    assertThat(claim.getSpec().getResources().getRequests().get("storage").getNumericalAmount())
        .isEqualByComparingTo(Long.toString(SIZE));

    PersistentVolume pv = volume(clone);
    assertThat(pv.getSpec().getLocal().getPath()).isEqualTo(device);
    assertThat(pv.getSpec().getLocal().getFsType()).isEqualTo("ext4");
    assertThat(pv.getSpec().getVolumeMode()).isEqualTo("Filesystem");
    assertThat(pv.getSpec().getCapacity().get("storage").getNumericalAmount())
        .isEqualByComparingTo(Long.toString(SIZE));
    assertThat(pv.getSpec().getPersistentVolumeReclaimPolicy()).isEqualTo("Retain");
    assertThat(pv.getSpec().getStorageClassName()).isEmpty();
    assertThat(
            pv.getSpec()
                .getNodeAffinity()
                .getRequired()
                .getNodeSelectorTerms()
                .get(0)
                .getMatchExpressions())
        .singleElement()
        .satisfies(
            e -> {
              assertThat(e.getKey()).isEqualTo("kubernetes.io/hostname");
              assertThat(e.getOperator()).isEqualTo("In");
              assertThat(e.getValues()).containsExactly("n1");
            });
    assertThat(pv.getSpec().getClaimRef().getName()).isEqualTo("db-data");
    assertThat(pv.getSpec().getClaimRef().getNamespace()).isEqualTo(Harness.NS);
    assertThat(pv.getSpec().getClaimRef().getUid()).isEqualTo(claim.getMetadata().getUid());

    VolumeStatus status = volumeStatus();
    assertThat(status.getClaimName()).isEqualTo("db-data");
    assertThat(status.getPersistentVolumeName()).isEqualTo(pv.getMetadata().getName());
    assertThat(status.getDevicePath()).isEqualTo(device);
    assertThat(status.getNodeName()).isEqualTo("n1");
    assertThat(status.getBound()).isFalse();
    assertThat(h.eventReasons("c")).contains("ClaimCreated", "VolumePublished");
  }

  @Test
  void aNodeWithoutKernelAttachGetsTheClaimBoundAfterCutoverOnTheDestination() {
    VolumeClone clone = started(VolumeMode.Block, null, Access.Immediate);
    agentReports(
        s -> {
          s.setExport(new ExportStatus(EXPORT, null));
          condition(
              s,
              ConditionTypes.AVAILABLE,
              false,
              "NoKernelAttach",
              "no kernel device for the clone volume db-data: node has no /dev/nbd0");
        });
    h.reconcile("c");

    assertThat(claim()).as("the claim waits, Pending, for its volume").isNotNull();
    assertThat(volume(clone)).as("no volume before cutover").isNull();
    assertThat(volumeStatus().getBound()).isFalse();
    assertThat(volumeStatus().getMessage())
        .contains("node n1 gives the clone no kernel device", "bound after cutover", "pvc/dst");

    agentReports(
        s -> {
          s.setExport(null);
          condition(s, ConditionTypes.AVAILABLE, true, "CutOver", "use the destination");
          condition(s, ConditionTypes.COPIED, true, "AllRegionsCopied", "copied");
          condition(s, ConditionTypes.CUT_OVER, true, "CutOver", "cut over");
        });
    h.reconcile("c");

    PersistentVolume pv = volume(clone);
    assertThat(pv.getSpec().getLocal().getPath())
        .as("the destination's own local path")
        .isEqualTo("/dev/disk/by-id/local-dst");
    assertThat(pv.getSpec().getLocal().getFsType()).isNull();
    assertThat(pv.getSpec().getVolumeMode()).isEqualTo("Block");
    assertThat(volumeStatus().getDevicePath()).isEqualTo("/dev/disk/by-id/local-dst");
    assertThat(h.status("c").getPhase()).isEqualTo(Phase.Completed);
  }

  @Test
  void afterCopyPublishesNothingBeforeCutoverEvenWithAKernelDevice() {
    VolumeClone clone = started(VolumeMode.Block, null, Access.AfterCopy);
    String device = MAPPER + clone.getMetadata().getUid();
    agentReports(
        s -> {
          s.setExport(new ExportStatus(null, device));
          condition(s, ConditionTypes.AVAILABLE, false, "AwaitingCopy", "after copy");
        });
    h.reconcile("c");
    assertThat(volume(clone)).isNull();
    assertThat(volumeStatus().getMessage())
        .isEqualTo("access is AfterCopy: the claim is bound after cutover");

    agentReports(
        s -> {
          condition(s, ConditionTypes.AVAILABLE, true, "CutOver", "maps the destination");
          condition(s, ConditionTypes.CUT_OVER, true, "CutOver", "cut over");
        });
    h.reconcile("c");
    assertThat(volume(clone).getSpec().getLocal().getPath())
        .as("the kernel device, which now maps the destination")
        .isEqualTo(device);
  }

  @Test
  void deletionIsRefusedWhileAPodUsesTheClaimAndThenTakesTheVolumeAndClaimAlong() {
    VolumeClone clone = started(VolumeMode.Block, null, Access.Immediate);
    agentReports(
        s -> {
          s.setExport(new ExportStatus(EXPORT, MAPPER + clone.getMetadata().getUid()));
          condition(s, ConditionTypes.AVAILABLE, true, "ExportServing", "served");
        });
    h.reconcile("c");
    assertThat(volume(clone)).isNotNull();
    Pod consumer =
        h.cluster
            .client
            .pods()
            .resource(
                new PodBuilder()
                    .withNewMetadata()
                    .withName("postgres-0")
                    .withNamespace(Harness.NS)
                    .endMetadata()
                    .withNewSpec()
                    .addNewContainer()
                    .withName("db")
                    .withImage("postgres")
                    .endContainer()
                    .addNewVolume()
                    .withName("data")
                    .withNewPersistentVolumeClaim()
                    .withClaimName("db-data")
                    .endPersistentVolumeClaim()
                    .endVolume()
                    .endSpec()
                    .build())
            .create();
    VolumeClone withFinalizer = h.clone("c");
    withFinalizer.getMetadata().setFinalizers(List.of(VolumeCloneReconciler.FINALIZER));
    h.cluster.client.resource(withFinalizer).update();
    h.cluster.client.resource(h.clone("c")).delete();

    DeleteControl refused = h.cleanup("c");
    assertThat(refused.isRemoveFinalizer()).isFalse();
    Condition stalled = h.status("c").condition(ConditionTypes.STALLED).orElseThrow();
    assertThat(stalled.getStatus()).isEqualTo("True");
    assertThat(stalled.getReason()).isEqualTo("VolumeInUse");
    assertThat(stalled.getMessage())
        .isEqualTo("clone volume db-data is in use by Pod db/postgres-0; stop it first");
    assertThat(volumeStatus().getInUseBy()).containsExactly("db/postgres-0");
    assertThat(h.pod("c")).as("the agent keeps serving the consumer").isNotNull();
    assertThat(volume(clone)).isNotNull();

    h.cluster.client.resource(consumer).withGracePeriod(0).delete();
    DeleteControl control = h.cleanup("c");
    for (int i = 0; i < 5 && !control.isRemoveFinalizer(); i++) {
      control = h.cleanup("c");
    }
    assertThat(control.isRemoveFinalizer()).isTrue();
    assertThat(volume(clone)).as("the PersistentVolume goes with the clone").isNull();
    assertThat(claim()).as("the claim goes with the clone").isNull();
    assertThat(
            h.cluster.client.persistentVolumeClaims().inNamespace(Harness.NS).withName("dst").get())
        .as("the destination stays")
        .isNotNull();
  }

  @Test
  void theAgentIsPrivilegedOnlyForAVolumeAndOnlyWhenTheChartAllowsKernelAttach() {
    h.close();
    h = new Harness(Map.of("agent.kernelAttach", "true"));
    started(VolumeMode.Block, null, Access.Immediate);
    assertThat(security()).satisfies(s -> assertThat(s.getPrivileged()).isTrue());
    h.close();

    h = new Harness(Map.of("agent.kernelAttach", "false"));
    started(VolumeMode.Block, null, Access.Immediate);
    assertThat(security().getPrivileged()).isFalse();
    assertThat(security().getCapabilities().getDrop()).containsExactly("ALL");
    h.close();

    h = new Harness(Map.of("agent.kernelAttach", "true"));
    h.cluster.claim(Harness.NS, "src", "1Gi");
    h.cluster.claim(Harness.NS, "dst", "1Gi");
    h.cluster.create(MockCluster.pvcClone(Harness.NS, "c", "src", "dst"));
    h.reconcile("c");
    assertThat(security().getPrivileged()).as("no volume, no kernel attach").isFalse();
  }

  private SecurityContext security() {
    return h.pod("c").getSpec().getContainers().get(0).getSecurityContext();
  }
}
