package io.volumeclone.engine;

/**
 * User reads go first at the source (issue 17 item 3, issue 19 item 2).
 *
 * <p>Design note. The source is usually slow and shared: a user read that arrives behind the
 * copier's megabytes of queued reads waits for all of them (in the source's bandwidth limit, its
 * connections, its disk). So the copier reads the source in pieces of at most {@link
 * #BACKGROUND_PIECE} bytes, at most {@link #BACKGROUND_PIECES} of them at once whatever the number
 * of batches in flight, and before each piece waits here until no user request is reading the
 * source. A user read therefore waits at most for the half megabyte already sent, never for a
 * queue, and the copier backs off for as long as users keep the source busy. Two pieces rather than
 * four of half the size: a source that shares its bandwidth between the requests it serves
 * (nbdkit's rate filter, a network link with fair queueing) gives a user read a third of it instead
 * of a fifth, and two pieces in flight still hide a 2 ms source latency at 100 MB/s. Users never
 * wait here.
 */
final class SourceLanes {

  /** The largest source read the copier issues at once. */
  static final int BACKGROUND_PIECE = 256 << 10;

  /** Background pieces at the source at once: all a user read can queue behind. */
  static final int BACKGROUND_PIECES = 2;

  private final java.util.concurrent.Semaphore pieces =
      new java.util.concurrent.Semaphore(BACKGROUND_PIECES, true);

  private int userReads;
  private int backgroundWaiting;

  /** A user request starts reading the source. */
  synchronized void userBegin() {
    userReads++;
  }

  /** A user request's source read returned (or failed). */
  synchronized void userEnd() {
    if (--userReads == 0) {
      notifyAll();
    }
  }

  /**
   * Takes one of the {@link #BACKGROUND_PIECES} slots for a background source read, once no user
   * request reads the source; give it back with {@link #backgroundDone()}. Ignores interrupts, as
   * block I/O must.
   */
  void awaitBackgroundTurn() {
    pieces.acquireUninterruptibly();
    awaitNoUserReads();
  }

  /** A background piece's source read returned (or failed). */
  void backgroundDone() {
    pieces.release();
  }

  private void awaitNoUserReads() {
    boolean interrupted = false;
    synchronized (this) {
      backgroundWaiting++;
      try {
        while (userReads > 0) {
          try {
            wait();
          } catch (InterruptedException e) {
            interrupted = true;
          }
        }
      } finally {
        backgroundWaiting--;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /** Copier reads waiting for user reads right now (for tests and metrics). */
  synchronized int backgroundWaiting() {
    return backgroundWaiting;
  }

  /** User requests reading the source right now. */
  synchronized int userReads() {
    return userReads;
  }
}
