package io.volumeclone.engine;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * What a consumer sees of a clone: a block device with the clone's I/O semantics (the I/O table in
 * DESIGN.md). The NBD export serves exactly this interface; {@link Clone} implements it before and
 * after cutover.
 *
 * <p>All methods may be called concurrently. Requests may be unaligned and may span regions; the
 * implementation splits them. A failed request throws {@link BlockIoException} and has no effect on
 * other requests.
 */
public interface BlockTarget {

  /** Export name of the clone (its VolumeClone name, or a CLI-chosen name). */
  String name();

  long size();

  /** Minimum block size a client should use (the destination's logical block size). */
  int minimumBlockSize();

  /** Preferred block size: the region size, so a client's I/O does not split copies. */
  int preferredBlockSize();

  boolean readOnly();

  /** Fills {@code dst.remaining()} bytes from {@code offset}. */
  void read(long offset, ByteBuffer dst) throws IOException;

  /**
   * Writes {@code src.remaining()} bytes; with {@code fua}, durable (data and metadata) on return.
   */
  void write(long offset, ByteBuffer src, boolean fua) throws IOException;

  /** Flushes the destination, then commits the metadata. */
  void flush() throws IOException;

  void discard(long offset, long length, boolean fua) throws IOException;

  /**
   * Makes the range read as zeroes. With {@code fastOnly}, throws {@link BlockIoException} of kind
   * {@link BlockIoException.Kind#NOT_SUPPORTED} instead of doing slow work (for example copying a
   * partial region first), so a client can fall back to writing zeroes itself.
   */
  void writeZeroes(long offset, long length, boolean fua, boolean fastOnly) throws IOException;

  /**
   * {@link #writeZeroes(long, long, boolean, boolean)}; with {@code keepAllocated} (NBD's NO_HOLE)
   * the range also stays fully provisioned on the device below. The default ignores it: for targets
   * that never deallocate on write-zeroes.
   */
  default void writeZeroes(
      long offset, long length, boolean fua, boolean keepAllocated, boolean fastOnly)
      throws IOException {
    writeZeroes(offset, length, fua, fastOnly);
  }

  /** Receives extents in ascending, contiguous order. */
  interface ExtentSink {
    /**
     * @return false to stop early (the export caps replies)
     */
    boolean extent(long offset, long length, boolean hole, boolean zero);
  }

  /**
   * {@code base:allocation}: reports allocation as far as the clone knows it. Must cover at least
   * the first byte of the range when the range is non-empty.
   */
  void allocationExtents(long offset, long length, ExtentSink sink) throws IOException;

  /**
   * {@code volume-clone:copied}: copied regions as data ({@code hole=false}), uncopied as holes.
   * After cutover everything is data.
   */
  void copiedExtents(long offset, long length, ExtentSink sink) throws IOException;
}
