package io.volumeclone.engine;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A {@link BlockDevice} that passes every call it must implement to another, for wrappers that
 * change a few calls (a benchmark's tap on the source, a test's recorded or failed writes) and
 * override only those. The calls {@link BlockDevice} defines by default ({@link
 * BlockDevice#writeZeroes(long, long, boolean, boolean)}, {@link BlockDevice#allocation}) keep
 * their defaults, which go through this wrapper's own calls, so an overridden {@code writeZeroes}
 * sees them too.
 */
public abstract class ForwardingBlockDevice implements BlockDevice {

  protected final BlockDevice inner;

  protected ForwardingBlockDevice(BlockDevice inner) {
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
