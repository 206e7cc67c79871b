package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.volumeclone.engine.BlockIoException.Kind;
import io.volumeclone.engine.CloneMetadata.Mode;
import io.volumeclone.engine.TestingFaultyBlockDevice.Op;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** One test per row of the I/O table and per edge; the background copier is off (noCopy). */
class CloneIoTest {

  static final int R = 4096;
  static final int REGIONS = 16;
  static final byte POISON = (byte) 0xEE;

  byte[] sourceData;
  TestingMemoryBlockDevice sourceMemory;
  TestingFaultyBlockDevice source;
  TestingMemoryBlockDevice destination;
  TestingMemoryCloneMetadata metadata;
  Clone clone;

  void open(CloneOptions.Builder options, long sourceOffset, long destinationOffset, long size)
      throws IOException {
    sourceData = new byte[REGIONS * R + 3 * R];
    new Random(42).nextBytes(sourceData);
    sourceMemory = TestingMemoryBlockDevice.readOnly("src", sourceData);
    source = new TestingFaultyBlockDevice(sourceMemory);
    byte[] poison = new byte[REGIONS * R + 3 * R];
    Arrays.fill(poison, POISON);
    destination = new TestingMemoryBlockDevice("dst", poison, false, 512);
    metadata =
        new TestingMemoryCloneMetadata(
            new CloneGeometry(
                sourceOffset, destinationOffset, size, R, sourceData.length, poison.length));
    clone = Clone.open(source, destination, metadata, options.build());
  }

  void open() throws IOException {
    open(options(), 0, 0, REGIONS * R);
  }

  static CloneOptions.Builder options() {
    return CloneOptions.builder("test").noCopy(true).commitPeriod(Duration.ofHours(1));
  }

  @AfterEach
  void close() throws IOException {
    if (clone != null) {
      clone.close();
    }
  }

  byte[] read(long offset, int length) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(length);
    clone.read(offset, buffer);
    assertThat(buffer.remaining()).isZero();
    return buffer.array();
  }

  byte[] src(long offset, int length) {
    return Arrays.copyOfRange(sourceData, (int) offset, (int) offset + length);
  }

  byte[] dst(long offset, int length) {
    return Arrays.copyOfRange(destination.contents(), (int) offset, (int) offset + length);
  }

  static byte[] filled(int length, int value) {
    byte[] data = new byte[length];
    Arrays.fill(data, (byte) value);
    return data;
  }

  long sourceReads() {
    return sourceMemory.reads.get();
  }

  // ------------------------------------------------------------------ read

  @Test
  void readOfCopiedRegionComesFromDestination() throws IOException {
    open();
    metadata.withCommitted(2, 1);
    byte[] data = read(2 * R + 10, 100);
    assertThat(data).isEqualTo(filled(100, POISON));
    assertThat(sourceReads()).isZero();
  }

  @Test
  void readOfUncopiedRegionComesFromSourceAndCopiesNothing() throws IOException {
    open();
    assertThat(read(3 * R + 7, 500)).isEqualTo(src(3 * R + 7, 500));
    assertThat(metadata.isHydrated(3)).isFalse();
    assertThat(destination.writes.get()).isZero();
  }

  @Test
  void readSpanningCopiedAndUncopiedRegionsMixesBoth() throws IOException {
    open();
    metadata.withCommitted(1, 1);
    byte[] data = read(R / 2, 2 * R);
    assertThat(Arrays.copyOfRange(data, 0, R / 2)).isEqualTo(src(R / 2, R / 2));
    assertThat(Arrays.copyOfRange(data, R / 2, R / 2 + R)).isEqualTo(filled(R, POISON));
    assertThat(Arrays.copyOfRange(data, R / 2 + R, 2 * R)).isEqualTo(src(2 * R, R / 2));
  }

  @Test
  void copyOnReadCopiesTheRegionsItReads() throws IOException {
    open(options().copyOnRead(true), 0, 0, REGIONS * R);
    assertThat(read(4 * R + 100, R)).isEqualTo(src(4 * R + 100, R));
    assertThat(metadata.isHydrated(4)).isTrue();
    assertThat(metadata.isHydrated(5)).isTrue();
    assertThat(dst(4 * R, 2 * R)).isEqualTo(src(4 * R, 2 * R));
    assertThat(metadata.isHydrated(6)).isFalse();
  }

  @Test
  void copyOnReadCopiesARunOfUncopiedRegionsInOneSourceRead() throws IOException {
    open(options().copyOnRead(true), 0, 0, REGIONS * R);
    clone.write(6 * R, ByteBuffer.wrap(filled(R, 9)), false); // region 6 copied, splits the run
    long readsBefore = sourceReads();
    assertThat(read(2 * R + 100, 8 * R)).isEqualTo(readExpected(2 * R + 100, 8 * R, 6));
    // Regions 2..5 in one read, 7..10 in another; region 6 comes from the destination.
    assertThat(sourceReads() - readsBefore).isEqualTo(2);
    for (int region = 2; region <= 10; region++) {
      assertThat(metadata.isHydrated(region)).as("region %d", region).isTrue();
    }
    assertThat(dst(2 * R, 4 * R)).isEqualTo(src(2 * R, 4 * R));
    assertThat(dst(7 * R, 4 * R)).isEqualTo(src(7 * R, 4 * R));
  }

  /** The source's bytes, except region {@code written}, which holds 9s. */
  byte[] readExpected(int offset, int length, int written) {
    byte[] expected = src(offset, length);
    Arrays.fill(expected, written * R - offset, (written + 1) * R - offset, (byte) 9);
    return expected;
  }

  @Test
  void copyOnReadSwitchedWhileRunningCopiesOnlyWhileEnabled() throws IOException {
    open();
    assertThat(clone.copyOnRead()).isFalse();

    assertThat(read(2 * R + 10, 100)).isEqualTo(src(2 * R + 10, 100));
    assertThat(metadata.isHydrated(2)).isFalse();
    assertThat(destination.writes.get()).isZero();

    clone.setCopyOnRead(true);
    assertThat(clone.copyOnRead()).isTrue();
    assertThat(read(5 * R + 10, 100)).isEqualTo(src(5 * R + 10, 100));
    assertThat(metadata.isHydrated(5)).isTrue();
    assertThat(dst(5 * R, R)).isEqualTo(src(5 * R, R));

    clone.setCopyOnRead(false);
    assertThat(clone.copyOnRead()).isFalse();
    long writesBefore = destination.writes.get();
    assertThat(read(8 * R + 10, 100)).isEqualTo(src(8 * R + 10, 100));
    assertThat(metadata.isHydrated(8)).isFalse();
    assertThat(destination.writes.get()).isEqualTo(writesBefore);
    assertThat(dst(8 * R, R)).isEqualTo(filled(R, POISON));
  }

  @Test
  void copyOnReadSwitchedOffAtRunTimeOverridesTheOpenOption() throws IOException {
    open(options().copyOnRead(true), 0, 0, REGIONS * R);
    assertThat(clone.copyOnRead()).isTrue();
    clone.setCopyOnRead(false);
    assertThat(read(3 * R, 2 * R)).isEqualTo(src(3 * R, 2 * R));
    assertThat(metadata.isHydrated(3)).isFalse();
    assertThat(metadata.isHydrated(4)).isFalse();
    assertThat(destination.writes.get()).isZero();
  }

  // ------------------------------------------------------------------ write

  @Test
  void writeToCopiedRegionGoesToDestinationOnly() throws IOException {
    open();
    metadata.withCommitted(2, 1);
    clone.write(2 * R + 5, ByteBuffer.wrap(filled(10, 7)), false);
    assertThat(sourceReads()).isZero();
    assertThat(dst(2 * R + 5, 10)).isEqualTo(filled(10, 7));
    assertThat(dst(2 * R, 5)).isEqualTo(filled(5, POISON));
  }

  @Test
  void partialWriteToUncopiedRegionCopiesTheRegionFirst() throws IOException {
    open();
    ByteBuffer data = ByteBuffer.wrap(filled(100, 9));
    clone.write(3 * R + 50, data, false);
    assertThat(data.remaining()).isZero();
    assertThat(metadata.isHydrated(3)).isTrue();
    assertThat(dst(3 * R, 50)).isEqualTo(src(3 * R, 50));
    assertThat(dst(3 * R + 50, 100)).isEqualTo(filled(100, 9));
    assertThat(dst(3 * R + 150, R - 150)).isEqualTo(src(3 * R + 150, R - 150));
    assertThat(read(3 * R, R)).isEqualTo(dst(3 * R, R));
  }

  @Test
  void writeCoveringWholeRegionsDoesNotReadTheSource() throws IOException {
    open();
    clone.write(4 * R, ByteBuffer.wrap(filled(3 * R, 1)), false);
    assertThat(sourceReads()).isZero();
    assertThat(metadata.isRangeHydrated(4, 3)).isTrue();
    assertThat(metadata.isHydrated(7)).isFalse();
    assertThat(dst(4 * R, 3 * R)).isEqualTo(filled(3 * R, 1));
  }

  @Test
  void writeSpanningRegionsSplitsIntoUnalignedHeadWholeBodyAndUnalignedTail() throws IOException {
    open();
    int length = 3 * R + 300;
    byte[] data = new byte[length];
    new Random(1).nextBytes(data);
    clone.write(R + 100, ByteBuffer.wrap(data), false);
    // Only the head region 1 and the tail region 4 are read from the source; 2 and 3 are whole.
    assertThat(source.log())
        .filteredOn(c -> c.op() == Op.READ)
        .extracting(TestingFaultyBlockDevice.Call::offset)
        .containsExactlyInAnyOrder((long) R, 4L * R);
    assertThat(metadata.isRangeHydrated(1, 4)).isTrue();
    byte[] expected = src(0, 6 * R);
    System.arraycopy(data, 0, expected, R + 100, length);
    assertThat(read(0, 6 * R)).isEqualTo(expected);
  }

  @Test
  void concurrentPartialWritesToOneUncopiedRegionCopyItOnce() throws Exception {
    open();
    Thread[] threads = new Thread[8];
    for (int i = 0; i < threads.length; i++) {
      int index = i;
      threads[i] =
          new Thread(
              () -> {
                try {
                  clone.write(5 * R + index * 16, ByteBuffer.wrap(filled(16, index + 1)), false);
                } catch (IOException e) {
                  throw new RuntimeException(e);
                }
              });
      threads[i].start();
    }
    for (Thread thread : threads) {
      thread.join();
    }
    assertThat(sourceReads()).isEqualTo(1);
    for (int i = 0; i < threads.length; i++) {
      assertThat(dst(5 * R + i * 16, 16)).isEqualTo(filled(16, i + 1));
    }
    assertThat(dst(5 * R + 128, R - 128)).isEqualTo(src(5 * R + 128, R - 128));
  }

  // ------------------------------------------------------------------ discard

  @Test
  void discardOfWholeUncopiedRegionsMarksThemCopiedAndPassesDown() throws IOException {
    open();
    clone.discard(2 * R, 2 * R, false);
    assertThat(sourceReads()).isZero();
    assertThat(metadata.isRangeHydrated(2, 2)).isTrue();
    assertThat(dst(2 * R, 2 * R)).isEqualTo(new byte[2 * R]);
  }

  @Test
  void discardOfPartialRegionsPassesDownOnlyOnCopiedRegions() throws IOException {
    open();
    metadata.withCommitted(1, 1);
    // Head: part of copied region 1; tail: part of uncopied region 2.
    clone.discard(R + 1000, R, false);
    assertThat(dst(R + 1000, R - 1000)).isEqualTo(new byte[R - 1000]);
    assertThat(dst(R, 1000)).isEqualTo(filled(1000, POISON));
    assertThat(metadata.isHydrated(2)).isFalse();
    assertThat(dst(2 * R, R)).isEqualTo(filled(R, POISON));
    assertThat(read(2 * R, 1000)).isEqualTo(src(2 * R, 1000));
    assertThat(sourceReads()).isEqualTo(1);
  }

  @Test
  void discardWithoutPassdownMarksWholeRegionsButLeavesTheDestinationAlone() throws IOException {
    open(options().discardPassdown(false), 0, 0, REGIONS * R);
    metadata.withCommitted(1, 1);
    clone.discard(R, 3 * R, false);
    assertThat(metadata.isRangeHydrated(1, 3)).isTrue();
    assertThat(dst(R, 3 * R)).isEqualTo(filled(3 * R, POISON));
    assertThat(source.log()).isEmpty();
  }

  // ------------------------------------------------------------------ write-zeroes

  @Test
  void writeZeroesOfWholeUncopiedRegionsZeroesAndMarksWithoutReadingTheSource() throws IOException {
    open();
    clone.writeZeroes(6 * R, 2 * R, false, true);
    assertThat(sourceReads()).isZero();
    assertThat(metadata.isRangeHydrated(6, 2)).isTrue();
    assertThat(read(6 * R, 2 * R)).isEqualTo(new byte[2 * R]);
  }

  @Test
  void writeZeroesOfPartialUncopiedRegionCopiesFirst() throws IOException {
    open();
    clone.writeZeroes(6 * R + 10, 20, false, false);
    assertThat(metadata.isHydrated(6)).isTrue();
    byte[] expected = src(6 * R, R);
    Arrays.fill(expected, 10, 30, (byte) 0);
    assertThat(read(6 * R, R)).isEqualTo(expected);
  }

  @Test
  void fastWriteZeroesOfPartialUncopiedRegionIsNotSupportedAndChangesNothing() throws IOException {
    open();
    assertThatThrownBy(() -> clone.writeZeroes(6 * R, R + 10, false, true))
        .isInstanceOfSatisfying(
            BlockIoException.class, e -> assertThat(e.kind()).isEqualTo(Kind.NOT_SUPPORTED))
        .hasMessageContaining("uncopied region");
    assertThat(metadata.hydratedCount()).isZero();
    assertThat(destination.writes.get()).isZero();
    assertThat(dst(6 * R, R)).isEqualTo(filled(R, POISON));
  }

  @Test
  void writeZeroesOnCopiedRegionGoesToDestination() throws IOException {
    open();
    metadata.withCommitted(6, 1);
    clone.writeZeroes(6 * R + 10, 20, false, true);
    assertThat(sourceReads()).isZero();
    assertThat(dst(6 * R + 10, 20)).isEqualTo(new byte[20]);
  }

  // ------------------------------------------------------------------ flush and FUA

  @Test
  void flushFlushesTheDestinationThenCommits() throws IOException {
    open();
    clone.write(0, ByteBuffer.wrap(filled(R, 3)), false);
    assertThat(metadata.isCommittedHydrated(0)).isFalse();
    long flushesBefore = destination.flushes.get();
    clone.flush();
    assertThat(metadata.isCommittedHydrated(0)).isTrue();
    assertThat(metadata.destinationFlushesByCommit.get()).isEqualTo(1);
    assertThat(destination.flushes.get()).isEqualTo(flushesBefore + 1);
    assertThat(Arrays.copyOfRange(destination.durableContents(), 0, R)).isEqualTo(filled(R, 3));
  }

  @Test
  void flushWithNothingToCommitStillFlushesTheDestination() throws IOException {
    open();
    metadata.withCommitted(0, 1);
    clone.write(0, ByteBuffer.wrap(filled(10, 3)), false);
    clone.flush();
    assertThat(metadata.commits.get()).isZero();
    assertThat(destination.flushes.get()).isEqualTo(1);
    assertThat(Arrays.copyOfRange(destination.durableContents(), 0, 10)).isEqualTo(filled(10, 3));
  }

  @Test
  void fuaWriteIsDurableAndCommittedWhenItReturns() throws IOException {
    open();
    clone.write(2 * R + 1, ByteBuffer.wrap(filled(10, 4)), true);
    assertThat(metadata.isCommittedHydrated(2)).isTrue();
    assertThat(Arrays.copyOfRange(destination.durableContents(), 2 * R + 1, 2 * R + 11))
        .isEqualTo(filled(10, 4));
    // What a restart after a crash now would see:
    destination.crash();
    TestingMemoryCloneMetadata afterCrash = metadata.reopenCommitted();
    assertThat(afterCrash.isHydrated(2)).isTrue();
  }

  @Test
  void fuaDiscardAndWriteZeroesCommit() throws IOException {
    open();
    clone.discard(0, R, true);
    assertThat(metadata.isCommittedHydrated(0)).isTrue();
    clone.writeZeroes(R, R, true, false);
    assertThat(metadata.isCommittedHydrated(1)).isTrue();
  }

  // ------------------------------------------------------------------ edges

  @Test
  void zeroLengthRequestsDoNothing() throws IOException {
    open();
    clone.read(5, ByteBuffer.allocate(0));
    clone.write(5, ByteBuffer.allocate(0), false);
    clone.discard(5, 0, false);
    clone.writeZeroes(5, 0, false, true);
    clone.read(REGIONS * R, ByteBuffer.allocate(0));
    assertThat(source.log()).isEmpty();
    assertThat(destination.writes.get()).isZero();
    assertThat(metadata.hydratedCount()).isZero();
  }

  @Test
  void requestsOutsideTheCloneAreRefusedAsOutOfRange() throws IOException {
    open();
    long size = REGIONS * R;
    assertOutOfRange(() -> clone.read(size - 10, ByteBuffer.allocate(11)), "read");
    assertOutOfRange(() -> clone.read(-1, ByteBuffer.allocate(1)), "read");
    assertOutOfRange(() -> clone.write(size, ByteBuffer.allocate(1), false), "write");
    assertOutOfRange(() -> clone.discard(size - 1, 2, false), "discard");
    assertOutOfRange(() -> clone.writeZeroes(0, size + 1, false, false), "write-zeroes");
    assertOutOfRange(() -> clone.discard(Long.MAX_VALUE, Long.MAX_VALUE, false), "discard");
    assertThat(source.log()).isEmpty();
    assertThat(destination.writes.get()).isZero();
  }

  interface Request {
    void run() throws IOException;
  }

  static void assertOutOfRange(Request request, String operation) {
    assertThatThrownBy(request::run)
        .isInstanceOfSatisfying(
            BlockIoException.class,
            e -> {
              assertThat(e.kind()).isEqualTo(Kind.OUT_OF_RANGE);
              assertThat(e.device()).isEqualTo("test");
              assertThat(e.operation()).isEqualTo(operation);
            });
  }

  @Test
  void subRangeCloneShiftsSourceAndDestinationOffsets() throws IOException {
    long sourceOffset = 2 * R + 512;
    long destinationOffset = 3 * R;
    long size = 5 * R + 100; // the last region is partial
    open(options(), sourceOffset, destinationOffset, size);
    assertThat(clone.size()).isEqualTo(size);
    assertThat(metadata.geometry().regionCount()).isEqualTo(6);
    // Reads of uncopied data come from the source at the shifted offset.
    assertThat(read(0, 2 * R)).isEqualTo(src(sourceOffset, 2 * R));
    // A partial write copies its region from the shifted source range to the shifted destination.
    clone.write(R + 7, ByteBuffer.wrap(filled(3, 5)), false);
    byte[] expected = src(sourceOffset + R, R);
    Arrays.fill(expected, 7, 10, (byte) 5);
    assertThat(dst(destinationOffset + R, R)).isEqualTo(expected);
    // A write to the end covers the short last region whole: no source read.
    long readsBefore = sourceReads();
    clone.write(5 * R, ByteBuffer.wrap(filled(100, 6)), false);
    assertThat(sourceReads()).isEqualTo(readsBefore);
    assertThat(metadata.isHydrated(5)).isTrue();
    assertThat(dst(destinationOffset + 5 * R, 100)).isEqualTo(filled(100, 6));
    // Bytes outside the clone range of the destination are never touched.
    assertThat(dst(0, (int) destinationOffset)).isEqualTo(filled((int) destinationOffset, POISON));
    assertThat(dst((int) (destinationOffset + size), 100)).isEqualTo(filled(100, POISON));
    assertThat(read(5 * R, 100)).isEqualTo(filled(100, 6));
  }

  // ------------------------------------------------------------------ errors

  @Test
  void sourceReadErrorFailsThatRequestOnly() throws IOException {
    open();
    source.fail(Op.READ).range(5 * R, R);
    assertThatThrownBy(() -> read(5 * R, 10))
        .isInstanceOfSatisfying(
            BlockIoException.class,
            e -> {
              assertThat(e.kind()).isEqualTo(Kind.IO);
              assertThat(e.device()).isEqualTo("src");
              assertThat(e.offset()).isEqualTo(5 * R);
            });
    assertThatThrownBy(() -> clone.write(5 * R + 1, ByteBuffer.wrap(filled(1, 1)), false))
        .isInstanceOf(BlockIoException.class)
        .hasMessageContaining("src");
    assertThat(metadata.isHydrated(5)).isFalse();
    assertThat(read(6 * R, 10)).isEqualTo(src(6 * R, 10));
    clone.write(4 * R + 1, ByteBuffer.wrap(filled(1, 1)), false);
    clone.flush();
    assertThat(metadata.mode()).isEqualTo(Mode.WRITE);
  }

  @Test
  void metadataErrorMakesTheCloneReadOnlyForUncopiedRegions() throws IOException {
    open();
    metadata.withCommitted(0, 1);
    clone.write(R, ByteBuffer.wrap(filled(10, 1)), false);
    metadata.failCommits.set(1);
    assertThatThrownBy(clone::flush)
        .isInstanceOf(BlockIoException.class)
        .hasMessageContaining("memory-metadata");
    assertThat(metadata.mode()).isEqualTo(Mode.READ_ONLY);
    // Reads still work; the acknowledged write stays readable.
    assertThat(read(2 * R, 10)).isEqualTo(src(2 * R, 10));
    assertThat(read(R, 10)).isEqualTo(filled(10, 1));
    // Writes to copied regions still work; no flush succeeds any more.
    clone.write(5, ByteBuffer.wrap(filled(5, 2)), false);
    assertThatThrownBy(clone::flush).isInstanceOf(BlockIoException.class);
    // Writes to uncopied regions fail with EIO, naming the metadata device.
    assertThatThrownBy(() -> clone.write(3 * R, ByteBuffer.wrap(filled(R, 1)), false))
        .isInstanceOfSatisfying(
            BlockIoException.class, e -> assertThat(e.kind()).isEqualTo(Kind.IO))
        .hasMessageContaining("READ_ONLY");
    assertThatThrownBy(() -> clone.write(3 * R + 1, ByteBuffer.wrap(filled(1, 1)), false))
        .isInstanceOf(BlockIoException.class);
  }

  @Test
  void failedRollbackFailsEveryRequest() throws IOException {
    open();
    clone.write(R, ByteBuffer.wrap(filled(10, 1)), false);
    metadata.failCommits.set(1);
    metadata.failReload = true;
    assertThatThrownBy(clone::flush).isInstanceOf(BlockIoException.class);
    assertThat(metadata.mode()).isEqualTo(Mode.FAIL);
    assertThatThrownBy(() -> read(0, 1)).hasMessageContaining("failed");
    assertThatThrownBy(() -> clone.write(0, ByteBuffer.allocate(1), false))
        .isInstanceOf(BlockIoException.class);
    assertThatThrownBy(clone::flush).isInstanceOf(BlockIoException.class);
    assertThatThrownBy(() -> clone.discard(0, R, false)).isInstanceOf(BlockIoException.class);
  }

  @Test
  void copiedExtentsReportCopiedRegionsAsDataAndUncopiedAsHoles() throws IOException {
    open();
    metadata.withCommitted(2, 3);
    StringBuilder extents = new StringBuilder();
    clone.copiedExtents(
        R,
        5 * R,
        (offset, length, hole, zero) -> {
          extents.append(offset / R).append('+').append(length / R).append(hole ? "h " : "d ");
          return true;
        });
    assertThat(extents.toString()).isEqualTo("1+1h 2+3d 5+1h ");
  }
}
