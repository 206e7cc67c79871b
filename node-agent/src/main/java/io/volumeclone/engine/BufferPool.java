package io.volumeclone.engine;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Direct buffers aligned to 4 KiB, so copies can use O_DIRECT devices without a bounce buffer.
 * Buffers are reused because allocating multi-megabyte direct buffers per copy is slow and their
 * memory is only reclaimed by the garbage collector.
 */
final class BufferPool {

  static final int ALIGNMENT = 4096;

  private final int bufferSize;
  private final int maxPooled;
  private final ConcurrentLinkedQueue<ByteBuffer> free = new ConcurrentLinkedQueue<>();

  BufferPool(int bufferSize, int maxPooled) {
    this.bufferSize = bufferSize;
    this.maxPooled = maxPooled;
  }

  int bufferSize() {
    return bufferSize;
  }

  ByteBuffer take() {
    ByteBuffer buffer = free.poll();
    if (buffer == null) {
      buffer = ByteBuffer.allocateDirect(bufferSize + ALIGNMENT).alignedSlice(ALIGNMENT);
      buffer.limit(bufferSize);
    }
    return buffer.clear().limit(bufferSize);
  }

  void give(ByteBuffer buffer) {
    if (free.size() < maxPooled) {
      free.offer(buffer);
    }
  }
}
