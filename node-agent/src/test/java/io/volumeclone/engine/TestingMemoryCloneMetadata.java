package io.volumeclone.engine;

import java.io.IOException;
import java.util.BitSet;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Clone metadata held in memory, for unit tests of the clone target. It keeps the bitmap as of the
 * last commit apart from the live one, so {@link #reopenCommitted()} shows what a crash would
 * leave. Commits can be made to fail, which moves the mode to READ_ONLY (or FAIL when {@link
 * #failReload} is set) and keeps the live bitmap, as the real metadata does.
 */
public final class TestingMemoryCloneMetadata implements CloneMetadata {

  private final CloneGeometry geometry;
  private final UUID uuid;
  private final int regions;
  private final BitSet live;
  private BitSet committed;
  private volatile Mode mode = Mode.WRITE;
  private boolean complete;
  private boolean cutOver;
  private boolean changed;
  private long transactionId;
  private boolean closed;

  /** Commits that will fail from now on (0 = none). */
  public final AtomicInteger failCommits = new AtomicInteger();

  /** When true, a failed commit's rollback fails too and the mode becomes FAIL. */
  public volatile boolean failReload;

  /** When true, recording the cutover fails with an I/O error. */
  public volatile boolean failCutOver;

  public final AtomicInteger commits = new AtomicInteger();
  public final AtomicInteger destinationFlushesByCommit = new AtomicInteger();

  public TestingMemoryCloneMetadata(CloneGeometry geometry) {
    this(geometry, UUID.randomUUID(), new BitSet(), false, false, 0);
  }

  private TestingMemoryCloneMetadata(
      CloneGeometry geometry,
      UUID uuid,
      BitSet committed,
      boolean complete,
      boolean cutOver,
      long transactionId) {
    this.geometry = geometry;
    this.uuid = uuid;
    this.regions = Math.toIntExact(geometry.regionCount());
    this.live = (BitSet) committed.clone();
    this.committed = (BitSet) committed.clone();
    this.complete = complete;
    this.cutOver = cutOver;
    this.transactionId = transactionId;
  }

  /** The metadata a restart after a crash would find: the last committed state. */
  public synchronized TestingMemoryCloneMetadata reopenCommitted() {
    return new TestingMemoryCloneMetadata(
        geometry, uuid, committed, complete, cutOver, transactionId);
  }

  /** Test setup: marks regions copied and committed, as if a previous run had copied them. */
  public synchronized TestingMemoryCloneMetadata withCommitted(long first, long count) {
    live.set((int) first, (int) (first + count));
    committed.set((int) first, (int) (first + count));
    return this;
  }

  public synchronized boolean isCommittedHydrated(long region) {
    return committed.get((int) region);
  }

  @Override
  public String deviceName() {
    return "memory-metadata";
  }

  @Override
  public UUID uuid() {
    return uuid;
  }

  @Override
  public CloneGeometry geometry() {
    return geometry;
  }

  @Override
  public Mode mode() {
    return mode;
  }

  @Override
  public synchronized boolean isHydrated(long region) {
    return live.get((int) region);
  }

  @Override
  public synchronized boolean isRangeHydrated(long first, long count) {
    int next = live.nextClearBit((int) first);
    return next >= first + count;
  }

  @Override
  public synchronized long nextUnhydrated(long from) {
    int next = live.nextClearBit((int) from);
    return next >= regions ? -1 : next;
  }

  @Override
  public synchronized long nextHydrated(long from) {
    int next = live.nextSetBit((int) from);
    return next < 0 || next >= regions ? -1 : next;
  }

  @Override
  public synchronized void setHydrated(long first, long count) throws BlockIoException {
    if (mode != Mode.WRITE) {
      throw new BlockIoException(
          BlockIoException.Kind.READ_ONLY,
          deviceName(),
          "set copied",
          first,
          "metadata is " + mode);
    }
    if (first < 0 || count < 0 || first + count > regions) {
      throw new IllegalArgumentException("regions " + first + "+" + count + " out of range");
    }
    live.set((int) first, (int) (first + count));
    changed = true;
  }

  @Override
  public synchronized long hydratedCount() {
    return live.cardinality();
  }

  @Override
  public synchronized long committedCount() {
    return committed.cardinality();
  }

  @Override
  public synchronized long transactionId() {
    return transactionId;
  }

  @Override
  public synchronized void commit(IoAction flushDestination) throws IOException {
    commit(flushDestination, false);
  }

  private void commit(IoAction flushDestination, boolean markComplete) throws IOException {
    if (closed) {
      throw new IOException("metadata closed");
    }
    if (mode != Mode.WRITE) {
      throw new BlockIoException(
          BlockIoException.Kind.READ_ONLY, deviceName(), "commit", 0, "metadata is " + mode);
    }
    if (!changed && !markComplete) {
      return;
    }
    BitSet snapshot = (BitSet) live.clone();
    try {
      flushDestination.run();
    } catch (IOException | RuntimeException e) {
      abort("flush destination", e);
      throw e;
    }
    destinationFlushesByCommit.incrementAndGet();
    if (failCommits.get() > 0) {
      failCommits.decrementAndGet();
      mode = failReload ? Mode.FAIL : Mode.READ_ONLY;
      throw new BlockIoException(
          BlockIoException.Kind.IO, deviceName(), "commit", 4096, "injected metadata write error");
    }
    committed = snapshot;
    changed = false;
    transactionId++;
    commits.incrementAndGet();
    if (markComplete) {
      complete = true;
    }
  }

  @Override
  public synchronized void abort(String operation, Throwable cause) {
    if (mode == Mode.WRITE) {
      mode = failReload ? Mode.FAIL : Mode.READ_ONLY;
    }
  }

  @Override
  public synchronized void markComplete(IoAction flushDestination) throws IOException {
    if (live.cardinality() != regions) {
      throw new IllegalStateException("not every region is copied");
    }
    commit(flushDestination, true);
  }

  @Override
  public synchronized void markCutOver() throws IOException {
    if (!complete) {
      throw new IllegalStateException("not complete");
    }
    if (failCutOver) {
      throw new BlockIoException(
          BlockIoException.Kind.IO, deviceName(), "mark cut over", 0, "injected write error");
    }
    cutOver = true;
  }

  @Override
  public synchronized boolean isComplete() {
    return complete;
  }

  @Override
  public synchronized boolean isCutOver() {
    return cutOver;
  }

  public synchronized boolean isClosed() {
    return closed;
  }

  @Override
  public synchronized void close() {
    closed = true;
  }
}
