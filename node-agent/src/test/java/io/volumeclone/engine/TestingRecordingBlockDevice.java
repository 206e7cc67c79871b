package io.volumeclone.engine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Wraps a {@link BlockDevice} and records every write with its data and every flush, in order, so a
 * test can replay any prefix of them onto an earlier image: the states a crash could leave.
 */
public final class TestingRecordingBlockDevice implements BlockDevice {

  /** A recorded write ({@code data != null}) or flush ({@code data == null}). */
  public record Event(long offset, byte[] data) {
    public boolean isFlush() {
      return data == null;
    }
  }

  private final BlockDevice inner;
  private final List<Event> events = new ArrayList<>();

  public TestingRecordingBlockDevice(BlockDevice inner) {
    this.inner = inner;
  }

  public synchronized List<Event> events() {
    return List.copyOf(events);
  }

  public synchronized void clear() {
    events.clear();
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
  public void read(long offset, ByteBuffer dst) throws IOException {
    inner.read(offset, dst);
  }

  @Override
  public synchronized void write(long offset, ByteBuffer src) throws IOException {
    byte[] data = new byte[src.remaining()];
    src.duplicate().get(data);
    inner.write(offset, src);
    events.add(new Event(offset, data));
  }

  @Override
  public synchronized void flush() throws IOException {
    inner.flush();
    events.add(new Event(0, null));
  }

  @Override
  public synchronized void discard(long offset, long length) throws IOException {
    writeZeroes(offset, length);
  }

  @Override
  public synchronized void writeZeroes(long offset, long length) throws IOException {
    inner.writeZeroes(offset, length);
    events.add(new Event(offset, new byte[Math.toIntExact(length)]));
  }

  @Override
  public void close() throws IOException {
    inner.close();
  }
}
