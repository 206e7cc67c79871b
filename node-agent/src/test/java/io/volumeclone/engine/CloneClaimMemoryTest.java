package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A request's claim on uncopied regions costs the same memory whatever its length (issue 11, item
 * 8): one 4 GiB TRIM or WRITE_ZEROES over uncopied 4 KiB regions (a million of them) must not build
 * an object per region.
 */
class CloneClaimMemoryTest {

  static final long SIZE = 4L << 30;
  static final int R = 4096;
  static final long LIMIT = 8L << 20;

  @TempDir Path dir;

  static Path sparse(Path file) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.setLength(SIZE);
    }
    return file;
  }

  static long allocatedByThisThread() {
    return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean())
        .getCurrentThreadAllocatedBytes();
  }

  @Test
  void aFourGibTrimAndWriteZeroesOverUncopiedRegionsAllocateLessThanEightMib() throws Exception {
    CloneGeometry geometry = new CloneGeometry(0, 0, SIZE, R, SIZE, SIZE);
    TestingMemoryBlockDevice metadataDevice =
        new TestingMemoryBlockDevice("md", (int) DiskCloneMetadata.requiredSize(geometry));
    try (Clone clone =
        Clone.open(
            FileBlockDevice.openReadOnly(sparse(dir.resolve("source"))),
            FileBlockDevice.openExclusive(sparse(dir.resolve("destination"))),
            DiskCloneMetadata.open(metadataDevice, geometry, false),
            CloneOptions.builder("claims")
                .noCopy(true)
                .commitPeriod(Duration.ofHours(1))
                .build())) {
      // Warm up the code paths (class loading, JIT) on a small range first.
      clone.discard(0, 64 * R, false);
      clone.writeZeroes(64 * R, 64 * R, false, false);

      long before = allocatedByThisThread();
      clone.discard(128 * R, SIZE / 2 - 128 * R, false);
      long trim = allocatedByThisThread() - before;

      before = allocatedByThisThread();
      clone.writeZeroes(SIZE / 2, SIZE / 2, false, false);
      long zeroes = allocatedByThisThread() - before;

      assertThat(clone.status().regionsCopied()).isEqualTo(SIZE / R);
      assertThat(trim).as("bytes allocated by a 2 GiB trim").isLessThan(LIMIT);
      assertThat(zeroes).as("bytes allocated by a 2 GiB write-zeroes").isLessThan(LIMIT);

      // And the whole 4 GiB in one request, once more on fresh metadata.
    }
    TestingMemoryBlockDevice fresh =
        new TestingMemoryBlockDevice("md2", (int) DiskCloneMetadata.requiredSize(geometry));
    try (Clone clone =
        Clone.open(
            FileBlockDevice.openReadOnly(dir.resolve("source")),
            FileBlockDevice.openExclusive(dir.resolve("destination")),
            DiskCloneMetadata.open(fresh, geometry, false),
            CloneOptions.builder("claims2")
                .noCopy(true)
                .commitPeriod(Duration.ofHours(1))
                .build())) {
      long before = allocatedByThisThread();
      clone.discard(0, SIZE, false);
      long trim = allocatedByThisThread() - before;
      assertThat(clone.status().regionsCopied()).isEqualTo(SIZE / R);
      assertThat(trim).as("bytes allocated by a 4 GiB trim").isLessThan(LIMIT);
    }
  }
}
