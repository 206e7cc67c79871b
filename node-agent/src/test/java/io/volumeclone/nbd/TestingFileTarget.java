package io.volumeclone.nbd;

import io.volumeclone.engine.BlockIoException;
import io.volumeclone.engine.BlockTarget;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.BitSet;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A {@link BlockTarget} over a plain file, for tests of the export before (or without) the real
 * clone engine. It keeps a "copied" bitmap per region so the {@code volume-clone:copied} context
 * has something to report: a region counts as copied once it is written, trimmed or zeroed, or
 * marked by the test. A fast zero that is not region-aligned is refused, as the clone refuses it.
 */
public final class TestingFileTarget implements BlockTarget {

  private final String name;
  private final Path path;
  private final FileChannel file;
  private final long size;
  private final int regionSize;
  private final boolean readOnly;
  private final BitSet copied = new BitSet();
  public final AtomicLong writes = new AtomicLong();
  public final AtomicLong flushes = new AtomicLong();
  public final AtomicLong fuaWrites = new AtomicLong();

  /** A read starting at a key's offset waits for its latch: a slow request, on demand. */
  public final Map<Long, CountDownLatch> heldReads = new ConcurrentHashMap<>();

  public TestingFileTarget(String name, Path path, int regionSize, boolean readOnly)
      throws IOException {
    this.name = name;
    this.path = path;
    this.file =
        readOnly
            ? FileChannel.open(path, StandardOpenOption.READ)
            : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
    this.size = file.size();
    this.regionSize = regionSize;
    this.readOnly = readOnly;
  }

  public Path path() {
    return path;
  }

  public synchronized void markCopied(long offset, long length) {
    copied.set(
        (int) (offset / regionSize), (int) ((offset + length + regionSize - 1) / regionSize));
  }

  public synchronized boolean isCopied(long region) {
    return copied.get((int) region);
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public int minimumBlockSize() {
    return 512;
  }

  @Override
  public int preferredBlockSize() {
    return regionSize;
  }

  @Override
  public boolean readOnly() {
    return readOnly;
  }

  private void check(String op, long offset, long length) throws BlockIoException {
    if (offset < 0 || length < 0 || offset + length > size) {
      throw new BlockIoException(
          BlockIoException.Kind.OUT_OF_RANGE, path.toString(), op, offset, "beyond " + size);
    }
    if (readOnly && !op.equals("read")) {
      throw new BlockIoException(
          BlockIoException.Kind.READ_ONLY, path.toString(), op, offset, "read-only");
    }
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    check("read", offset, dst.remaining());
    CountDownLatch hold = heldReads.get(offset);
    if (hold != null) {
      try {
        hold.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while held", e);
      }
    }
    long pos = offset;
    while (dst.hasRemaining()) {
      int n = file.read(dst, pos);
      if (n < 0) {
        throw new BlockIoException(
            BlockIoException.Kind.IO, path.toString(), "read", pos, "unexpected end of file");
      }
      pos += n;
    }
  }

  @Override
  public void write(long offset, ByteBuffer src, boolean fua) throws IOException {
    long length = src.remaining();
    check("write", offset, length);
    long pos = offset;
    while (src.hasRemaining()) {
      pos += file.write(src, pos);
    }
    markCopied(offset, length);
    writes.incrementAndGet();
    if (fua) {
      fuaWrites.incrementAndGet();
      file.force(false);
    }
  }

  @Override
  public void flush() throws IOException {
    flushes.incrementAndGet();
    if (!readOnly) {
      file.force(false);
    }
  }

  @Override
  public void discard(long offset, long length, boolean fua) throws IOException {
    check("discard", offset, length);
    zero(offset, length);
  }

  @Override
  public void writeZeroes(long offset, long length, boolean fua, boolean fastOnly)
      throws IOException {
    check("write-zeroes", offset, length);
    if (fastOnly
        && (offset % regionSize != 0 || (length % regionSize != 0 && offset + length != size))) {
      throw new BlockIoException(
          BlockIoException.Kind.NOT_SUPPORTED,
          path.toString(),
          "write-zeroes",
          offset,
          "a fast zero must cover whole regions");
    }
    zero(offset, length);
    if (fua) {
      file.force(false);
    }
  }

  private void zero(long offset, long length) throws IOException {
    ByteBuffer zeroes = ByteBuffer.allocate((int) Math.min(length, 1 << 20));
    long pos = offset;
    long end = offset + length;
    while (pos < end) {
      zeroes.clear().limit((int) Math.min(zeroes.capacity(), end - pos));
      while (zeroes.hasRemaining()) {
        pos += file.write(zeroes, pos);
      }
    }
    markCopied(offset, length);
  }

  @Override
  public void allocationExtents(long offset, long length, ExtentSink sink) {
    sink.extent(offset, length, false, false);
  }

  @Override
  public synchronized void copiedExtents(long offset, long length, ExtentSink sink) {
    long end = Math.min(size, offset + length);
    long region = offset / regionSize;
    long pos = offset;
    while (pos < end) {
      boolean state = copied.get((int) region);
      long runEnd = pos;
      long r = region;
      while (runEnd < end && copied.get((int) r) == state) {
        r++;
        runEnd = Math.min(end, r * regionSize);
      }
      if (!sink.extent(pos, runEnd - pos, !state, false)) {
        return;
      }
      pos = runEnd;
      region = r;
    }
  }

  public void close() throws IOException {
    file.close();
  }
}
