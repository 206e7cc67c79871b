package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Hot regions first (issue 17 item 5): user reads of uncopied regions decide what the copier copies
 * next, and the scan still advances. Batches of two regions, one in flight at a time and each held
 * at the bandwidth limiter until the test lets it through, so the copier's order is the order of
 * the destination's writes.
 */
class CloneHotRegionsTest {

  static final int R = 4096;
  static final int REGIONS = 64;

  byte[] sourceData;
  TestingMemoryBlockDevice destination;
  TestingRecordingBlockDevice destinationWrites;
  TestingMemoryCloneMetadata metadata;
  CopierTest.HeldLimiter limiter = new CopierTest.HeldLimiter();
  Clone clone;

  void open(boolean hotRegionsFirst) throws Exception {
    sourceData = new byte[REGIONS * R];
    new Random(17).nextBytes(sourceData);
    destination = new TestingMemoryBlockDevice("dst", new byte[REGIONS * R], false, 512);
    destinationWrites = new TestingRecordingBlockDevice(destination);
    metadata =
        new TestingMemoryCloneMetadata(
            new CloneGeometry(0, 0, REGIONS * R, R, REGIONS * R, REGIONS * R));
    clone =
        Clone.open(
            TestingMemoryBlockDevice.readOnly("src", sourceData),
            destinationWrites,
            metadata,
            CloneOptions.builder("hot")
                .batchRegions(2)
                .regionsInFlight(2)
                .hotRegionsFirst(hotRegionsFirst)
                .commitPeriod(Duration.ofHours(1))
                .build(),
            Copier.Seams.NONE.withLimiter(limiter));
    // The scan's first batch, regions [0, 2), waits at the limiter.
    assertThat(limiter.arrivals.tryAcquire(30, TimeUnit.SECONDS)).isTrue();
  }

  @AfterEach
  void close() throws IOException {
    limiter.letEverythingThrough();
    if (clone != null) {
      clone.close();
    }
  }

  @Test
  void anUncopiedRegionThatIsReadIsCopiedNextWithItsNeighbour() throws Exception {
    open(true);
    assertThat(readRegion(40)).isEqualTo(sourceRegion(40));

    List<Long> order = letBatchesThrough(2);

    assertThat(order).as("batch starts in copy order").containsExactly(0L, 40L);
    assertThat(metadata.isRangeHydrated(40, 2)).isTrue();
    assertThat(metadata.hydratedCount()).as("the scan is held at its next batch").isEqualTo(4);
    assertThat(clone.copier().hintedBatches()).isEqualTo(1);
  }

  @Test
  void withHotRegionsFirstOffTheCopierFollowsItsScan() throws Exception {
    open(false);
    readRegion(40);

    assertThat(letBatchesThrough(3)).containsExactly(0L, 2L, 4L);
    assertThat(metadata.isHydrated(40)).isFalse();
    assertThat(clone.copier().hintedBatches()).isZero();
  }

  @Test
  void theNewestHintsGoFirstAndTheScanGetsEveryFourthBatch() throws Exception {
    open(true);
    for (long region : new long[] {40, 44, 48, 52, 56}) {
      readRegion(region);
    }

    assertThat(letBatchesThrough(8)).containsExactly(0L, 56L, 52L, 48L, 2L, 44L, 40L, 4L);
  }

  @Test
  void aHintThatTheCopierAlreadyCopiedIsDroppedAndTheCopyFinishes() throws Exception {
    open(true);
    readRegion(2); // the scan's next batch covers it anyway
    readRegion(2); // recorded once

    assertThat(clone.readHints().size()).isEqualTo(1);
    assertThat(letBatchesThrough(2)).containsExactly(0L, 2L);
    limiter.letEverythingThrough();
    clone.copiedFuture().get(30, TimeUnit.SECONDS);
    assertThat(destination.contents()).isEqualTo(sourceData);
  }

  @Test
  void readsOfCopiedRegionsLeaveNoHint() throws Exception {
    open(true);
    letBatchesThrough(1);
    long before = clone.readHints().recorded();

    readRegion(1);

    assertThat(clone.readHints().recorded()).isEqualTo(before);
  }

  @Test
  void hotRegionsFirstIsSwitchedWhileTheCloneRuns() throws Exception {
    open(true);
    assertThat(clone.tuning().hotRegionsFirst()).isTrue();
    assertThat(clone.tune(CloneTuning.NONE.withHotRegionsFirst(false)).hotRegionsFirst()).isFalse();
    readRegion(40);

    assertThat(letBatchesThrough(2)).containsExactly(0L, 2L);
  }

  private byte[] readRegion(long region) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(R);
    clone.read(region * R, buffer);
    return buffer.array();
  }

  private byte[] sourceRegion(long region) {
    return Arrays.copyOfRange(sourceData, (int) (region * R), (int) ((region + 1) * R));
  }

  /**
   * Lets {@code batches} batches past the limiter one at a time, each after the previous one is
   * written, and returns the first region of each, in the order the destination saw them.
   */
  private List<Long> letBatchesThrough(int batches) throws Exception {
    List<Long> starts = new ArrayList<>();
    for (int i = 0; i < batches; i++) {
      if (i > 0) {
        assertThat(limiter.arrivals.tryAcquire(30, TimeUnit.SECONDS))
            .as("batch %d reaches the limiter", i + 1)
            .isTrue();
      }
      long copiedBefore = metadata.hydratedCount();
      int eventsBefore = destinationWrites.events().size();
      limiter.passes.release();
      CopierTest.waitUntil(() -> metadata.hydratedCount() > copiedBefore);
      destinationWrites.events().stream()
          .skip(eventsBefore)
          .filter(e -> !e.isFlush())
          .findFirst()
          .ifPresent(e -> starts.add(e.offset() / R));
    }
    return starts;
  }
}
