package io.volumeclone.engine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A block device held in memory, for unit tests. It keeps two images: what was written and what was
 * flushed, so a test can "crash" it with {@link #crash()} and see only durable data.
 */
public final class TestingMemoryBlockDevice implements BlockDevice {

  private final String name;
  private final byte[] written;
  private final byte[] durable;
  private final boolean readOnly;
  private final int logicalBlockSize;
  public final AtomicLong reads = new AtomicLong();
  public final AtomicLong writes = new AtomicLong();
  public final AtomicLong flushes = new AtomicLong();
  private boolean closed;

  public TestingMemoryBlockDevice(String name, int size) {
    this(name, new byte[size], false, 512);
  }

  public TestingMemoryBlockDevice(String name, byte[] contents, boolean readOnly, int blockSize) {
    this.name = name;
    this.written = contents.clone();
    this.durable = contents.clone();
    this.readOnly = readOnly;
    this.logicalBlockSize = blockSize;
  }

  /** A read-only view sharing nothing: use for sources. */
  public static TestingMemoryBlockDevice readOnly(String name, byte[] contents) {
    return new TestingMemoryBlockDevice(name, contents, true, 512);
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public long size() {
    return written.length;
  }

  @Override
  public int logicalBlockSize() {
    return logicalBlockSize;
  }

  @Override
  public boolean readOnly() {
    return readOnly;
  }

  private void check(String op, long offset, long length) throws BlockIoException {
    if (closed) {
      throw new BlockIoException(BlockIoException.Kind.IO, name, op, offset, "device is closed");
    }
    if (offset < 0 || length < 0 || offset + length > written.length) {
      throw new BlockIoException(
          BlockIoException.Kind.OUT_OF_RANGE,
          name,
          op,
          offset,
          "range of " + length + " bytes exceeds device size " + written.length);
    }
  }

  private void checkWritable(String op, long offset) throws BlockIoException {
    if (readOnly) {
      throw new BlockIoException(
          BlockIoException.Kind.READ_ONLY, name, op, offset, "device is read-only");
    }
  }

  @Override
  public synchronized void read(long offset, ByteBuffer dst) throws IOException {
    check("read", offset, dst.remaining());
    reads.incrementAndGet();
    dst.put(written, (int) offset, dst.remaining());
  }

  @Override
  public synchronized void write(long offset, ByteBuffer src) throws IOException {
    checkWritable("write", offset);
    check("write", offset, src.remaining());
    writes.incrementAndGet();
    src.get(written, (int) offset, src.remaining());
  }

  @Override
  public synchronized void flush() throws IOException {
    check("flush", 0, 0);
    flushes.incrementAndGet();
    System.arraycopy(written, 0, durable, 0, written.length);
  }

  @Override
  public synchronized void discard(long offset, long length) throws IOException {
    writeZeroes(offset, length);
  }

  @Override
  public synchronized void writeZeroes(long offset, long length) throws IOException {
    checkWritable("write-zeroes", offset);
    check("write-zeroes", offset, length);
    java.util.Arrays.fill(written, (int) offset, (int) (offset + length), (byte) 0);
  }

  /** Drops every write not yet flushed, as a power loss would. */
  public synchronized void crash() {
    System.arraycopy(durable, 0, written, 0, written.length);
  }

  /** A copy of the current (written) contents. */
  public synchronized byte[] contents() {
    return written.clone();
  }

  /** A copy of the durable contents. */
  public synchronized byte[] durableContents() {
    return durable.clone();
  }

  @Override
  public synchronized void close() {
    closed = true;
  }
}
