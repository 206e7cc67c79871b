package io.volumeclone.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * Deleting a VolumeClone mid-copy cancels it: the agent Pod goes away (its process with it), the
 * VolumeClone is released, and nothing is deleted: the source is untouched and what was copied
 * stays on the destination.
 */
class CancelIT {

  @Test
  void deleteMidCopyStopsTheAgentAndKeepsTheData() throws Exception {
    String ns = E2e.namespace("cancel");
    int size = 32 << 20;
    Path source = E2e.randomDevice(ns + "-src", size, 5);
    Path destination = E2e.emptyDevice(ns + "-dst", size);
    byte[] sourceBefore = Files.readAllBytes(source);
    E2e.apply(
        Manifests.deviceClone(ns, "cancel", source, destination, "  copy:\n    bandwidth: 1Mi\n"));

    VolumeClone copying =
        E2e.awaitClone(
            ns,
            "cancel",
            "some regions committed",
            c -> Clones.phase(c, Phase.Copying) && Clones.regionsCommitted(c) > 0);
    String podName = copying.getStatus().getAgentPod();

    E2e.kubectl("-n", ns, "delete", "vc", "cancel", "--wait=false");
    E2e.await("VolumeClone cancel gone", () -> E2e.clone(ns, "cancel") == null, gone -> gone);
    E2e.await("agent Pod " + podName + " gone", () -> E2e.pod(ns, podName) == null, gone -> gone);
    if (E2e.onLocalCluster()) {
      E2e.await(
          "the agent process gone",
          () -> E2e.local().nodes().process(ns, podName).isEmpty(),
          gone -> gone);
    }

    if (E2e.onLocalCluster()) {
      assertThat(
              E2e.local()
                  .nodes()
                  .nodeDirectory(E2e.node())
                  .resolve("var/lib/volume-clone/" + ns + "/cancel/metadata"))
          .as("a cancelled clone keeps its metadata: only a completed clone's is removed")
          .exists();
    }
    assertThat(Files.readAllBytes(source)).as("source untouched").isEqualTo(sourceBefore);
    byte[] copied = Files.readAllBytes(destination);
    // The first committed region was copied before the delete; the copy did not finish.
    int region = 64 << 10;
    assertThat(Arrays.equals(copied, 0, region, sourceBefore, 0, region))
        .as("first region kept on the destination")
        .isTrue();
    assertThat(Arrays.equals(copied, sourceBefore))
        .as("the copy was cancelled before it finished")
        .isFalse();
  }
}
