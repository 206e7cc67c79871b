package io.volumeclone.nbd;

import static io.volumeclone.nbd.NbdProtocol.STATE_HOLE;
import static io.volumeclone.nbd.NbdProtocol.STATE_ZERO;

import io.volumeclone.engine.BlockTarget;
import java.nio.ByteBuffer;

/**
 * Clips, merges and caps the extents a target reports for one BLOCK_STATUS request and one meta
 * context into the protocol's descriptors (length, flags).
 */
final class ExtentCollector implements BlockTarget.ExtentSink {
  private final long end;
  private final int max;
  private final int contextId;
  private long next;
  private final long[] lengths;
  private final int[] flags;
  private int count;

  ExtentCollector(long start, long end, int max, int contextId) {
    this.next = start;
    this.end = end;
    this.max = max;
    this.contextId = contextId;
    this.lengths = new long[max];
    this.flags = new int[max];
  }

  @Override
  public boolean extent(long offset, long length, boolean hole, boolean zero) {
    long s = Math.max(offset, next);
    long e = Math.min(offset + length, end);
    if (e <= s) {
      return offset + length < end;
    }
    if (s != next) {
      // A gap would desynchronise offsets; stop at what is contiguous.
      return false;
    }
    int f =
        contextId == NbdNegotiation.CONTEXT_ID_ALLOCATION
            ? (hole ? STATE_HOLE : 0) | (zero ? STATE_ZERO : 0)
            : (hole ? STATE_HOLE : 0);
    if (!add(e - s, f)) {
      return false;
    }
    return next < end;
  }

  boolean isEmpty() {
    return count == 0;
  }

  boolean add(long length, int f) {
    if (count > 0 && flags[count - 1] == f) {
      lengths[count - 1] += length;
    } else if (count == max) {
      return false;
    } else {
      lengths[count] = length;
      flags[count] = f;
      count++;
    }
    next += length;
    return true;
  }

  ByteBuffer encode() {
    ByteBuffer b = ByteBuffer.allocate(4 + 8 * count);
    b.putInt(contextId);
    for (int i = 0; i < count; i++) {
      b.putInt((int) lengths[i]).putInt(flags[i]);
    }
    return b.flip();
  }
}
