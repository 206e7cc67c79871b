package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.volumeclone.engine.CloneStatus.State;
import io.volumeclone.engine.TestingFaultyBlockDevice.Op;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The background copier and cutover. */
class CopierTest {

  static final int R = 4096;

  byte[] sourceData;
  TestingMemoryBlockDevice sourceMemory;
  GatedDevice gated;
  TestingFaultyBlockDevice faulty;
  TestingMemoryBlockDevice destination;
  TestingMemoryCloneMetadata metadata;
  Clone clone;

  /** Counts reads in progress and can hold them until released. */
  static final class GatedDevice extends TestingForwardingBlockDevice {
    volatile Semaphore gate;
    final AtomicInteger active = new AtomicInteger();
    final AtomicInteger maxActive = new AtomicInteger();
    final AtomicInteger waiting = new AtomicInteger();
    final AtomicInteger largestRead = new AtomicInteger();

    GatedDevice(BlockDevice inner) {
      super(inner);
    }

    /** From now on only {@code permits} more reads pass until {@link #open}. */
    void close(int permits) {
      gate = new Semaphore(permits);
    }

    void open() {
      Semaphore closed = gate;
      gate = null;
      if (closed != null) {
        closed.release(1 << 20);
      }
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
      largestRead.accumulateAndGet(dst.remaining(), Math::max);
      int now = active.incrementAndGet();
      maxActive.accumulateAndGet(now, Math::max);
      try {
        Semaphore closed = gate;
        if (closed != null) {
          waiting.incrementAndGet();
          closed.acquireUninterruptibly();
          waiting.decrementAndGet();
        }
        inner.read(offset, dst);
      } finally {
        active.decrementAndGet();
      }
    }
  }

  void setUp(int regions) {
    sourceData = new byte[regions * R];
    new Random(7).nextBytes(sourceData);
    sourceMemory = TestingMemoryBlockDevice.readOnly("src", sourceData);
    faulty = new TestingFaultyBlockDevice(sourceMemory);
    gated = new GatedDevice(faulty);
    byte[] poison = new byte[regions * R];
    Arrays.fill(poison, (byte) 0xEE);
    destination = new TestingMemoryBlockDevice("dst", poison, false, 512);
    metadata =
        new TestingMemoryCloneMetadata(
            new CloneGeometry(0, 0, sourceData.length, R, sourceData.length, poison.length));
  }

  static CloneOptions.Builder options() {
    return CloneOptions.builder("copier-test")
        .commitPeriod(Duration.ofMillis(50))
        .retryBackoff(Duration.ofMillis(1));
  }

  Clone open(CloneOptions.Builder options) throws IOException {
    return open(options, Copier.Seams.NONE);
  }

  Clone open(CloneOptions.Builder options, Copier.Seams copierSeams) throws IOException {
    clone = Clone.open(gated, destination, metadata, options.build(), copierSeams);
    return clone;
  }

  @AfterEach
  void tearDown() throws IOException {
    if (gated != null) {
      gated.open();
    }
    if (clone != null) {
      clone.close();
    }
  }

  static <T> T await(CompletableFuture<T> future) throws Exception {
    return future.get(60, TimeUnit.SECONDS);
  }

  @Test
  void copiesEveryRegionCommitsAndCutsOver() throws Exception {
    setUp(100);
    open(options().batchRegions(8).regionsInFlight(16));
    await(clone.cutOverFuture());
    assertThat(clone.state()).isEqualTo(State.CUT_OVER);
    assertThat(clone.isPassThrough()).isTrue();
    assertThat(destination.durableContents()).isEqualTo(sourceData);
    assertThat(metadata.isComplete()).isTrue();
    assertThat(metadata.isCutOver()).isTrue();
    assertThat(metadata.isClosed()).isTrue();
    assertThat(clone.copier().bytesCopied()).isEqualTo(sourceData.length);
    // Pass-through: no bitmap, no source.
    long readsBefore = sourceMemory.reads.get();
    ByteBuffer buffer = ByteBuffer.allocate(3 * R);
    clone.read(10 * R + 5, buffer);
    assertThat(buffer.array()).isEqualTo(Arrays.copyOfRange(sourceData, 10 * R + 5, 13 * R + 5));
    assertThat(sourceMemory.reads.get()).isEqualTo(readsBefore);
    CloneStatus status = clone.status();
    assertThat(status.regionsCopied()).isEqualTo(100);
    assertThat(status.percent()).isEqualTo(100.0);
  }

  @Test
  void aBatchIsCopiedInStepsOfAtMostTheCopyChunk() throws Exception {
    int regions = 3 * (Clone.COPY_CHUNK / R) + 5;
    setUp(regions);
    open(options().batchRegions(regions).regionsInFlight(regions));
    await(clone.cutOverFuture());
    assertThat(clone.copier().largestBatchRegions()).isGreaterThan(Clone.COPY_CHUNK / R);
    assertThat(gated.largestRead.get())
        .as("the copier reads the source in pieces that user reads never queue far behind")
        .isEqualTo(SourceLanes.BACKGROUND_PIECE);
    assertThat(destination.contents()).isEqualTo(sourceData);
  }

  @Test
  void batchesAreContiguousAndNoLargerThanBatchRegions() throws Exception {
    setUp(64);
    open(options().batchRegions(4).regionsInFlight(64));
    await(clone.cutOverFuture());
    Copier copier = clone.copier();
    assertThat(copier.largestBatchRegions()).isEqualTo(4);
    assertThat(copier.batches()).isEqualTo(16);
    // One source read per batch: each batch is one contiguous transfer.
    assertThat(faulty.log()).filteredOn(c -> c.op() == Op.READ).hasSize(16);
    assertThat(faulty.log())
        .filteredOn(c -> c.op() == Op.READ)
        .allSatisfy(c -> assertThat(c.length()).isEqualTo(4L * R));
  }

  @Test
  void regionsInFlightLimitHoldsAndCanBeRetunedWhileRunning() throws Exception {
    setUp(64);
    gated.close(0);
    TestingInFlightGauge gauge = new TestingInFlightGauge();
    open(options().batchRegions(1).regionsInFlight(3), Copier.Seams.NONE.withInFlightGauge(gauge));
    // Three batches are claimed; SourceLanes.BACKGROUND_PIECES of them are at the source.
    waitUntil(
        () ->
            clone.inFlight().size() == 3
                && gated.waiting.get() == Math.min(3, SourceLanes.BACKGROUND_PIECES));
    assertThat(gauge.mostRegionsInFlight()).isEqualTo(3);
    clone.copier().setRegionsInFlight(6);
    // Six batches are claimed at once; at the source only SourceLanes.BACKGROUND_PIECES of them
    // read at a time, so that a user read never queues behind more.
    waitUntil(
        () ->
            clone.inFlight().size() == 6
                && gated.waiting.get() == Math.min(6, SourceLanes.BACKGROUND_PIECES));
    gated.open();
    await(clone.cutOverFuture());
    assertThat(gated.maxActive.get()).isEqualTo(Math.min(6, SourceLanes.BACKGROUND_PIECES));
    assertThat(gauge.mostRegionsInFlight()).isEqualTo(6);
    assertThat(destination.contents()).isEqualTo(sourceData);
  }

  @Test
  void pauseStopsNewBatchesAndCommitsResumeContinues() throws Exception {
    setUp(32);
    gated.close(4);
    open(options().batchRegions(1).regionsInFlight(1).commitPeriod(Duration.ofHours(1)));
    waitUntil(() -> metadata.hydratedCount() >= 4 && gated.waiting.get() == 1);
    CompletableFuture<Void> paused =
        CompletableFuture.runAsync(
            () -> {
              try {
                clone.pause();
              } catch (IOException e) {
                throw new RuntimeException(e);
              }
            });
    waitUntil(() -> clone.copier().isPaused());
    gated.open(); // lets the batch in flight finish; pause waits for it
    await(paused);
    long copiedAtPause = metadata.hydratedCount();
    long batchesAtPause = clone.copier().batches();
    assertThat(copiedAtPause).isEqualTo(5);
    // Pause committed what was copied.
    assertThat(metadata.committedCount()).isEqualTo(copiedAtPause);
    assertThat(clone.status().paused()).isTrue();
    Thread.sleep(200); // no batch may start while paused
    assertThat(clone.copier().batches()).isEqualTo(batchesAtPause);
    assertThat(metadata.hydratedCount()).isEqualTo(copiedAtPause);
    clone.resume();
    await(clone.cutOverFuture());
    assertThat(destination.contents()).isEqualTo(sourceData);
  }

  @Test
  void tuneIsTheOneControlSurfaceAndItsPauseCommits() throws Exception {
    setUp(64);
    open(
        options()
            .batchRegions(1)
            .regionsInFlight(1)
            .bandwidth(16L * R)
            .commitPeriod(Duration.ofHours(1)));
    waitUntil(() -> metadata.hydratedCount() >= 2);

    CloneTuning paused =
        clone.tune(
            CloneTuning.NONE
                .withPaused(true)
                .withBandwidth(32L * R)
                .withRegionsInFlight(3)
                .withBatchRegions(2)
                .withCopyOnRead(true)
                .withHotRegionsFirst(false));
    assertThat(paused).isEqualTo(new CloneTuning(true, 32L * R, 3, 2, true, false));
    assertThat(clone.tuning()).isEqualTo(paused);
    long copiedAtPause = metadata.hydratedCount();
    assertThat(metadata.committedCount())
        .as("the pause committed what was copied (the periodic commit is an hour away)")
        .isEqualTo(copiedAtPause);
    assertThat(clone.status().paused()).isTrue();
    Thread.sleep(200); // no batch may start while paused
    assertThat(metadata.hydratedCount()).isEqualTo(copiedAtPause);

    assertThat(clone.tune(CloneTuning.NONE))
        .as("an empty change changes nothing")
        .isEqualTo(paused);
    assertThat(clone.tune(CloneTuning.NONE.withPaused(false).withBandwidth(0)).paused()).isFalse();
    await(clone.cutOverFuture());
    assertThat(destination.contents()).isEqualTo(sourceData);
  }

  @Test
  void aBadTuningIsRefusedNamingTheKnobBeforeAnythingChanges() throws Exception {
    setUp(16);
    open(options().noCopy(true).regionsInFlight(4).batchRegions(2));
    CloneTuning before = clone.tuning();
    assertThatThrownBy(() -> CloneTuning.NONE.withPaused(true).withBandwidth(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("bandwidth")
        .hasMessageContaining("-1");
    assertThatThrownBy(() -> CloneTuning.NONE.withRegionsInFlight(0))
        .hasMessageContaining("regions in flight");
    assertThatThrownBy(() -> CloneTuning.NONE.withBatchRegions(0))
        .hasMessageContaining("batch regions");
    assertThat(clone.tuning()).isEqualTo(before);
    assertThat(before).isEqualTo(new CloneTuning(false, 0L, 4, 2, false, true));
  }

  /** Holds every batch at the bandwidth limiter until the test lets it through. */
  static final class HeldLimiter implements Copier.Limiter {
    final Semaphore arrivals = new Semaphore(0);
    final Semaphore passes = new Semaphore(0);

    @Override
    public void acquire(TokenBucket bucket, long bytes) throws InterruptedException {
      arrivals.release();
      passes.acquire();
    }

    void letEverythingThrough() {
      passes.release(1 << 20);
    }
  }

  @Test
  void aBatchWaitingForBandwidthWhenPauseReturnsIsNotCopiedUntilResume() throws Exception {
    setUp(16);
    HeldLimiter limiter = new HeldLimiter();
    open(options().batchRegions(4).regionsInFlight(4), Copier.Seams.NONE.withLimiter(limiter));
    Copier copier = clone.copier();
    assertThat(limiter.arrivals.tryAcquire(60, TimeUnit.SECONDS))
        .as("the first batch reaches the bandwidth limiter")
        .isTrue();

    clone.pause(); // nothing is in flight yet, so pause (and its commit) returns at once
    limiter.passes.release(); // the batch got its bandwidth after pause returned
    waitUntil(() -> copier.batchesDroppedOnPause() == 1 || sourceMemory.reads.get() > 0);

    assertThat(sourceMemory.reads.get()).as("source reads after pause returned").isZero();
    assertThat(metadata.hydratedCount()).isZero();
    assertThat(clone.inFlight().size()).isZero();
    assertThat(copier.batches()).isZero();

    limiter.letEverythingThrough();
    clone.resume();
    await(clone.cutOverFuture());
    assertThat(destination.contents()).isEqualTo(sourceData);
  }

  @Test
  void tokenBucketChargesBytesAtTheConfiguredRateAndCanBeRetuned() {
    TokenBucket bucket = new TokenBucket(1 << 20);
    // A whole second's worth beyond the burst must wait about a second: 0.9 s to 1 s.
    long wait = bucket.take(1 << 20);
    assertThat(wait).isBetween(800_000_000L, 1_000_000_000L);
    // The debt carries over: the next 1 MiB waits a further second.
    assertThat(bucket.take(1 << 20)).isGreaterThan(1_700_000_000L);
    bucket.setRate(0);
    assertThat(bucket.take(1L << 40)).isZero();
    assertThatThrownBy(() -> bucket.setRate(-1)).hasMessageContaining("-1");
  }

  @Test
  void bytesGivenBackForgiveTheDebtButBuildNoCreditBeyondTheBurst() {
    TokenBucket bucket = new TokenBucket(1 << 20);
    assertThat(bucket.take(1 << 20)).as("in debt").isPositive();
    bucket.giveBack(1 << 20);
    assertThat(bucket.take(0)).as("the debt is forgiven").isZero();

    bucket.giveBack(64L << 20);
    // The burst is a tenth of a second's worth: 64 MiB given back still leave 0.5 MiB to wait for.
    assertThat(bucket.take(600 << 10)).isPositive();
  }

  @Test
  void bandwidthLimitIsAppliedToEveryBatch() throws Exception {
    setUp(16);
    open(options().batchRegions(2).bandwidth(1L << 30));
    assertThat(clone.copier().bandwidth()).isEqualTo(1L << 30);
    clone.copier().setBandwidth(256L << 10);
    assertThat(clone.copier().bandwidth()).isEqualTo(256L << 10);
    await(clone.cutOverFuture());
    assertThat(destination.contents()).isEqualTo(sourceData);
  }

  @Test
  void copyErrorsAreRetriedWithBackoffAndTheCopyCompletes() throws Exception {
    setUp(16);
    TestingFaultyBlockDevice.Fault fault = faulty.fail(Op.READ).range(5 * R, R).times(3);
    open(options().batchRegions(1).maxCopyRetries(10));
    await(clone.cutOverFuture());
    assertThat(fault.triggered()).isEqualTo(3);
    assertThat(clone.copier().copyErrors()).isEqualTo(3);
    assertThat(clone.copier().isDegraded()).isFalse();
    assertThat(destination.contents()).isEqualTo(sourceData);
  }

  @Test
  void aCopyErrorIsNoLongerShownOnceTheRetrySucceeded() throws Exception {
    setUp(16);
    TestingFaultyBlockDevice.Fault fault = faulty.fail(Op.READ).range(5 * R, R).times(2);
    open(options().batchRegions(1).maxCopyRetries(10).cutover(CloneOptions.Cutover.MANUAL));
    await(clone.copiedFuture());
    assertThat(fault.triggered()).isEqualTo(2);
    assertThat(clone.status().copyErrors()).isEqualTo(2);
    assertThat(clone.status().lastError()).isNull();
  }

  @Test
  void aFailedCommitStaysTheShownErrorWhenTheCopierStopsBecauseOfIt() throws Exception {
    setUp(16);
    gated.close(0);
    open(options().batchRegions(1).regionsInFlight(1).commitPeriod(Duration.ofHours(1)));
    waitUntil(() -> gated.waiting.get() == 1); // the copier holds region 0
    metadata.failCommits.set(1);
    assertThatThrownBy(() -> clone.write(10 * R, ByteBuffer.wrap(new byte[R]), true))
        .hasMessageContaining("injected metadata write error");
    assertThat(metadata.mode()).isEqualTo(CloneMetadata.Mode.READ_ONLY);
    // The copier's batch now fails to record region 0, and the copier stops: consequences.
    gated.open();
    clone.close();
    assertThat(clone.status().lastError()).contains("injected metadata write error");
  }

  @Test
  void pastTheErrorBudgetTheCloneIsDegradedAndStillServesIo() throws Exception {
    setUp(16);
    faulty.fail(Op.READ).range(5 * R, R).always();
    CompletableFuture<CloneStatus> degraded = new CompletableFuture<>();
    clone =
        Clone.open(
            gated, destination, metadata, options().batchRegions(1).maxCopyRetries(3).build());
    clone.addListener(
        s -> {
          if (s.degraded()) {
            degraded.complete(s);
          }
        });
    CloneStatus status = await(degraded);
    assertThat(status.copyErrors()).isGreaterThan(3);
    assertThat(status.lastError()).contains("src").contains(String.valueOf(5 * R));
    waitUntil(() -> metadata.hydratedCount() == 15);
    assertThat(clone.state()).isEqualTo(State.COPYING);
    // User I/O keeps working: reads of copied regions, writes, flushes.
    ByteBuffer buffer = ByteBuffer.allocate(R);
    clone.read(4 * R, buffer);
    assertThat(buffer.array()).isEqualTo(Arrays.copyOfRange(sourceData, 4 * R, 5 * R));
    clone.write(0, ByteBuffer.wrap(new byte[10]), true);
    // The bad region fails the requests that need it, with the source's name.
    assertThatThrownBy(() -> clone.read(5 * R, ByteBuffer.allocate(1))).hasMessageContaining("src");
    // A whole-region write needs no source: it heals the clone, which then completes.
    clone.write(5 * R, ByteBuffer.wrap(new byte[R]), false);
    await(clone.cutOverFuture());
  }

  @Test
  void userWritesDuringTheCopyAreNeverOverwrittenByStaleSourceData() throws Exception {
    setUp(256);
    byte[] model = sourceData.clone();
    open(options().batchRegions(4).regionsInFlight(16).copyOnRead(true));
    Random random = new Random(3);
    Thread[] writers = new Thread[4];
    Object modelLock = new Object();
    for (int t = 0; t < writers.length; t++) {
      // Distinct stripes per writer.
      final int stripe = t;
      long seed = random.nextLong() & ~3L | stripe;
      writers[t] =
          new Thread(
              () -> {
                Random r = new Random(seed);
                try {
                  for (int i = 0; i < 300; i++) {
                    int slot = r.nextInt(model.length / 64 / 4) * 4 + stripe;
                    int length = 1 + r.nextInt(64);
                    byte[] data = new byte[length];
                    r.nextBytes(data);
                    synchronized (modelLock) {
                      System.arraycopy(data, 0, model, slot * 64, length);
                    }
                    clone.write(slot * 64L, ByteBuffer.wrap(data), r.nextInt(20) == 0);
                  }
                } catch (IOException e) {
                  throw new RuntimeException(e);
                }
              });
      writers[t].start();
    }
    for (Thread writer : writers) {
      writer.join();
    }
    await(clone.cutOverFuture());
    assertThat(destination.contents()).isEqualTo(model);
  }

  // ------------------------------------------------------------------ cutover

  @Test
  void manualCutoverWaitsForApproval() throws Exception {
    setUp(8);
    open(options().cutover(CloneOptions.Cutover.MANUAL));
    await(clone.copiedFuture());
    assertThat(clone.state()).isEqualTo(State.COPIED);
    assertThat(clone.isPassThrough()).isFalse();
    assertThat(metadata.isComplete()).isTrue();
    assertThat(metadata.isCutOver()).isFalse();
    assertThat(clone.cutOverFuture()).isNotDone();
    // Still a full clone meanwhile.
    clone.write(0, ByteBuffer.wrap(new byte[] {1, 2, 3}), true);
    await(clone.approveCutover());
    assertThat(clone.state()).isEqualTo(State.CUT_OVER);
    assertThat(metadata.isCutOver()).isTrue();
    ByteBuffer buffer = ByteBuffer.allocate(3);
    clone.read(0, buffer);
    assertThat(buffer.array()).containsExactly(1, 2, 3);
  }

  @Test
  void failedAutomaticCutoverCompletesTheCutoverFutureWithTheError() throws Exception {
    setUp(8);
    metadata.failCutOver = true;
    open(options());
    await(clone.copiedFuture());
    assertThatThrownBy(() -> await(clone.cutOverFuture()))
        .hasMessageContaining("cutover to destination dst failed")
        .hasMessageContaining("memory-metadata")
        .hasMessageContaining("injected write error");
    assertThat(clone.state()).isEqualTo(State.COPIED);
    assertThat(clone.isPassThrough()).isFalse();
    assertThat(clone.status().lastError()).contains("cutover").contains("injected write error");
  }

  /** Holds write-zeroes requests inside the device until the test releases them. */
  static final class HeldZeroesDevice extends TestingForwardingBlockDevice {
    final Semaphore arrived = new Semaphore(0);
    final Semaphore release = new Semaphore(0);

    HeldZeroesDevice(BlockDevice inner) {
      super(inner);
    }

    @Override
    public void writeZeroes(long offset, long length) throws IOException {
      arrived.release();
      release.acquireUninterruptibly();
      super.writeZeroes(offset, length);
    }
  }

  @Test
  void closeWaitsForRequestsThatArriveAfterCutover() throws Exception {
    setUp(8);
    HeldZeroesDevice held = new HeldZeroesDevice(destination);
    clone = Clone.open(gated, held, metadata, options().build());
    await(clone.cutOverFuture());
    CompletableFuture<Void> zeroes =
        CompletableFuture.runAsync(
            () -> {
              try {
                clone.writeZeroes(0, R, false, false);
              } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
              }
            });
    assertThat(held.arrived.tryAcquire(60, TimeUnit.SECONDS)).isTrue();
    Thread closer =
        new Thread(
            () -> {
              try {
                clone.close();
              } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
              }
            });
    closer.start();
    // Either close finished (closing the destination under the request) or it waits at the gate.
    waitUntil(() -> !closer.isAlive() || closer.getState() == Thread.State.WAITING);
    held.release.release();
    await(zeroes); // the destination was still open for the whole request
    closer.join();
    assertThat(clone.state()).isEqualTo(State.CLOSED);
    assertThat(destination.contents()).startsWith(new byte[R]);
    assertThatThrownBy(() -> clone.writeZeroes(0, R, false, false)).hasMessageContaining("closed");
  }

  @Test
  void cloneOpenedOnCompleteMetadataStartsAsPassThrough() throws Exception {
    setUp(8);
    open(options().cutover(CloneOptions.Cutover.MANUAL));
    await(clone.copiedFuture());
    TestingMemoryCloneMetadata complete = metadata.reopenCommitted();
    clone.close();
    assertThat(complete.isComplete()).isTrue();

    // Auto: pass-through at once, without copying or reading the source.
    metadata = complete.reopenCommitted();
    destination = new TestingMemoryBlockDevice("dst", destination.contents(), false, 512);
    long readsBefore = sourceMemory.reads.get();
    clone = Clone.open(gated, destination, metadata, options().build());
    assertThat(clone.state()).isEqualTo(State.CUT_OVER);
    assertThat(clone.isPassThrough()).isTrue();
    assertThat(clone.cutOverFuture()).isDone();
    assertThat(sourceMemory.reads.get()).isEqualTo(readsBefore);
    clone.close();

    // Manual: copied, waiting for approval.
    metadata = complete.reopenCommitted();
    destination = new TestingMemoryBlockDevice("dst", destination.contents(), false, 512);
    clone =
        Clone.open(
            gated, destination, metadata, options().cutover(CloneOptions.Cutover.MANUAL).build());
    assertThat(clone.state()).isEqualTo(State.COPIED);
    assertThat(clone.copiedFuture()).isDone();
    await(clone.approveCutover());
    assertThat(clone.isPassThrough()).isTrue();
  }

  @Test
  void resumesFromCommittedMetadataAfterACrash() throws Exception {
    setUp(64);
    gated.close(20);
    open(options().batchRegions(1).regionsInFlight(1).commitPeriod(Duration.ofHours(1)));
    waitUntil(() -> metadata.hydratedCount() >= 10);
    clone.commit();
    long committed = metadata.committedCount();
    waitUntil(() -> gated.waiting.get() == 1);
    // Crash: destination loses unflushed writes, metadata goes back to its last commit.
    TestingMemoryCloneMetadata afterCrash = metadata.reopenCommitted();
    destination.crash();
    TestingMemoryBlockDevice survivingDestination =
        new TestingMemoryBlockDevice("dst", destination.durableContents(), false, 512);
    gated.open();
    clone.close();
    metadata = afterCrash;
    destination = survivingDestination;
    TestingMemoryBlockDevice reopenedSource = TestingMemoryBlockDevice.readOnly("src", sourceData);
    clone = Clone.open(reopenedSource, destination, metadata, options().batchRegions(1).build());
    await(clone.cutOverFuture());
    // Only what was not committed is copied again.
    assertThat(reopenedSource.reads.get()).isEqualTo(64 - committed);
    assertThat(destination.contents()).isEqualTo(sourceData);
  }

  @Test
  void noCopyCopiesOnlyWhatUsersWrite() throws Exception {
    setUp(4);
    open(options().noCopy(true));
    clone.write(0, ByteBuffer.wrap(new byte[R]), false);
    clone.flush();
    assertThat(clone.copier().batches()).isZero();
    assertThat(metadata.hydratedCount()).isEqualTo(1);
    assertThat(clone.state()).isEqualTo(State.COPYING);
    clone.discard(R, 3 * R, false);
    await(clone.cutOverFuture());
    assertThat(sourceMemory.reads.get()).isZero();
  }

  // ------------------------------------------------------------------ two clones

  @Test
  void twoClonesInOneProcessBothComplete() throws Exception {
    setUp(64);
    Clone first = open(options().batchRegions(4));
    TestingMemoryBlockDevice secondDestination = new TestingMemoryBlockDevice("dst2", 64 * R);
    TestingMemoryCloneMetadata secondMetadata =
        new TestingMemoryCloneMetadata(
            new CloneGeometry(0, 0, 64 * R, R, sourceData.length, 64 * R));
    try (Clone second =
        Clone.open(
            TestingMemoryBlockDevice.readOnly("src2", sourceData),
            secondDestination,
            secondMetadata,
            options().name("second").batchRegions(4).build())) {
      await(first.cutOverFuture());
      await(second.cutOverFuture());
      assertThat(secondDestination.contents()).isEqualTo(sourceData);
      assertThat(destination.contents()).isEqualTo(sourceData);
    }
  }

  interface Condition {
    boolean holds() throws Exception;
  }

  static void waitUntil(Condition condition) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!condition.holds()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("condition not reached within 30 s");
      }
      Thread.sleep(2);
    }
  }
}
