package io.volumeclone.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The control socket of one running clone: {@code RUN_DIR/NAME/control.sock}, a Unix socket of mode
 * 0600 in a directory of mode 0700 (so nobody else can connect, not even between bind and chmod),
 * speaking {@link ControlProtocol}. Starting refuses a name whose socket a live process answers on,
 * and replaces a stale socket (nothing listens: its process died). Closing removes the socket and
 * the directory.
 */
final class ControlServer implements AutoCloseable {

  /** Answers one request; a {@link ControlProtocol.RefusedException} becomes an error reply. */
  @FunctionalInterface
  interface Handler {
    ObjectNode handle(ObjectNode request) throws ControlProtocol.RefusedException;
  }

  /** A live clone already owns the name. */
  static final class NameInUseException extends IOException {
    NameInUseException(String message) {
      super(message);
    }
  }

  private final Path socket;
  private final ServerSocketChannel listener;
  private final Handler handler;
  private final Set<SocketChannel> connections = ConcurrentHashMap.newKeySet();
  private final Thread acceptor;
  private volatile boolean closed;

  private ControlServer(Path socket, ServerSocketChannel listener, Handler handler) {
    this.socket = socket;
    this.listener = listener;
    this.handler = handler;
    this.acceptor = Thread.ofPlatform().daemon().name("control-" + socket).unstarted(this::accept);
  }

  static ControlServer start(Path runDir, String name, Handler handler) throws IOException {
    Path socket = ControlPaths.socket(runDir, name);
    Path dir = socket.getParent();
    try {
      Files.createDirectories(runDir);
    } catch (IOException e) {
      throw new IOException(
          "cannot create the run directory " + runDir + " for control sockets: " + e, e);
    }
    try {
      Files.createDirectory(
          dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    } catch (FileAlreadyExistsException e) {
      if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
        throw new IOException("cannot create " + dir + ": something that is no directory is there");
      }
      Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
    }
    if (Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
      if (ControlClient.answers(socket)) {
        throw new NameInUseException(
            "a clone named '"
                + name
                + "' is already running (control socket "
                + socket
                + "); give this one another --name");
      }
      Files.delete(socket); // stale: the process that made it is gone
    }
    ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    try {
      listener.bind(UnixDomainSocketAddress.of(socket), 16);
      Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
    } catch (IOException e) {
      listener.close();
      throw new IOException("cannot create the control socket " + socket + ": " + e, e);
    }
    ControlServer server = new ControlServer(socket, listener, handler);
    server.acceptor.start();
    return server;
  }

  Path socket() {
    return socket;
  }

  private void accept() {
    while (!closed) {
      SocketChannel connection;
      try {
        connection = listener.accept();
      } catch (IOException e) {
        return; // closed
      }
      connections.add(connection);
      Thread.ofVirtual().name("control-connection").start(() -> serve(connection));
    }
  }

  private void serve(SocketChannel connection) {
    try (connection;
        BufferedReader in =
            new BufferedReader(
                new InputStreamReader(
                    Channels.newInputStream(connection), StandardCharsets.UTF_8));
        OutputStream out = Channels.newOutputStream(connection)) {
      String line;
      while ((line = readLine(in)) != null) {
        ObjectNode reply;
        try {
          reply = handler.handle(ControlProtocol.parseRequest(line));
        } catch (ControlProtocol.RefusedException e) {
          reply = ControlProtocol.error(e.getMessage());
        } catch (RuntimeException e) {
          reply = ControlProtocol.error("the clone failed to answer: " + e);
        }
        out.write((ControlProtocol.line(reply) + "\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
      }
    } catch (IOException e) {
      // the client went away
    } finally {
      connections.remove(connection);
    }
  }

  /** One line of at most {@link ControlProtocol#MAX_LINE} characters, or null at the end. */
  private static String readLine(BufferedReader in) throws IOException {
    StringBuilder line = new StringBuilder();
    int c;
    while ((c = in.read()) >= 0) {
      if (c == '\n') {
        return line.toString();
      }
      if (line.length() >= ControlProtocol.MAX_LINE) {
        throw new IOException("request line longer than " + ControlProtocol.MAX_LINE);
      }
      line.append((char) c);
    }
    return line.isEmpty() ? null : line.toString();
  }

  /**
   * Stops accepting, lets the requests being answered finish (a cancel replies after its commit),
   * then removes the socket and its directory.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      listener.close();
    } catch (IOException e) {
      // closing anyway
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (!connections.isEmpty() && System.nanoTime() < deadline) {
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    for (SocketChannel c : connections) {
      try {
        c.close();
      } catch (IOException e) {
        // closing anyway
      }
    }
    try {
      Files.deleteIfExists(socket);
      Files.deleteIfExists(socket.getParent());
    } catch (IOException e) {
      // a file someone else put there keeps the directory
    }
  }
}
