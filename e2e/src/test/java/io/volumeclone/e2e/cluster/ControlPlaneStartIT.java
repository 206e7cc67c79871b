package io.volumeclone.e2e.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The control plane's start when another process took a port between the pick and the bind (the
 * race a busy build hit with etcd's client port): the start begins again on other ports.
 */
class ControlPlaneStartIT {

  @Test
  void aPortTakenBeforeEtcdBindsItStartsTheControlPlaneAgainOnOtherPorts(@TempDir Path dir)
      throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      AtomicInteger picks = new AtomicInteger();
      // The API server's port first, then etcd's client port: hand etcd the taken one once.
      ControlPlane.PortPicker ports =
          () -> picks.incrementAndGet() == 2 ? taken.getLocalPort() : LoopbackPorts.free();
      try (ControlPlane plane = ControlPlane.start(dir, ports)) {
        Path logs = dir.resolve("logs");
        assertThat(Files.readString(logs.resolve("etcd.attempt-1.log")))
            .as("the first etcd could not bind the taken port")
            .contains("address already in use");
        assertThat(Files.readString(logs.resolve("etcd.log")))
            .doesNotContain("address already in use");
        HttpResponse<String> version =
            HttpClient.newBuilder()
                .sslContext(ControlPlane.sslContext(plane.caFile()))
                .build()
                .send(
                    HttpRequest.newBuilder(URI.create(plane.url() + "/version")).build(),
                    HttpResponse.BodyHandlers.ofString());
        assertThat(version.statusCode()).isEqualTo(200);
        assertThat(version.body()).contains(ControlPlane.KUBERNETES_VERSION);
        assertThat(picks.get()).as("three ports per attempt, two attempts").isEqualTo(6);
      }
    }
  }
}
