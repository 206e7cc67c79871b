package io.volumeclone.nbd;

import io.volumeclone.engine.BlockTarget;
import io.volumeclone.engine.BufferPool;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves {@link BlockTarget}s over the NBD protocol (fixed newstyle only).
 *
 * <p>Design note. One accept thread; per connection a few threads that take turns at reading
 * requests and each execute the request they read and send its reply ({@link NbdServerConnection}),
 * so a request at queue depth 1 crosses no thread hand-off and a client with a deep queue (QD32)
 * still gets parallel I/O on the target. Payloads and read data live in pooled direct buffers
 * ({@link BufferPool}): a write's data goes from the socket into the buffer (a small one through
 * the connection's read-ahead, so its header and payload take one read) and from there to the
 * target, a read's from the target into the buffer and out with its reply header in one gathering
 * write, with no copy through the heap and no allocation per request. Replies on one connection are
 * serialised by a lock, each reply written whole. A connection that violates the protocol in a way
 * that cannot be answered (bad magic, unknown client flags, an option too long to buffer) is closed
 * with a log line naming the peer (and in transmission the export and the byte of the stream); the
 * server and the targets are not affected. Negotiation has a deadline so a slow or silent client
 * cannot hold a thread; transmission has none (idle clients are normal).
 *
 * <p>Unix sockets: the socket is bound inside a fresh directory of mode 0700 next to the requested
 * path, set to mode 0600, and only then renamed into place, so no other user can ever connect, not
 * even in the window between bind and chmod (umask is not consulted). A stale socket at the path is
 * replaced only when nothing answers on it.
 *
 * <p>Export names: every target is reachable under its {@link BlockTarget#name()}; the first one
 * also under the empty name.
 */
public final class NbdServer implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(NbdServer.class);

  /** Idle payload buffers kept for reuse across all connections. */
  static final long MAX_POOLED_BUFFER_BYTES = 64L << 20;

  /**
   * Tunables; {@link #defaults()} suits a node agent. {@code workersPerConnection} threads beside
   * the connection's own execute requests at once; {@code maxInFlightPerConnection} bounds the
   * requests admitted at once (read, executing or replying).
   */
  public record Options(
      int maxBlockSize,
      int workersPerConnection,
      int maxInFlightPerConnection,
      Duration negotiationTimeout,
      String description) {

    public static Options defaults() {
      return new Options(32 << 20, 16, 64, Duration.ofSeconds(30), null);
    }

    public Options withNegotiationTimeout(Duration timeout) {
      return new Options(
          maxBlockSize, workersPerConnection, maxInFlightPerConnection, timeout, description);
    }
  }

  private final ExportAddress address;
  private final Options options;
  private final Map<String, BlockTarget> exports;
  private final BlockTarget defaultExport;
  private final ServerSocketChannel listener;
  private final Set<NbdServerConnection> connections = ConcurrentHashMap.newKeySet();
  private final ScheduledExecutorService timers;
  private final Thread acceptThread;

  /**
   * Connections the kernel queues before the accept loop takes them. A Unix socket refuses connects
   * beyond it at once (libnbd: "server backlog overflowed"), so a burst of clients needs room;
   * nbdkit takes 1,000. The kernel caps it at net.core.somaxconn (4096 by default).
   */
  static final int LISTEN_BACKLOG = 1024;

  private final Path socketPath;
  private final BufferPool buffers;
  private volatile boolean closing;

  private NbdServer(
      ExportAddress address,
      Options options,
      List<BlockTarget> targets,
      ServerSocketChannel listener,
      Path socketPath) {
    this.address = address;
    this.options = options;
    this.listener = listener;
    this.socketPath = socketPath;
    Map<String, BlockTarget> byName = new LinkedHashMap<>();
    for (BlockTarget t : targets) {
      if (byName.putIfAbsent(t.name(), t) != null) {
        throw new IllegalArgumentException("two exports are named '" + t.name() + "'");
      }
    }
    this.exports = byName;
    this.defaultExport = targets.get(0);
    this.buffers =
        new BufferPool("NBD server on " + address, options.maxBlockSize(), MAX_POOLED_BUFFER_BYTES);
    this.timers =
        Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("nbd-negotiation-timer").factory());
    this.acceptThread = new Thread(this::acceptLoop, "nbd-accept " + address);
    this.acceptThread.setDaemon(true);
  }

  /** Starts serving {@code target} (under its name and the empty name) with default options. */
  public static NbdServer start(ExportAddress address, BlockTarget target) throws IOException {
    return start(address, Options.defaults(), List.of(target));
  }

  public static NbdServer start(ExportAddress address, Options options, List<BlockTarget> targets)
      throws IOException {
    if (targets.isEmpty()) {
      throw new IllegalArgumentException("an NBD server needs at least one export");
    }
    ServerSocketChannel listener;
    Path socketPath = null;
    ExportAddress bound;
    switch (address) {
      case ExportAddress.Unix unix -> {
        socketPath = unix.path().toAbsolutePath();
        listener = bindUnix(socketPath);
        bound = new ExportAddress.Unix(socketPath);
      }
      case ExportAddress.Tcp tcp -> {
        listener = ServerSocketChannel.open();
        try {
          listener.bind(new InetSocketAddress(tcp.host(), tcp.port()), LISTEN_BACKLOG);
        } catch (IOException e) {
          listener.close();
          throw new IOException("cannot listen for NBD on " + address + ": " + e.getMessage(), e);
        }
        int port = ((InetSocketAddress) listener.getLocalAddress()).getPort();
        bound = new ExportAddress.Tcp(tcp.host(), port);
      }
    }
    NbdServer server = new NbdServer(bound, options, List.copyOf(targets), listener, socketPath);
    server.acceptThread.start();
    log.info(
        "NBD export listening on {}: {}",
        bound,
        // names only: an export may listen before its clone is open and its size known (the CLI
        // opens the devices while a client connects, issue 19)
        targets.stream().map(t -> "'" + t.name() + "'").toList());
    return server;
  }

  /**
   * A new 0700 directory beside the socket with a short name: Files.createTempDirectory's 20-digit
   * names pushed deep state directories past the 107 bytes a Unix socket path may have.
   */
  private static Path privateDirectory(Path parent) throws IOException {
    java.util.concurrent.ThreadLocalRandom random =
        java.util.concurrent.ThreadLocalRandom.current();
    for (int attempt = 0; ; attempt++) {
      Path dir = parent.resolve(".nbd-" + Integer.toHexString(random.nextInt(1 << 24, 1 << 28)));
      try {
        return Files.createDirectory(
            dir,
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
      } catch (java.nio.file.FileAlreadyExistsException e) {
        if (attempt == 100) {
          throw e;
        }
      }
    }
  }

  private static ServerSocketChannel bindUnix(Path path) throws IOException {
    Path parent = path.getParent();
    Files.createDirectories(parent);
    if (Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
      if (Files.isRegularFile(path, LinkOption.NOFOLLOW_LINKS)
          || Files.isDirectory(path, LinkOption.NOFOLLOW_LINKS)) {
        throw new IOException(
            "cannot create the NBD socket " + path + ": a file or directory is in the way");
      }
      boolean live;
      try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(path))) {
        live = probe.isConnected();
      } catch (IOException refused) {
        live = false;
      }
      if (live) {
        throw new IOException(
            "cannot create the NBD socket " + path + ": another server is listening on it");
      }
      log.info("Removing stale NBD socket {} (nothing listens on it)", path);
      Files.delete(path);
    }
    Path privateDir = privateDirectory(parent);
    Path temporary = privateDir.resolve("s");
    ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    try {
      listener.bind(UnixDomainSocketAddress.of(temporary), LISTEN_BACKLOG);
      Files.setPosixFilePermissions(temporary, PosixFilePermissions.fromString("rw-------"));
      Files.move(temporary, path, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      listener.close();
      Files.deleteIfExists(temporary);
      throw new IOException("cannot create the NBD socket " + path + ": " + e.getMessage(), e);
    } finally {
      Files.deleteIfExists(privateDir);
    }
    return listener;
  }

  /** The address actually bound (for {@code tcp:HOST:0}, with the chosen port). */
  public ExportAddress address() {
    return address;
  }

  /** A URI a libnbd client accepts for the default export, e.g. {@code nbd+unix:///?socket=P}. */
  public String uri() {
    return address.nbdUri("");
  }

  Options options() {
    return options;
  }

  /** The export for {@code name}, or null. The empty name selects the default export. */
  BlockTarget export(String name) {
    if (name.isEmpty()) {
      return defaultExport;
    }
    return exports.get(name);
  }

  List<BlockTarget> exports() {
    return new ArrayList<>(exports.values());
  }

  BufferPool buffers() {
    return buffers;
  }

  ScheduledExecutorService timers() {
    return timers;
  }

  private void acceptLoop() {
    while (!closing) {
      SocketChannel channel;
      try {
        channel = listener.accept();
      } catch (ClosedChannelException e) {
        break;
      } catch (IOException e) {
        if (closing) {
          break;
        }
        log.warn("NBD export {}: accept failed: {}", address, e.toString());
        sleepQuietly(100);
        continue;
      }
      NbdServerConnection connection = new NbdServerConnection(this, channel);
      connections.add(connection);
      Thread t =
          new Thread(
              () -> {
                try {
                  connection.run();
                } finally {
                  connections.remove(connection);
                }
              },
              "nbd-conn " + connection.peer());
      t.setDaemon(true);
      t.start();
    }
  }

  private static void sleepQuietly(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Stops accepting, lets every connection finish the requests it has already read (their replies
   * are sent), then closes the connections and removes the Unix socket.
   */
  @Override
  public void close() throws IOException {
    if (closing) {
      return;
    }
    closing = true;
    listener.close();
    try {
      acceptThread.join(5000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    for (NbdServerConnection c : List.copyOf(connections)) {
      c.shutdown();
    }
    for (NbdServerConnection c : List.copyOf(connections)) {
      c.awaitClosed(TimeUnit.SECONDS.toMillis(30));
    }
    timers.shutdownNow();
    if (socketPath != null) {
      Files.deleteIfExists(socketPath);
    }
    log.info("NBD export on {} closed", address);
  }
}
