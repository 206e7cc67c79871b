package io.volumeclone.agent;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.volumeclone.engine.BlockTarget;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The clone as consumers reach it through the export, with each request counted and timed by
 * operation and outcome. The engine has no user-I/O hooks; everything consumers do passes through
 * the {@link BlockTarget} the export serves, so this wrapper sees all of it.
 */
final class MeteredTarget implements BlockTarget {

  enum Op {
    READ,
    WRITE,
    FLUSH,
    DISCARD,
    WRITE_ZEROES
  }

  @FunctionalInterface
  private interface Io {
    void run() throws IOException;
  }

  private final BlockTarget delegate;
  private final Map<Op, Timer> ok = new EnumMap<>(Op.class);
  private final Map<Op, Timer> failed = new EnumMap<>(Op.class);

  MeteredTarget(BlockTarget delegate, MeterRegistry registry) {
    this.delegate = delegate;
    for (Op op : Op.values()) {
      String name = op.name().toLowerCase(java.util.Locale.ROOT);
      ok.put(op, timer(registry, name, "ok"));
      failed.put(op, timer(registry, name, "error"));
    }
  }

  private static Timer timer(MeterRegistry registry, String op, String outcome) {
    return Timer.builder("volume_clone_user_io")
        .description("Consumer requests served by the clone, by operation and outcome")
        .tag("op", op)
        .tag("outcome", outcome)
        .register(registry);
  }

  private void timed(Op op, Io io) throws IOException {
    long start = System.nanoTime();
    boolean success = false;
    try {
      io.run();
      success = true;
    } finally {
      (success ? ok : failed).get(op).record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
    }
  }

  @Override
  public String name() {
    return delegate.name();
  }

  @Override
  public long size() {
    return delegate.size();
  }

  @Override
  public int minimumBlockSize() {
    return delegate.minimumBlockSize();
  }

  @Override
  public int preferredBlockSize() {
    return delegate.preferredBlockSize();
  }

  @Override
  public boolean readOnly() {
    return delegate.readOnly();
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    timed(Op.READ, () -> delegate.read(offset, dst));
  }

  @Override
  public void write(long offset, ByteBuffer src, boolean fua) throws IOException {
    timed(Op.WRITE, () -> delegate.write(offset, src, fua));
  }

  @Override
  public void flush() throws IOException {
    timed(Op.FLUSH, delegate::flush);
  }

  @Override
  public void discard(long offset, long length, boolean fua) throws IOException {
    timed(Op.DISCARD, () -> delegate.discard(offset, length, fua));
  }

  @Override
  public void writeZeroes(long offset, long length, boolean fua, boolean fastOnly)
      throws IOException {
    timed(Op.WRITE_ZEROES, () -> delegate.writeZeroes(offset, length, fua, fastOnly));
  }

  @Override
  public void writeZeroes(
      long offset, long length, boolean fua, boolean keepAllocated, boolean fastOnly)
      throws IOException {
    timed(
        Op.WRITE_ZEROES, () -> delegate.writeZeroes(offset, length, fua, keepAllocated, fastOnly));
  }

  @Override
  public void allocationExtents(long offset, long length, ExtentSink sink) throws IOException {
    delegate.allocationExtents(offset, length, sink);
  }

  @Override
  public void copiedExtents(long offset, long length, ExtentSink sink) throws IOException {
    delegate.copiedExtents(offset, length, sink);
  }
}
