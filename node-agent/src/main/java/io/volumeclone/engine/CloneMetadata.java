package io.volumeclone.engine;

import java.io.Closeable;
import java.io.IOException;
import java.util.UUID;

/**
 * The metadata device of a clone: which regions are copied, made crash-safe by two-phase commit.
 * Modelled on dm-clone's {@code dm-clone-metadata.h}; this interface is the contract between the
 * clone target and the on-disk format.
 *
 * <p>Crash guarantee: after a crash at any moment, reopening the device yields exactly the state of
 * the last {@link #commit} that returned normally, or of a later one that had reached its
 * superblock write; a region is never reported copied unless its data was flushed to the
 * destination before the commit that recorded it.
 *
 * <p>Threads: the query and mark methods never block on I/O and may run concurrently with each
 * other and with {@link #commit}. {@link #commit}, {@link #markComplete} and {@link #close} are
 * serialised against each other internally.
 */
public interface CloneMetadata extends Closeable {

  /** Metadata mode: only ever moves WRITE -> READ_ONLY -> FAIL. */
  enum Mode {
    /** Normal operation. */
    WRITE,
    /**
     * A metadata write or a destination flush failed and the transaction was aborted: nothing new
     * can be recorded and every later commit fails.
     */
    READ_ONLY,
    /** The rollback failed too: the in-memory state can no longer be trusted. */
    FAIL
  }

  /** The device this metadata lives on, for messages. */
  String deviceName();

  UUID uuid();

  CloneGeometry geometry();

  Mode mode();

  /**
   * Non-blocking. Why the metadata left WRITE mode (the failed operation, device, offset and
   * cause), or null while it is in WRITE mode. Set before {@link #mode()} changes, so whoever sees
   * a mode other than WRITE can say why without racing the caller that got the exception.
   */
  default String failure() {
    return null;
  }

  /** Non-blocking. True once the region's data is on the destination (committed or not). */
  boolean isHydrated(long region);

  /** Non-blocking. True when every region in {@code [first, first + count)} is hydrated. */
  boolean isRangeHydrated(long first, long count);

  /** Non-blocking. The first unhydrated region at or after {@code from}, or -1 when none. */
  long nextUnhydrated(long from);

  /** Non-blocking. The first hydrated region at or after {@code from}, or -1 when none. */
  long nextHydrated(long from);

  /**
   * Non-blocking. Records that the regions' data is now on the destination (not yet flushed). Bits
   * only go 0 -> 1. Takes effect for queries at once; becomes durable at the next commit.
   *
   * @throws BlockIoException of kind READ_ONLY unless the mode is WRITE
   */
  void setHydrated(long first, long count) throws BlockIoException;

  /** Non-blocking. Regions hydrated in memory (includes uncommitted ones). */
  long hydratedCount();

  /** Non-blocking. Regions hydrated as of the last successful commit. */
  long committedCount();

  /** Transaction id of the last successful commit (0 right after formatting). */
  long transactionId();

  /**
   * Blocks. Makes every region hydrated before this call durable: snapshots the changed regions,
   * calls {@code flushDestination} (so their data is stable before the bitmap says so), writes the
   * changed bitmap blocks, flushes the metadata device, writes the superblock last and flushes
   * again. Does nothing (and does not call the flush) when nothing changed since the last commit.
   *
   * <p>On a metadata write error or a failure of {@code flushDestination}: aborts the transaction
   * and switches to READ_ONLY (or FAIL when the device cannot be read back), then throws. The
   * in-memory map keeps the aborted transaction's regions (their data is on the destination), and
   * every later commit throws: those regions can never be made durable.
   */
  void commit(IoAction flushDestination) throws IOException;

  /**
   * Blocks. Aborts the open transaction because something outside the metadata device failed that a
   * commit depends on (a flush of the destination that needed no commit): as a failed commit does,
   * switches to READ_ONLY so that every later commit throws. No-op unless the mode is WRITE.
   */
  void abort(String operation, Throwable cause);

  /** Blocks. Commits with the complete flag set; every region must be hydrated. */
  void markComplete(IoAction flushDestination) throws IOException;

  /** Blocks. Records that consumers were moved to the destination (after complete). */
  void markCutOver() throws IOException;

  boolean isComplete();

  boolean isCutOver();

  /** An action that may fail with an I/O error, such as flushing the destination. */
  @FunctionalInterface
  interface IoAction {
    void run() throws IOException;
  }

  /** Releases the device without committing. Callers commit first when they mean to. */
  @Override
  void close() throws IOException;
}
