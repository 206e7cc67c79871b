package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * User requests go first (issue 19): a user request never waits for the background copier's claims
 * or its source reads. The copier's reads are held on a latch at the source, so a request that
 * queued behind them could never finish; the tests show it finishes anyway, and what it read.
 */
class CloneUserPriorityTest {

  static final int R = 64 << 10;
  static final int REGIONS = 64;
  static final int BATCH = 16;

  byte[] sourceData;
  TestingLaneSource source;
  TestingMemoryBlockDevice destination;
  TestingRecordingBlockDevice destinationWrites;
  Clone clone;

  void open() throws Exception {
    sourceData = new byte[REGIONS * R];
    new Random(19).nextBytes(sourceData);
    source = new TestingLaneSource(TestingMemoryBlockDevice.readOnly("src", sourceData));
    destination = new TestingMemoryBlockDevice("dst", new byte[REGIONS * R], false, 512);
    TestingMemoryCloneMetadata metadata =
        new TestingMemoryCloneMetadata(
            new CloneGeometry(0, 0, REGIONS * R, R, REGIONS * R, REGIONS * R));
    destinationWrites = new TestingRecordingBlockDevice(destination);
    source.holdCopier();
    clone =
        Clone.open(
            source,
            destinationWrites,
            metadata,
            CloneOptions.builder("priority")
                .batchRegions(BATCH)
                .regionsInFlight(BATCH)
                .commitPeriod(Duration.ofHours(1))
                .build());
    // The copier's first batch, regions [0, BATCH), is claimed and its read is stuck at the source.
    awaitTrue(() -> source.copierReadsHeld() > 0, "the copier's first read reaches the source");
    assertThat(clone.inFlight().isInFlight(0)).isTrue();
    assertThat(clone.inFlight().isInFlight(BATCH - 1)).isTrue();
  }

  @AfterEach
  void close() throws IOException {
    if (source != null) {
      source.releaseCopier();
      source.releaseUsers();
    }
    if (clone != null) {
      clone.close();
    }
  }

  @Test
  void aWholeRegionWriteOverTheCopiersClaimReadsNothingAndDoesNotWaitForIt() throws Exception {
    open();
    byte[] data = filled(BATCH * R, 0x5A);

    CompletableFuture<Void> write = async(() -> clone.write(0, ByteBuffer.wrap(data), false));

    write.get(30, TimeUnit.SECONDS);
    assertThat(source.copierReadsHeld()).as("the copier's read is still held").isPositive();
    assertThat(source.userReads()).as("the write read nothing from the source").isEmpty();
    assertThat(clone.metadata().isRangeHydrated(0, BATCH)).isTrue();

    source.releaseCopier();
    clone.copiedFuture().get(30, TimeUnit.SECONDS);
    assertThat(Arrays.copyOfRange(destination.contents(), 0, BATCH * R))
        .as("the copier did not overwrite the user's write with source data")
        .isEqualTo(data);
    assertThat(Arrays.copyOfRange(destination.contents(), BATCH * R, REGIONS * R))
        .isEqualTo(Arrays.copyOfRange(sourceData, BATCH * R, REGIONS * R));
  }

  @Test
  void aPartialWriteOverTheCopiersClaimReadsExactlyItsRegionAndDoesNotWaitForIt() throws Exception {
    open();
    long offset = 2L * R + 4096;
    byte[] data = filled(4096, 0xA5);

    CompletableFuture<Void> write = async(() -> clone.write(offset, ByteBuffer.wrap(data), false));

    write.get(30, TimeUnit.SECONDS);
    assertThat(source.copierReadsHeld()).as("the copier's read is still held").isPositive();
    List<long[]> reads = source.userReads();
    assertThat(reads).as("one source read, of the written region").hasSize(1);
    assertThat(reads.get(0)).containsExactly(2L * R, R);

    source.releaseCopier();
    clone.copiedFuture().get(30, TimeUnit.SECONDS);
    byte[] expected = sourceData.clone();
    System.arraycopy(data, 0, expected, (int) offset, data.length);
    assertThat(destination.contents()).isEqualTo(expected);
  }

  @Test
  void aPartialWriteCopiesItsRegionThroughARegionSizedBufferNotACopyChunk() throws Exception {
    open();
    long allocatedBefore = clone.buffers().allocatedBytes();

    clone.write(40L * R + 4096, ByteBuffer.wrap(filled(4096, 0x77)), false);

    assertThat(clone.buffers().allocatedBytes() - allocatedBefore)
        .as("bytes of copy buffers the partial write allocated")
        .isEqualTo(R);
    assertThat(source.userReads()).hasSize(1);
    assertThat(source.userReads().get(0)).containsExactly(40L * R, R);
  }

  @Test
  void aPartialWriteOfAnUncopiedRegionWritesTheDestinationOnceWithTheUsersBytesInTheRegion()
      throws Exception {
    open();
    long region = 40;
    long offset = region * R + 4096;
    byte[] data = filled(4096, 0x66);

    clone.write(offset, ByteBuffer.wrap(data), false);

    byte[] expected = Arrays.copyOfRange(sourceData, (int) (region * R), (int) (region + 1) * R);
    System.arraycopy(data, 0, expected, 4096, data.length);
    assertThat(destinationWrites.events())
        .as("destination writes of the partial write (the copier's are held at the source)")
        .singleElement()
        .satisfies(
            write -> {
              assertThat(write.offset()).isEqualTo(region * R);
              assertThat(write.data()).isEqualTo(expected);
            });
    assertThat(clone.metadata().isHydrated(region)).isTrue();
    ByteBuffer back = ByteBuffer.allocate(R);
    clone.read(region * R, back);
    assertThat(back.array()).isEqualTo(expected);
  }

  @Test
  void theCopierIssuesNoSourceReadWhileAUserReadIsAtTheSource() throws Exception {
    open();
    source.holdUsers();
    long offset = 40L * R;
    CompletableFuture<byte[]> read =
        CompletableFuture.supplyAsync(
            () -> {
              ByteBuffer buffer = ByteBuffer.allocate(4096);
              try {
                clone.read(offset, buffer);
              } catch (IOException e) {
                throw new RuntimeException(e);
              }
              return buffer.array();
            });
    awaitTrue(() -> source.userReadsHeld() == 1, "the user read reaches the source");
    int copierReadsBefore = source.copierReadsStarted();

    // The copier's read already at the source finishes; its next one must wait for the user.
    source.releaseCopier();
    awaitTrue(
        () ->
            clone.sourceLanes().backgroundWaiting() > 0
                || source.copierReadsStarted() > copierReadsBefore,
        "the copier either waits for the user read or reads the source");
    assertThat(source.copierReadsStarted())
        .as("copier reads started while a user read was at the source")
        .isEqualTo(copierReadsBefore);

    source.releaseUsers();
    assertThat(read.get(30, TimeUnit.SECONDS))
        .isEqualTo(Arrays.copyOfRange(sourceData, (int) offset, (int) offset + 4096));
    clone.copiedFuture().get(30, TimeUnit.SECONDS);
    assertThat(destination.contents()).isEqualTo(sourceData);
  }

  @Test
  void theCopierWritesTheDestinationInSmallPiecesFewAtOnceAndAWholeRegionWriteGoesPastThem()
      throws Exception {
    int regions = 256;
    byte[] data = new byte[regions * R];
    new Random(23).nextBytes(data);
    TestingLaneSource lanes =
        new TestingLaneSource(
            new TestingMemoryBlockDevice("dst", new byte[data.length], false, 512));
    lanes.holdCopierWrites();
    TestingMemoryCloneMetadata md =
        new TestingMemoryCloneMetadata(
            new CloneGeometry(0, 0, data.length, R, data.length, data.length));
    try (Clone busy =
        Clone.open(
            TestingMemoryBlockDevice.readOnly("src", data),
            lanes,
            md,
            CloneOptions.builder("pieces")
                .batchRegions(16)
                .regionsInFlight(64)
                .commitPeriod(Duration.ofHours(1))
                .build())) {
      // Four batches have read their regions; only two pieces of them reach the destination.
      awaitTrue(
          () -> lanes.copierWritesHeld() == SourceLanes.BACKGROUND_PIECES,
          "the copier's first writes reach the destination");
      awaitTrue(() -> busy.inFlight().size() == 4, "four batches are in flight");
      byte[] user = filled(16 * R, 0x3C);
      CompletableFuture<Void> write =
          async(() -> busy.write(128L * R, ByteBuffer.wrap(user), false));

      write.get(30, TimeUnit.SECONDS);
      assertThat(lanes.copierWritesHeld())
          .as("the copier's writes are still held")
          .isEqualTo(SourceLanes.BACKGROUND_PIECES);

      lanes.releaseCopierWrites();
      busy.copiedFuture().get(60, TimeUnit.SECONDS);
      assertThat(lanes.mostCopierWritesAtOnce()).isEqualTo(SourceLanes.BACKGROUND_PIECES);
      assertThat(lanes.largestCopierWrite()).isEqualTo(SourceLanes.BACKGROUND_PIECE);
      byte[] expected = data.clone();
      System.arraycopy(user, 0, expected, 128 * R, user.length);
      assertThat(((TestingMemoryBlockDevice) lanes.inner()).contents()).isEqualTo(expected);
    }
  }

  @Test
  void regionsLargerThanTheCopyChunkAreCopiedInSeveralChunks() throws Exception {
    int region = 2 * Clone.COPY_CHUNK;
    byte[] data = new byte[2 * region];
    new Random(21).nextBytes(data);
    TestingMemoryBlockDevice dst =
        new TestingMemoryBlockDevice("dst", new byte[data.length], false, 512);
    TestingMemoryCloneMetadata md =
        new TestingMemoryCloneMetadata(
            new CloneGeometry(0, 0, data.length, region, data.length, data.length));
    try (Clone big =
        Clone.open(
            TestingMemoryBlockDevice.readOnly("src", data),
            dst,
            md,
            CloneOptions.builder("big").commitPeriod(Duration.ofHours(1)).build())) {
      big.copiedFuture().get(60, TimeUnit.SECONDS);
      assertThat(big.status().copyErrors()).isZero();
      assertThat(dst.contents()).isEqualTo(data);
    }
  }

  // ---------------------------------------------------------------- helpers

  @FunctionalInterface
  interface IoCall {
    void run() throws IOException;
  }

  static CompletableFuture<Void> async(IoCall call) {
    return CompletableFuture.runAsync(
        () -> {
          try {
            call.run();
          } catch (IOException e) {
            throw new RuntimeException(e);
          }
        });
  }

  static byte[] filled(int length, int value) {
    byte[] data = new byte[length];
    Arrays.fill(data, (byte) value);
    return data;
  }

  static void awaitTrue(BooleanSupplier condition, String what) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out waiting until " + what);
      }
      Thread.sleep(1);
    }
  }
}
