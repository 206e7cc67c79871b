package io.volumeclone.nbd;

import static io.volumeclone.nbd.NbdProtocol.CMD_READ;
import static io.volumeclone.nbd.NbdProtocol.CMD_WRITE;
import static io.volumeclone.nbd.NbdProtocol.readFully;

import io.volumeclone.engine.BufferPool;
import io.volumeclone.nbd.NbdProtocol.Request;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.util.concurrent.Semaphore;

/**
 * What one connection may hold in flight, and the door every request it executes passes through.
 *
 * <p>Design note. A request is admitted before its payload is read: the connection waits here while
 * it already holds its maximum of requests or {@link #MAX_IN_FLIGHT_KIB} of payload and read data,
 * so a client that floods the socket meets the socket's back-pressure instead of growing the
 * server's memory. What admission gives a request (one request permit, its KiB permits and, for a
 * write, the pooled buffer holding its payload) is one {@link Admitted}; its {@code close()} gives
 * all of it back, once, whichever way the request ends, so callers hold it in try-with-resources
 * and never release a part by hand.
 */
final class RequestAdmission {

  /** Payload bytes of requests being executed at once on one connection (bounds memory). */
  static final int MAX_IN_FLIGHT_KIB = 64 * 1024;

  private final Semaphore requests;
  private final Semaphore kib = new Semaphore(MAX_IN_FLIGHT_KIB);
  private final BufferPool buffers;

  RequestAdmission(int maxRequests, BufferPool buffers) {
    this.requests = new Semaphore(maxRequests);
    this.buffers = buffers;
  }

  /**
   * Waits until {@code r} fits, then admits it; a write's payload is read from {@code channel} into
   * a pooled buffer. On failure (the peer gone in the middle of the payload) nothing stays held.
   */
  Admitted admit(Request r, ReadableByteChannel channel) throws IOException {
    Admitted admitted = new Admitted(r, kibOf(r));
    try {
      if (r.type() == CMD_WRITE) {
        admitted.payload = buffers.take((int) r.length());
        readFully(channel, admitted.payload);
        admitted.payload.flip();
      }
      return admitted;
    } catch (IOException | RuntimeException e) {
      admitted.close();
      throw e;
    }
  }

  private static int kibOf(Request r) {
    long bytes = r.type() == CMD_READ || r.type() == CMD_WRITE ? r.length() : 0;
    return (int) Math.min(MAX_IN_FLIGHT_KIB, bytes / 1024 + 1);
  }

  private static void acquire(Semaphore s, int permits) throws IOException {
    try {
      s.acquire(permits);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while waiting for room for a request", e);
    }
  }

  /** An admitted request with everything admission gave it; read and executed by one thread. */
  final class Admitted implements AutoCloseable {
    private final Request request;
    private final int kibHeld;
    private ByteBuffer payload;
    private boolean held;

    private Admitted(Request request, int kibHeld) throws IOException {
      acquire(requests, 1);
      try {
        acquire(kib, kibHeld);
      } catch (IOException e) {
        requests.release();
        throw e;
      }
      this.request = request;
      this.kibHeld = kibHeld;
      this.held = true;
    }

    Request request() {
      return request;
    }

    /** A write's payload, positioned at its first byte; null for other commands. */
    ByteBuffer payload() {
      return payload;
    }

    @Override
    public void close() {
      if (!held) {
        return;
      }
      held = false;
      if (payload != null) {
        buffers.give(payload);
      }
      kib.release(kibHeld);
      requests.release();
    }
  }
}
