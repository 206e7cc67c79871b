package io.volumeclone.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/** Sends one {@link ControlProtocol} request to a clone's control socket and reads the reply. */
final class ControlClient {

  /** Nothing listens on the socket: the process that made it is gone. */
  static final class StaleSocketException extends IOException {
    StaleSocketException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  private ControlClient() {}

  /** Whether a process accepts connections on {@code socket}. */
  static boolean answers(Path socket) {
    // No socket, no connect: a failed connect costs a start about 10 ms (issue 19).
    if (!Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
      return false;
    }
    try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
      return probe.isConnected();
    } catch (IOException e) {
      return false;
    }
  }

  /**
   * The reply to {@code request}.
   *
   * @throws StaleSocketException when the socket exists but nothing listens on it
   * @throws java.nio.file.NoSuchFileException when there is no socket
   */
  static JsonNode call(Path socket, ObjectNode request) throws IOException {
    if (!Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
      throw new java.nio.file.NoSuchFileException(socket.toString());
    }
    SocketChannel channel;
    try {
      channel = SocketChannel.open(UnixDomainSocketAddress.of(socket));
    } catch (IOException e) {
      throw new StaleSocketException(
          "control socket " + socket + " is stale: no process listens on it (" + e + ")", e);
    }
    try (channel;
        BufferedReader in =
            new BufferedReader(
                new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
        OutputStream out = Channels.newOutputStream(channel)) {
      out.write((ControlProtocol.line(request) + "\n").getBytes(StandardCharsets.UTF_8));
      out.flush();
      String line = in.readLine();
      if (line == null) {
        throw new IOException("control socket " + socket + " closed without answering");
      }
      return ControlProtocol.JSON.readTree(line);
    }
  }
}
