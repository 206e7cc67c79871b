package io.volumeclone.engine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Wraps a {@link BlockDevice} and records every write with its data and every flush, in order, so a
 * test can replay any prefix of them onto an earlier image: the states a crash could leave.
 */
public final class TestingRecordingBlockDevice extends TestingForwardingBlockDevice {

  /** A recorded write ({@code data != null}) or flush ({@code data == null}). */
  public record Event(long offset, byte[] data) {
    public boolean isFlush() {
      return data == null;
    }
  }

  private final List<Event> events = new ArrayList<>();

  public TestingRecordingBlockDevice(BlockDevice inner) {
    super(inner);
  }

  public synchronized List<Event> events() {
    return List.copyOf(events);
  }

  public synchronized void clear() {
    events.clear();
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
}
