package io.volumeclone.nbd;

import io.volumeclone.engine.BlockDevice;
import io.volumeclone.engine.BlockIoException;
import io.volumeclone.engine.BlockIoException.Kind;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A remote NBD export as a read-only {@link BlockDevice}: the source of a clone given as {@code
 * nbd://HOST[:PORT]/EXPORT} or {@code nbd+unix:///EXPORT?socket=PATH}.
 *
 * <p>Design note. Reads are split into pieces no larger than the server's maximum block size and
 * spread round robin over up to {@link Options#connections()} connections when the server
 * advertises {@code CAN_MULTI_CONN} (one connection otherwise; requests are pipelined on each). An
 * unaligned read is done as an aligned head block, an aligned body and an aligned tail block, so
 * the server's minimum block size is always honoured. A broken connection is reopened and the piece
 * retried with exponential backoff, {@link Options#attempts()} times at most; an error the server
 * replies with (EIO and the like) is not retried. {@link #allocation} asks the server's {@code
 * base:allocation} (one BLOCK_STATUS with REQ_ONE) when it was negotiated; only extents flagged
 * {@code NBD_STATE_ZERO} count as zeroes (a hole without it may read as anything), and any failure
 * or an unaligned query answers "data", which is always correct, without retrying: the reads that
 * follow reconnect and report a real fault. Nothing here ever sends a write, trim or write-zeroes:
 * mutating calls fail with {@link Kind#READ_ONLY} before touching the network.
 */
public final class NbdBlockDevice implements BlockDevice {

  private static final Logger log = LoggerFactory.getLogger(NbdBlockDevice.class);

  public record Options(
      int connections, int attempts, Duration initialBackoff, Duration connectTimeout) {
    public static Options defaults() {
      return new Options(4, 8, Duration.ofMillis(100), Duration.ofSeconds(10));
    }

    public Options withAttempts(int n) {
      return new Options(connections, n, initialBackoff, connectTimeout);
    }
  }

  private final NbdUri uri;
  private final Options options;
  private final NbdClient[] slots;
  private final AtomicInteger nextSlot = new AtomicInteger();
  private final long size;
  private final int alignment;
  private final int maxPiece;
  private volatile boolean closed;

  private NbdBlockDevice(NbdUri uri, Options options, NbdClient first) {
    this.uri = uri;
    this.options = options;
    this.size = first.size();
    this.alignment = first.minimumBlockSize();
    int max = Math.min(first.maximumBlockSize(), 32 << 20);
    this.maxPiece = Math.max(alignment, max - max % alignment);
    int n = first.canMultiConn() ? Math.max(1, options.connections()) : 1;
    this.slots = new NbdClient[n];
    this.slots[0] = first;
  }

  public static NbdBlockDevice open(URI uri) throws IOException {
    return open(NbdUri.parse(uri.toString()), Options.defaults());
  }

  public static NbdBlockDevice open(String uri) throws IOException {
    return open(NbdUri.parse(uri), Options.defaults());
  }

  public static NbdBlockDevice open(NbdUri uri, Options options) throws IOException {
    NbdClient first = NbdClient.connect(uri, options.connectTimeout());
    NbdBlockDevice device = new NbdBlockDevice(uri, options, first);
    log.info(
        "Opened NBD source {}: {} bytes, block sizes {}/{}/{}, {} connection(s), {} replies",
        uri,
        first.size(),
        first.minimumBlockSize(),
        first.preferredBlockSize(),
        first.maximumBlockSize(),
        device.slots.length,
        first.structuredReplies() ? "structured" : "simple");
    return device;
  }

  /** Connections this device may use (1 unless the server allows multi-conn). */
  public int connectionLimit() {
    return slots.length;
  }

  @Override
  public String name() {
    return uri.text();
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public int logicalBlockSize() {
    return alignment > 1 ? alignment : 512;
  }

  @Override
  public boolean readOnly() {
    return true;
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    int length = dst.remaining();
    checkRange("read", offset, length);
    if (closed) {
      throw new BlockIoException(Kind.IO, name(), "read", offset, "device is closed");
    }
    long end = offset + length;
    long pos = offset;
    ByteBuffer out = dst.slice();
    if (pos % alignment != 0) {
      long blockStart = pos - pos % alignment;
      long copyEnd = Math.min(end, Math.min(blockStart + alignment, size));
      readThroughBounce(blockStart, pos, copyEnd, out);
      pos = copyEnd;
    }
    long bodyEnd = end == size ? end : end - end % alignment;
    if (bodyEnd > pos) {
      readAligned(pos, out.slice(out.position(), (int) (bodyEnd - pos)));
      out.position(out.position() + (int) (bodyEnd - pos));
      pos = bodyEnd;
    }
    if (pos < end) {
      readThroughBounce(pos, pos, end, out);
    }
    dst.position(dst.position() + length);
  }

  /** Reads the aligned block at {@code blockStart} and copies {@code [from, to)} into out. */
  private void readThroughBounce(long blockStart, long from, long to, ByteBuffer out)
      throws IOException {
    int blockLength = (int) Math.min(alignment, size - blockStart);
    ByteBuffer bounce = ByteBuffer.allocate(blockLength);
    readPiece(blockStart, bounce);
    bounce.position((int) (from - blockStart)).limit((int) (to - blockStart));
    out.put(bounce);
  }

  private void readAligned(long offset, ByteBuffer dst) throws IOException {
    int length = dst.remaining();
    if (length <= maxPiece) {
      readPiece(offset, dst);
      return;
    }
    // Large reads: pieces in parallel over the connections, one thread per extra piece in flight.
    int pieces = (length + maxPiece - 1) / maxPiece;
    IOException[] failures = new IOException[pieces];
    Thread[] threads = new Thread[pieces];
    for (int i = 0; i < pieces; i++) {
      int at = i * maxPiece;
      ByteBuffer piece = dst.slice(at, Math.min(maxPiece, length - at));
      int index = i;
      Runnable work =
          () -> {
            try {
              readPiece(offset + at, piece);
            } catch (IOException e) {
              failures[index] = e;
            }
          };
      if (slots.length > 1 && i < pieces - 1) {
        threads[i] = Thread.ofVirtual().start(work);
      } else {
        work.run();
      }
    }
    for (int i = 0; i < pieces; i++) {
      if (threads[i] != null) {
        try {
          threads[i].join();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new BlockIoException(Kind.IO, name(), "read", offset, "interrupted", e);
        }
      }
    }
    for (IOException f : failures) {
      if (f != null) {
        throw f;
      }
    }
  }

  /** One request of at most {@link #maxPiece} bytes, retried over fresh connections. */
  private void readPiece(long offset, ByteBuffer dst) throws IOException {
    IOException last = null;
    long backoff = options.initialBackoff().toMillis();
    for (int attempt = 1; attempt <= options.attempts(); attempt++) {
      int slot = Math.floorMod(nextSlot.getAndIncrement(), slots.length);
      NbdClient client = null;
      try {
        client = client(slot);
        client.read(offset, dst.duplicate());
        return;
      } catch (NbdClient.NbdServerError e) {
        if (e.errno() == NbdProtocol.ESHUTDOWN) {
          // The server is going away: like a dropped connection, retry on a fresh one. Close the
          // connection that said so (the slot may hold a newer one by now, or reconnect to close).
          client.close();
          last = e;
          sleep(backoff);
          backoff = Math.min(backoff * 2, 5000);
          continue;
        }
        throw new BlockIoException(
            e.errno() == NbdProtocol.EINVAL ? Kind.OUT_OF_RANGE : Kind.IO,
            name(),
            "read",
            offset,
            e.getMessage(),
            e);
      } catch (IOException e) {
        last = e;
        if (closed) {
          break;
        }
        log.warn(
            "NBD source {}: read at offset {} length {} failed (attempt {}/{}): {}",
            uri,
            offset,
            dst.remaining(),
            attempt,
            options.attempts(),
            e.getMessage());
        if (attempt < options.attempts()) {
          sleep(backoff);
          backoff = Math.min(backoff * 2, 5000);
        }
      }
    }
    throw new BlockIoException(
        Kind.IO,
        name(),
        "read",
        offset,
        "gave up after "
            + options.attempts()
            + " attempts: "
            + (last == null ? "" : last.getMessage()),
        last);
  }

  private NbdClient client(int slot) throws IOException {
    synchronized (slots) {
      NbdClient c = slots[slot];
      if (c != null && !c.isBroken()) {
        return c;
      }
      if (closed) {
        throw new IOException("device is closed");
      }
      if (c != null) {
        c.close();
        slots[slot] = null;
      }
    }
    // Connect outside the lock so other healthy slots keep serving.
    NbdClient fresh = NbdClient.connect(uri, options.connectTimeout());
    if (fresh.size() != size) {
      fresh.close();
      throw new BlockIoException(
          Kind.IO,
          name(),
          "reconnect",
          0,
          "the export now has " + fresh.size() + " bytes instead of " + size);
    }
    synchronized (slots) {
      if (slots[slot] != null && !slots[slot].isBroken()) {
        fresh.close();
        return slots[slot];
      }
      slots[slot] = fresh;
    }
    if (slot == 0 || log.isDebugEnabled()) {
      log.info("NBD source {}: connection {} (re)opened", uri, slot);
    }
    return fresh;
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** The server's largest BLOCK_STATUS length asked for, a multiple of any block size. */
  private static final long MAX_STATUS_LENGTH = 1L << 30;

  private void checkRange(String operation, long offset, long length) throws BlockIoException {
    if (offset < 0 || length < 0 || offset > size || length > size - offset) {
      throw new BlockIoException(
          Kind.OUT_OF_RANGE,
          name(),
          operation,
          offset,
          "range of " + length + " bytes is outside the export of " + size + " bytes");
    }
  }

  @Override
  public Run allocation(long offset, long length) throws IOException {
    checkRange("allocation", offset, length);
    if (length == 0 || closed) {
      return new Run(length, false);
    }
    if (offset % alignment != 0) {
      return new Run(Math.min(length, alignment - offset % alignment), false);
    }
    long asked = Math.min(length, MAX_STATUS_LENGTH);
    if (offset + asked < size) {
      asked -= asked % alignment;
    }
    if (asked == 0) {
      return new Run(length, false);
    }
    int slot = Math.floorMod(nextSlot.getAndIncrement(), slots.length);
    try {
      NbdClient client = client(slot);
      if (!client.canBlockStatus()) {
        return new Run(length, false);
      }
      long[] extent = client.blockStatus(offset, (int) asked);
      return new Run(extent[0], (extent[1] & NbdProtocol.STATE_ZERO) != 0);
    } catch (IOException e) {
      log.debug("NBD source {}: block status at offset {} failed: {}", uri, offset, e.getMessage());
      return new Run(length, false);
    }
  }

  private BlockIoException readOnlyError(String operation, long offset) {
    return new BlockIoException(
        Kind.READ_ONLY, name(), operation, offset, "an NBD source is opened read-only");
  }

  @Override
  public void write(long offset, ByteBuffer src) throws IOException {
    throw readOnlyError("write", offset);
  }

  /** Nothing to flush: this device never writes. */
  @Override
  public void flush() {}

  @Override
  public void discard(long offset, long length) throws IOException {
    throw readOnlyError("discard", offset);
  }

  @Override
  public void writeZeroes(long offset, long length) throws IOException {
    throw readOnlyError("write-zeroes", offset);
  }

  @Override
  public void close() {
    closed = true;
    synchronized (slots) {
      for (int i = 0; i < slots.length; i++) {
        if (slots[i] != null) {
          slots[i].close();
          slots[i] = null;
        }
      }
    }
  }
}
