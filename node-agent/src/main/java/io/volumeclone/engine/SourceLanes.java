package io.volumeclone.engine;

/**
 * User reads go first at the source (issue 17 item 3, issue 19 item 2).
 *
 * <p>Design note. The source is usually slow and shared: a user read that arrives behind the
 * copier's megabytes of queued reads waits for all of them (in the source's bandwidth limit, its
 * connections, its disk). So the copier reads the source in pieces of at most {@link
 * #BACKGROUND_PIECE} bytes, and before each piece waits here until no user request is reading the
 * source. A user read therefore waits at most for the pieces already sent, never for a queue, and
 * the copier backs off for as long as users keep the source busy. Users never wait here.
 */
final class SourceLanes {

  /** The largest source read the copier issues at once; user reads wait behind no more. */
  static final int BACKGROUND_PIECE = 1 << 20;

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

  /** Blocks the copier until no user request reads the source; ignores interrupts (block I/O). */
  void awaitBackgroundTurn() {
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
