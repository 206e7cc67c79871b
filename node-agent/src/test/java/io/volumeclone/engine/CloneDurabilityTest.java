package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.volumeclone.engine.CloneMetadata.Mode;
import io.volumeclone.engine.TestingFaultyBlockDevice.Op;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A failed commit or flush is never reported as success (issue 11, items 1, 2 and 9), with the real
 * on-disk metadata on a device that fails chosen operations.
 */
class CloneDurabilityTest {

  static final int R = 4096;
  static final int REGIONS = 16;
  static final byte POISON = (byte) 0xEE;
  static final CloneGeometry GEOMETRY =
      new CloneGeometry(0, 0, REGIONS * R, R, REGIONS * R, REGIONS * R);

  byte[] sourceData;
  TestingMemoryBlockDevice destinationMemory;
  TestingFaultyBlockDevice destination;
  TestingMemoryBlockDevice metadataMemory;
  TestingFaultyBlockDevice metadataDevice;
  DiskCloneMetadata metadata;
  Clone clone;
  HeldWrites held;

  void open(CloneOptions.Builder options, BlockDevice metadataOn, BlockDevice destinationOn)
      throws IOException {
    metadata = DiskCloneMetadata.open(metadataOn, GEOMETRY, false);
    clone =
        Clone.open(
            TestingMemoryBlockDevice.readOnly("src", sourceData),
            destinationOn,
            metadata,
            options.build());
  }

  void open(CloneOptions.Builder options) throws IOException {
    open(options, metadataDevice, destination);
  }

  CloneDurabilityTest() {
    sourceData = new byte[REGIONS * R];
    new Random(7).nextBytes(sourceData);
    byte[] poison = new byte[REGIONS * R];
    Arrays.fill(poison, POISON);
    destinationMemory = new TestingMemoryBlockDevice("dst", poison, false, 512);
    destination = new TestingFaultyBlockDevice(destinationMemory);
    metadataMemory =
        new TestingMemoryBlockDevice("md", (int) DiskCloneMetadata.requiredSize(GEOMETRY));
    metadataDevice = new TestingFaultyBlockDevice(metadataMemory);
  }

  static CloneOptions.Builder options() {
    return CloneOptions.builder("durability").noCopy(true).commitPeriod(Duration.ofHours(1));
  }

  @AfterEach
  void close() throws IOException {
    if (held != null) {
      held.release.countDown();
    }
    if (clone != null) {
      clone.close();
    }
  }

  byte[] read(long offset, int length) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(length);
    clone.read(offset, buffer);
    return buffer.array();
  }

  byte[] src(long offset, int length) {
    return Arrays.copyOfRange(sourceData, (int) offset, (int) offset + length);
  }

  static byte[] filled(int length, int value) {
    byte[] data = new byte[length];
    Arrays.fill(data, (byte) value);
    return data;
  }

  void failBitmapWrites() {
    metadataDevice
        .fail(Op.WRITE)
        .range(
            DiskCloneMetadata.BITMAP_START_BLOCK * (long) DiskCloneMetadata.BLOCK_SIZE, 1L << 40);
  }

  /** What a restart would find on the metadata device: only what reached stable storage. */
  DiskCloneMetadata reopenedFromDurable() throws IOException {
    return DiskCloneMetadata.open(
        new TestingMemoryBlockDevice("md", metadataMemory.durableContents(), false, 512),
        GEOMETRY,
        false);
  }

  // ------------------------------------------------------------------ item 1

  @Test
  void afterAFailedCommitAcknowledgedWritesStayReadableAndEveryLaterFlushAndFuaFails()
      throws IOException {
    open(options());
    clone.write(R + 5, ByteBuffer.wrap(filled(10, 0x11)), false);
    clone.write(3 * R, ByteBuffer.wrap(filled(R, 0x22)), false);
    failBitmapWrites();
    assertThatThrownBy(clone::flush)
        .isInstanceOfSatisfying(
            BlockIoException.class, e -> assertThat(e.kind()).isEqualTo(BlockIoException.Kind.IO))
        .hasMessageContaining("md");
    assertThat(metadata.mode()).isEqualTo(Mode.READ_ONLY);
    metadataDevice.heal();

    // The writes were acknowledged: their regions never read as source again.
    assertThat(read(R + 5, 10)).isEqualTo(filled(10, 0x11));
    assertThat(read(R, 5)).isEqualTo(src(R, 5));
    assertThat(read(3 * R, R)).isEqualTo(filled(R, 0x22));
    // A write to a region the destination holds still works ...
    clone.write(3 * R + 7, ByteBuffer.wrap(filled(3, 0x33)), false);
    assertThat(read(3 * R + 7, 3)).isEqualTo(filled(3, 0x33));
    // ... but nothing may be called durable any more: every flush and FUA fails.
    assertThatThrownBy(clone::flush).isInstanceOf(BlockIoException.class);
    assertThatThrownBy(clone::flush).isInstanceOf(BlockIoException.class);
    assertThatThrownBy(() -> clone.write(3 * R, ByteBuffer.wrap(filled(1, 0x44)), true))
        .isInstanceOf(BlockIoException.class);
    assertThatThrownBy(() -> clone.writeZeroes(3 * R, R, true, false))
        .isInstanceOf(BlockIoException.class);
    assertThatThrownBy(() -> clone.discard(3 * R, R, true)).isInstanceOf(BlockIoException.class);
    // Writes that would need a commit fail too.
    assertThatThrownBy(() -> clone.write(5 * R, ByteBuffer.wrap(filled(R, 1)), false))
        .isInstanceOf(BlockIoException.class);
    assertThatThrownBy(() -> clone.write(6 * R + 1, ByteBuffer.wrap(filled(1, 1)), false))
        .isInstanceOf(BlockIoException.class);
    assertThat(clone.status().metadataMode()).isEqualTo(Mode.READ_ONLY);
  }

  @Test
  void aFlushWaitingBehindTheFailingCommitFailsToo() throws Exception {
    held = new HeldWrites(metadataDevice);
    open(options(), held, destination);
    clone.write(R + 5, ByteBuffer.wrap(filled(10, 0x11)), false);
    held.hold = true;
    CompletableFuture<Void> first = flushInThread();
    assertThat(held.entered.await(10, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<Void> second = flushInThread();
    // The second flush is queued behind the first commit.
    waitUntil(() -> flushers.get(1).getState() == Thread.State.WAITING);
    failBitmapWrites();
    held.release.countDown();
    assertThatThrownBy(() -> first.get(10, TimeUnit.SECONDS))
        .hasCauseInstanceOf(BlockIoException.class)
        .hasMessageContaining("md");
    assertThatThrownBy(() -> second.get(10, TimeUnit.SECONDS))
        .hasCauseInstanceOf(BlockIoException.class);
    assertThat(metadata.mode()).isEqualTo(Mode.READ_ONLY);
  }

  @Test
  void aFailedPeriodicCommitFailsTheNextFlush() throws Exception {
    open(options().commitPeriod(Duration.ofMillis(20)));
    failBitmapWrites();
    clone.write(R + 5, ByteBuffer.wrap(filled(10, 0x11)), false);
    waitUntil(() -> clone.status().lastError() != null);
    assertThat(metadata.mode()).isEqualTo(Mode.READ_ONLY);
    metadataDevice.heal();
    assertThatThrownBy(clone::flush).isInstanceOf(BlockIoException.class);
    assertThat(read(R + 5, 10)).isEqualTo(filled(10, 0x11));
    assertThat(clone.status().lastError()).contains("md");
  }

  // ------------------------------------------------------------------ item 2

  @Test
  void aFailedDestinationFlushAbortsAndTheRetryNeverCommitsTheLostData() throws IOException {
    open(options());
    clone.write(R + 5, ByteBuffer.wrap(filled(10, 0x11)), false);
    // Linux reports a writeback error once: the next fdatasync succeeds though the data is gone.
    destination.fail(Op.FLUSH).times(1);
    assertThatThrownBy(clone::flush).hasMessageContaining("dst");
    assertThat(metadata.mode()).isEqualTo(Mode.READ_ONLY);
    assertThatThrownBy(clone::flush).isInstanceOf(BlockIoException.class);
    assertThatThrownBy(() -> clone.write(R, ByteBuffer.wrap(filled(1, 2)), true))
        .isInstanceOf(BlockIoException.class);
    assertThat(read(R + 5, 10)).isEqualTo(filled(10, 0x11));
    try (DiskCloneMetadata reopened = reopenedFromDurable()) {
      assertThat(reopened.isHydrated(1)).as("region 1 recorded as copied").isFalse();
      assertThat(reopened.committedCount()).isZero();
    }
  }

  @Test
  void aFailedDestinationFlushWithNothingToCommitFailsEveryLaterFlush() throws IOException {
    DiskCloneMetadata prepared = DiskCloneMetadata.open(metadataMemory, GEOMETRY, false);
    prepared.setHydrated(0, 2);
    prepared.commit(() -> {});
    open(options());
    clone.write(5, ByteBuffer.wrap(filled(10, 0x11)), false);
    destination.fail(Op.FLUSH).times(1);
    assertThatThrownBy(clone::flush).hasMessageContaining("dst");
    assertThatThrownBy(clone::flush).isInstanceOf(BlockIoException.class);
    assertThatThrownBy(() -> clone.write(R, ByteBuffer.wrap(filled(1, 2)), true))
        .isInstanceOf(BlockIoException.class);
    assertThat(read(5, 10)).isEqualTo(filled(10, 0x11));
  }

  // ------------------------------------------------------------------ item 9

  @Test
  void copyOnReadServesTheSourceWhenTheDestinationWriteFails() throws IOException {
    open(options().copyOnRead(true));
    destination.fail(Op.WRITE).range(2 * R, 2 * R);
    assertThat(read(2 * R + 100, 2 * R)).isEqualTo(src(2 * R + 100, 2 * R));
    assertThat(metadata.isHydrated(2)).isFalse();
    assertThat(metadata.mode()).isEqualTo(Mode.WRITE);
  }

  @Test
  void copyOnReadServesTheSourceWhenTheMetadataTurnsReadOnlyDuringTheCopy() throws IOException {
    CloneDurabilityTest test = this;
    BlockDevice abortsOnFirstCopy =
        new TestingForwardingBlockDevice(destination) {
          boolean done;

          @Override
          public void write(long offset, ByteBuffer src) throws IOException {
            if (!done && offset >= 4 * R) {
              done = true;
              test.failBitmapWrites();
              assertThatThrownBy(test.clone::flush).isInstanceOf(BlockIoException.class);
            }
            super.write(offset, src);
          }
        };
    open(options().copyOnRead(true), metadataDevice, abortsOnFirstCopy);
    clone.write(R, ByteBuffer.wrap(filled(R, 0x11)), false); // something for the commit to write
    assertThat(read(4 * R + 1, R)).isEqualTo(src(4 * R + 1, R));
    assertThat(metadata.mode()).isEqualTo(Mode.READ_ONLY);
    assertThat(read(4 * R, R)).isEqualTo(src(4 * R, R));
  }

  // ------------------------------------------------------------------ helpers

  final List<Thread> flushers = new CopyOnWriteArrayList<>();

  CompletableFuture<Void> flushInThread() {
    CompletableFuture<Void> done = new CompletableFuture<>();
    Thread thread =
        new Thread(
            () -> {
              try {
                clone.flush();
                done.complete(null);
              } catch (IOException | RuntimeException e) {
                done.completeExceptionally(e);
              }
            },
            "flush-" + flushers.size());
    flushers.add(thread);
    thread.start();
    return done;
  }

  static void waitUntil(BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("condition not met within 10 s");
      }
      Thread.sleep(5);
    }
  }

  /** Holds metadata writes while {@link #hold} is set, until {@link #release} opens. */
  static final class HeldWrites extends TestingForwardingBlockDevice {
    volatile boolean hold;
    final CountDownLatch entered = new CountDownLatch(1);
    final CountDownLatch release = new CountDownLatch(1);

    HeldWrites(BlockDevice inner) {
      super(inner);
    }

    @Override
    public void write(long offset, ByteBuffer src) throws IOException {
      if (hold) {
        entered.countDown();
        try {
          release.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      super.write(offset, src);
    }
  }
}
