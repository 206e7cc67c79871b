package io.volumeclone.engine;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A device the engine reads or writes by offset: a regular file, a block device, or (for sources) a
 * remote NBD export.
 *
 * <p>Contract shared by every implementation:
 *
 * <ul>
 *   <li>All methods may be called concurrently from many threads; positional I/O never moves a
 *       shared file position.
 *   <li>{@link #read} and {@link #write} transfer exactly {@code buffer.remaining()} bytes or
 *       throw; a short transfer is an error, never silently accepted. The buffer's position
 *       advances by the bytes transferred.
 *   <li>Offsets and lengths outside {@code [0, size())} are refused with {@link BlockIoException}
 *       ({@link BlockIoException.Kind#OUT_OF_RANGE}) before any I/O is issued.
 *   <li>A read-only device refuses every mutating call with {@link
 *       BlockIoException.Kind#READ_ONLY}; the source of a clone is always opened read-only.
 *   <li>Every exception names the device, the operation and the offset.
 *   <li>{@link #flush} returns only when every write that completed before it was called is on
 *       stable storage.
 * </ul>
 */
public interface BlockDevice extends Closeable {

  /** The path or URI the device was opened from; used in every message about it. */
  String name();

  /** Size in bytes (BLKGETSIZE64 for block devices, the file length for files). */
  long size();

  /** The smallest unit of I/O the device handles without read-modify-write, in bytes. */
  int logicalBlockSize();

  boolean readOnly();

  /**
   * True when concurrent readers on separate connections or descriptors see the same data, so
   * callers may spread reads over several threads (always true for local devices).
   */
  default boolean supportsParallelReads() {
    return true;
  }

  void read(long offset, ByteBuffer dst) throws IOException;

  void write(long offset, ByteBuffer src) throws IOException;

  void flush() throws IOException;

  /** Releases the range (BLKDISCARD on block devices, a punched hole in files). */
  void discard(long offset, long length) throws IOException;

  /** Makes the range read back as zeroes, allocating or not as the device prefers. */
  void writeZeroes(long offset, long length) throws IOException;

  /**
   * Makes the range read back as zeroes. With {@code keepAllocated} the range stays provisioned
   * (NBD's NO_HOLE: no punched hole, no unmapping). With {@code fastOnly}, throws {@link
   * BlockIoException} of kind {@link BlockIoException.Kind#NOT_SUPPORTED}, having changed nothing,
   * where the device would have to write the zeroes (NBD's FAST_ZERO).
   *
   * <p>The default suits devices whose {@link #writeZeroes(long, long)} is fast and never
   * deallocates (memory); devices that punch holes or may write zeroes slowly override it.
   */
  default void writeZeroes(long offset, long length, boolean keepAllocated, boolean fastOnly)
      throws IOException {
    writeZeroes(offset, length);
  }

  /**
   * The first run of the device's allocation at {@code offset}, at most {@code length} bytes long:
   * data, or known to read back as zeroes (a hole of a sparse file, an NBD extent flagged zero).
   * "Data" is always a correct answer, so the default reports the whole range as data; devices
   * answer from cheap metadata only, never by reading.
   */
  default Run allocation(long offset, long length) throws IOException {
    return new Run(length, false);
  }

  /**
   * A run of {@link #allocation}: {@code length} bytes from the queried offset, all reading as
   * zeroes when {@code zero}, else data (which may still happen to be zeroes).
   */
  record Run(long length, boolean zero) {}

  @Override
  void close() throws IOException;
}
