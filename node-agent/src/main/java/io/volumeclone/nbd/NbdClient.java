package io.volumeclone.nbd;

import static io.volumeclone.nbd.NbdProtocol.*;

import io.volumeclone.nbd.NbdProtocol.NbdProtocolException;
import io.volumeclone.nbd.NbdProtocol.Request;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One read-only NBD client connection: fixed newstyle negotiation with {@code NBD_OPT_GO} (falling
 * back to {@code NBD_OPT_EXPORT_NAME}), structured replies when the server offers them, the {@code
 * base:allocation} meta context when it offers that too ({@link #blockStatus}, for sparse sources),
 * and pipelined reads: many threads may {@link #read} at once; a reader thread matches replies to
 * requests by cookie. When the connection breaks, every waiting and later request fails with an
 * {@link IOException}; {@link NbdBlockDevice} reconnects.
 */
public final class NbdClient implements Closeable {

  private static final Logger log = LoggerFactory.getLogger(NbdClient.class);

  private static final int MAX_OPTION_REPLY = 64 * 1024;

  /** An error the server replied with; the connection is still usable. */
  public static final class NbdServerError extends IOException {
    private final int errno;

    NbdServerError(int errno, String message) {
      super(message);
      this.errno = errno;
    }

    public int errno() {
      return errno;
    }
  }

  private final NbdUri uri;
  private final SocketChannel channel;
  private final ReentrantLock sendLock = new ReentrantLock();
  private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
  private final AtomicLong cookies = new AtomicLong(1);
  private long size;
  private int transmissionFlags;
  private boolean structured;
  private int allocationContext = -1;
  private int minimumBlockSize = 1;
  private int preferredBlockSize = 4096;
  private int maximumBlockSize = 32 << 20;
  private volatile IOException broken;
  private Thread readerThread;

  private NbdClient(NbdUri uri, SocketChannel channel) {
    this.uri = uri;
    this.channel = channel;
  }

  /** Connects and negotiates; gives up after {@code timeout}. */
  public static NbdClient connect(NbdUri uri, Duration timeout) throws IOException {
    SocketChannel channel;
    try {
      channel = SocketChannel.open(uri.socketAddress());
    } catch (IOException e) {
      throw new IOException("cannot connect to NBD server " + uri + ": " + e.getMessage(), e);
    }
    NbdClient client = new NbdClient(uri, channel);
    Thread watchdog =
        Thread.ofPlatform()
            .daemon()
            .name("nbd-connect-watchdog " + uri)
            .start(
                () -> {
                  try {
                    Thread.sleep(timeout);
                    channel.close();
                  } catch (InterruptedException | IOException e) {
                    // Negotiation finished in time.
                  }
                });
    try {
      client.negotiate();
    } catch (IOException e) {
      channel.close();
      throw new IOException("NBD negotiation with " + uri + " failed: " + e.getMessage() + "", e);
    } finally {
      watchdog.interrupt();
    }
    client.readerThread =
        Thread.ofPlatform().daemon().name("nbd-client-reader " + uri).start(client::readLoop);
    return client;
  }

  public NbdUri uri() {
    return uri;
  }

  public long size() {
    return size;
  }

  public boolean canMultiConn() {
    return (transmissionFlags & TFLAG_CAN_MULTI_CONN) != 0;
  }

  public boolean structuredReplies() {
    return structured;
  }

  /** True when the server agreed to report {@code base:allocation} ({@link #blockStatus}). */
  public boolean canBlockStatus() {
    return allocationContext >= 0;
  }

  public int minimumBlockSize() {
    return minimumBlockSize;
  }

  public int preferredBlockSize() {
    return preferredBlockSize;
  }

  public int maximumBlockSize() {
    return maximumBlockSize;
  }

  public boolean isBroken() {
    return broken != null || !channel.isOpen();
  }

  // ---------------------------------------------------------------- negotiation

  private void negotiate() throws IOException {
    ByteBuffer hello = readBytes(channel, 18);
    long magic = hello.getLong();
    long second = hello.getLong();
    if (magic != NBDMAGIC) {
      throw new NbdProtocolException("not an NBD server (magic 0x" + Long.toHexString(magic) + ")");
    }
    if (second != IHAVEOPT) {
      throw new NbdProtocolException("server speaks only the old-style handshake, not supported");
    }
    int serverFlags = Short.toUnsignedInt(hello.getShort());
    boolean fixed = (serverFlags & FLAG_FIXED_NEWSTYLE) != 0;
    boolean noZeroes = (serverFlags & FLAG_NO_ZEROES) != 0;
    int clientFlags = (fixed ? FLAG_C_FIXED_NEWSTYLE : 0) | (noZeroes ? FLAG_C_NO_ZEROES : 0);
    writeFully(channel, ByteBuffer.allocate(4).putInt(clientFlags).flip());
    if (fixed) {
      writeFully(channel, optionRequest(OPT_STRUCTURED_REPLY, null));
      OptionReply r = readOptionReply(OPT_STRUCTURED_REPLY);
      structured = r.type == REP_ACK;
      if (structured) {
        negotiateAllocationContext();
      }
      byte[] name = uri.exportName().getBytes(StandardCharsets.UTF_8);
      ByteBuffer go = ByteBuffer.allocate(4 + name.length + 2 + 2);
      go.putInt(name.length).put(name).putShort((short) 1).putShort((short) INFO_BLOCK_SIZE);
      writeFully(channel, optionRequest(OPT_GO, go.flip()));
      boolean gotExport = false;
      while (true) {
        OptionReply reply = readOptionReply(OPT_GO);
        if (reply.type == REP_ACK) {
          if (!gotExport) {
            throw new NbdProtocolException("server acknowledged NBD_OPT_GO without export info");
          }
          return;
        }
        if (reply.type == REP_INFO && reply.data.remaining() >= 2) {
          int info = Short.toUnsignedInt(reply.data.getShort());
          if (info == INFO_EXPORT && reply.data.remaining() >= 10) {
            size = reply.data.getLong();
            transmissionFlags = Short.toUnsignedInt(reply.data.getShort());
            gotExport = true;
          } else if (info == INFO_BLOCK_SIZE && reply.data.remaining() >= 12) {
            minimumBlockSize = reply.data.getInt();
            preferredBlockSize = reply.data.getInt();
            maximumBlockSize = reply.data.getInt();
            if (minimumBlockSize < 1
                || minimumBlockSize > 65536
                || Integer.bitCount(minimumBlockSize) != 1) {
              throw new NbdProtocolException(
                  "server advertised an invalid minimum block size " + minimumBlockSize);
            }
            if (maximumBlockSize < minimumBlockSize) {
              maximumBlockSize = 32 << 20;
            }
          }
          continue;
        }
        if (reply.type == REP_ERR_UNSUP) {
          break; // An old server: fall back to NBD_OPT_EXPORT_NAME.
        }
        if ((reply.type & 0x80000000) != 0) {
          String message = StandardCharsets.UTF_8.decode(reply.data).toString();
          throw new IOException(
              "server refused export '"
                  + uri.exportName()
                  + "' ("
                  + replyErrorName(reply.type)
                  + (message.isEmpty() ? "" : ": " + message)
                  + ")");
        }
      }
    }
    byte[] name = uri.exportName().getBytes(StandardCharsets.UTF_8);
    writeFully(channel, optionRequest(OPT_EXPORT_NAME, ByteBuffer.wrap(name)));
    ByteBuffer info = readBytes(channel, noZeroes ? 10 : 134);
    size = info.getLong();
    transmissionFlags = Short.toUnsignedInt(info.getShort());
  }

  /**
   * Asks for {@code base:allocation}; a server that does not offer it (an error reply, or no
   * context in the reply) leaves block status off and reads work as before.
   */
  private void negotiateAllocationContext() throws IOException {
    byte[] name = uri.exportName().getBytes(StandardCharsets.UTF_8);
    byte[] query = CONTEXT_BASE_ALLOCATION.getBytes(StandardCharsets.UTF_8);
    ByteBuffer data = ByteBuffer.allocate(4 + name.length + 4 + 4 + query.length);
    data.putInt(name.length).put(name).putInt(1).putInt(query.length).put(query);
    writeFully(channel, optionRequest(OPT_SET_META_CONTEXT, data.flip()));
    while (true) {
      OptionReply reply = readOptionReply(OPT_SET_META_CONTEXT);
      if (reply.type == REP_META_CONTEXT && reply.data.remaining() >= 4) {
        int id = reply.data.getInt();
        String context = StandardCharsets.UTF_8.decode(reply.data).toString();
        if (context.equals(CONTEXT_BASE_ALLOCATION)) {
          allocationContext = id;
        }
        continue;
      }
      if (reply.type != REP_ACK) {
        allocationContext = -1;
      }
      return;
    }
  }

  private static String replyErrorName(int type) {
    return switch (type) {
      case REP_ERR_UNSUP -> "NBD_REP_ERR_UNSUP";
      case REP_ERR_POLICY -> "NBD_REP_ERR_POLICY";
      case REP_ERR_INVALID -> "NBD_REP_ERR_INVALID";
      case REP_ERR_PLATFORM -> "NBD_REP_ERR_PLATFORM";
      case REP_ERR_TLS_REQD -> "NBD_REP_ERR_TLS_REQD (TLS is not supported by this client)";
      case REP_ERR_UNKNOWN -> "NBD_REP_ERR_UNKNOWN: no such export";
      case REP_ERR_SHUTDOWN -> "NBD_REP_ERR_SHUTDOWN";
      case REP_ERR_BLOCK_SIZE_REQD -> "NBD_REP_ERR_BLOCK_SIZE_REQD";
      case REP_ERR_TOO_BIG -> "NBD_REP_ERR_TOO_BIG";
      default -> "error 0x" + Integer.toHexString(type);
    };
  }

  private record OptionReply(int type, ByteBuffer data) {}

  private OptionReply readOptionReply(int option) throws IOException {
    ByteBuffer h = readBytes(channel, 20);
    long magic = h.getLong();
    int opt = h.getInt();
    int type = h.getInt();
    long length = Integer.toUnsignedLong(h.getInt());
    if (magic != OPTION_REPLY_MAGIC) {
      throw new NbdProtocolException("bad option reply magic 0x" + Long.toHexString(magic));
    }
    if (opt != option) {
      throw new NbdProtocolException(
          "reply for option " + opt + " while waiting for " + optionName(option));
    }
    if (length > MAX_OPTION_REPLY) {
      throw new NbdProtocolException("option reply of " + length + " bytes is too long");
    }
    return new OptionReply(type, readBytes(channel, (int) length));
  }

  // ---------------------------------------------------------------- transmission

  private static final class Pending {
    final long offset;
    final ByteBuffer dst;
    final String operation;
    final CountDownLatch done = new CountDownLatch(1);
    volatile IOException error;

    /** For block status: the first extent's length and flags, or -1 before it arrived. */
    volatile long extentLength = -1;

    volatile int extentFlags;

    Pending(long offset, ByteBuffer dst, String operation) {
      this.offset = offset;
      this.dst = dst;
      this.operation = operation;
    }
  }

  /** Largest BLOCK_STATUS chunk accepted; with REQ_ONE a server sends one extent (12 bytes). */
  private static final int MAX_STATUS_CHUNK = 1 << 20;

  /**
   * {@code NBD_CMD_BLOCK_STATUS} with {@code REQ_ONE} for {@code base:allocation}: the first extent
   * at {@code offset} as {@code {length, flags}}, its length at most {@code length}. Only when
   * {@link #canBlockStatus()}.
   *
   * @throws NbdServerError when the server replied with an error
   * @throws IOException when the connection broke or the reply carried no extent
   */
  public long[] blockStatus(long offset, int length) throws IOException {
    if (!canBlockStatus()) {
      throw new IllegalStateException("base:allocation was not negotiated with " + uri);
    }
    Pending p = new Pending(offset, ByteBuffer.allocate(0), "block status");
    send(p, CMD_FLAG_REQ_ONE, CMD_BLOCK_STATUS, offset, length);
    if (p.extentLength <= 0) {
      throw new NbdProtocolException(
          "BLOCK_STATUS at offset " + offset + " was answered without a base:allocation extent");
    }
    return new long[] {Math.min(p.extentLength, length), p.extentFlags};
  }

  /**
   * Reads {@code dst.remaining()} bytes at {@code offset}; the length must not exceed {@link
   * #maximumBlockSize()}. Blocks until the reply arrived. Safe to call from many threads.
   *
   * @throws NbdServerError when the server replied with an error
   * @throws IOException when the connection broke (the request may be retried elsewhere)
   */
  public void read(long offset, ByteBuffer dst) throws IOException {
    int length = dst.remaining();
    send(new Pending(offset, dst.slice(), "read"), 0, CMD_READ, offset, length);
    dst.position(dst.position() + length);
  }

  /** Sends a request and waits for its reply, failing with its error. */
  private void send(Pending p, int flags, int type, long offset, int length) throws IOException {
    long cookie = cookies.getAndIncrement();
    pending.put(cookie, p);
    IOException b = broken;
    if (b != null) {
      pending.remove(cookie);
      throw b;
    }
    ByteBuffer header = ByteBuffer.allocate(REQUEST_HEADER_SIZE);
    new Request(flags, type, cookie, offset, length).encode(header);
    header.flip();
    sendLock.lock();
    try {
      writeFully(channel, header);
    } catch (IOException e) {
      pending.remove(cookie);
      fail(new IOException("connection to " + uri + " lost: " + e.getMessage(), e));
      throw broken;
    } finally {
      sendLock.unlock();
    }
    try {
      p.done.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(
          "interrupted during " + p.operation + " of " + uri + " at offset " + offset, e);
    }
    if (p.error != null) {
      throw p.error;
    }
  }

  private void readLoop() {
    ByteBuffer magic = ByteBuffer.allocate(4);
    try {
      while (true) {
        magic.clear();
        readFully(channel, magic);
        int m = magic.flip().getInt();
        if (m == SIMPLE_REPLY_MAGIC) {
          ByteBuffer h = readBytes(channel, 12);
          int error = h.getInt();
          long cookie = h.getLong();
          Pending p = pending.remove(cookie);
          if (p == null) {
            throw new NbdProtocolException("reply for unknown cookie " + cookie);
          }
          if (error != 0) {
            p.error = serverError(error, p, null);
          } else {
            readFully(channel, p.dst.duplicate());
          }
          p.done.countDown();
        } else if (m == STRUCTURED_REPLY_MAGIC) {
          readChunk();
        } else {
          throw new NbdProtocolException("bad reply magic 0x" + Integer.toHexString(m));
        }
      }
    } catch (IOException e) {
      fail(
          new IOException(
              "connection to " + uri + " lost: " + (e.getMessage() == null ? e : e.getMessage()),
              e));
    }
  }

  private void readChunk() throws IOException {
    ByteBuffer h = readBytes(channel, 16);
    int flags = Short.toUnsignedInt(h.getShort());
    int type = Short.toUnsignedInt(h.getShort());
    long cookie = h.getLong();
    long length = Integer.toUnsignedLong(h.getInt());
    Pending p = pending.get(cookie);
    if (p == null) {
      throw new NbdProtocolException("structured reply for unknown cookie " + cookie);
    }
    int requestLength = p.dst.capacity();
    switch (type) {
      case REPLY_TYPE_OFFSET_DATA -> {
        if (length < 8) {
          throw new NbdProtocolException("OFFSET_DATA chunk of " + length + " bytes");
        }
        long offset = readBytes(channel, 8).getLong();
        long dataLength = length - 8;
        long at = offset - p.offset;
        if (at < 0 || at + dataLength > requestLength) {
          throw new NbdProtocolException(
              "OFFSET_DATA chunk at " + offset + " outside the request at " + p.offset);
        }
        readFully(channel, p.dst.duplicate().position((int) at).limit((int) (at + dataLength)));
      }
      case REPLY_TYPE_OFFSET_HOLE -> {
        if (length != 12) {
          throw new NbdProtocolException("OFFSET_HOLE chunk of " + length + " bytes");
        }
        ByteBuffer b = readBytes(channel, 12);
        long offset = b.getLong();
        long holeLength = Integer.toUnsignedLong(b.getInt());
        long at = offset - p.offset;
        if (at < 0 || at + holeLength > requestLength) {
          throw new NbdProtocolException(
              "OFFSET_HOLE chunk at " + offset + " outside the request at " + p.offset);
        }
        ByteBuffer d = p.dst.duplicate();
        for (int i = (int) at; i < at + holeLength; i++) {
          d.put(i, (byte) 0);
        }
      }
      case REPLY_TYPE_BLOCK_STATUS -> {
        if (length < 12 || length > MAX_STATUS_CHUNK || (length - 4) % 8 != 0) {
          throw new NbdProtocolException("BLOCK_STATUS chunk of " + length + " bytes");
        }
        ByteBuffer b = readBytes(channel, (int) length);
        if (b.getInt() == allocationContext && p.extentLength < 0) {
          long extent = Integer.toUnsignedLong(b.getInt());
          p.extentFlags = b.getInt();
          p.extentLength = extent;
        }
      }
      case REPLY_TYPE_NONE -> skip(channel, length);
      default -> {
        if ((type & 0x8000) != 0 && length >= 6 && length <= MAX_OPTION_REPLY) {
          ByteBuffer b = readBytes(channel, (int) length);
          int errno = b.getInt();
          int messageLength = Short.toUnsignedInt(b.getShort());
          String message =
              messageLength <= b.remaining()
                  ? StandardCharsets.UTF_8.decode(b.slice().limit(messageLength)).toString()
                  : "";
          p.error = serverError(errno, p, message);
        } else {
          skip(channel, length);
          if ((type & 0x8000) != 0) {
            p.error = serverError(EIO, p, "malformed error chunk");
          }
        }
      }
    }
    if ((flags & REPLY_FLAG_DONE) != 0) {
      pending.remove(cookie);
      p.done.countDown();
    }
  }

  private NbdServerError serverError(int errno, Pending p, String message) {
    return new NbdServerError(
        errno,
        "NBD server "
            + uri
            + " replied "
            + errnoName(errno)
            + " to a "
            + p.operation
            + " at offset "
            + p.offset
            + (message == null || message.isEmpty() ? "" : ": " + message));
  }

  private void fail(IOException cause) {
    if (broken == null) {
      broken = cause;
      log.debug("NBD connection to {} broken: {}", uri, cause.getMessage());
    }
    try {
      channel.close();
    } catch (IOException ignored) {
      // Already failing.
    }
    for (Long cookie : pending.keySet()) {
      Pending p = pending.remove(cookie);
      if (p != null) {
        p.error = broken;
        p.done.countDown();
      }
    }
  }

  /** Sends NBD_CMD_DISC (when the connection is healthy) and closes. */
  @Override
  public void close() {
    if (broken == null && channel.isOpen()) {
      ByteBuffer header = ByteBuffer.allocate(REQUEST_HEADER_SIZE);
      new Request(0, CMD_DISC, 0, 0, 0).encode(header);
      sendLock.lock();
      try {
        writeFully(channel, header.flip());
      } catch (IOException ignored) {
        // Closing anyway.
      } finally {
        sendLock.unlock();
      }
    }
    fail(new IOException("connection to " + uri + " closed"));
    if (readerThread != null) {
      try {
        readerThread.join(1000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
