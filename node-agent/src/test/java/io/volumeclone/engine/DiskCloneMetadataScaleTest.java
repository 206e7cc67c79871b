package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A 16 TiB clone of 64 KiB regions (2^28 regions) on a sparse metadata file: checks that it
 * formats, commits and reopens correctly, and prints the bitmap memory and the reopen time (a
 * figure for the benchmark, not an assertion on speed).
 */
class DiskCloneMetadataScaleTest {

  private static final long TIB = 1L << 40;

  @TempDir Path dir;

  @Test
  void sixteenTebibyteCloneOpensFromASparseFile() throws IOException {
    long size = 16 * TIB;
    CloneGeometry geometry = new CloneGeometry(0, 0, size, 64 << 10, size, size);
    assertThat(geometry.regionCount()).isEqualTo(1L << 28);
    Path file = dir.resolve("metadata");
    long required = DiskCloneMetadata.requiredSize(geometry);
    try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
      raf.setLength(required);
    }

    long formatStart = System.nanoTime();
    try (DiskCloneMetadata metadata =
        DiskCloneMetadata.open(FileBlockDevice.openExclusive(file), geometry, false)) {
      long formatNanos = System.nanoTime() - formatStart;
      metadata.setHydrated(0, 1000);
      metadata.setHydrated((1L << 28) - 5, 5);
      metadata.setHydrated(1L << 27, 1);
      metadata.commit(() -> {});
      System.out.printf("16 TiB / 64 KiB: format took %.1f ms%n", formatNanos / 1e6);
    }

    // Warm the JIT and page cache once, as a long-running agent would be, then measure.
    DiskCloneMetadata.open(FileBlockDevice.openExclusive(file), geometry, false).close();
    Runtime runtime = Runtime.getRuntime();
    System.gc();
    long heapBefore = runtime.totalMemory() - runtime.freeMemory();
    long start = System.nanoTime();
    try (DiskCloneMetadata metadata =
        DiskCloneMetadata.open(FileBlockDevice.openExclusive(file), geometry, false)) {
      long openNanos = System.nanoTime() - start;
      long heapAfter = runtime.totalMemory() - runtime.freeMemory();
      assertThat(metadata.committedCount()).isEqualTo(1006);
      assertThat(metadata.nextHydrated(1000)).isEqualTo(1L << 27);
      assertThat(metadata.nextUnhydrated((1L << 28) - 5)).isEqualTo(-1);
      assertThat(metadata.regionMap().memoryBytes()).isLessThanOrEqualTo(33L << 20);
      System.out.printf(
          "16 TiB / 64 KiB regions: %d regions, metadata device %d MiB, bitmap memory %.2f MiB,"
              + " heap growth during open %.1f MiB, open took %.1f ms%n",
          geometry.regionCount(),
          required >> 20,
          metadata.regionMap().memoryBytes() / 1048576.0,
          (heapAfter - heapBefore) / 1048576.0,
          openNanos / 1e6);
    }
  }
}
