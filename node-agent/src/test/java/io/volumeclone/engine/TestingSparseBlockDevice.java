package io.volumeclone.engine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

/**
 * A {@link BlockDevice} with an allocation map, as a sparse file has one: blocks of {@link #BLOCK}
 * bytes are data or holes. Writes allocate, write-zeroes and discard punch (so holes always read as
 * zeroes, the inner device is zeroed there too), and {@link #allocation} answers from the map.
 * Records every read and every zeroing call, so a test can see which ranges were never read and
 * which were zeroed rather than written.
 */
public final class TestingSparseBlockDevice extends TestingForwardingBlockDevice {

  public static final int BLOCK = 4096;

  /** A recorded range. */
  public record Range(long offset, long length) {
    public boolean overlaps(long start, long end) {
      return offset < end && start < offset + length;
    }
  }

  private final BitSet data = new BitSet();
  private final List<Range> reads = new ArrayList<>();
  private final List<Range> zeroings = new ArrayList<>();
  private long bytesWritten;

  /** Every block starts as data: a used device. */
  public static TestingSparseBlockDevice allData(BlockDevice inner) {
    TestingSparseBlockDevice device = new TestingSparseBlockDevice(inner);
    device.markData(0, inner.size());
    return device;
  }

  /** Every block starts as a hole: a fresh sparse file (the inner device must hold zeroes). */
  public static TestingSparseBlockDevice allHoles(BlockDevice inner) {
    return new TestingSparseBlockDevice(inner);
  }

  private TestingSparseBlockDevice(BlockDevice inner) {
    super(inner);
  }

  /** Marks the blocks of a range as data (they keep the inner device's bytes). */
  public synchronized void markData(long offset, long length) {
    data.set(blockOf(offset), blockOf(offset + length + BLOCK - 1));
  }

  public synchronized List<Range> reads() {
    return List.copyOf(reads);
  }

  public synchronized List<Range> zeroings() {
    return List.copyOf(zeroings);
  }

  public synchronized long bytesWritten() {
    return bytesWritten;
  }

  @Override
  public synchronized Run allocation(long offset, long length) throws IOException {
    int block = blockOf(offset);
    boolean isData = data.get(block);
    int next = isData ? data.nextClearBit(block) : data.nextSetBit(block);
    long end = next < 0 ? size() : Math.min(size(), (long) next * BLOCK);
    return new Run(Math.min(length, end - offset), !isData);
  }

  @Override
  public synchronized void read(long offset, ByteBuffer dst) throws IOException {
    reads.add(new Range(offset, dst.remaining()));
    inner.read(offset, dst);
  }

  @Override
  public synchronized void write(long offset, ByteBuffer src) throws IOException {
    long length = src.remaining();
    inner.write(offset, src);
    bytesWritten += length;
    markData(offset, length);
  }

  @Override
  public synchronized void discard(long offset, long length) throws IOException {
    writeZeroes(offset, length);
  }

  @Override
  public synchronized void writeZeroes(long offset, long length) throws IOException {
    inner.writeZeroes(offset, length);
    zeroings.add(new Range(offset, length));
    // Like a punched hole: only whole blocks become holes.
    int first = blockOf(offset + BLOCK - 1);
    int end = blockOf(offset + length);
    if (end > first) {
      data.clear(first, end);
    }
  }

  @Override
  public void writeZeroes(long offset, long length, boolean keepAllocated, boolean fastOnly)
      throws IOException {
    writeZeroes(offset, length);
  }

  private static int blockOf(long offset) {
    return Math.toIntExact(offset / BLOCK);
  }
}
