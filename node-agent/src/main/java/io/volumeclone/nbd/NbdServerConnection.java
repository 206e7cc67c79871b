package io.volumeclone.nbd;

import static io.volumeclone.nbd.NbdProtocol.*;

import io.volumeclone.engine.BlockIoException;
import io.volumeclone.engine.BlockTarget;
import io.volumeclone.engine.BufferPool;
import io.volumeclone.nbd.NbdNegotiation.Agreement;
import io.volumeclone.nbd.NbdProtocol.NbdProtocolException;
import io.volumeclone.nbd.NbdProtocol.Request;
import io.volumeclone.nbd.RequestAdmission.Admitted;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection of an {@link NbdServer}: {@link NbdNegotiation} under a deadline, then the
 * transmission phase, this class's own room.
 *
 * <p>Design note. Transmission threads take turns at reading the socket (leader and followers, as
 * nbdkit's threads do): the one holding {@link #readLock} reads a request header, checks it, reads
 * a write's payload, passes the turn on and then executes the request on the target itself and
 * writes the reply under {@link #replyLock} (each reply whole, read data in one gathering write).
 * So a request at queue depth 1 is read, executed and answered by one thread with no hand-off and
 * no wake-up on its path, while a deep queue still runs in parallel: when nobody is waiting for the
 * turn, the reader starts another follower, up to {@code workersPerConnection}. {@link #validate}
 * returns the {@link Refusal} (errno and reason) the error reply carries; a refused write's payload
 * is read past so the stream stays in step. An accepted request passes {@link RequestAdmission},
 * which bounds what the connection holds, and its {@link Admitted} permits and payload buffer are
 * closed by try-with-resources around its execution. A header that cannot be decoded ends the
 * stream: requests already read finish, then this one connection closes, logged with the export,
 * the byte of the stream the header started at and the reason. The thread running {@link #run()} is
 * the first reader and the last to leave: it joins the followers before the socket closes.
 */
final class NbdServerConnection {

  private static final Logger log = LoggerFactory.getLogger(NbdServerConnection.class);

  /** Socket send buffer asked for in transmission. */
  static final int SEND_BUFFER_BYTES = 4 << 20;

  /**
   * Read-ahead of the request stream: a 4 KiB write's header and payload, or a few dozen queued
   * headers, in one read(2).
   */
  static final int READ_AHEAD_BYTES = 16 * 1024;

  /** Extents per context in one BLOCK_STATUS reply. */
  static final int MAX_EXTENTS = 4096;

  /**
   * Reply headers of the data path, per thread: direct, so the gathering write of header and data
   * goes to the socket without the JDK copying anything.
   */
  private static final ThreadLocal<ByteBuffer> REPLY_HEAD =
      ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(32));

  /** Why a request is refused before any I/O: the errno of the error reply and its reason. */
  record Refusal(int errno, String reason) {}

  private final NbdServer server;
  private final BufferPool buffers;
  private final SocketChannel channel;
  private final String peer;
  private final ReentrantLock replyLock = new ReentrantLock();
  private final CountDownLatch closed = new CountDownLatch(1);

  /** Set once, before transmission starts: what negotiation agreed on. */
  private BlockTarget target;

  private boolean structuredReplies;
  private List<Integer> metaContexts = List.of();

  private volatile boolean transmitting;
  private volatile boolean shuttingDown;
  private volatile String closeReason;

  /**
   * The reading turn of transmission: whoever holds it reads the socket. Everything below up to
   * {@link #endCause} is guarded by it.
   */
  private final ReentrantLock readLock = new ReentrantLock();

  private final ByteBuffer header = ByteBuffer.allocateDirect(REQUEST_HEADER_SIZE);

  /** The socket's input as transmission reads it. */
  private ReadAheadChannel incoming;

  /** Bytes of the transmission phase read so far: where a malformed header started. */
  private long streamOffset;

  private final List<Thread> followers = new ArrayList<>();
  private Thread.Builder followerThreads;
  private boolean followerStartFailed;
  private boolean ended;
  private IOException endCause;

  /** Set before the first follower starts; used by every transmission thread. */
  private RequestAdmission admission;

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
      Agreement agreement = new NbdNegotiation(server, channel, peer).negotiate();
      deadline.cancel(false);
      if (agreement != null) {
        target = agreement.target();
        structuredReplies = agreement.structuredReplies();
        metaContexts = agreement.metaContexts();
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
    admission = new RequestAdmission(options.maxInFlightPerConnection(), buffers);
    incoming = new ReadAheadChannel(channel, READ_AHEAD_BYTES);
    followerThreads = Thread.ofPlatform().daemon().name("nbd-worker " + peer + " #", 1);
    // One follower before the first request: it then waits for the reading turn, so the first
    // request does not pay for starting a thread (measured: the first write on a connection
    // otherwise takes a few milliseconds more than the next ones).
    readLock.lock();
    try {
      startFollower();
    } finally {
      readLock.unlock();
    }
    serveRequests();
    // Every request already read gets its reply before the connection closes.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    for (Thread follower : followersToJoin()) {
      try {
        follower.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
      if (follower.isAlive()) {
        log.warn("NBD client {}: requests still running after 60 s, closing anyway", peer);
        break;
      }
    }
    IOException cause;
    readLock.lock();
    try {
      cause = endCause;
    } finally {
      readLock.unlock();
    }
    if (cause != null) {
      throw cause;
    }
  }

  private List<Thread> followersToJoin() {
    readLock.lock();
    try {
      return List.copyOf(followers);
    } finally {
      readLock.unlock();
    }
  }

  /** The loop of every transmission thread: take a turn at reading, then execute what was read. */
  private void serveRequests() {
    while (true) {
      try (Admitted admitted = nextRequest()) {
        if (admitted == null) {
          return;
        }
        execute(admitted.request(), admitted.payload());
      }
    }
  }

  private void follow() {
    try {
      serveRequests();
    } catch (RuntimeException | Error e) {
      log.error("NBD client {}: unexpected failure, closing the connection", peer, e);
      end(null);
      closeQuietly();
    }
  }

  /**
   * Takes the reading turn: reads requests until one may run (answering refused ones on the way)
   * and returns it admitted, or null once the stream has ended. The next turn can start as soon as
   * this one returns, while the caller executes.
   */
  private Admitted nextRequest() {
    readLock.lock();
    try {
      while (!ended) {
        Request r = readHeader();
        if (r == null) {
          end(null);
          return null;
        }
        Refusal refusal = validate(r);
        if (refusal != null) {
          if (r.type() == CMD_WRITE) {
            // Read past the payload so the next header is where the client put it.
            skip(incoming, r.length());
            streamOffset += r.length();
          }
          replyError(r, refusal.errno(), describe(r, refusal));
          continue;
        }
        Admitted admitted;
        try {
          admitted = admission.admit(r, incoming);
        } catch (EOFException e) {
          log.warn(
              "NBD client {}: connection closed in the middle of a write payload at offset {} on"
                  + " export '{}'",
              peer,
              Long.toUnsignedString(r.offset()),
              target.name());
          end(null);
          return null;
        }
        if (r.type() == CMD_WRITE) {
          streamOffset += r.length();
        }
        if (!readLock.hasQueuedThreads()) {
          startFollower();
        }
        return admitted;
      }
      return null;
    } catch (IOException e) {
      end(e);
      return null;
    } finally {
      readLock.unlock();
    }
  }

  /** The next request header, or null at the end of the stream (NBD_CMD_DISC or EOF). */
  private Request readHeader() throws IOException {
    if (shuttingDown) {
      // Headers still in the read-ahead buffer were sent after the server began to close.
      return null;
    }
    header.clear();
    try {
      readFully(incoming, header);
    } catch (EOFException e) {
      if (header.position() > 0) {
        log.warn(
            "NBD client {}: connection closed in the middle of a request header at byte {} of"
                + " the transmission on export '{}'",
            peer,
            streamOffset,
            target.name());
      } else if (!shuttingDown) {
        log.info("NBD client {} closed the connection without NBD_CMD_DISC", peer);
      }
      return null;
    }
    Request r;
    try {
      r = Request.decode(header.flip());
    } catch (NbdProtocolException e) {
      throw new NbdProtocolException(
          "malformed request header at byte "
              + streamOffset
              + " of the transmission on export '"
              + target.name()
              + "': "
              + e.getMessage());
    }
    streamOffset += REQUEST_HEADER_SIZE;
    if (r.type() == CMD_DISC) {
      log.info("NBD client {} disconnected from export '{}'", peer, target.name());
      return null;
    }
    return r;
  }

  /** Called with {@link #readLock} held. */
  private void startFollower() {
    if (followers.size() >= server.options().workersPerConnection()) {
      return;
    }
    try {
      followers.add(followerThreads.start(this::follow));
    } catch (OutOfMemoryError | RuntimeException e) {
      // "unable to create native thread": the threads already running keep serving, with less
      // parallelism.
      if (!followerStartFailed) {
        followerStartFailed = true;
        log.warn(
            "NBD client {}: cannot start another request thread ({} running): {}",
            peer,
            followers.size() + 1,
            e.toString());
      }
    }
  }

  private void end(IOException cause) {
    readLock.lock();
    try {
      if (!ended && cause != null) {
        endCause = cause;
      }
      ended = true;
    } finally {
      readLock.unlock();
    }
  }

  /** Checks a request before any I/O; returns null when it may run, else why not. */
  private Refusal validate(Request r) {
    if ((r.flags() & ~CMD_FLAGS_KNOWN) != 0) {
      return new Refusal(EINVAL, "unknown command flags 0x" + Integer.toHexString(r.flags()));
    }
    switch (r.type()) {
      case CMD_READ, CMD_WRITE, CMD_TRIM, CMD_WRITE_ZEROES, CMD_BLOCK_STATUS -> {}
      case CMD_FLUSH -> {
        return null;
      }
      default -> {
        return new Refusal(EINVAL, "unsupported command");
      }
    }
    if (r.type() == CMD_BLOCK_STATUS && (!structuredReplies || metaContexts.isEmpty())) {
      return new Refusal(EINVAL, "no metadata context was negotiated");
    }
    if (r.length() == 0) {
      return new Refusal(EINVAL, "zero length");
    }
    int maxBlock = server.options().maxBlockSize();
    if ((r.type() == CMD_READ || r.type() == CMD_WRITE) && r.length() > maxBlock) {
      return new Refusal(EINVAL, "length exceeds the maximum block size " + maxBlock);
    }
    if (!r.withinSize(target.size())) {
      // The protocol asks for ENOSPC on writes past the end, EINVAL otherwise.
      return new Refusal(
          r.type() == CMD_WRITE || r.type() == CMD_WRITE_ZEROES ? ENOSPC : EINVAL,
          "range is outside the export of " + target.size() + " bytes");
    }
    if (target.readOnly()
        && (r.type() == CMD_WRITE || r.type() == CMD_TRIM || r.type() == CMD_WRITE_ZEROES)) {
      return new Refusal(EPERM, "export is read-only");
    }
    return null;
  }

  private String describe(Request r, Refusal refusal) {
    String message =
        commandName(r.type())
            + " at offset "
            + Long.toUnsignedString(r.offset())
            + " length "
            + r.length()
            + " on export '"
            + target.name()
            + "' refused: "
            + refusal.reason();
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
    List<Integer> contexts = metaContexts;
    for (int i = 0; i < contexts.size(); i++) {
      int id = contexts.get(i);
      ExtentCollector collector =
          new ExtentCollector(r.offset(), end, reqOne ? 1 : MAX_EXTENTS, id);
      if (id == NbdNegotiation.CONTEXT_ID_ALLOCATION) {
        target.allocationExtents(r.offset(), r.length(), collector);
      } else {
        target.copiedExtents(r.offset(), r.length(), collector);
      }
      if (collector.isEmpty()) {
        // Claiming data is always safe for allocation; "not copied" is the safe claim for copies.
        collector.add(r.length(), id == NbdNegotiation.CONTEXT_ID_ALLOCATION ? 0 : STATE_HOLE);
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
