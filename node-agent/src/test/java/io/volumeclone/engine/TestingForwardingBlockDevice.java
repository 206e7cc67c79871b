package io.volumeclone.engine;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A {@link BlockDevice} that forwards every call to another one. Test wrappers extend it and
 * override only the calls they record, hold or fail.
 */
public abstract class TestingForwardingBlockDevice implements BlockDevice {

  protected final BlockDevice inner;

  protected TestingForwardingBlockDevice(BlockDevice inner) {
    this.inner = inner;
  }

  /** The wrapped device. */
  public BlockDevice inner() {
    return inner;
  }

  @Override
  public String name() {
    return inner.name();
  }

  @Override
  public long size() {
    return inner.size();
  }

  @Override
  public int logicalBlockSize() {
    return inner.logicalBlockSize();
  }

  @Override
  public boolean readOnly() {
    return inner.readOnly();
  }

  @Override
  public boolean supportsParallelReads() {
    return inner.supportsParallelReads();
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    inner.read(offset, dst);
  }

  @Override
  public void write(long offset, ByteBuffer src) throws IOException {
    inner.write(offset, src);
  }

  @Override
  public void flush() throws IOException {
    inner.flush();
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    inner.discard(offset, length);
  }

  @Override
  public void writeZeroes(long offset, long length) throws IOException {
    inner.writeZeroes(offset, length);
  }

  @Override
  public void close() throws IOException {
    inner.close();
  }
}
