package io.volumeclone.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaimBuilder;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.CloneVolume;
import io.volumeclone.api.v1alpha1.spec.VolumeMode;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.Progress;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The clone volume's rules alone: what is published when, and what the status says otherwise. */
class CloneVolumeRulesTest {

  private static VolumeClone clone(Phase phase, Long size) {
    VolumeClone c = MockCluster.pvcClone("db", "c", "src", "dst");
    c.getMetadata().setUid("u1");
    c.getSpec().setVolume(new CloneVolume("db-data", VolumeMode.Block, null));
    VolumeCloneStatus s = new VolumeCloneStatus();
    s.setPhase(phase);
    if (size != null) {
      Progress p = new Progress();
      p.setBytesTotal(size);
      s.setProgress(p);
    }
    s.setConditions(new ArrayList<>());
    c.setStatus(s);
    return c;
  }

  private static void cutOver(VolumeClone c) {
    c.getStatus()
        .getConditions()
        .add(
            new ConditionBuilder()
                .withType(ConditionTypes.CUT_OVER)
                .withStatus("True")
                .withReason("CutOver")
                .build());
  }

  private static PersistentVolumeClaim claim(String ownerUid) {
    return new PersistentVolumeClaimBuilder()
        .withNewMetadata()
        .withName("db-data")
        .withNamespace("db")
        .addNewOwnerReference()
        .withUid(ownerUid)
        .withKind("VolumeClone")
        .withName("c")
        .endOwnerReference()
        .endMetadata()
        .build();
  }

  private static CloneVolumeRules.Plan next(
      VolumeClone c, PersistentVolumeClaim claim, String destinationPath, String why) {
    return CloneVolumeRules.next(
        new CloneVolumeRules.Seen(c, "n1", claim, null, destinationPath, why, List.of()));
  }

  @Test
  void theClaimWaitsForTheClonesSize() {
    CloneVolumeRules.Plan plan = next(clone(Phase.Pending, null), null, null, null);
    assertThat(plan.createClaim()).isFalse();
    assertThat(plan.status().getMessage())
        .isEqualTo("the claim is created once the agent reports the clone's size");
  }

  @Test
  void aClaimOfThatNameThatIsNotTheClonesIsLeftAloneAndNamed() {
    CloneVolumeRules.Plan plan = next(clone(Phase.Copying, 1024L), claim("other"), null, null);
    assertThat(plan.createClaim()).isFalse();
    assertThat(plan.devicePath()).isNull();
    assertThat(plan.status().getMessage())
        .isEqualTo(
            "a claim db-data already exists and is not this VolumeClone's; delete it or name"
                + " another claim in spec.volume.claimName");
  }

  @Test
  void aFailedCloneGetsNoClaim() {
    CloneVolumeRules.Plan plan = next(clone(Phase.Failed, 1024L), null, null, null);
    assertThat(plan.createClaim()).isFalse();
    assertThat(plan.status().getMessage()).isEqualTo("the clone failed; no claim is created");
  }

  @Test
  void aDestinationWithoutAPathOnTheNodeIsTheResultToMount() {
    VolumeClone c = clone(Phase.Completed, 1024L);
    cutOver(c);
    CloneVolumeRules.Plan plan =
        next(c, claim("u1"), null, "its PersistentVolume pv-1 is neither local nor hostPath");
    assertThat(plan.devicePath()).isNull();
    assertThat(plan.status().getMessage())
        .isEqualTo(
            "the clone is cut over and its destination pvc/dst holds the data, but its"
                + " PersistentVolume pv-1 is neither local nor hostPath; mount the destination"
                + " claim directly");
  }

  @Test
  void afterCutoverTheDestinationPathIsPublished() {
    VolumeClone c = clone(Phase.Completed, 1024L);
    cutOver(c);
    CloneVolumeRules.Plan plan = next(c, claim("u1"), "/dev/disk/by-id/dst", null);
    assertThat(plan.devicePath()).isEqualTo("/dev/disk/by-id/dst");
    assertThat(plan.status().getPersistentVolumeName()).isEqualTo("volume-clone-u1");
    assertThat(plan.bindingPending()).isTrue();
  }

  @Test
  void theRefusalNamesEveryPod() {
    VolumeClone c = clone(Phase.Copying, 1024L);
    assertThat(CloneVolumeRules.inUse(c, List.of())).isNull();
    assertThat(CloneVolumeRules.inUse(c, List.of("db/a", "db/b")))
        .isEqualTo("clone volume db-data is in use by Pods db/a, db/b; stop them first");
  }
}
