package io.volumeclone.engine;

import io.volumeclone.engine.CloneMetadata.Mode;
import java.io.IOException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The background copier of one {@link Clone} (dm-clone's background hydration).
 *
 * <p>Design note. One dispatcher thread walks a scan cursor over the bitmap ({@link
 * CloneMetadata#nextUnhydrated}), wrapping around until nothing is left. Each step forms a batch of
 * up to {@code batchRegions} contiguous uncopied regions, pays for its bytes at this clone's token
 * bucket (the agents of one node share their budget through {@code NodeBandwidthShare}, which sets
 * that bucket's rate; the bytes of the source's holes, which are never read, are given back once
 * the batch is copied), claims the regions in the clone's in-flight map (stopping at the first
 * region someone else owns) and hands the batch to a worker, which reads it from the source and
 * writes it to the destination in large aligned direct buffers. At most {@code regionsInFlight}
 * regions are in flight; while user requests are being served only one batch is, so the copier
 * yields to the consumer. A failed batch is released, counted and retried after an exponential
 * backoff when the cursor comes round again; past the error budget the clone reports itself
 * degraded and keeps trying. Before each scan step the copier looks at the newest user read of an
 * uncopied region ({@link ReadHints}) and copies up to {@link #HINTED_BATCH_BYTES} from there
 * instead, at most {@link #HINTED_BATCHES_PER_SCAN} scan batches' worth of regions in a row, so hot
 * regions come first and the scan still ends. Bandwidth, batch size, regions in flight, hot regions
 * first and pause can all be changed while it runs.
 */
final class Copier implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(Copier.class);
  private static final long MAX_BACKOFF_NANOS = TimeUnit.SECONDS.toNanos(10);

  /**
   * Regions copied from read hints, in batches of the scan's size, before the scan gets its next
   * batch: at least a quarter of the copy follows the scan, so a consumer reading new places all
   * the time slows the end of the copy by at most four times, never stops it.
   */
  static final int HINTED_BATCHES_PER_SCAN = 3;

  /**
   * The most a batch started at a hint covers, from the hinted region on: the neighbourhood a read
   * suggests (a readahead's worth), not a whole scan batch of regions nobody asked for.
   */
  static final long HINTED_BATCH_BYTES = 1 << 20;

  private final Clone clone;
  private final CloneMetadata metadata;
  private final CloneGeometry geometry;
  private final String name;
  private final int errorBudget;
  private final long baseBackoffNanos;
  private final TokenBucket bandwidth;
  private final Limiter limiter;
  private final InFlightGauge inFlightGauge;

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private long regionsInFlightNow;
  private volatile int regionsInFlight;
  private volatile int batchRegions;
  private volatile boolean paused;
  private volatile boolean hotRegionsFirst;
  private volatile boolean stopping;
  private volatile boolean started;
  private volatile long retryAtNanos;
  private volatile boolean degraded;

  /** The last batch failure reported to the clone, cleared there when a batch succeeds. */
  private volatile String transientError;

  private final AtomicInteger consecutiveFailures = new AtomicInteger();
  private final AtomicLong copyErrors = new AtomicLong();
  private final AtomicLong bytesCopied = new AtomicLong();
  private final AtomicLong batches = new AtomicLong();
  private final AtomicLong hintedBatches = new AtomicLong();
  private final AtomicLong bandwidthCharged = new AtomicLong();
  private final AtomicLong largestBatch = new AtomicLong();
  private final AtomicLong droppedOnPause = new AtomicLong();
  private long rateSampleNanos = System.nanoTime();
  private long rateSampleBytes;
  private long rate;

  private Thread dispatcher;
  private final ExecutorService workers;

  Copier(Clone clone, CloneOptions options, Seams seams) {
    this.clone = clone;
    this.metadata = clone.metadata();
    this.geometry = clone.geometry();
    this.name = options.name();
    this.errorBudget = options.maxCopyRetries();
    this.baseBackoffNanos = options.retryBackoff().toNanos();
    this.bandwidth = new TokenBucket(options.bandwidth());
    this.regionsInFlight = options.regionsInFlight();
    this.batchRegions = options.batchRegions();
    this.paused = options.startPaused();
    this.hotRegionsFirst = options.hotRegionsFirst();
    this.limiter = seams.limiter();
    this.inFlightGauge = seams.inFlightGauge();
    AtomicInteger threadNumber = new AtomicInteger();
    this.workers =
        new ThreadPoolExecutor(
            0,
            Integer.MAX_VALUE,
            30,
            TimeUnit.SECONDS,
            new SynchronousQueue<>(),
            r -> {
              Thread t = new Thread(r, "copier-" + name + "-" + threadNumber.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
  }

  static void checkTuning(long bandwidth, int regionsInFlight, int batchRegions) {
    if (bandwidth < 0) {
      throw new IllegalArgumentException(
          "bandwidth must be >= 0 (0 = unlimited), got " + bandwidth);
    }
    if (regionsInFlight < 1) {
      throw new IllegalArgumentException("regions in flight must be >= 1, got " + regionsInFlight);
    }
    if (batchRegions < 1) {
      throw new IllegalArgumentException("batch regions must be >= 1, got " + batchRegions);
    }
  }

  /**
   * How a batch pays for its bytes at this clone's token bucket before it is claimed: {@link
   * TokenBucket#acquire} unless the clone was opened with other {@link Seams}.
   */
  @FunctionalInterface
  interface Limiter {
    void acquire(TokenBucket bucket, long bytes) throws InterruptedException;
  }

  /** Told the number of regions in flight each time it changes, under the copier's lock. */
  @FunctionalInterface
  interface InFlightGauge {
    void regionsInFlight(long regions);
  }

  /**
   * What a clone's copier is built with besides its options (package-private): where a batch pays
   * for bandwidth, and who watches the regions in flight. Tests pass a limiter that holds batches,
   * to make races with {@link #pause()} deterministic, and a gauge that records the most regions in
   * flight at once.
   */
  record Seams(Limiter limiter, InFlightGauge inFlightGauge) {
    static final Seams NONE = new Seams(TokenBucket::acquire, regions -> {});

    Seams withLimiter(Limiter replacement) {
      return new Seams(replacement, inFlightGauge);
    }

    Seams withInFlightGauge(InFlightGauge replacement) {
      return new Seams(limiter, replacement);
    }
  }

  synchronized void start() {
    if (started || stopping) {
      return;
    }
    started = true;
    dispatcher = new Thread(this::dispatch, "copier-" + name);
    dispatcher.setDaemon(true);
    dispatcher.start();
  }

  // ---------------------------------------------------------------- tuning

  /** Bytes per second for this clone, 0 for unlimited. */
  public void setBandwidth(long bytesPerSecond) {
    checkTuning(bytesPerSecond, 1, 1);
    bandwidth.setRate(bytesPerSecond);
  }

  public long bandwidth() {
    return bandwidth.rate();
  }

  public void setRegionsInFlight(int regions) {
    checkTuning(0, regions, 1);
    regionsInFlight = regions;
    signal();
  }

  public int regionsInFlight() {
    return regionsInFlight;
  }

  public void setBatchRegions(int regions) {
    checkTuning(0, 1, regions);
    batchRegions = regions;
    signal();
  }

  public int batchRegions() {
    return batchRegions;
  }

  /** Whether the copier copies the regions that user reads hint at before its scan. */
  public void setHotRegionsFirst(boolean enabled) {
    hotRegionsFirst = enabled;
  }

  public boolean hotRegionsFirst() {
    return hotRegionsFirst;
  }

  /**
   * Stops dispatching new batches and waits for the ones in flight. Once it returns no copy starts
   * until {@link #resume()}, not even one that was waiting for bandwidth.
   */
  public void pause() {
    paused = true;
    awaitBatchesInFlight();
  }

  public void resume() {
    paused = false;
    signal();
  }

  public boolean isPaused() {
    return paused;
  }

  // ---------------------------------------------------------------- status

  public boolean isDegraded() {
    return degraded;
  }

  public long copyErrors() {
    return copyErrors.get();
  }

  /** Bytes copied by the background copier since the clone was opened. */
  public long bytesCopied() {
    return bytesCopied.get();
  }

  public long batches() {
    return batches.get();
  }

  /**
   * Bytes this clone's bandwidth limit has been charged for, less what copied batches gave back for
   * their holes: the source bytes read by the copier, plus the batches that failed or were dropped.
   */
  public long bandwidthCharged() {
    return bandwidthCharged.get();
  }

  /** Batches the copier started at a region a user read hinted at. */
  public long hintedBatches() {
    return hintedBatches.get();
  }

  public long largestBatchRegions() {
    return largestBatch.get();
  }

  /** Batches formed but not copied because a pause or stop came while they waited for bandwidth. */
  long batchesDroppedOnPause() {
    return droppedOnPause.get();
  }

  /** Background copy rate over the last second or more. */
  public synchronized long bytesPerSecond() {
    long now = System.nanoTime();
    long elapsed = now - rateSampleNanos;
    if (elapsed >= 1_000_000_000L) {
      long bytes = bytesCopied.get();
      rate = (long) ((bytes - rateSampleBytes) * 1e9 / elapsed);
      rateSampleBytes = bytes;
      rateSampleNanos = now;
    }
    return rate;
  }

  // ---------------------------------------------------------------- the dispatcher

  private void dispatch() {
    long regionCount = geometry.regionCount();
    long cursor = 0;
    boolean dispatchedSinceWrap = false;
    long hintedSinceScan = 0;
    long hintedBatchRegions = Math.max(1, HINTED_BATCH_BYTES / geometry.regionSize());
    try {
      while (!stopping) {
        waitForCapacity();
        if (stopping) {
          break;
        }
        if (metadata.mode() != Mode.WRITE) {
          log.error(
              "clone {}: background copy stopped: metadata {} is {}",
              name,
              metadata.deviceName(),
              metadata.mode());
          clone.reportErrorUnlessOneIsShown(
              "background copy stopped: metadata "
                  + metadata.deviceName()
                  + " is "
                  + metadata.mode());
          break;
        }
        long waitNanos = retryAtNanos - System.nanoTime();
        if (waitNanos > 0) {
          sleepInterruptibly(Math.min(waitNanos, 50_000_000L));
          continue;
        }
        long hinted =
            hintedSinceScan < (long) HINTED_BATCHES_PER_SCAN * batchRegions ? nextHint() : -1;
        long first = hinted >= 0 ? hinted : metadata.nextUnhydrated(cursor);
        if (first < 0) {
          if (cursor == 0) {
            waitForNoneInFlight();
            if (metadata.nextUnhydrated(0) < 0) {
              clone.scheduleCompletion();
              break;
            }
          }
          if (!dispatchedSinceWrap) {
            // Only regions owned by user requests or our own failed-and-waiting batches are
            // left: wait for something to change instead of spinning.
            awaitChange(1_000_000L);
          }
          cursor = 0;
          dispatchedSinceWrap = false;
          continue;
        }
        if (hinted < 0 && clone.inFlight().isInFlight(first)) {
          cursor = first + 1;
          continue;
        }
        long limit = hinted >= 0 ? Math.min(batchLimit(), hintedBatchRegions) : batchLimit();
        long stop = Math.min(first + limit, regionCount);
        long nextCopied = first + 1 < stop ? metadata.nextHydrated(first + 1) : -1;
        if (nextCopied >= 0 && nextCopied < stop) {
          stop = nextCopied;
        }
        long end = first + 1;
        while (end < stop && !clone.inFlight().isInFlight(end)) {
          end++;
        }
        long bytes =
            geometry.regionStart(end - 1)
                + geometry.regionLength(end - 1)
                - geometry.regionStart(first);
        limiter.acquire(bandwidth, bytes);
        bandwidthCharged.addAndGet(bytes);
        if (stopping) {
          break;
        }
        long count = claim(first, end);
        if (count == 0) {
          if (hinted < 0) {
            cursor = first + 1;
          }
          continue;
        }
        if (!submit(first, count, bytes)) {
          // Paused while this batch waited at the limiter: it is dropped, and copied from the
          // same cursor after resume (a hinted one when it is read again). Its tokens are not
          // given back; the limits run at most one batch slow, never fast.
          continue;
        }
        if (hinted >= 0) {
          hintedBatches.incrementAndGet();
          hintedSinceScan += count;
        } else {
          cursor = first + count;
          hintedSinceScan = 0;
        }
        dispatchedSinceWrap = true;
      }
    } catch (InterruptedException e) {
      // close() interrupts a dispatcher sleeping on bandwidth or backoff.
    } catch (RuntimeException e) {
      clone.reportError("background copy stopped by an unexpected error: " + e);
      log.error("clone {}: background copy stopped by an unexpected error", name, e);
    }
  }

  /**
   * The newest hinted region that is still uncopied and not in flight, or -1 (always -1 while hot
   * regions first is off; hints that are copied by now are dropped).
   */
  private long nextHint() {
    if (!hotRegionsFirst) {
      return -1;
    }
    ReadHints hints = clone.readHints();
    for (long region = hints.takeNewest(); region >= 0; region = hints.takeNewest()) {
      if (!metadata.isHydrated(region) && !clone.inFlight().isInFlight(region)) {
        return region;
      }
    }
    return -1;
  }

  private int batchLimit() {
    lock.lock();
    try {
      long room = regionsInFlight - regionsInFlightNow;
      return (int) Math.max(1, Math.min(batchRegions, room));
    } finally {
      lock.unlock();
    }
  }

  private long claim(long first, long end) {
    return clone.inFlight().claimBackgroundRun(first, end, metadata);
  }

  /**
   * Hands a claimed batch to a worker, or releases its claims and returns false when the copier was
   * paused or stopped since the batch was formed. The check and the count of regions in flight
   * change under one lock: {@link #pause()} sets the flag, then waits for that count, so a batch
   * either sees the pause or is waited for by it.
   */
  private boolean submit(long first, long count, long charged) {
    boolean accepted;
    lock.lock();
    try {
      if (paused || stopping) {
        accepted = false;
      } else {
        accepted = true;
        regionsInFlightNow += count;
        inFlightGauge.regionsInFlight(regionsInFlightNow);
      }
    } finally {
      lock.unlock();
    }
    if (!accepted) {
      clone.inFlight().release(first, count);
      droppedOnPause.incrementAndGet();
      return false;
    }
    largestBatch.accumulateAndGet(count, Math::max);
    try {
      workers.execute(() -> copyBatch(first, count, charged));
    } catch (RuntimeException e) {
      finishBatch(first, count);
      throw e;
    }
    return true;
  }

  private void copyBatch(long first, long count, long charged) {
    try {
      Clone.BackgroundCopy copy =
          clone.copyInBackground(
              first,
              count,
              () -> {
                // The copy worked: a transient error shown from an earlier batch is over. Cleared
                // before the regions are marked, so the status is clean by the time the last mark
                // completes the copy.
                String cleared = transientError;
                if (cleared != null) {
                  transientError = null;
                  clone.clearError(cleared);
                }
              });
      // The bucket was charged for the whole batch before anyone knew where its holes are; what
      // was not read from the source goes back, so a sparse source copies at the limit's pace
      // of data, not of address space.
      long unread = charged - copy.read();
      bandwidth.giveBack(unread);
      bandwidthCharged.addAndGet(-unread);
      bytesCopied.addAndGet(copy.written());
      batches.incrementAndGet();
      consecutiveFailures.set(0);
    } catch (IOException | RuntimeException e) {
      if (metadata.mode() != Mode.WRITE) {
        // Most likely the consequence of the metadata failure the clone already reported.
        clone.reportErrorUnlessOneIsShown(e.getMessage());
      } else {
        recordFailure(first, count, e);
      }
    } finally {
      finishBatch(first, count);
    }
  }

  private void recordFailure(long first, long count, Exception e) {
    long errors = copyErrors.incrementAndGet();
    int inARow = consecutiveFailures.incrementAndGet();
    long backoff = Math.min(MAX_BACKOFF_NANOS, baseBackoffNanos << Math.min(inARow - 1, 30));
    retryAtNanos = System.nanoTime() + backoff;
    String error = String.valueOf(e.getMessage());
    transientError = error;
    clone.reportError(error);
    log.warn(
        "clone {}: copy of regions {}..{} (clone offset {}) failed (error {} of budget {}),"
            + " retrying in {} ms: {}",
        name,
        first,
        first + count - 1,
        geometry.regionStart(first),
        errors,
        errorBudget,
        backoff / 1_000_000,
        e.getMessage());
    if (errors > errorBudget && !degraded) {
      degraded = true;
      log.error(
          "clone {}: {} copy errors, past the budget of {}: clone is degraded; still serving I/O"
              + " and retrying",
          name,
          errors,
          errorBudget);
      clone.fireStatus();
    }
  }

  private void finishBatch(long first, long count) {
    clone.inFlight().release(first, count);
    lock.lock();
    try {
      regionsInFlightNow -= count;
      inFlightGauge.regionsInFlight(regionsInFlightNow);
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  private void waitForCapacity() throws InterruptedException {
    lock.lock();
    try {
      while (!stopping) {
        if (paused) {
          changed.await(100, TimeUnit.MILLISECONDS);
        } else if (regionsInFlightNow >= regionsInFlight) {
          changed.await(100, TimeUnit.MILLISECONDS);
        } else if (regionsInFlightNow > 0 && clone.userIoInFlight() > 0) {
          // Yield to the consumer: one batch at a time while user requests are served.
          changed.await(1, TimeUnit.MILLISECONDS);
        } else {
          return;
        }
      }
    } finally {
      lock.unlock();
    }
  }

  /** Waits, ignoring interrupts, until every submitted batch has finished. */
  private void awaitBatchesInFlight() {
    lock.lock();
    try {
      while (regionsInFlightNow > 0) {
        changed.awaitUninterruptibly();
      }
    } finally {
      lock.unlock();
    }
  }

  private void waitForNoneInFlight() throws InterruptedException {
    lock.lock();
    try {
      while (regionsInFlightNow > 0 && !stopping) {
        changed.await(100, TimeUnit.MILLISECONDS);
      }
    } finally {
      lock.unlock();
    }
  }

  private void awaitChange(long nanos) throws InterruptedException {
    lock.lock();
    try {
      changed.awaitNanos(nanos);
    } finally {
      lock.unlock();
    }
  }

  private static void sleepInterruptibly(long nanos) throws InterruptedException {
    Thread.sleep(nanos / 1_000_000, (int) (nanos % 1_000_000));
  }

  private void signal() {
    lock.lock();
    try {
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /** Stops the dispatcher and waits for batches in flight. Does not commit. */
  @Override
  public void close() {
    Thread thread;
    synchronized (this) {
      stopping = true;
      thread = dispatcher;
    }
    if (thread != null && thread != Thread.currentThread()) {
      thread.interrupt();
      boolean interrupted = false;
      while (thread.isAlive()) {
        try {
          thread.join();
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
    awaitBatchesInFlight();
    workers.shutdown();
  }
}
