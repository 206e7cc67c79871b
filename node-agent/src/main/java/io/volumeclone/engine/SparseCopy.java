package io.volumeclone.engine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

/**
 * How one chunk of a background batch treats the zeroes of the source (issue 17, item 4): holes are
 * not read, and zeroes, whether from holes or read, are not written byte by byte.
 *
 * <p>Design note. Before a chunk is read, {@link #sourceZeroes} asks the source for the runs it
 * knows read as zeroes ({@link BlockDevice#allocation}: SEEK_DATA/SEEK_HOLE of a file, NBD
 * base:allocation extents flagged zero); only the rest is read. When the chunk is written, {@link
 * #write} splits it into those runs, plus the aligned {@value #ZERO_BLOCK}-byte blocks of read data
 * that are all zeroes, and the rest; the rest is written, the zero runs go to {@link #zero}.
 * Zeroing skips what the destination itself reports as reading back zeroes (a hole of a sparse
 * destination file, which is what a fresh one is) and asks the destination to zero the remainder
 * (punched holes in files, BLKZEROOUT on block devices), so a block device or a used file is never
 * assumed to hold zeroes. Crash safety is the caller's, as for written data: the regions are marked
 * only after this returns, and the commit flushes the destination (fdatasync also makes hole
 * punching durable) before it records them. An allocation query that fails is not an error: the run
 * is treated as data and read, so a real fault surfaces from the read with its offset.
 */
final class SparseCopy {

  /** Granularity at which read data is checked for zeroes; also the fs-friendly hole size. */
  static final int ZERO_BLOCK = 64 * 1024;

  private static final ByteBuffer ZEROES = ByteBuffer.allocateDirect(ZERO_BLOCK).asReadOnlyBuffer();

  /** A positional operation on clone offsets. */
  @FunctionalInterface
  interface RangeWriter {
    void write(long cloneOffset, ByteBuffer data) throws IOException;
  }

  /** Makes a clone range of the destination read back as zeroes. */
  @FunctionalInterface
  interface Zeroer {
    void zero(long cloneOffset, long length) throws IOException;
  }

  private final BlockDevice source;
  private final long sourceBase;
  private final BlockDevice destination;
  private final long destinationBase;

  private final AtomicLong bytesNotRead = new AtomicLong();
  private final AtomicLong bytesZeroed = new AtomicLong();
  private final AtomicLong bytesAlreadyZero = new AtomicLong();

  SparseCopy(BlockDevice source, long sourceBase, BlockDevice destination, long destinationBase) {
    this.source = source;
    this.sourceBase = sourceBase;
    this.destination = destination;
    this.destinationBase = destinationBase;
  }

  /** Source bytes not read because the source reported them as zeroes. */
  long bytesNotRead() {
    return bytesNotRead.get();
  }

  /** Destination bytes zeroed by a zeroing call instead of written. */
  long bytesZeroed() {
    return bytesZeroed.get();
  }

  /** Destination bytes left alone because the destination already reads them as zeroes. */
  long bytesAlreadyZero() {
    return bytesAlreadyZero.get();
  }

  /**
   * The runs of clone range {@code [from, to)} the source reports as zeroes, as sorted, disjoint
   * {@code start, end} pairs of clone offsets.
   */
  long[] sourceZeroes(long from, long to) {
    long[] runs = new long[0];
    int count = 0;
    for (long pos = from; pos < to; ) {
      BlockDevice.Run run;
      try {
        run = source.allocation(sourceBase + pos, to - pos);
      } catch (IOException e) {
        break;
      }
      long end = Math.min(to, pos + Math.max(1, run.length()));
      if (run.zero()) {
        if (count > 0 && runs[count - 1] == pos) {
          runs[count - 1] = end;
        } else {
          if (count == runs.length) {
            runs = Arrays.copyOf(runs, Math.max(4, count * 2));
          }
          runs[count++] = pos;
          runs[count++] = end;
        }
      }
      pos = end;
    }
    return count == runs.length ? runs : Arrays.copyOf(runs, count);
  }

  /**
   * Calls {@code reader} for each part of {@code [from, to)} outside {@code zeroes}, as {@code
   * (start, end)} of clone offsets.
   */
  void forEachData(long from, long to, long[] zeroes, RangeAction reader) throws IOException {
    long pos = from;
    for (int i = 0; i < zeroes.length && pos < to; i += 2) {
      long start = Math.max(zeroes[i], from);
      long end = Math.min(zeroes[i + 1], to);
      if (end <= start) {
        continue;
      }
      if (start > pos) {
        reader.range(pos, Math.min(start, to));
      }
      bytesNotRead.addAndGet(end - Math.max(start, pos));
      pos = Math.max(pos, end);
    }
    if (pos < to) {
      reader.range(pos, to);
    }
  }

  /** A clone range {@code [start, end)}. */
  @FunctionalInterface
  interface RangeAction {
    void range(long start, long end) throws IOException;
  }

  /**
   * Writes clone range {@code [start, end)} to the destination: {@code chunk} holds the chunk read
   * from clone offset {@code chunkStart} (its bytes inside {@code zeroes} were never read and are
   * never used); runs of zeroes go to {@link #zero}, the rest to {@code writer}.
   */
  void write(
      long start,
      long end,
      ByteBuffer chunk,
      long chunkStart,
      long[] zeroes,
      RangeWriter writer,
      Zeroer zeroer)
      throws IOException {
    long pos = start;
    for (int i = 0; i < zeroes.length && pos < end; i += 2) {
      long holeStart = Math.max(zeroes[i], start);
      long holeEnd = Math.min(zeroes[i + 1], end);
      if (holeEnd <= holeStart) {
        continue;
      }
      if (holeStart > pos) {
        writeData(pos, holeStart, chunk, chunkStart, writer, zeroer);
      }
      zero(Math.max(pos, holeStart), holeEnd, zeroer);
      pos = Math.max(pos, holeEnd);
    }
    if (pos < end) {
      writeData(pos, end, chunk, chunkStart, writer, zeroer);
    }
  }

  /** Read data: written, except aligned blocks that are all zeroes, which are zeroed. */
  private void writeData(
      long start, long end, ByteBuffer chunk, long chunkStart, RangeWriter writer, Zeroer zeroer)
      throws IOException {
    long runStart = start;
    boolean runZero = false;
    for (long block = start; block < end; ) {
      long blockEnd = Math.min(end, (block / ZERO_BLOCK + 1) * ZERO_BLOCK);
      boolean zero = allZero(chunk, (int) (block - chunkStart), (int) (blockEnd - block));
      if (zero != runZero && block > runStart) {
        emit(runStart, block, runZero, chunk, chunkStart, writer, zeroer);
        runStart = block;
      }
      runZero = zero;
      block = blockEnd;
    }
    if (end > runStart) {
      emit(runStart, end, runZero, chunk, chunkStart, writer, zeroer);
    }
  }

  private void emit(
      long start,
      long end,
      boolean zero,
      ByteBuffer chunk,
      long chunkStart,
      RangeWriter writer,
      Zeroer zeroer)
      throws IOException {
    if (zero) {
      zero(start, end, zeroer);
    } else {
      writer.write(start, chunk.slice((int) (start - chunkStart), (int) (end - start)));
    }
  }

  /** Zeroes {@code [start, end)} of the destination except what it already reads as zeroes. */
  private void zero(long start, long end, Zeroer zeroer) throws IOException {
    for (long pos = start; pos < end; ) {
      BlockDevice.Run run;
      try {
        run = destination.allocation(destinationBase + pos, end - pos);
      } catch (IOException e) {
        run = new BlockDevice.Run(end - pos, false);
      }
      long runEnd = Math.min(end, pos + Math.max(1, run.length()));
      if (run.zero()) {
        bytesAlreadyZero.addAndGet(runEnd - pos);
      } else {
        zeroer.zero(pos, runEnd - pos);
        bytesZeroed.addAndGet(runEnd - pos);
      }
      pos = runEnd;
    }
  }

  static boolean allZero(ByteBuffer buffer, int at, int length) {
    ByteBuffer zeroes = ZEROES.duplicate();
    for (int done = 0; done < length; ) {
      int n = Math.min(ZERO_BLOCK, length - done);
      if (buffer.slice(at + done, n).mismatch(zeroes.clear().limit(n)) >= 0) {
        return false;
      }
      done += n;
    }
    return true;
  }
}
