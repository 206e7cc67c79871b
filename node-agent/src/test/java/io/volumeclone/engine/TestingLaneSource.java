package io.volumeclone.engine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A source that tells the background copier's reads (made on its {@code copier-} threads) from user
 * reads (every other thread), counts both, and can hold either kind on a latch: tests show a user
 * request finishing while the copier's reads are stuck at the source, and the copier issuing
 * nothing while a user read is at the source. As a destination it holds and measures the copier's
 * writes the same way.
 */
public final class TestingLaneSource extends TestingForwardingBlockDevice {

  private volatile CountDownLatch copierGate = new CountDownLatch(0);
  private volatile CountDownLatch userGate = new CountDownLatch(0);
  private final AtomicInteger copierReadsStarted = new AtomicInteger();
  private final AtomicInteger copierReadsHeld = new AtomicInteger();
  private final AtomicInteger userReadsHeld = new AtomicInteger();
  private final List<long[]> userReads = new ArrayList<>();
  private volatile CountDownLatch copierWriteGate = new CountDownLatch(0);
  private final AtomicInteger copierWritesHeld = new AtomicInteger();
  private final AtomicInteger copierWritesActive = new AtomicInteger();
  private final AtomicInteger mostCopierWritesAtOnce = new AtomicInteger();
  private final AtomicInteger largestCopierWrite = new AtomicInteger();

  public TestingLaneSource(BlockDevice inner) {
    super(inner);
  }

  private static boolean isCopier() {
    return Thread.currentThread().getName().startsWith("copier-");
  }

  /** Holds every copier read from now on until {@link #releaseCopier()}. */
  public void holdCopier() {
    copierGate = new CountDownLatch(1);
  }

  public void releaseCopier() {
    copierGate.countDown();
  }

  /** Holds every user read from now on until {@link #releaseUsers()}. */
  public void holdUsers() {
    userGate = new CountDownLatch(1);
  }

  public void releaseUsers() {
    userGate.countDown();
  }

  /** Copier reads that reached this device (held ones included). */
  public int copierReadsStarted() {
    return copierReadsStarted.get();
  }

  /** Copier reads waiting at the gate right now. */
  public int copierReadsHeld() {
    return copierReadsHeld.get();
  }

  /** User reads waiting at the gate right now. */
  public int userReadsHeld() {
    return userReadsHeld.get();
  }

  /** Every user read so far as {offset, length}. */
  public synchronized List<long[]> userReads() {
    return new ArrayList<>(userReads);
  }

  /** Holds every copier write from now on until {@link #releaseCopierWrites()}. */
  public void holdCopierWrites() {
    copierWriteGate = new CountDownLatch(1);
  }

  public void releaseCopierWrites() {
    copierWriteGate.countDown();
  }

  /** Copier writes waiting at the gate right now. */
  public int copierWritesHeld() {
    return copierWritesHeld.get();
  }

  /** The most copier writes that were at this device at once. */
  public int mostCopierWritesAtOnce() {
    return mostCopierWritesAtOnce.get();
  }

  /** The largest copier write in bytes. */
  public int largestCopierWrite() {
    return largestCopierWrite.get();
  }

  @Override
  public void write(long offset, ByteBuffer src) throws IOException {
    if (!isCopier()) {
      super.write(offset, src);
      return;
    }
    largestCopierWrite.accumulateAndGet(src.remaining(), Math::max);
    mostCopierWritesAtOnce.accumulateAndGet(copierWritesActive.incrementAndGet(), Math::max);
    try {
      pass(copierWriteGate, copierWritesHeld);
      super.write(offset, src);
    } finally {
      copierWritesActive.decrementAndGet();
    }
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    if (isCopier()) {
      copierReadsStarted.incrementAndGet();
      pass(copierGate, copierReadsHeld);
    } else {
      synchronized (this) {
        userReads.add(new long[] {offset, dst.remaining()});
      }
      pass(userGate, userReadsHeld);
    }
    super.read(offset, dst);
  }

  private static void pass(CountDownLatch gate, AtomicInteger held) throws IOException {
    held.incrementAndGet();
    try {
      if (!gate.await(60, TimeUnit.SECONDS)) {
        throw new IOException("test gate never opened");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted at the test gate", e);
    } finally {
      held.decrementAndGet();
    }
  }
}
