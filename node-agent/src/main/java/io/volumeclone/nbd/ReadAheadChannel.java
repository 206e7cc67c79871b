package io.volumeclone.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;

/**
 * The client's byte stream read through one buffer, so that a small request's header and payload,
 * or several queued headers, arrive in one read(2) instead of one each; a read at least as large as
 * the buffer (a big write's payload) goes straight from the socket into its destination. Not thread
 * safe: the connection's reading turn guards it.
 */
final class ReadAheadChannel implements ReadableByteChannel {

  private final ReadableByteChannel in;
  private final ByteBuffer ahead;

  ReadAheadChannel(ReadableByteChannel in, int capacity) {
    this.in = in;
    this.ahead = ByteBuffer.allocateDirect(capacity).flip();
  }

  @Override
  public int read(ByteBuffer dst) throws IOException {
    if (!dst.hasRemaining()) {
      return 0;
    }
    if (!ahead.hasRemaining()) {
      if (dst.remaining() >= ahead.capacity()) {
        return in.read(dst);
      }
      ahead.clear();
      int n;
      try {
        n = in.read(ahead);
      } finally {
        ahead.flip();
      }
      if (n <= 0) {
        return n;
      }
    }
    int n = Math.min(dst.remaining(), ahead.remaining());
    int limit = ahead.limit();
    ahead.limit(ahead.position() + n);
    dst.put(ahead);
    ahead.limit(limit);
    return n;
  }

  @Override
  public boolean isOpen() {
    return in.isOpen();
  }

  @Override
  public void close() throws IOException {
    in.close();
  }
}
