package io.volumeclone.e2e;

import io.fabric8.kubernetes.api.model.Pod;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/** Conditions on a VolumeClone's status that the scenarios wait for. */
final class Clones {

  private Clones() {}

  static boolean phase(VolumeClone c, Phase phase) {
    return c.getStatus() != null && c.getStatus().getPhase() == phase;
  }

  static boolean conditionTrue(VolumeClone c, String type) {
    return c.getStatus() != null && c.getStatus().isTrue(type);
  }

  static boolean hasReason(VolumeClone c, String reason) {
    return c.getStatus() != null
        && c.getStatus().getConditions().stream().anyMatch(x -> reason.equals(x.getReason()));
  }

  static long bytesCopied(VolumeClone c) {
    return c.getStatus() == null
            || c.getStatus().getProgress() == null
            || c.getStatus().getProgress().getBytesCopied() == null
        ? 0
        : c.getStatus().getProgress().getBytesCopied();
  }

  static long regionsCommitted(VolumeClone c) {
    return c.getStatus() == null
            || c.getStatus().getProgress() == null
            || c.getStatus().getProgress().getRegionsCommitted() == null
        ? 0
        : c.getStatus().getProgress().getRegionsCommitted();
  }

  static String exportUri(VolumeClone c) {
    return c.getStatus() == null || c.getStatus().getExport() == null
        ? null
        : c.getStatus().getExport().getUri();
  }

  static int restarts(Pod p) {
    return p == null
            || p.getStatus() == null
            || p.getStatus().getContainerStatuses() == null
            || p.getStatus().getContainerStatuses().isEmpty()
        ? 0
        : p.getStatus().getContainerStatuses().get(0).getRestartCount();
  }

  /** Fails naming the first differing offset when the two files differ. */
  static void assertSameBytes(Path expected, Path actual) throws IOException {
    byte[] a = Files.readAllBytes(expected);
    byte[] b = Files.readAllBytes(actual);
    assertSameBytes(a, b, expected + " and " + actual);
  }

  static void assertSameBytes(byte[] a, byte[] b, String what) {
    int mismatch = Arrays.mismatch(a, b);
    if (mismatch >= 0) {
      throw new AssertionError(
          what
              + " differ first at offset "
              + mismatch
              + " (sizes "
              + a.length
              + " and "
              + b.length
              + ")");
    }
  }
}
