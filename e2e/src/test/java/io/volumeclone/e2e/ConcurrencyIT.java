package io.volumeclone.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * Several clones on one node: two clones run side by side and both make progress before either
 * finishes; a second clone of a destination that is in use is held back with a condition naming the
 * clone that holds it, and starts once that one is done.
 */
class ConcurrencyIT {

  @Test
  void twoClonesOnOneNodeProgressTogetherAndBothComplete() throws Exception {
    String ns = E2e.namespace("pair");
    int size = 16 << 20;
    Path srcA = E2e.randomDevice(ns + "-a-src", size, 11);
    Path dstA = E2e.emptyDevice(ns + "-a-dst", size);
    Path srcB = E2e.randomDevice(ns + "-b-src", size, 12);
    Path dstB = E2e.emptyDevice(ns + "-b-dst", size);
    String limit = "  copy:\n    bandwidth: 1Mi\n";
    E2e.apply(
        Manifests.deviceClone(ns, "a", srcA, dstA, limit)
            + "---\n"
            + Manifests.deviceClone(ns, "b", srcB, dstB, limit));

    // Both copy at once: each has copied something while neither is complete.
    E2e.await(
        "both clones copying with progress",
        () -> new VolumeClone[] {E2e.clone(ns, "a"), E2e.clone(ns, "b")},
        pair -> {
          for (VolumeClone c : pair) {
            if (!Clones.phase(c, Phase.Copying) || Clones.bytesCopied(c) == 0) {
              return false;
            }
          }
          return true;
        });
    for (String name : new String[] {"a", "b"}) {
      E2e.kubectl(
          "-n",
          ns,
          "patch",
          "vc",
          name,
          "--type",
          "merge",
          "-p",
          "{\"spec\":{\"copy\":{\"bandwidth\":\"64Mi\"}}}");
    }
    E2e.awaitClone(ns, "a", "phase Completed", c -> Clones.phase(c, Phase.Completed));
    E2e.awaitClone(ns, "b", "phase Completed", c -> Clones.phase(c, Phase.Completed));
    Clones.assertSameBytes(srcA, dstA);
    Clones.assertSameBytes(srcB, dstB);
  }

  @Test
  void secondCloneOfADestinationInUseWaitsWithACondition() throws Exception {
    String ns = E2e.namespace("conflict");
    int size = 8 << 20;
    Path src1 = E2e.randomDevice(ns + "-src1", size, 21);
    Path src2 = E2e.randomDevice(ns + "-src2", size, 22);
    Path dst = E2e.emptyDevice(ns + "-dst", size);
    E2e.apply(Manifests.deviceClone(ns, "first", src1, dst, "  copy:\n    bandwidth: 1Mi\n"));
    E2e.awaitClone(ns, "first", "phase Copying", c -> Clones.phase(c, Phase.Copying));

    E2e.apply(Manifests.deviceClone(ns, "second", src2, dst, ""));
    VolumeClone held =
        E2e.awaitClone(
            ns,
            "second",
            "a DestinationInUse condition",
            c -> Clones.hasReason(c, "DestinationInUse"));
    assertThat(held.getStatus().getPhase()).isIn(null, Phase.Pending);
    assertThat(held.getStatus().getConditions())
        .filteredOn(c -> "DestinationInUse".equals(c.getReason()))
        .allSatisfy(c -> assertThat(c.getMessage()).contains("first"));
    assertThat(held.getStatus().getAgentPod()).as("no agent for the held clone").isNull();

    // Once the first finishes, the second runs and overwrites the destination with its source.
    E2e.kubectl(
        "-n",
        ns,
        "patch",
        "vc",
        "first",
        "--type",
        "merge",
        "-p",
        "{\"spec\":{\"copy\":{\"bandwidth\":\"64Mi\"}}}");
    E2e.awaitClone(ns, "first", "phase Completed", c -> Clones.phase(c, Phase.Completed));
    E2e.awaitClone(ns, "second", "phase Completed", c -> Clones.phase(c, Phase.Completed));
    Clones.assertSameBytes(src2, dst);
  }
}
