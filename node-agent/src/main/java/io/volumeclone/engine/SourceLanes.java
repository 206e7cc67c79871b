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
 *
 * <p>The copier's wait is bounded, so a consumer that keeps the source busy (a database reading at
 * queue depth 8 from uncopied regions never leaves it idle) cannot stop the copy: once a piece has
 * waited {@link #BACKGROUND_WAIT_PER_USER_READ_NANOS} for each user read at the source and a user
 * read completed meanwhile, it goes. A user read then queues behind at most the pieces at the
 * source, as after an idle moment. The wait grows with the user reads because a piece delays every
 * one of them: two readers of a database's uncopied pages leave most of the source's bandwidth
 * unused and the copier goes every few milliseconds, while 32 reads in flight, which use most of
 * it, hold the copier for about 80 ms each time. For the same reason a piece that goes beside more
 * than two user reads is smaller ({@link #pieceBeside}): a user read that queues behind it at a
 * source which shares its bandwidth in order of arrival waits for its bytes, so beside 32 reads a
 * piece is 16 KiB, a sixth of a millisecond at 100 MB/s, and the users' p99 stays theirs. A user
 * read that never returns (a hung source) still holds the copier, which could not read that source
 * either.
 */
final class SourceLanes {

  /** The largest source read the copier issues at once. */
  static final int BACKGROUND_PIECE = 256 << 10;

  /** The smallest piece the copier reads beside many user reads. */
  static final int SMALLEST_PIECE_BESIDE_USERS = 16 << 10;

  /** Background pieces at the source at once: all a user read can queue behind. */
  static final int BACKGROUND_PIECES = 2;

  private final java.util.concurrent.Semaphore pieces =
      new java.util.concurrent.Semaphore(BACKGROUND_PIECES, true);

  /**
   * How long a background piece yields to user reads that keep coming, per user read at the source
   * (see the design note).
   */
  static final long BACKGROUND_WAIT_PER_USER_READ_NANOS = 2_500_000L;

  private int userReads;
  private long userReadsDone;
  private int backgroundWaiting;

  /** A user request starts reading the source. */
  synchronized void userBegin() {
    userReads++;
  }

  /** A user request's source read returned (or failed). */
  synchronized void userEnd() {
    userReadsDone++;
    if (--userReads == 0 || backgroundWaiting > 0) {
      notifyAll();
    }
  }

  /**
   * Takes one of the {@link #BACKGROUND_PIECES} slots for a background source read, once no user
   * request reads the source or once it waited {@link #BACKGROUND_WAIT_PER_USER_READ_NANOS} for
   * each of them and one of them completed; give it back with {@link #backgroundDone()}. Ignores
   * interrupts, as block I/O must.
   *
   * @return the most bytes this piece may read: {@link #BACKGROUND_PIECE} when the source is free
   *     of user reads, less the more of them it goes beside (see the design note)
   */
  int awaitBackgroundTurn() {
    pieces.acquireUninterruptibly();
    return pieceBeside(awaitTurnBesideUserReads());
  }

  /**
   * A piece beside {@code userReads} user reads: each of them may queue behind it, so it shrinks
   * with their number, to {@link #SMALLEST_PIECE_BESIDE_USERS} at the least (a multiple of any
   * direct I/O alignment).
   */
  static int pieceBeside(int userReads) {
    if (userReads <= 2) {
      return BACKGROUND_PIECE;
    }
    int piece = BACKGROUND_PIECE / (userReads / 2);
    return Math.max(SMALLEST_PIECE_BESIDE_USERS, piece - piece % SMALLEST_PIECE_BESIDE_USERS);
  }

  /** A background piece's source read returned (or failed). */
  void backgroundDone() {
    pieces.release();
  }

  /** Waits as the design note says; returns the user reads at the source when it went. */
  private int awaitTurnBesideUserReads() {
    boolean interrupted = false;
    int beside;
    synchronized (this) {
      backgroundWaiting++;
      long waitingSince = System.nanoTime();
      long doneBefore = userReadsDone;
      try {
        while (userReads > 0) {
          long left =
              BACKGROUND_WAIT_PER_USER_READ_NANOS * userReads - (System.nanoTime() - waitingSince);
          if (left <= 0 && userReadsDone != doneBefore) {
            break;
          }
          try {
            // Past the bound, the next completion notifies.
            wait(left <= 0 ? 0 : Math.max(1, left / 1_000_000));
          } catch (InterruptedException e) {
            interrupted = true;
          }
        }
      } finally {
        backgroundWaiting--;
      }
      beside = userReads;
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    return beside;
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
