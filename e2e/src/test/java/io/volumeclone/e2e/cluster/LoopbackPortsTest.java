package io.volumeclone.e2e.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class LoopbackPortsTest {

  @Test
  void portsComeFromBelowTheEphemeralRangeWhereOutgoingConnectionsTakeTheirs() throws Exception {
    int ephemeral = LoopbackPorts.ephemeralRangeStart();
    for (int i = 0; i < 50; i++) {
      assertThat(LoopbackPorts.free()).isBetween(10_000, ephemeral - 1);
    }
  }

  @Test
  void aPortIsHandedOutOnceAndIsFreeWhenHandedOut() throws Exception {
    Set<Integer> seen = new HashSet<>();
    for (int i = 0; i < 100; i++) {
      int port = LoopbackPorts.free();
      assertThat(seen.add(port)).as("port %d handed out twice", port).isTrue();
      try (ServerSocket bound = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
        assertThat(bound.getLocalPort()).isEqualTo(port);
      }
    }
  }
}
