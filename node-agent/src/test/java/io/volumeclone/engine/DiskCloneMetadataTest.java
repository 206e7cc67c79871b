package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.volumeclone.engine.CloneMetadata.Mode;
import io.volumeclone.engine.TestingFaultyBlockDevice.Op;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class DiskCloneMetadataTest {

  private static final int BLOCK = DiskCloneMetadata.BLOCK_SIZE;
  private static final String NAME = "/dev/test-metadata";

  /** 80,000 regions of 4 KiB: three bitmap blocks, the last one partial. */
  private static final CloneGeometry GEOMETRY =
      new CloneGeometry(0, 0, 80_000L * 4096, 4096, 80_000L * 4096, 80_000L * 4096);

  private static TestingMemoryBlockDevice device(int size) {
    return new TestingMemoryBlockDevice(NAME, size);
  }

  private static TestingMemoryBlockDevice device() {
    return device((int) DiskCloneMetadata.requiredSize(GEOMETRY));
  }

  private static TestingMemoryBlockDevice deviceWith(byte[] image) {
    return new TestingMemoryBlockDevice(NAME, image, false, 512);
  }

  private static List<Long> hydrated(CloneMetadata metadata) {
    List<Long> regions = new ArrayList<>();
    for (long r = metadata.nextHydrated(0); r >= 0; r = metadata.nextHydrated(r + 1)) {
      regions.add(r);
    }
    return regions;
  }

  @Test
  void formatsAnEmptyDeviceAndReopensTheCommittedState() throws IOException {
    TestingMemoryBlockDevice dev = device();
    UUID uuid;
    try (DiskCloneMetadata metadata = DiskCloneMetadata.open(dev, GEOMETRY, false)) {
      uuid = metadata.uuid();
      assertThat(metadata.transactionId()).isZero();
      assertThat(metadata.mode()).isEqualTo(Mode.WRITE);
      assertThat(metadata.hydratedCount()).isZero();
      assertThat(metadata.nextUnhydrated(0)).isZero();

      metadata.setHydrated(10, 5);
      metadata.setHydrated(79_999, 1);
      metadata.setHydrated(40_000, 100); // second bitmap block
      assertThat(metadata.isHydrated(12)).isTrue();
      assertThat(metadata.isRangeHydrated(10, 5)).isTrue();
      assertThat(metadata.isRangeHydrated(10, 6)).isFalse();
      assertThat(metadata.hydratedCount()).isEqualTo(106);
      assertThat(metadata.committedCount()).isZero();

      AtomicInteger destinationFlushes = new AtomicInteger();
      metadata.commit(destinationFlushes::incrementAndGet);
      assertThat(destinationFlushes).hasValue(1);
      assertThat(metadata.transactionId()).isEqualTo(1);
      assertThat(metadata.committedCount()).isEqualTo(106);

      // Nothing changed: no flush, no write, same transaction.
      long writes = dev.writes.get();
      metadata.commit(destinationFlushes::incrementAndGet);
      assertThat(destinationFlushes).hasValue(1);
      assertThat(dev.writes.get()).isEqualTo(writes);
      assertThat(metadata.transactionId()).isEqualTo(1);

      // Marked but not committed: lost on reopen, as a crash would lose it.
      metadata.setHydrated(500, 1);
    }
    try (DiskCloneMetadata reopened =
        DiskCloneMetadata.open(deviceWith(dev.durableContents()), GEOMETRY, false)) {
      assertThat(reopened.uuid()).isEqualTo(uuid);
      assertThat(reopened.transactionId()).isEqualTo(1);
      assertThat(reopened.committedCount()).isEqualTo(106);
      assertThat(reopened.hydratedCount()).isEqualTo(106);
      assertThat(reopened.isHydrated(500)).isFalse();
      assertThat(reopened.nextHydrated(0)).isEqualTo(10);
      assertThat(reopened.nextHydrated(15)).isEqualTo(40_000);
      assertThat(reopened.nextHydrated(40_100)).isEqualTo(79_999);
      assertThat(reopened.nextUnhydrated(10)).isEqualTo(15);
      assertThat(reopened.isComplete()).isFalse();
    }
  }

  @Test
  void everyGeometryFieldIsComparedAndNamed() throws IOException {
    TestingMemoryBlockDevice dev = device();
    DiskCloneMetadata.open(dev, GEOMETRY, false).commit(() -> {});
    byte[] image = dev.contents();
    long s = GEOMETRY.size();
    Object[][] cases = {
      {new CloneGeometry(0, 0, s, 8192, s, s), "region size 4096, not 8192"},
      {new CloneGeometry(0, 0, s - 4096, 4096, s, s), "size " + s + ", not " + (s - 4096)},
      {new CloneGeometry(4096, 0, s, 4096, s + 4096, s), "source offset 0, not 4096"},
      {new CloneGeometry(0, 512, s, 4096, s, s + 512), "destination offset 0, not 512"},
      {new CloneGeometry(0, 0, s, 4096, s + 1, s), "source size " + s + ", not " + (s + 1)},
      {new CloneGeometry(0, 0, s, 4096, s, s * 2), "destination size " + s + ", not " + (s * 2)},
    };
    for (Object[] c : cases) {
      TestingMemoryBlockDevice copy = deviceWith(image);
      assertThatThrownBy(() -> DiskCloneMetadata.open(copy, (CloneGeometry) c[0], false))
          .isInstanceOf(MetadataMismatchException.class)
          .hasMessage("metadata device " + NAME + " belongs to a clone with " + c[1]);
      assertThat(copy.contents()).isEqualTo(image);
      assertThat(copy.writes.get()).isZero();
    }
  }

  @Test
  void forceReformatsAnotherClonesMetadata() throws IOException {
    TestingMemoryBlockDevice dev = device();
    UUID first;
    try (DiskCloneMetadata metadata = DiskCloneMetadata.open(dev, GEOMETRY, false)) {
      first = metadata.uuid();
      metadata.setHydrated(0, 70_000);
      metadata.commit(() -> {});
    }
    long s = GEOMETRY.size();
    CloneGeometry other = new CloneGeometry(0, 0, s, 4096, s, s + 4096);
    TestingMemoryBlockDevice again = deviceWith(dev.contents());
    assertThatThrownBy(() -> DiskCloneMetadata.open(again, other, false))
        .isInstanceOf(MetadataMismatchException.class);
    try (DiskCloneMetadata metadata = DiskCloneMetadata.open(again, other, true)) {
      assertThat(metadata.uuid()).isNotEqualTo(first);
      assertThat(metadata.transactionId()).isZero();
      assertThat(metadata.hydratedCount()).isZero();
      metadata.setHydrated(5, 1);
      metadata.commit(() -> {});
    }
    // The old clone's bitmap blocks (other UUID, higher transaction) are not picked up.
    try (DiskCloneMetadata metadata =
        DiskCloneMetadata.open(deviceWith(again.durableContents()), other, false)) {
      assertThat(hydrated(metadata)).containsExactly(5L);
      assertThat(metadata.committedCount()).isEqualTo(1);
    }
  }

  @Test
  void nonZeroGarbageIsRefusedAndNotReformatted() throws IOException {
    byte[] garbage = new byte[(int) DiskCloneMetadata.requiredSize(GEOMETRY)];
    new Random(1).nextBytes(garbage);
    TestingMemoryBlockDevice dev = deviceWith(garbage);
    assertThatThrownBy(() -> DiskCloneMetadata.open(dev, GEOMETRY, false))
        .isInstanceOf(MetadataMismatchException.class)
        .hasMessageContaining(NAME)
        .hasMessageContaining("does not hold volume-clone metadata")
        .hasMessageContaining("force");
    assertThat(dev.contents()).isEqualTo(garbage);

    // One non-zero byte anywhere in block 0 is enough to refuse.
    byte[] almostEmpty = new byte[garbage.length];
    almostEmpty[4095] = 1;
    TestingMemoryBlockDevice almost = deviceWith(almostEmpty);
    assertThatThrownBy(() -> DiskCloneMetadata.open(almost, GEOMETRY, false))
        .isInstanceOf(MetadataMismatchException.class);
    assertThat(almost.contents()).isEqualTo(almostEmpty);
  }

  @Test
  void corruptLabelWrongVersionAndCorruptSlotsAreRefusedWithTheReason() throws IOException {
    TestingMemoryBlockDevice dev = device();
    try (DiskCloneMetadata metadata = DiskCloneMetadata.open(dev, GEOMETRY, false)) {
      metadata.setHydrated(1, 1);
      metadata.commit(() -> {});
    }
    byte[] image = dev.contents();

    byte[] badLabel = image.clone();
    badLabel[200] ^= 1;
    assertThatThrownBy(() -> DiskCloneMetadata.open(deviceWith(badLabel), GEOMETRY, false))
        .hasMessageStartingWith(
            "metadata device "
                + NAME
                + " has a corrupt label: the checksum of block 0 does not match");

    byte[] otherVersion = image.clone();
    ByteBuffer.wrap(otherVersion).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(4, 3);
    reseal(otherVersion, 0);
    assertThatThrownBy(() -> DiskCloneMetadata.open(deviceWith(otherVersion), GEOMETRY, false))
        .hasMessageContaining("format version 3; this build reads 1 and 2");

    byte[] badSlots = image.clone();
    badSlots[BLOCK + 100] ^= 1;
    badSlots[2 * BLOCK + 100] ^= 1;
    assertThatThrownBy(() -> DiskCloneMetadata.open(deviceWith(badSlots), GEOMETRY, false))
        .hasMessageContaining("no valid commit record");

    // A committed bitmap block corrupted on the media (both copies) is caught by the count check.
    byte[] badBitmap = image.clone();
    for (int copy = 0; copy < 2; copy++) {
      badBitmap[(DiskCloneMetadata.BITMAP_START_BLOCK + copy) * BLOCK + 100] ^= 1;
    }
    assertThatThrownBy(() -> DiskCloneMetadata.open(deviceWith(badBitmap), GEOMETRY, false))
        .hasMessageContaining("is corrupt: its bitmap marks 0 regions copied but transaction 1")
        .hasMessageContaining("recorded 1");
  }

  private static void reseal(byte[] image, int block) {
    java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
    crc.update(image, block * BLOCK + 4, BLOCK - 4);
    ByteBuffer.wrap(image)
        .order(java.nio.ByteOrder.LITTLE_ENDIAN)
        .putInt(block * BLOCK, (int) crc.getValue());
  }

  @Test
  void tooSmallDevicesSayHowMuchIsNeeded() {
    long needed = DiskCloneMetadata.requiredSize(GEOMETRY);
    TestingMemoryBlockDevice dev = device((int) needed - BLOCK);
    assertThatThrownBy(() -> DiskCloneMetadata.open(dev, GEOMETRY, false))
        .isInstanceOf(MetadataMismatchException.class)
        .hasMessageContaining(NAME)
        .hasMessageContaining("too small")
        .hasMessageContaining("80000 regions")
        .hasMessageContaining("needs " + needed + " bytes");
    assertThat(dev.writes.get()).isZero();
  }

  @Test
  void commitOrderIsDestinationFlushBitmapBlocksFlushSuperblockFlush() throws IOException {
    TestingFaultyBlockDevice dev = new TestingFaultyBlockDevice(device());
    try (DiskCloneMetadata metadata = DiskCloneMetadata.open(dev, GEOMETRY, false)) {
      metadata.setHydrated(3, 1);
      metadata.setHydrated(70_000, 1);
      dev.clearLog();
      List<String> order = new ArrayList<>();
      metadata.commit(
          () -> {
            assertThat(dev.log()).as("no metadata I/O before the destination flush").isEmpty();
            order.add("destination flush");
          });
      for (TestingFaultyBlockDevice.Call call : dev.log()) {
        long block = call.offset() / BLOCK;
        order.add(
            call.op() == Op.FLUSH
                ? "metadata flush"
                : block >= DiskCloneMetadata.BITMAP_START_BLOCK
                    ? "bitmap " + block
                    : "superblock " + block);
      }
      // Blocks 0 and 2 of the bitmap, copy 0 (never written before); the slot not holding tx 0.
      assertThat(order)
          .containsExactly(
              "destination flush",
              "bitmap 8",
              "bitmap " + (8 + 2 * 2),
              "metadata flush",
              "superblock 2",
              "metadata flush");

      // The next commit of block 0 goes to copy 1 and to slot 1: nothing committed is overwritten.
      metadata.setHydrated(4, 1);
      dev.clearLog();
      metadata.commit(() -> {});
      assertThat(dev.log())
          .extracting(c -> c.op() + "@" + c.offset() / BLOCK)
          .containsExactly("WRITE@9", "FLUSH@0", "WRITE@1", "FLUSH@0");
    }
  }

  @Test
  void destinationFlushFailureAbortsAndNoLaterCommitRecordsTheRegions() throws IOException {
    TestingMemoryBlockDevice dev = device();
    try (DiskCloneMetadata metadata = DiskCloneMetadata.open(dev, GEOMETRY, false)) {
      metadata.setHydrated(7, 3);
      long writes = dev.writes.get();
      assertThatThrownBy(
              () ->
                  metadata.commit(
                      () -> {
                        throw new BlockIoException(
                            BlockIoException.Kind.IO, "/dev/dest", "flush", 0, "boom");
                      }))
          .hasMessageContaining("/dev/dest");
      assertThat(dev.writes.get()).as("no metadata written").isEqualTo(writes);
      // A retried fdatasync would succeed for data the kernel dropped: the transaction is aborted.
      assertThat(metadata.mode()).isEqualTo(Mode.READ_ONLY);
      assertThatThrownBy(() -> metadata.commit(() -> {})).hasMessageContaining("READ_ONLY");
      assertThat(dev.writes.get()).as("no metadata written").isEqualTo(writes);
      assertThat(metadata.transactionId()).isZero();
      assertThat(metadata.isRangeHydrated(7, 3)).as("still read from the destination").isTrue();
    }
  }

  @Test
  void theAbortsReasonIsKnownOnceTheModeLeavesWrite() throws IOException {
    // A status read between the abort and the caller's report must still say why (the CLI's
    // read-only event and the agent's Degraded condition read the mode, then the reason).
    TestingMemoryBlockDevice dev = device();
    try (DiskCloneMetadata metadata = DiskCloneMetadata.open(dev, GEOMETRY, false)) {
      metadata.setHydrated(7, 3);
      assertThat(metadata.failure()).as("no failure in WRITE mode").isNull();
      assertThatThrownBy(
          () ->
              metadata.commit(
                  () -> {
                    throw new BlockIoException(
                        BlockIoException.Kind.IO, "/dev/dest", "flush", 0, "Input/output error");
                  }));
      assertThat(metadata.mode()).isEqualTo(Mode.READ_ONLY);
      assertThat(metadata.failure())
          .contains("flush destination on " + NAME + " at offset 0 failed")
          .contains("READ_ONLY")
          .contains("flush on /dev/dest at offset 0 failed: Input/output error");
    }
  }

  @Test
  void metadataWriteErrorAbortsAndGoesReadOnlyKeepingTheMarksInMemory() throws IOException {
    TestingFaultyBlockDevice dev = new TestingFaultyBlockDevice(device());
    DiskCloneMetadata metadata = DiskCloneMetadata.open(dev, GEOMETRY, false);
    metadata.setHydrated(0, 10);
    metadata.commit(() -> {});
    metadata.setHydrated(100, 10);
    long bitmapStart = DiskCloneMetadata.BITMAP_START_BLOCK * (long) BLOCK;
    dev.fail(Op.WRITE).range(bitmapStart, Long.MAX_VALUE / 2).times(1);
    assertThatThrownBy(() -> metadata.commit(() -> {}))
        .isInstanceOfSatisfying(
            BlockIoException.class,
            e -> {
              assertThat(e.device()).isEqualTo(NAME);
              assertThat(e.operation()).isEqualTo("write bitmap block");
              assertThat(e.offset()).isEqualTo(bitmapStart + BLOCK); // copy 1 of block 0
              assertThat(e.getMessage()).contains("READ_ONLY");
            });
    assertThat(metadata.mode()).isEqualTo(Mode.READ_ONLY);
    // The uncommitted marks stay in memory (their data is on the destination), uncommitted.
    assertThat(metadata.isRangeHydrated(100, 10)).isTrue();
    assertThat(metadata.isRangeHydrated(0, 10)).isTrue();
    assertThat(metadata.hydratedCount()).isEqualTo(20);
    assertThat(metadata.committedCount()).isEqualTo(10);
    assertThat(metadata.transactionId()).isEqualTo(1);
    assertThatThrownBy(() -> metadata.setHydrated(200, 1))
        .isInstanceOfSatisfying(
            BlockIoException.class,
            e -> assertThat(e.kind()).isEqualTo(BlockIoException.Kind.READ_ONLY));
    // The aborted transaction can never be committed: every later commit fails.
    dev.heal();
    assertThatThrownBy(() -> metadata.commit(() -> {})).hasMessageContaining("READ_ONLY");
    assertThat(metadata.mode()).isEqualTo(Mode.READ_ONLY);
  }

  @Test
  void superblockWriteErrorWithAFailingReloadGoesToFail() throws IOException {
    TestingFaultyBlockDevice dev = new TestingFaultyBlockDevice(device());
    DiskCloneMetadata metadata = DiskCloneMetadata.open(dev, GEOMETRY, false);
    metadata.setHydrated(0, 10);
    dev.fail(Op.WRITE).range(BLOCK, 2 * BLOCK);
    dev.fail(Op.READ);
    assertThatThrownBy(() -> metadata.commit(() -> {}))
        .isInstanceOfSatisfying(
            BlockIoException.class,
            e -> {
              assertThat(e.operation()).isEqualTo("write superblock");
              assertThat(e.offset()).isEqualTo(2L * BLOCK);
              assertThat(e.getMessage()).contains("FAIL");
            });
    assertThat(metadata.mode()).isEqualTo(Mode.FAIL);
    assertThatThrownBy(() -> metadata.commit(() -> {})).hasMessageContaining("FAIL");
    assertThatThrownBy(() -> metadata.setHydrated(1, 1)).isInstanceOf(BlockIoException.class);
    // Modes only move forward: healing the device does not bring WRITE back.
    dev.heal();
    assertThatThrownBy(() -> metadata.commit(() -> {})).hasMessageContaining("FAIL");
    assertThat(metadata.mode()).isEqualTo(Mode.FAIL);
  }

  @Test
  void metadataFlushErrorAbortsAndTheDeviceReopensAtTheLastCommit() throws IOException {
    TestingMemoryBlockDevice memory = device();
    TestingFaultyBlockDevice dev = new TestingFaultyBlockDevice(memory);
    DiskCloneMetadata metadata = DiskCloneMetadata.open(dev, GEOMETRY, false);
    metadata.setHydrated(0, 10);
    metadata.commit(() -> {});
    metadata.setHydrated(50, 10);
    dev.fail(Op.FLUSH).times(1);
    assertThatThrownBy(() -> metadata.commit(() -> {})).hasMessageContaining("flush");
    assertThat(metadata.mode()).isEqualTo(Mode.READ_ONLY);
    try (DiskCloneMetadata reopened =
        DiskCloneMetadata.open(deviceWith(memory.durableContents()), GEOMETRY, false)) {
      assertThat(reopened.transactionId()).isEqualTo(1);
      assertThat(hydrated(reopened)).hasSize(10).allMatch(r -> r < 10);
      assertThat(reopened.mode()).isEqualTo(Mode.WRITE);
    }
  }

  @Test
  void completionAndCutoverAreCommittedAndSurviveReopen() throws IOException {
    TestingMemoryBlockDevice dev = device();
    try (DiskCloneMetadata metadata = DiskCloneMetadata.open(dev, GEOMETRY, false)) {
      metadata.setHydrated(0, 79_999);
      assertThatThrownBy(() -> metadata.markComplete(() -> {}))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("region 79999");
      assertThatThrownBy(metadata::markCutOver).isInstanceOf(IllegalStateException.class);
      metadata.setHydrated(79_999, 1);
      AtomicInteger flushes = new AtomicInteger();
      metadata.markComplete(flushes::incrementAndGet);
      assertThat(flushes).hasValue(1);
      assertThat(metadata.isComplete()).isTrue();
      assertThat(metadata.isCutOver()).isFalse();
      assertThat(metadata.committedCount()).isEqualTo(80_000);
    }
    MetadataReport report = DiskCloneMetadata.inspect(deviceWith(dev.durableContents()));
    assertThat(report.complete()).isTrue();
    assertThat(report.cutOver()).isFalse();
    try (DiskCloneMetadata metadata =
        DiskCloneMetadata.open(deviceWith(dev.durableContents()), GEOMETRY, false)) {
      assertThat(metadata.isComplete()).isTrue();
      assertThat(metadata.nextUnhydrated(0)).isEqualTo(-1);
      metadata.markCutOver();
      assertThat(metadata.isCutOver()).isTrue();
      assertThat(metadata.transactionId()).isEqualTo(2);
    }
  }

  @Test
  void inspectReportsUnformattedValidAndInvalidDevices() throws IOException {
    MetadataReport empty = DiskCloneMetadata.inspect(device());
    assertThat(empty.state()).isEqualTo(MetadataReport.State.UNFORMATTED);
    assertThat(empty.geometry()).isNull();

    TestingMemoryBlockDevice dev = device();
    UUID uuid;
    try (DiskCloneMetadata metadata = DiskCloneMetadata.open(dev, GEOMETRY, false)) {
      uuid = metadata.uuid();
      metadata.setHydrated(0, 20_000);
      metadata.commit(() -> {});
      metadata.setHydrated(20_000, 20_000);
      metadata.commit(() -> {});
    }
    MetadataReport report = DiskCloneMetadata.inspect(deviceWith(dev.durableContents()));
    assertThat(report.state()).isEqualTo(MetadataReport.State.VALID);
    assertThat(report.problem()).isNull();
    assertThat(report.device()).isEqualTo(NAME);
    assertThat(report.uuid()).isEqualTo(uuid);
    assertThat(report.geometry()).isEqualTo(GEOMETRY);
    assertThat(report.formatVersion()).isEqualTo(DiskCloneMetadata.FORMAT_VERSION);
    assertThat(report.transactionId()).isEqualTo(2);
    assertThat(report.committedCount()).isEqualTo(40_000);
    assertThat(report.regionCount()).isEqualTo(80_000);
    assertThat(report.percentCopied()).isEqualTo(50.0);
    assertThat(report.complete()).isFalse();
    assertThat(report.requiredSize()).isEqualTo(DiskCloneMetadata.requiredSize(GEOMETRY));

    byte[] garbage = new byte[8 * BLOCK];
    new Random(3).nextBytes(garbage);
    MetadataReport invalid = DiskCloneMetadata.inspect(deviceWith(garbage));
    assertThat(invalid.state()).isEqualTo(MetadataReport.State.INVALID);
    assertThat(invalid.problem()).contains("does not hold volume-clone metadata");
  }

  @Test
  void concurrentMarkingDuringCommitsLosesNothing() throws Exception {
    TestingMemoryBlockDevice dev = device();
    DiskCloneMetadata metadata = DiskCloneMetadata.open(dev, GEOMETRY, false);
    Thread marker =
        new Thread(
            () -> {
              try {
                for (long r = 0; r < 80_000; r += 7) {
                  metadata.setHydrated(r, 1);
                }
              } catch (BlockIoException e) {
                throw new RuntimeException(e);
              }
            });
    marker.start();
    while (marker.isAlive()) {
      metadata.commit(() -> {});
    }
    marker.join();
    metadata.commit(() -> {});
    long expected = (80_000 + 6) / 7;
    assertThat(metadata.committedCount()).isEqualTo(expected);
    try (DiskCloneMetadata reopened =
        DiskCloneMetadata.open(deviceWith(dev.durableContents()), GEOMETRY, false)) {
      assertThat(reopened.committedCount()).isEqualTo(expected);
      assertThat(reopened.hydratedCount()).isEqualTo(expected);
    }
  }
}
