package io.volumeclone.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.MetadataRef;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** What a deletion does next, decided from plain objects: no client, no clock. */
class DeletionRulesTest {

  private static final Instant NOW = Instant.parse("2026-03-01T12:00:00Z");
  private static final Duration TIMEOUT = Duration.ofMinutes(1);

  private static VolumeClone completed() {
    VolumeClone clone = MockCluster.pvcClone("db", "c", "src", "dst");
    clone.getMetadata().setUid("uid-c");
    VolumeCloneStatus status = new VolumeCloneStatus();
    status.setPhase(Phase.Completed);
    status.setNodeName("n1");
    clone.setStatus(status);
    return clone;
  }

  private static Pod pod(String phase, Instant created, Instant deletion) {
    return new PodBuilder()
        .withNewMetadata()
        .withName("p")
        .withNamespace("db")
        .withCreationTimestamp(created.toString())
        .withDeletionTimestamp(deletion == null ? null : deletion.toString())
        .endMetadata()
        .withNewStatus()
        .withPhase(phase)
        .endStatus()
        .build();
  }

  private static DeletionRules.Step next(VolumeClone clone, Pod agent, Pod forget, Instant now) {
    return DeletionRules.next(new DeletionRules.Seen(clone, agent, forget, now), TIMEOUT);
  }

  @Test
  void aRunningAgentIsStoppedAndATerminatingOneAwaitedUntilItIsOverdue() {
    Pod running = pod("Running", NOW, null);
    assertThat(next(completed(), running, null, NOW))
        .isEqualTo(new DeletionRules.Step.StopAgent(running));

    // Its grace period ends at NOW; the deletion timeout runs on from there.
    Pod terminating = pod("Running", NOW.minusSeconds(30), NOW);
    assertThat(next(completed(), terminating, null, NOW))
        .isEqualTo(new DeletionRules.Step.Wait(DeletionRules.POLL));
    assertThat(next(completed(), terminating, null, NOW.plus(TIMEOUT).minusMillis(500)))
        .as("never past the deadline")
        .isEqualTo(new DeletionRules.Step.Wait(Duration.ofMillis(500)));
    assertThat(next(completed(), terminating, null, NOW.plus(TIMEOUT)))
        .isEqualTo(new DeletionRules.Step.LeaveAgentBehind(terminating));
  }

  @Test
  void aCompletedClonesDefaultMetadataIsRemovedOnItsNodeWithinTheTimeout() {
    assertThat(next(completed(), null, null, NOW))
        .isEqualTo(new DeletionRules.Step.RemoveMetadata("n1"));

    Pod forget = pod("Pending", NOW, null);
    assertThat(next(completed(), null, forget, NOW.plusSeconds(30)))
        .isEqualTo(new DeletionRules.Step.Wait(DeletionRules.POLL));
    assertThat(next(completed(), null, forget, NOW.plus(TIMEOUT)))
        .isEqualTo(
            new DeletionRules.Step.MetadataDone(forget, "n1", DeletionRules.Removal.TIMED_OUT));

    Pod done = pod("Succeeded", NOW, null);
    assertThat(next(completed(), null, done, NOW))
        .isEqualTo(new DeletionRules.Step.MetadataDone(done, "n1", DeletionRules.Removal.REMOVED));
    Pod failed = pod("Failed", NOW, null);
    assertThat(next(completed(), null, failed, NOW))
        .isEqualTo(new DeletionRules.Step.MetadataDone(failed, "n1", DeletionRules.Removal.FAILED));
  }

  @Test
  void onlyACompletedCloneWithTheDefaultMetadataFileHasOneToRemove() {
    VolumeClone copying = completed();
    copying.getStatus().setPhase(Phase.Copying);
    assertThat(next(copying, null, null, NOW)).isEqualTo(new DeletionRules.Step.Release());

    VolumeClone ownMetadata = completed();
    ownMetadata.getSpec().setMetadata(MetadataRef.persistentVolumeClaim("meta"));
    assertThat(next(ownMetadata, null, null, NOW)).isEqualTo(new DeletionRules.Step.Release());

    VolumeClone nowhere = completed();
    nowhere.getStatus().setNodeName(null);
    assertThat(next(nowhere, null, null, NOW)).isEqualTo(new DeletionRules.Step.Release());
  }
}
