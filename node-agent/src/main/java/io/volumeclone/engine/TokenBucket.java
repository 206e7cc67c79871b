package io.volumeclone.engine;

/**
 * A bandwidth limit in bytes per second. Takes may run into debt (a batch larger than the burst is
 * allowed) and the taker then sleeps the debt off, so the long-run rate holds without splitting
 * batches. A rate of 0 means unlimited. The rate can be changed at any time, and a change ends the
 * sleep of a taker in debt: at a low rate a batch's debt is tens of seconds, and a user who raises
 * the bandwidth (or lifts it) must not wait those out at the old rate.
 */
public final class TokenBucket {

  private long bytesPerSecond;
  private double tokens;
  private long lastRefillNanos;
  private long rateChanges;

  public TokenBucket(long bytesPerSecond) {
    setRate(bytesPerSecond);
  }

  public synchronized void setRate(long bytesPerSecond) {
    if (bytesPerSecond < 0) {
      throw new IllegalArgumentException("bandwidth must be >= 0, got " + bytesPerSecond);
    }
    this.bytesPerSecond = bytesPerSecond;
    this.tokens = 0;
    this.lastRefillNanos = System.nanoTime();
    rateChanges++;
    notifyAll();
  }

  public synchronized long rate() {
    return bytesPerSecond;
  }

  /**
   * Takes {@code bytes} and returns how long the caller must wait, in nanoseconds, before using
   * them (0 when unlimited or within the burst).
   */
  public synchronized long take(long bytes) {
    if (bytesPerSecond == 0) {
      return 0;
    }
    long now = System.nanoTime();
    tokens = Math.min(burst(), tokens + (now - lastRefillNanos) * (bytesPerSecond / 1e9));
    lastRefillNanos = now;
    tokens -= bytes;
    return tokens >= 0 ? 0 : (long) (-tokens * 1e9 / bytesPerSecond);
  }

  /**
   * Gives back {@code bytes} taken but not used (a batch's holes, which were never read), up to the
   * burst: the debt they ran into is forgiven, no credit beyond the burst is built up.
   */
  public synchronized void giveBack(long bytes) {
    if (bytesPerSecond == 0 || bytes <= 0) {
      return;
    }
    tokens = Math.min(burst(), tokens + bytes);
  }

  private double burst() {
    return Math.max(bytesPerSecond / 10.0, 1);
  }

  /**
   * Takes {@code bytes} and sleeps until they may be used, or until the rate is changed: the new
   * rate starts from an empty bucket, so the debt run into at the old one is forgiven.
   */
  public synchronized void acquire(long bytes) throws InterruptedException {
    long waitNanos = take(bytes);
    long deadline = System.nanoTime() + waitNanos;
    long changes = rateChanges;
    while (waitNanos > 0 && rateChanges == changes) {
      java.util.concurrent.TimeUnit.NANOSECONDS.timedWait(this, waitNanos);
      waitNanos = deadline - System.nanoTime();
    }
  }
}
