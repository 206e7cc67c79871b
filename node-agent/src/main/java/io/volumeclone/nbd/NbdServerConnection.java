package io.volumeclone.nbd;

import static io.volumeclone.nbd.NbdProtocol.*;

import io.volumeclone.engine.BlockIoException;
import io.volumeclone.engine.BlockTarget;
import io.volumeclone.engine.BufferPool;
import io.volumeclone.nbd.NbdProtocol.NbdProtocolException;
import io.volumeclone.nbd.NbdProtocol.Request;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection of an {@link NbdServer}: negotiation, then the transmission phase. The
 * thread running {@link #run()} reads every byte the client sends; workers execute requests and
 * write replies under {@link #replyLock}.
 */
final class NbdServerConnection {

  private static final Logger log = LoggerFactory.getLogger(NbdServerConnection.class);

  /** Longest option we buffer; longer ones are skipped (up to {@link #MAX_SKIPPED_OPTION}). */
  static final int MAX_OPTION_LENGTH = 64 * 1024;

  /** Longer options than this are not worth reading: the connection is closed. */
  static final int MAX_SKIPPED_OPTION = 16 << 20;

  /** Payload bytes of requests being executed at once on one connection (bounds memory). */
  static final int MAX_IN_FLIGHT_KIB = 64 * 1024;

  /** Socket send buffer asked for in transmission. */
  static final int SEND_BUFFER_BYTES = 4 << 20;

  /** Extents per context in one BLOCK_STATUS reply. */
  static final int MAX_EXTENTS = 4096;

  /**
   * Reply headers of the data path, per thread: direct, so the gathering write of header and data
   * goes to the socket without the JDK copying anything.
   */
  private static final ThreadLocal<ByteBuffer> REPLY_HEAD =
      ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(32));

  static final int CONTEXT_ID_ALLOCATION = 1;
  static final int CONTEXT_ID_COPIED = 2;

  private final NbdServer server;
  private final BufferPool buffers;
  private final SocketChannel channel;
  private final String peer;
  private final ReentrantLock replyLock = new ReentrantLock();
  private final CountDownLatch closed = new CountDownLatch(1);

  private boolean structuredReplies;
  private List<Integer> selectedContexts = List.of();
  private BlockTarget contextExport;
  private BlockTarget target;
  private volatile boolean transmitting;
  private volatile boolean shuttingDown;
  private volatile String closeReason;

  NbdServerConnection(NbdServer server, SocketChannel channel) {
    this.server = server;
    this.buffers = server.buffers();
    this.channel = channel;
    String p;
    try {
      var remote = channel.getRemoteAddress();
      p = remote == null || remote.toString().isEmpty() ? "unix-peer" : remote.toString();
    } catch (IOException e) {
      p = "unknown-peer";
    }
    if (p.equals("unix-peer") || p.isEmpty()) {
      p = "unix client #" + Integer.toHexString(System.identityHashCode(this));
    }
    this.peer = p;
  }

  String peer() {
    return peer;
  }

  void run() {
    ScheduledFuture<?> deadline =
        server
            .timers()
            .schedule(
                this::negotiationTimedOut,
                server.options().negotiationTimeout().toMillis(),
                TimeUnit.MILLISECONDS);
    try {
      boolean enter = negotiate();
      deadline.cancel(false);
      if (enter) {
        transmitting = true;
        transmit();
      }
    } catch (NbdProtocolException e) {
      log.warn("NBD client {}: {}", peer, e.getMessage());
    } catch (EOFException e) {
      if (closeReason != null) {
        log.warn("NBD client {}: {}", peer, closeReason);
      } else if (!transmitting) {
        log.info("NBD client {} disconnected during negotiation", peer);
      } else if (!shuttingDown) {
        log.info("NBD client {} closed the connection without NBD_CMD_DISC", peer);
      }
    } catch (IOException e) {
      if (closeReason != null) {
        log.warn("NBD client {}: {}", peer, closeReason);
      } else if (!shuttingDown) {
        log.info("NBD client {}: connection ended: {}", peer, e.toString());
      }
    } catch (RuntimeException e) {
      log.error("NBD client {}: unexpected failure, closing the connection", peer, e);
    } finally {
      deadline.cancel(false);
      closeQuietly();
      closed.countDown();
    }
  }

  private void negotiationTimedOut() {
    if (!transmitting) {
      closeReason =
          "negotiation not finished within "
              + server.options().negotiationTimeout().toSeconds()
              + " s, closing the connection";
      closeQuietly();
    }
  }

  /** Stops reading new requests; in-flight ones still get their replies. */
  void shutdown() {
    shuttingDown = true;
    try {
      if (transmitting) {
        channel.shutdownInput();
      } else {
        channel.close();
      }
    } catch (IOException e) {
      closeQuietly();
    }
  }

  void awaitClosed(long millis) {
    try {
      if (!closed.await(millis, TimeUnit.MILLISECONDS)) {
        closeQuietly();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void closeQuietly() {
    try {
      channel.close();
    } catch (IOException ignored) {
      // Already broken; nothing more to release.
    }
  }

  // ---------------------------------------------------------------- negotiation

  /**
   * @return true to enter transmission with {@link #target} set, false when the client aborted
   */
  private boolean negotiate() throws IOException {
    ByteBuffer hello = ByteBuffer.allocate(18);
    hello
        .putLong(NBDMAGIC)
        .putLong(IHAVEOPT)
        .putShort((short) (FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES));
    send(hello.flip());
    int clientFlags = readBytes(channel, 4).getInt();
    if ((clientFlags & ~(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)) != 0) {
      throw new NbdProtocolException(
          "unknown client flags 0x"
              + Integer.toHexString(clientFlags)
              + ", closing the connection");
    }
    boolean noZeroes = (clientFlags & FLAG_C_NO_ZEROES) != 0;
    while (true) {
      ByteBuffer header = readBytes(channel, 16);
      long magic = header.getLong();
      if (magic != IHAVEOPT) {
        throw new NbdProtocolException(
            "bad option magic 0x" + Long.toHexString(magic) + ", closing the connection");
      }
      int option = header.getInt();
      long length = Integer.toUnsignedLong(header.getInt());
      if (length > MAX_OPTION_LENGTH) {
        if (length > MAX_SKIPPED_OPTION || option == OPT_EXPORT_NAME) {
          throw new NbdProtocolException(
              "option "
                  + optionName(option)
                  + " has length "
                  + length
                  + ", over the limit of "
                  + MAX_OPTION_LENGTH
                  + " bytes, closing the connection");
        }
        skip(channel, length);
        log.warn("NBD client {}: option {} of {} bytes refused as too big", peer, option, length);
        send(
            optionReply(option, REP_ERR_TOO_BIG, "option data of " + length + " bytes is too big"));
        continue;
      }
      ByteBuffer data = readBytes(channel, (int) length);
      switch (option) {
        case OPT_EXPORT_NAME -> {
          String name = StandardCharsets.UTF_8.decode(data).toString();
          BlockTarget t = server.export(name);
          if (t == null) {
            throw new NbdProtocolException(
                "NBD_OPT_EXPORT_NAME asked for unknown export '" + name + "', closing");
          }
          selectExport(t);
          ByteBuffer reply = ByteBuffer.allocate(noZeroes ? 10 : 134);
          reply.putLong(t.size()).putShort((short) transmissionFlags(t));
          reply.position(reply.capacity());
          send(reply.flip());
          log.info("NBD client {} attached to export '{}' (EXPORT_NAME)", peer, t.name());
          return true;
        }
        case OPT_ABORT -> {
          send(optionReply(option, REP_ACK, (ByteBuffer) null));
          log.debug("NBD client {} aborted negotiation", peer);
          return false;
        }
        case OPT_LIST -> {
          if (length != 0) {
            send(optionReply(option, REP_ERR_INVALID, "NBD_OPT_LIST takes no data"));
            continue;
          }
          for (BlockTarget t : server.exports()) {
            byte[] name = t.name().getBytes(StandardCharsets.UTF_8);
            ByteBuffer entry = ByteBuffer.allocate(4 + name.length).putInt(name.length).put(name);
            send(optionReply(option, REP_SERVER, entry.flip()));
          }
          send(optionReply(option, REP_ACK, (ByteBuffer) null));
        }
        case OPT_STRUCTURED_REPLY -> {
          if (length != 0) {
            send(optionReply(option, REP_ERR_INVALID, "NBD_OPT_STRUCTURED_REPLY takes no data"));
            continue;
          }
          structuredReplies = true;
          send(optionReply(option, REP_ACK, (ByteBuffer) null));
        }
        case OPT_INFO, OPT_GO -> {
          if (handleInfo(option, data) && option == OPT_GO) {
            log.info("NBD client {} attached to export '{}'", peer, target.name());
            return true;
          }
        }
        case OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT -> handleMetaContext(option, data);
        default ->
            send(
                optionReply(
                    option,
                    REP_ERR_UNSUP,
                    optionName(option) + " is not supported by this server"));
      }
    }
  }

  private void selectExport(BlockTarget t) {
    if (contextExport != null && contextExport != t) {
      selectedContexts = List.of();
    }
    target = t;
  }

  private int transmissionFlags(BlockTarget t) {
    int flags =
        TFLAG_HAS_FLAGS
            | TFLAG_SEND_FLUSH
            | TFLAG_SEND_FUA
            | TFLAG_SEND_TRIM
            | TFLAG_SEND_WRITE_ZEROES
            | TFLAG_SEND_FAST_ZERO
            | TFLAG_CAN_MULTI_CONN;
    if (structuredReplies) {
      flags |= TFLAG_SEND_DF;
    }
    if (t.readOnly()) {
      flags |= TFLAG_READ_ONLY;
    }
    return flags;
  }

  /** Reads a length-prefixed (32-bit) string, or returns null when the data is malformed. */
  private static String readString(ByteBuffer data) {
    if (data.remaining() < 4) {
      return null;
    }
    long len = Integer.toUnsignedLong(data.getInt());
    if (len > data.remaining() || len > MAX_STRING) {
      return null;
    }
    byte[] bytes = new byte[(int) len];
    data.get(bytes);
    return new String(bytes, StandardCharsets.UTF_8);
  }

  /** NBD_OPT_INFO / NBD_OPT_GO. Returns true when the export was found and described. */
  private boolean handleInfo(int option, ByteBuffer data) throws IOException {
    String name = readString(data);
    if (name == null || data.remaining() < 2) {
      send(optionReply(option, REP_ERR_INVALID, optionName(option) + " data is malformed"));
      return false;
    }
    int requests = Short.toUnsignedInt(data.getShort());
    if (data.remaining() != requests * 2) {
      send(
          optionReply(
              option,
              REP_ERR_INVALID,
              optionName(option)
                  + " announces "
                  + requests
                  + " info requests but carries "
                  + data.remaining()
                  + " bytes"));
      return false;
    }
    Set<Integer> wanted = new LinkedHashSet<>();
    for (int i = 0; i < requests; i++) {
      wanted.add(Short.toUnsignedInt(data.getShort()));
    }
    BlockTarget t = server.export(name);
    if (t == null) {
      send(optionReply(option, REP_ERR_UNKNOWN, "no export named '" + name + "'"));
      return false;
    }
    ByteBuffer export = ByteBuffer.allocate(12);
    export.putShort((short) INFO_EXPORT).putLong(t.size()).putShort((short) transmissionFlags(t));
    send(optionReply(option, REP_INFO, export.flip()));
    if (wanted.contains(INFO_NAME)) {
      byte[] n = t.name().getBytes(StandardCharsets.UTF_8);
      send(
          optionReply(
              option,
              REP_INFO,
              ByteBuffer.allocate(2 + n.length).putShort((short) INFO_NAME).put(n).flip()));
    }
    String description = server.options().description();
    if (wanted.contains(INFO_DESCRIPTION) && description != null) {
      byte[] d = truncatedUtf8(description, MAX_STRING);
      send(
          optionReply(
              option,
              REP_INFO,
              ByteBuffer.allocate(2 + d.length).putShort((short) INFO_DESCRIPTION).put(d).flip()));
    }
    int[] sizes = blockSizes(t);
    ByteBuffer bs = ByteBuffer.allocate(14);
    bs.putShort((short) INFO_BLOCK_SIZE).putInt(sizes[0]).putInt(sizes[1]).putInt(sizes[2]);
    send(optionReply(option, REP_INFO, bs.flip()));
    send(optionReply(option, REP_ACK, (ByteBuffer) null));
    if (option == OPT_GO) {
      selectExport(t);
    }
    return true;
  }

  /** Minimum, preferred and maximum block size advertised for {@code t}. */
  int[] blockSizes(BlockTarget t) {
    int max = server.options().maxBlockSize();
    int min = t.minimumBlockSize();
    // Clients refuse requests that are not multiples of the minimum, so a size that is not one
    // would leave the export's last bytes unreachable; the export serves any byte range.
    if (min < 1 || min > 65536 || Integer.bitCount(min) != 1 || t.size() % min != 0) {
      min = 1;
    }
    int preferred = Math.max(4096, Math.max(min, t.preferredBlockSize()));
    if (Integer.bitCount(preferred) != 1) {
      preferred = Integer.highestOneBit(preferred);
    }
    preferred = Math.min(preferred, max);
    return new int[] {min, preferred, max};
  }

  private void handleMetaContext(int option, ByteBuffer data) throws IOException {
    boolean set = option == OPT_SET_META_CONTEXT;
    if (set && !structuredReplies) {
      send(
          optionReply(
              option,
              REP_ERR_INVALID,
              "NBD_OPT_SET_META_CONTEXT needs NBD_OPT_STRUCTURED_REPLY first"));
      return;
    }
    String name = readString(data);
    if (name == null || data.remaining() < 4) {
      send(optionReply(option, REP_ERR_INVALID, optionName(option) + " data is malformed"));
      return;
    }
    long count = Integer.toUnsignedLong(data.getInt());
    List<String> queries = new ArrayList<>();
    for (long i = 0; i < count; i++) {
      String q = readString(data);
      if (q == null) {
        send(
            optionReply(
                option, REP_ERR_INVALID, optionName(option) + " query " + i + " is malformed"));
        return;
      }
      queries.add(q);
    }
    if (data.hasRemaining()) {
      send(optionReply(option, REP_ERR_INVALID, optionName(option) + " has trailing bytes"));
      return;
    }
    BlockTarget t = server.export(name);
    if (t == null) {
      send(optionReply(option, REP_ERR_UNKNOWN, "no export named '" + name + "'"));
      return;
    }
    Set<Integer> matched = new LinkedHashSet<>();
    if (!set && queries.isEmpty()) {
      matched.add(CONTEXT_ID_ALLOCATION);
      matched.add(CONTEXT_ID_COPIED);
    }
    for (String q : queries) {
      if (q.equals(CONTEXT_BASE_ALLOCATION) || (!set && q.equals("base:"))) {
        matched.add(CONTEXT_ID_ALLOCATION);
      } else if (q.equals(CONTEXT_COPIED) || (!set && q.equals("volume-clone:"))) {
        matched.add(CONTEXT_ID_COPIED);
      }
    }
    for (int id : matched) {
      byte[] n = contextName(id).getBytes(StandardCharsets.UTF_8);
      ByteBuffer reply = ByteBuffer.allocate(4 + n.length).putInt(set ? id : 0).put(n);
      send(optionReply(option, REP_META_CONTEXT, reply.flip()));
    }
    if (set) {
      selectedContexts = List.copyOf(matched);
      contextExport = t;
    }
    send(optionReply(option, REP_ACK, (ByteBuffer) null));
  }

  static String contextName(int id) {
    return id == CONTEXT_ID_ALLOCATION ? CONTEXT_BASE_ALLOCATION : CONTEXT_COPIED;
  }

  private void send(ByteBuffer... buffers) throws IOException {
    replyLock.lock();
    try {
      writeFully(channel, buffers);
    } finally {
      replyLock.unlock();
    }
  }

  // ---------------------------------------------------------------- transmission

  private void transmit() throws IOException {
    var options = server.options();
    try {
      // A read reply then leaves in one write instead of waiting for the client to drain the
      // socket's default 208 KiB; the kernel caps the size at net.core.wmem_max.
      channel.setOption(java.net.StandardSocketOptions.SO_SNDBUF, SEND_BUFFER_BYTES);
    } catch (IOException | UnsupportedOperationException e) {
      log.debug("NBD client {}: cannot enlarge the send buffer: {}", peer, e.toString());
    }
    ExecutorService workers =
        new ThreadPoolExecutor(
            options.workersPerConnection(),
            options.workersPerConnection(),
            30,
            TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(),
            Thread.ofPlatform().daemon().name("nbd-worker " + peer).factory());
    Semaphore inFlight = new Semaphore(options.maxInFlightPerConnection());
    Semaphore inFlightKib = new Semaphore(MAX_IN_FLIGHT_KIB);
    long size = target.size();
    int maxBlock = options.maxBlockSize();
    ByteBuffer header = ByteBuffer.allocateDirect(REQUEST_HEADER_SIZE);
    try {
      while (true) {
        header.clear();
        try {
          readFully(channel, header);
        } catch (EOFException e) {
          if (header.position() > 0) {
            log.warn("NBD client {}: connection closed in the middle of a request header", peer);
          } else if (!shuttingDown) {
            log.info("NBD client {} closed the connection without NBD_CMD_DISC", peer);
          }
          return;
        }
        Request r = Request.decode(header.flip());
        if (r.type() == CMD_DISC) {
          log.info("NBD client {} disconnected from export '{}'", peer, target.name());
          return;
        }
        ByteBuffer payload = null;
        if (r.type() == CMD_WRITE) {
          if (r.length() > maxBlock) {
            // Read and drop the payload so the stream stays in step, then refuse.
            skip(channel, r.length());
            replyError(
                r,
                EINVAL,
                "write of " + r.length() + " bytes exceeds the maximum block size " + maxBlock);
            continue;
          }
        }
        int errno = validate(r, size, maxBlock);
        int kib =
            (int)
                Math.min(
                    MAX_IN_FLIGHT_KIB,
                    (r.type() == CMD_READ || r.type() == CMD_WRITE ? r.length() : 0) / 1024 + 1);
        if (r.type() == CMD_WRITE) {
          acquire(inFlight, 1);
          acquire(inFlightKib, kib);
          payload = buffers.take((int) r.length());
          try {
            readFully(channel, payload);
          } catch (IOException e) {
            buffers.give(payload);
            inFlightKib.release(kib);
            inFlight.release();
            if (e instanceof EOFException) {
              log.warn(
                  "NBD client {}: connection closed in the middle of a write payload at offset {}",
                  peer,
                  r.offset());
              return;
            }
            throw e;
          }
          payload.flip();
          if (errno != 0) {
            buffers.give(payload);
            inFlightKib.release(kib);
            inFlight.release();
          }
        }
        if (errno != 0) {
          replyError(r, errno, describeInvalid(r, errno, size, maxBlock));
          continue;
        }
        if (r.type() != CMD_WRITE) {
          acquire(inFlight, 1);
          acquire(inFlightKib, kib);
        }
        ByteBuffer writeData = payload;
        workers.execute(
            () -> {
              try {
                execute(r, writeData);
              } finally {
                buffers.give(writeData);
                inFlightKib.release(kib);
                inFlight.release();
              }
            });
      }
    } finally {
      workers.shutdown();
      try {
        if (!workers.awaitTermination(60, TimeUnit.SECONDS)) {
          log.warn("NBD client {}: requests still running after 60 s, closing anyway", peer);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private static void acquire(Semaphore s, int permits) throws IOException {
    try {
      s.acquire(permits);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }

  /** Checks a request before any I/O; returns 0 or the errno to reply with. */
  private int validate(Request r, long size, int maxBlock) {
    if ((r.flags() & ~CMD_FLAGS_KNOWN) != 0) {
      return EINVAL;
    }
    switch (r.type()) {
      case CMD_READ, CMD_WRITE, CMD_TRIM, CMD_WRITE_ZEROES, CMD_BLOCK_STATUS -> {}
      case CMD_FLUSH -> {
        return 0;
      }
      default -> {
        return EINVAL;
      }
    }
    if (r.type() == CMD_BLOCK_STATUS && (!structuredReplies || selectedContexts.isEmpty())) {
      return EINVAL;
    }
    if (r.length() == 0) {
      return EINVAL;
    }
    if ((r.type() == CMD_READ || r.type() == CMD_WRITE) && r.length() > maxBlock) {
      return EINVAL;
    }
    if (!r.withinSize(size)) {
      // The protocol asks for ENOSPC on writes past the end, EINVAL otherwise.
      return r.type() == CMD_WRITE || r.type() == CMD_WRITE_ZEROES ? ENOSPC : EINVAL;
    }
    if (target.readOnly()
        && (r.type() == CMD_WRITE || r.type() == CMD_TRIM || r.type() == CMD_WRITE_ZEROES)) {
      return EPERM;
    }
    return 0;
  }

  private String describeInvalid(Request r, int errno, long size, int maxBlock) {
    String what =
        commandName(r.type())
            + " at offset "
            + Long.toUnsignedString(r.offset())
            + " length "
            + r.length();
    String why;
    if ((r.flags() & ~CMD_FLAGS_KNOWN) != 0) {
      why = "unknown command flags 0x" + Integer.toHexString(r.flags());
    } else if (errno == EINVAL && (r.type() > CMD_BLOCK_STATUS || r.type() == CMD_CACHE)) {
      why = "unsupported command";
    } else if (r.type() == CMD_BLOCK_STATUS && (!structuredReplies || selectedContexts.isEmpty())) {
      why = "no metadata context was negotiated";
    } else if (r.length() == 0) {
      why = "zero length";
    } else if (r.length() > maxBlock && (r.type() == CMD_READ || r.type() == CMD_WRITE)) {
      why = "length exceeds the maximum block size " + maxBlock;
    } else if (errno == EPERM) {
      why = "export is read-only";
    } else {
      why = "range is outside the export of " + size + " bytes";
    }
    String message = what + " on export '" + target.name() + "' refused: " + why;
    log.debug("NBD client {}: {}", peer, message);
    return message;
  }

  private void execute(Request r, ByteBuffer payload) {
    boolean fua = (r.flags() & CMD_FLAG_FUA) != 0;
    try {
      switch (r.type()) {
        case CMD_READ -> {
          ByteBuffer data = buffers.take((int) r.length());
          try {
            target.read(r.offset(), data);
            data.flip();
            ByteBuffer head = REPLY_HEAD.get().clear();
            if (structuredReplies) {
              head.putInt(STRUCTURED_REPLY_MAGIC)
                  .putShort((short) REPLY_FLAG_DONE)
                  .putShort((short) REPLY_TYPE_OFFSET_DATA)
                  .putLong(r.cookie())
                  .putInt(8 + data.remaining())
                  .putLong(r.offset());
            } else {
              head.putInt(SIMPLE_REPLY_MAGIC).putInt(0).putLong(r.cookie());
            }
            reply(head.flip(), data);
          } finally {
            buffers.give(data);
          }
          return;
        }
        case CMD_WRITE -> target.write(r.offset(), payload, fua);
        case CMD_FLUSH -> target.flush();
        case CMD_TRIM -> target.discard(r.offset(), r.length(), fua);
        case CMD_WRITE_ZEROES ->
            target.writeZeroes(
                r.offset(),
                r.length(),
                fua,
                (r.flags() & CMD_FLAG_NO_HOLE) != 0,
                (r.flags() & CMD_FLAG_FAST_ZERO) != 0);
        case CMD_BLOCK_STATUS -> {
          blockStatus(r);
          return;
        }
        default -> throw new IllegalStateException("unvalidated command " + r.type());
      }
      ByteBuffer head = REPLY_HEAD.get().clear();
      reply(head.putInt(SIMPLE_REPLY_MAGIC).putInt(0).putLong(r.cookie()).flip());
    } catch (IOException | RuntimeException e) {
      int errno = errnoOf(e);
      String message =
          commandName(r.type())
              + " at offset "
              + r.offset()
              + " length "
              + r.length()
              + " on export '"
              + target.name()
              + "' failed: "
              + e.getMessage();
      if (errno == ENOTSUP) {
        log.debug("NBD client {}: {}", peer, message);
      } else if (e instanceof BlockIoException) {
        log.warn("NBD client {}: {}", peer, message);
      } else {
        log.warn("NBD client {}: {}", peer, message, e);
      }
      replyError(r, errno, message);
    }
  }

  private void blockStatus(Request r) throws IOException {
    boolean reqOne = (r.flags() & CMD_FLAG_REQ_ONE) != 0;
    long end = r.offset() + r.length();
    List<ByteBuffer> chunks = new ArrayList<>();
    List<Integer> contexts = selectedContexts;
    for (int i = 0; i < contexts.size(); i++) {
      int id = contexts.get(i);
      ExtentCollector collector =
          new ExtentCollector(r.offset(), end, reqOne ? 1 : MAX_EXTENTS, id);
      if (id == CONTEXT_ID_ALLOCATION) {
        target.allocationExtents(r.offset(), r.length(), collector);
      } else {
        target.copiedExtents(r.offset(), r.length(), collector);
      }
      if (collector.count == 0) {
        // Claiming data is always safe for allocation; "not copied" is the safe claim for copies.
        collector.add(r.length(), id == CONTEXT_ID_ALLOCATION ? 0 : STATE_HOLE);
      }
      ByteBuffer body = collector.encode();
      boolean last = i == contexts.size() - 1;
      chunks.add(
          structuredHeader(
              last ? REPLY_FLAG_DONE : 0, REPLY_TYPE_BLOCK_STATUS, r.cookie(), body.remaining()));
      chunks.add(body);
    }
    reply(chunks.toArray(ByteBuffer[]::new));
  }

  /** Clips, merges and caps the extents a target reports into protocol descriptors. */
  private static final class ExtentCollector implements BlockTarget.ExtentSink {
    private final long end;
    private final int max;
    private final int contextId;
    private long next;
    private final long[] lengths;
    private final int[] flags;
    int count;

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
          contextId == CONTEXT_ID_ALLOCATION
              ? (hole ? STATE_HOLE : 0) | (zero ? STATE_ZERO : 0)
              : (hole ? STATE_HOLE : 0);
      if (!add(e - s, f)) {
        return false;
      }
      return next < end;
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

  private void replyError(Request r, int errno, String message) {
    try {
      if (structuredReplies) {
        reply(structuredError(r.cookie(), errno, message));
      } else {
        reply(simpleReply(errno, r.cookie()));
      }
    } catch (RuntimeException e) {
      log.warn("NBD client {}: cannot send an error reply: {}", peer, e.toString());
    }
  }

  /** Sends one whole reply; a failure to send closes the connection (the peer is gone). */
  private void reply(ByteBuffer... buffers) {
    replyLock.lock();
    try {
      long remaining = 0;
      for (ByteBuffer b : buffers) {
        remaining += b.remaining();
      }
      while (remaining > 0) {
        remaining -= channel.write(buffers);
      }
    } catch (IOException e) {
      if (!shuttingDown) {
        log.info(
            "NBD client {}: cannot send a reply ({}), closing the connection", peer, e.toString());
      }
      closeQuietly();
    } finally {
      replyLock.unlock();
    }
  }
}
