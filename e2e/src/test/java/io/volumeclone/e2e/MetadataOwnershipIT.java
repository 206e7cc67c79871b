package io.volumeclone.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.contract.AgentFailures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * On the real control plane: a metadata device is bound to the VolumeClone that formatted it (a
 * re-created VolumeClone of the same name is another clone and is refused, naming both), and sizes
 * in a spec are Kubernetes quantities ({@code k} is 10^3, {@code Ki} 2^10), as a PV's capacity is.
 */
class MetadataOwnershipIT {

  private static final long SIZE = 8 << 20;

  @Test
  void aReCreatedVolumeCloneOfTheSameNameIsRefusedTheFirstOnesMetadata() throws IOException {
    String ns = E2e.namespace("owner");
    Path source = E2e.randomDevice(ns + "-src", SIZE, 51);
    Path destination = E2e.emptyDevice(ns + "-dst", SIZE);
    Path metadata = E2e.emptyDevice(ns + "-meta", 1 << 20);
    String spec =
        """
          metadata:
            device:
              path: %s
          copy:
            bandwidth: 1Mi
        """
            .formatted(metadata);
    E2e.apply(Manifests.deviceClone(ns, "db", source, destination, spec));
    VolumeClone first =
        E2e.awaitClone(ns, "db", "regions committed", c -> Clones.regionsCommitted(c) > 0);
    String firstUid = first.getMetadata().getUid();
    E2e.kubectl("-n", ns, "delete", "vc", "db", "--wait=true", "--timeout=90s");

    // The same name and spec, a fresh destination: the metadata says regions are copied that
    // this destination does not hold, so resuming would serve garbage.
    Path fresh = E2e.emptyDevice(ns + "-dst2", SIZE);
    E2e.apply(Manifests.deviceClone(ns, "db", source, fresh, spec));
    VolumeClone second =
        E2e.awaitClone(ns, "db", "the re-created clone Failed", c -> Clones.phase(c, Phase.Failed));
    String secondUid = second.getMetadata().getUid();
    assertThat(secondUid).isNotEqualTo(firstUid);
    var stalled = second.getStatus().condition(ConditionTypes.STALLED).orElseThrow();
    assertThat(stalled.getStatus()).isEqualTo("True");
    assertThat(stalled.getReason()).isEqualTo(AgentFailures.METADATA_MISMATCH);
    assertThat(stalled.getMessage())
        .as("names the device and both clones")
        .contains(metadata.toString())
        .contains(firstUid)
        .contains(secondUid);
    assertThat(Clones.bytesCopied(second)).isZero();
    byte[] zeroes = new byte[(int) SIZE];
    assertThat(Arrays.equals(Files.readAllBytes(fresh), zeroes))
        .as("nothing was written to the fresh destination")
        .isTrue();
  }

  @Test
  void aRangeSizeIsAKubernetesQuantity() throws IOException {
    String ns = E2e.namespace("quantity");
    Path source = E2e.randomDevice(ns + "-src", SIZE, 52);
    Path destination = E2e.emptyDevice(ns + "-dst", SIZE);
    // 8192k is 8,192,000 bytes (2000 regions of 4Ki), not 8 MiB as a power-of-two reading says.
    E2e.apply(
        Manifests.deviceClone(
            ns, "part", source, destination, "  regionSize: 4Ki\n  range:\n    size: 8192k\n"));
    VolumeClone done =
        E2e.await(
            "VolumeClone " + ns + "/part Completed",
            () -> E2e.clone(ns, "part"),
            c -> Clones.phase(c, Phase.Completed) || Clones.phase(c, Phase.Failed),
            Duration.ofSeconds(120));
    assertThat(done.getStatus().getPhase())
        .as(done.getStatus().getMessage())
        .isEqualTo(Phase.Completed);
    assertThat(done.getStatus().getProgress().getBytesTotal()).isEqualTo(8_192_000L);
    assertThat(done.getStatus().getProgress().getRegionsTotal()).isEqualTo(2000L);

    byte[] src = Files.readAllBytes(source);
    byte[] dst = Files.readAllBytes(destination);
    Clones.assertSameBytes(
        Arrays.copyOf(src, 8_192_000), Arrays.copyOf(dst, 8_192_000), "the first 8192k bytes");
    assertThat(
            Arrays.equals(
                Arrays.copyOfRange(dst, 8_192_000, (int) SIZE), new byte[(int) SIZE - 8_192_000]))
        .as("the bytes past 8192k are not copied")
        .isTrue();
  }
}
