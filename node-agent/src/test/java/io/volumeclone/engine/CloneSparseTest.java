package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.engine.TestingSparseBlockDevice.Range;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Sparse sources (issue 17, item 4): the copier does not read the source's holes, zeroes the
 * destination there only where it does not already read zeroes, turns read blocks of zeroes into
 * zeroing, marks everything copied; {@code base:allocation} reports the zero runs as holes.
 */
class CloneSparseTest {

  static final int R = 64 * 1024;

  /** 3 copy chunks and a bit, so holes and data fall across chunk and batch boundaries. */
  static final int REGIONS = 3 * (Clone.COPY_CHUNK / R) + 7;

  static final long SIZE = (long) REGIONS * R;

  /** Data ranges of the source (offset, length); everything else is a hole. */
  static final long[][] DATA = {
    {0, 3 * R}, {20 * R + 4096, 8192}, {64 * R - 4096, 3 * R}, {130 * R, 40 * R}, {SIZE - R, R}
  };

  /** Allocated in the source but all zeroes: read, then zeroed rather than written. */
  static final long[] ALLOCATED_ZEROES = {100 * R, 4 * R};

  byte[] sourceData = new byte[(int) SIZE];
  TestingSparseBlockDevice source;

  void setUpSource() {
    Random random = new Random(17);
    for (long[] range : DATA) {
      byte[] bytes = new byte[(int) range[1]];
      random.nextBytes(bytes);
      System.arraycopy(bytes, 0, sourceData, (int) range[0], bytes.length);
    }
    source =
        TestingSparseBlockDevice.allHoles(TestingMemoryBlockDevice.readOnly("src", sourceData));
    for (long[] range : DATA) {
      source.markData(range[0], range[1]);
    }
    source.markData(ALLOCATED_ZEROES[0], ALLOCATED_ZEROES[1]);
  }

  static long dataBytes() {
    long total = 0;
    for (long[] range : DATA) {
      total += range[1];
    }
    return total;
  }

  Clone copy(TestingSparseBlockDevice destination, TestingMemoryCloneMetadata metadata)
      throws Exception {
    Clone clone =
        Clone.open(
            source,
            destination,
            metadata,
            CloneOptions.builder("sparse")
                .commitPeriod(Duration.ofMillis(50))
                .batchRegions(16)
                .regionsInFlight(64)
                .build());
    clone.copiedFuture().get(60, TimeUnit.SECONDS);
    return clone;
  }

  static TestingMemoryCloneMetadata metadata() {
    return new TestingMemoryCloneMetadata(new CloneGeometry(0, 0, SIZE, R, SIZE, SIZE));
  }

  @Test
  void holesAreNotReadAndAFreshSparseDestinationIsNotTouchedThere() throws Exception {
    setUpSource();
    TestingMemoryBlockDevice memory = new TestingMemoryBlockDevice("dst", (int) SIZE);
    TestingSparseBlockDevice destination = TestingSparseBlockDevice.allHoles(memory);
    TestingMemoryCloneMetadata metadata = metadata();
    try (Clone clone = copy(destination, metadata)) {
      assertThat(metadata.isRangeHydrated(0, REGIONS)).isTrue();
      assertThat(memory.contents()).isEqualTo(sourceData);
      for (Range read : source.reads()) {
        assertThat(inHole(read)).as("read %s touches none of the source's holes", read).isFalse();
      }
      assertThat(destination.bytesWritten())
          .as("only the source's non-zero data is written")
          .isEqualTo(dataBytes());
      assertThat(destination.zeroings())
          .as("a fresh sparse destination already reads zeroes: nothing to zero")
          .isEmpty();
      SparseCopy sparse = clone.sparseCopy();
      assertThat(sparse.bytesNotRead()).isEqualTo(SIZE - allocatedBytes());
      assertThat(sparse.bytesAlreadyZero()).isEqualTo(SIZE - dataBytes());
      assertThat(clone.copier().bytesCopied()).as("zeroes count as copied").isEqualTo(SIZE);
      assertThat(clone.copier().bandwidthCharged())
          .as("the bandwidth limit pays for the bytes read from the source, not for the holes")
          .isEqualTo(source.reads().stream().mapToLong(Range::length).sum())
          .isEqualTo(allocatedBytes());
    }
  }

  @Test
  void aUsedDestinationIsZeroedWhereTheSourceHasZeroes() throws Exception {
    setUpSource();
    byte[] old = new byte[(int) SIZE];
    Arrays.fill(old, (byte) 0x5a);
    TestingMemoryBlockDevice memory = new TestingMemoryBlockDevice("dst", old, false, 512);
    TestingSparseBlockDevice destination = TestingSparseBlockDevice.allData(memory);
    TestingMemoryCloneMetadata metadata = metadata();
    try (Clone clone = copy(destination, metadata)) {
      assertThat(metadata.isRangeHydrated(0, REGIONS)).isTrue();
      assertThat(memory.contents()).isEqualTo(sourceData);
      assertThat(destination.bytesWritten()).isEqualTo(dataBytes());
      long zeroed = destination.zeroings().stream().mapToLong(Range::length).sum();
      assertThat(zeroed).isEqualTo(SIZE - dataBytes());
      assertThat(destination.zeroings())
          .as("the allocated block of zeroes read from the source is zeroed, not written")
          .anyMatch(
              z ->
                  z.offset() <= ALLOCATED_ZEROES[0]
                      && z.offset() + z.length() >= ALLOCATED_ZEROES[0] + ALLOCATED_ZEROES[1]);
    }
  }

  @Test
  void durableAfterACrashOnceCommitted() throws Exception {
    setUpSource();
    byte[] old = new byte[(int) SIZE];
    Arrays.fill(old, (byte) 0x5a);
    TestingMemoryBlockDevice memory = new TestingMemoryBlockDevice("dst", old, false, 512);
    TestingMemoryCloneMetadata metadata = metadata();
    try (Clone clone = copy(TestingSparseBlockDevice.allData(memory), metadata)) {
      clone.flush();
      // What the metadata recorded as copied is on the destination's stable image.
      byte[] durable = memory.durableContents();
      for (long region = 0; region < REGIONS; region++) {
        if (metadata.isCommittedHydrated(region)) {
          int from = (int) (region * R);
          assertThat(Arrays.copyOfRange(durable, from, from + R))
              .as("region %d", region)
              .isEqualTo(Arrays.copyOfRange(sourceData, from, from + R));
        }
      }
    }
  }

  @Test
  void allocationReportsTheSourcesHolesForUncopiedAndTheDestinationsForCopiedRegions()
      throws Exception {
    setUpSource();
    TestingMemoryBlockDevice memory = new TestingMemoryBlockDevice("dst", (int) SIZE);
    TestingSparseBlockDevice destination = TestingSparseBlockDevice.allHoles(memory);
    TestingMemoryCloneMetadata metadata = metadata();
    try (Clone clone =
        Clone.open(
            source,
            destination,
            metadata,
            CloneOptions.builder("sparse-status")
                .noCopy(true)
                .commitPeriod(Duration.ofHours(1))
                .build())) {
      // Region 1 copied by a user write of data, region 3 (a hole of the source) of zeroes.
      byte[] ones = new byte[R];
      Arrays.fill(ones, (byte) 1);
      clone.write(R, ByteBuffer.wrap(ones), false);
      clone.writeZeroes(3 * R, R, false, false);
      List<long[]> extents = new ArrayList<>();
      clone.allocationExtents(
          0,
          6 * R,
          (offset, length, hole, zero) -> {
            long[] last = extents.isEmpty() ? null : extents.get(extents.size() - 1);
            if (last != null && last[2] == (hole ? 1 : 0) && last[3] == (zero ? 1 : 0)) {
              last[1] += length;
            } else {
              extents.add(new long[] {offset, length, hole ? 1 : 0, zero ? 1 : 0});
            }
            return true;
          });
      assertThat(extents)
          .containsExactly(
              // Source data (regions 0 and 2, uncopied) and destination data (region 1).
              new long[] {0, 3 * R, 0, 0},
              // Region 3 copied as zeroes (a hole of the destination), 4 and 5 holes of the source.
              new long[] {3 * R, 3 * R, 1, 1});
    }
  }

  private static boolean inHole(Range read) {
    long pos = read.offset();
    long end = pos + read.length();
    // Every byte of the read must be in a data range or the allocated zeroes.
    List<long[]> allocated = new ArrayList<>(Arrays.asList(DATA));
    allocated.add(ALLOCATED_ZEROES);
    allocated.sort((a, b) -> Long.compare(a[0], b[0]));
    for (long[] range : allocated) {
      long start = range[0] / TestingSparseBlockDevice.BLOCK * TestingSparseBlockDevice.BLOCK;
      long stop = range[0] + range[1];
      if (start <= pos && pos < stop) {
        pos = stop;
      }
    }
    return pos < end;
  }

  private static long allocatedBytes() {
    // DATA and ALLOCATED_ZEROES are block-aligned and disjoint.
    return dataBytes() + ALLOCATED_ZEROES[1];
  }

  static {
    for (long[] range : DATA) {
      if (range[0] % TestingSparseBlockDevice.BLOCK != 0
          || range[1] % TestingSparseBlockDevice.BLOCK != 0) {
        throw new AssertionError("test data ranges must be block-aligned");
      }
    }
  }
}
