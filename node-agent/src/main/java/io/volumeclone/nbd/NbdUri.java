package io.volumeclone.nbd;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * An NBD URI as libnbd and QEMU spell it: {@code nbd://HOST[:PORT]/EXPORT} or {@code
 * nbd+unix:///EXPORT?socket=PATH}. TLS ({@code nbds}) is not supported. The export name is the
 * percent-decoded path without its leading slash; an absent path means the empty (default) name.
 */
public record NbdUri(String text, String host, int port, Path socket, String exportName) {

  public static NbdUri parse(String text) {
    if (text == null || text.isBlank()) {
      throw new IllegalArgumentException("NBD URI is empty");
    }
    URI uri;
    try {
      uri = new URI(text);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException(
          "NBD URI '" + text + "' is not a valid URI: " + e.getReason(), e);
    }
    String scheme = uri.getScheme();
    if (scheme == null) {
      throw new IllegalArgumentException(
          "NBD URI '"
              + text
              + "' has no scheme; expected nbd://HOST[:PORT]/EXPORT or"
              + " nbd+unix:///EXPORT?socket=PATH");
    }
    String path = uri.getRawPath() == null ? "" : uri.getRawPath();
    String export =
        URLDecoder.decode(path.startsWith("/") ? path.substring(1) : path, StandardCharsets.UTF_8);
    switch (scheme) {
      case "nbd" -> {
        String host = uri.getHost();
        if ((host == null || host.isEmpty()) && uri.getRawAuthority() == null) {
          throw new IllegalArgumentException(
              "NBD URI '" + text + "' has no host; expected nbd://HOST[:PORT]/EXPORT");
        }
        if (uri.getHost() == null && uri.getRawAuthority() != null) {
          throw new IllegalArgumentException(
              "NBD URI '" + text + "' has an invalid host or port '" + uri.getRawAuthority() + "'");
        }
        if (uri.getRawQuery() != null) {
          throw new IllegalArgumentException(
              "NBD URI '" + text + "' has a query, which nbd:// does not take");
        }
        if (host.startsWith("[") && host.endsWith("]")) {
          host = host.substring(1, host.length() - 1);
        }
        int port = uri.getPort() < 0 ? NbdProtocol.DEFAULT_PORT : uri.getPort();
        if (port == 0 || port > 65535) {
          throw new IllegalArgumentException(
              "NBD URI '" + text + "' has port " + port + ", outside 1..65535");
        }
        return new NbdUri(text, host, port, null, export);
      }
      case "nbd+unix" -> {
        if (uri.getRawAuthority() != null) {
          throw new IllegalArgumentException(
              "NBD URI '"
                  + text
                  + "' must not name a host; expected nbd+unix:///EXPORT?socket=PATH");
        }
        String socket = null;
        String query = uri.getRawQuery();
        if (query != null) {
          for (String param : query.split("&")) {
            int eq = param.indexOf('=');
            String key = eq < 0 ? param : param.substring(0, eq);
            String value =
                eq < 0 ? "" : URLDecoder.decode(param.substring(eq + 1), StandardCharsets.UTF_8);
            if (key.equals("socket")) {
              socket = value;
            } else {
              throw new IllegalArgumentException(
                  "NBD URI '" + text + "' has an unknown parameter '" + key + "'");
            }
          }
        }
        if (socket == null || socket.isEmpty()) {
          throw new IllegalArgumentException(
              "NBD URI '" + text + "' needs ?socket=PATH naming the Unix socket");
        }
        return new NbdUri(text, null, 0, Path.of(socket), export);
      }
      case "nbds", "nbds+unix" ->
          throw new IllegalArgumentException(
              "NBD URI '" + text + "' asks for TLS, which this client does not support");
      default ->
          throw new IllegalArgumentException(
              "NBD URI '" + text + "' has scheme '" + scheme + "'; expected nbd:// or nbd+unix://");
    }
  }

  public boolean isUnix() {
    return socket != null;
  }

  public SocketAddress socketAddress() {
    return isUnix() ? UnixDomainSocketAddress.of(socket) : new InetSocketAddress(host, port);
  }

  @Override
  public String toString() {
    return text;
  }
}
