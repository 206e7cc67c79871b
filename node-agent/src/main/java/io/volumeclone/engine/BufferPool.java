package io.volumeclone.engine;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Direct, 4 KiB-aligned buffers pooled by power-of-two size: the one buffer pool of the data path,
 * used by a clone's copies and by every connection of an NBD server.
 *
 * <p>Why direct: the JDK moves a heap buffer through a temporary direct buffer on every socket and
 * file transfer, so a heap buffer costs two extra memory copies per request plus zeroing at
 * allocation. With a direct buffer data goes from the socket or pread straight into the buffer and
 * from there straight to pwrite or the socket. Why aligned: an O_DIRECT device can take the buffer
 * as it is. Why pooled: allocating direct memory is slow and it is only reclaimed by the garbage
 * collector.
 *
 * <p>A buffer's capacity is exactly its size class (never the class plus the alignment slack), and
 * {@link #take} sets its limit to the length asked for: callers size their transfers from the
 * limit. The pool keeps at most {@code maxPooledBytes} idle; beyond that, returned buffers are left
 * to the collector. When direct memory is exhausted (a small {@code -XX:MaxDirectMemorySize}) a
 * heap buffer is handed out instead: slower, but the request is served.
 */
public final class BufferPool {

  private static final Logger log = LoggerFactory.getLogger(BufferPool.class);

  public static final int ALIGNMENT = 4096;
  private static final int MIN_SHIFT = 12;

  private final String owner;
  private final ConcurrentLinkedQueue<ByteBuffer>[] free;
  private final AtomicLong pooledBytes = new AtomicLong();
  private final AtomicLong allocatedBytes = new AtomicLong();
  private final long maxPooledBytes;
  private volatile boolean directExhaustedLogged;

  /**
   * A pool for buffers of up to {@code maxBufferSize} bytes (larger requests get unpooled heap
   * buffers), keeping at most {@code maxPooledBytes} idle. {@code owner} names the user in logs.
   */
  @SuppressWarnings("unchecked")
  public BufferPool(String owner, int maxBufferSize, long maxPooledBytes) {
    this.owner = owner;
    int classes = classOf(Math.max(ALIGNMENT, maxBufferSize)) + 1;
    this.free = new ConcurrentLinkedQueue[classes];
    for (int i = 0; i < classes; i++) {
      free[i] = new ConcurrentLinkedQueue<>();
    }
    this.maxPooledBytes = maxPooledBytes;
  }

  /** Size class: 0 for up to 4 KiB, 1 for up to 8 KiB, ... */
  private static int classOf(int length) {
    if (length <= ALIGNMENT) {
      return 0;
    }
    return 32 - Integer.numberOfLeadingZeros(length - 1) - MIN_SHIFT;
  }

  /** A buffer with position 0 and limit {@code length}; give it back with {@link #give}. */
  public ByteBuffer take(int length) {
    int c = classOf(length);
    if (c >= free.length) {
      return ByteBuffer.allocate(length);
    }
    ByteBuffer b = free[c].poll();
    if (b != null) {
      pooledBytes.addAndGet(-b.capacity());
    } else {
      b = allocate(ALIGNMENT << c);
    }
    return b.clear().limit(length);
  }

  /** Returns a buffer from {@link #take}; heap fallbacks and overflow go to the collector. */
  public void give(ByteBuffer b) {
    if (b == null || !b.isDirect()) {
      return;
    }
    int c = classOf(b.capacity());
    if (c >= free.length || (ALIGNMENT << c) != b.capacity()) {
      return;
    }
    if (pooledBytes.addAndGet(b.capacity()) > maxPooledBytes) {
      pooledBytes.addAndGet(-b.capacity());
      return;
    }
    free[c].offer(b);
  }

  long pooledBytes() {
    return pooledBytes.get();
  }

  /** Bytes of buffers this pool allocated so far (pooled or not, given back or not). */
  long allocatedBytes() {
    return allocatedBytes.get();
  }

  private ByteBuffer allocate(int capacity) {
    allocatedBytes.addAndGet(capacity);
    try {
      return ByteBuffer.allocateDirect(capacity + ALIGNMENT)
          .alignedSlice(ALIGNMENT)
          .slice(0, capacity);
    } catch (OutOfMemoryError e) {
      // "Cannot reserve direct buffer memory": the direct memory limit is reached. The heap may
      // still have room; a heap buffer only costs speed.
      if (!directExhaustedLogged) {
        directExhaustedLogged = true;
        log.warn(
            "{}: direct buffer memory exhausted ({}); using heap buffers", owner, e.getMessage());
      }
      return ByteBuffer.allocate(capacity);
    }
  }
}
