package io.volumeclone.e2e.cluster;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Ports for the local cluster's children (etcd, kube-apiserver, the operator's endpoints) to listen
 * on.
 *
 * <p>Design note. A port is picked here and bound later by another process, so something else may
 * take it in between. The usual pick, {@code new ServerSocket(0)}, comes from the kernel's
 * ephemeral range, the same range every outgoing TCP connection on the machine takes its local port
 * from: with a build's worth of API clients connecting and reconnecting, one of them took etcd's
 * client port before etcd bound it ({@code bind: address already in use}). So ports are picked
 * below the ephemeral range, where no outgoing connection lands, and never handed out twice by this
 * JVM. A listener started elsewhere can still take one; {@link ControlPlane#start} starts again
 * with new ports when a child reports the port taken.
 */
public final class LoopbackPorts {

  private static final int LOWEST = 10_000;
  private static final Set<Integer> HANDED_OUT = new HashSet<>();

  private LoopbackPorts() {}

  /** A port nobody listens on now on the loopback interface, below the ephemeral range. */
  public static synchronized int free() throws IOException {
    int highest = ephemeralRangeStart() - 1;
    IOException last = null;
    for (int attempt = 0; attempt < 200; attempt++) {
      int port = ThreadLocalRandom.current().nextInt(LOWEST, highest + 1);
      if (HANDED_OUT.contains(port)) {
        continue;
      }
      try (ServerSocket probe = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
        HANDED_OUT.add(port);
        return port;
      } catch (IOException e) {
        last = e;
      }
    }
    throw new IOException(
        "no free loopback port between " + LOWEST + " and " + highest + " after 200 tries", last);
  }

  /** The first port of {@code net.ipv4.ip_local_port_range}; Linux's default 32768 without it. */
  static int ephemeralRangeStart() {
    try {
      String range = Files.readString(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).strip();
      int start = Integer.parseInt(range.split("\\s+")[0]);
      return start > LOWEST + 1000 ? start : 32_768;
    } catch (IOException | RuntimeException e) {
      return 32_768;
    }
  }
}
