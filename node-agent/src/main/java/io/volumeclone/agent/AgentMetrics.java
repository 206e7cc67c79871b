package io.volumeclone.agent;

import com.sun.net.httpserver.HttpServer;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import io.volumeclone.engine.Clone;
import io.volumeclone.engine.CloneMetadata;
import io.volumeclone.engine.CloneStatus;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.function.ToDoubleFunction;

/**
 * The agent's Prometheus endpoint ({@code GET /metrics}): copy progress and rate, copy errors,
 * consumer I/O (from {@link MeteredTarget}), metadata commits (from {@link MeteredMetadata}) and
 * the metadata mode. Every series carries the clone's namespace and name.
 */
final class AgentMetrics implements AutoCloseable {

  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private volatile Clone clone;
  private volatile NodeBandwidthShare share;
  private HttpServer server;

  AgentMetrics(String namespace, String name) {
    registry.config().commonTags("namespace", namespace, "volumeclone", name);
    gauge("volume_clone_size_regions", "Regions in the clone", CloneStatus::regionsTotal);
    gauge(
        "volume_clone_regions_copied",
        "Regions the destination holds (committed or not)",
        CloneStatus::regionsCopied);
    gauge(
        "volume_clone_regions_committed",
        "Regions recorded as copied on the metadata device",
        CloneStatus::regionsCommitted);
    gauge("volume_clone_size_bytes", "Bytes in the clone", CloneStatus::bytesTotal);
    gauge("volume_clone_bytes_copied", "Bytes the destination holds", CloneStatus::bytesCopied);
    gauge(
        "volume_clone_copy_rate_bytes_per_second",
        "Background copy rate",
        CloneStatus::bytesPerSecond);
    gauge("volume_clone_paused", "1 while the background copy is paused", s -> s.paused() ? 1 : 0);
    gauge(
        "volume_clone_degraded",
        "1 when copy errors exceeded the budget",
        s -> s.degraded() ? 1 : 0);
    FunctionCounter.builder(
            "volume_clone_copy_errors",
            this,
            m -> m.clone == null ? 0 : m.clone.status().copyErrors())
        .description("Copy errors seen by the background copier")
        .register(registry);
    FunctionCounter.builder(
            "volume_clone_background_copied_bytes",
            this,
            m -> m.clone == null ? 0 : m.clone.bytesCopiedThisRun())
        .description("Bytes copied by the background copier since the agent started")
        .register(registry);
    Gauge.builder(
            "volume_clone_copy_bandwidth_limit_bytes_per_second",
            this,
            m -> m.clone == null ? Double.NaN : m.clone.tuning().bandwidth())
        .description(
            "Limit the background copy runs at: spec.copy.bandwidth or the node share, whichever"
                + " is smaller; 0 = unlimited")
        .register(registry);
    Gauge.builder(
            "volume_clone_node_bandwidth_bytes_per_second",
            this,
            m -> m.share == null ? Double.NaN : m.share.nodeBudget())
        .description("Copy bandwidth budget of the node, shared by its copying clones; 0 = none")
        .register(registry);
    Gauge.builder(
            "volume_clone_node_copying_clones",
            this,
            m ->
                m.share == null || m.share.nodeBudget() == 0 ? Double.NaN : m.share.copyingClones())
        .description("Clones copying on this node at the last rebalance, this one included")
        .register(registry);
    for (CloneMetadata.Mode mode : CloneMetadata.Mode.values()) {
      Gauge.builder(
              "volume_clone_metadata_mode",
              this,
              m -> m.clone == null ? Double.NaN : m.clone.status().metadataMode() == mode ? 1 : 0)
          .description("1 for the metadata device's current mode (Write, ReadOnly, Fail)")
          .tag("mode", modeName(mode))
          .register(registry);
    }
  }

  static String modeName(CloneMetadata.Mode mode) {
    return switch (mode) {
      case WRITE -> VolumeCloneStatus.METADATA_MODE_WRITE;
      case READ_ONLY -> VolumeCloneStatus.METADATA_MODE_READ_ONLY;
      case FAIL -> VolumeCloneStatus.METADATA_MODE_FAIL;
    };
  }

  private void gauge(String name, String description, ToDoubleFunction<CloneStatus> value) {
    Gauge.builder(
            name, this, m -> m.clone == null ? Double.NaN : value.applyAsDouble(m.clone.status()))
        .description(description)
        .register(registry);
  }

  PrometheusMeterRegistry registry() {
    return registry;
  }

  void bind(Clone clone) {
    this.clone = clone;
  }

  void bindShare(NodeBandwidthShare share) {
    this.share = share;
  }

  String scrape() {
    return registry.scrape();
  }

  /** Serves {@code /metrics} on {@code port} (all interfaces). Returns the bound port. */
  int serve(int port) throws IOException {
    server = HttpServer.create(new InetSocketAddress(port), 8);
    server.createContext(
        "/metrics",
        exchange -> {
          try (exchange) {
            byte[] body = scrape().getBytes(StandardCharsets.UTF_8);
            exchange
                .getResponseHeaders()
                .set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
              out.write(body);
            }
          }
        });
    server.setExecutor(
        Executors.newSingleThreadExecutor(
            Thread.ofPlatform().daemon().name("agent-metrics").factory()));
    server.start();
    return server.getAddress().getPort();
  }

  @Override
  public void close() {
    if (server != null) {
      server.stop(0);
    }
    registry.close();
  }
}
