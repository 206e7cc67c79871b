package io.volumeclone.nbd;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;

/**
 * Where an export listens: {@code unix:PATH} (the default kind; the socket is created mode 0600) or
 * {@code tcp:HOST:PORT} (only when given explicitly; IPv6 hosts in brackets, {@code
 * tcp:[::1]:10809}).
 */
public sealed interface ExportAddress {

  SocketAddress socketAddress();

  /**
   * The NBD URI (as libnbd and QEMU spell it) of export {@code exportName} at this address; the
   * empty name is the server's default export.
   */
  String nbdUri(String exportName);

  record Unix(Path path) implements ExportAddress {
    @Override
    public SocketAddress socketAddress() {
      return UnixDomainSocketAddress.of(path);
    }

    @Override
    public String nbdUri(String exportName) {
      return "nbd+unix:///" + exportName + "?socket=" + path;
    }

    @Override
    public String toString() {
      return "unix:" + path;
    }
  }

  record Tcp(String host, int port) implements ExportAddress {
    @Override
    public SocketAddress socketAddress() {
      return new InetSocketAddress(host, port);
    }

    @Override
    public String nbdUri(String exportName) {
      return "nbd://" + hostAndPort() + (exportName.isEmpty() ? "" : "/" + exportName);
    }

    @Override
    public String toString() {
      return "tcp:" + hostAndPort();
    }

    /** {@code HOST:PORT}, an IPv6 host in brackets. */
    private String hostAndPort() {
      return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }
  }

  static ExportAddress unix(Path path) {
    return new Unix(path);
  }

  /**
   * Parses {@code unix:PATH} or {@code tcp:HOST:PORT}.
   *
   * @throws IllegalArgumentException naming the text and what is wrong with it
   */
  static ExportAddress parse(String text) {
    if (text == null || text.isBlank()) {
      throw new IllegalArgumentException(
          "export address is empty; expected unix:PATH or tcp:HOST:PORT");
    }
    if (text.startsWith("unix:")) {
      String path = text.substring(5);
      if (path.isEmpty()) {
        throw new IllegalArgumentException(
            "export address '" + text + "' has no socket path; expected unix:PATH");
      }
      return new Unix(Path.of(path));
    }
    if (text.startsWith("tcp:")) {
      String rest = text.substring(4);
      String host;
      String port;
      if (rest.startsWith("[")) {
        int close = rest.indexOf(']');
        if (close < 0 || close + 1 >= rest.length() || rest.charAt(close + 1) != ':') {
          throw new IllegalArgumentException(
              "export address '" + text + "' is not tcp:[IPV6]:PORT");
        }
        host = rest.substring(1, close);
        port = rest.substring(close + 2);
      } else {
        int colon = rest.lastIndexOf(':');
        if (colon <= 0) {
          throw new IllegalArgumentException(
              "export address '"
                  + text
                  + "' needs an explicit host and port, for example tcp:127.0.0.1:10809");
        }
        host = rest.substring(0, colon);
        port = rest.substring(colon + 1);
      }
      int p;
      try {
        p = Integer.parseInt(port);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(
            "export address '" + text + "' has port '" + port + "', which is not a number");
      }
      if (p < 0 || p > 65535) {
        throw new IllegalArgumentException(
            "export address '" + text + "' has port " + p + ", outside 0..65535");
      }
      if (host.isEmpty()) {
        throw new IllegalArgumentException("export address '" + text + "' has an empty host");
      }
      return new Tcp(host, p);
    }
    throw new IllegalArgumentException(
        "export address '" + text + "' must start with unix: or tcp: (unix:PATH, tcp:HOST:PORT)");
  }
}
