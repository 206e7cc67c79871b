package io.volumeclone.operator;

import static io.volumeclone.operator.OperatorTest.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.javaoperatorsdk.operator.Operator;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.Progress;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** /healthz, /readyz and /metrics of a real operator against the mock server. */
class OperatorEndpointsTest {

  private static final OperatorOptions OPTIONS =
      OperatorOptions.of(Map.of("leaderElection.enabled", "false", "recheckInterval", "1s"));
  private static final InetSocketAddress ANY_PORT =
      new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);

  private final MockCluster cluster = new MockCluster();
  private final HttpClient http = HttpClient.newHttpClient();
  private OperatorMetrics metrics;
  private Operator operator;
  private OperatorEndpoints endpoints;
  private Main.Running running;

  @AfterEach
  void close() {
    if (running != null) {
      running.close();
    }
    if (operator != null) {
      operator.stop();
    }
    if (endpoints != null) {
      endpoints.close();
    }
    if (metrics != null) {
      metrics.close();
    }
    cluster.close();
  }

  record Reply(int status, String contentType, String body) {}

  private Reply get(int port, String path) {
    try {
      HttpResponse<String> response =
          http.send(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                  // Not a speed check: a hanging endpoint fails the test instead of stalling it.
                  .timeout(Duration.ofSeconds(30))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      return new Reply(
          response.statusCode(),
          response.headers().firstValue("Content-Type").orElse(""),
          response.body());
    } catch (IOException e) {
      throw new AssertionError("GET " + path + " on port " + port + " failed: " + e, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  private void openBeforeStart() throws IOException {
    metrics = new OperatorMetrics();
    operator = Main.create(cluster.client, OPTIONS, Map.of(), metrics);
    endpoints = OperatorEndpoints.open(operator, metrics, ANY_PORT, ANY_PORT);
  }

  /** Starts the opened operator and gives it clone db/c of two claims on node n1. */
  private void startWithClone() {
    operator.start();
    endpoints.operatorStarted();
    cluster.node("n1");
    cluster.claim("db", "src", "1Gi");
    cluster.claim("db", "dst", "1Gi");
    VolumeClone clone = MockCluster.pvcClone("db", "c", "src", "dst");
    clone.getSpec().setNodeName("n1");
    cluster.create(clone);
  }

  @Test
  void readinessFlipsOnceTheOperatorHasStartedAndLivenessFailsAfterItStops() throws IOException {
    openBeforeStart();
    int port = endpoints.healthPort();

    Reply before = get(port, "/readyz");
    assertThat(before.status()).isEqualTo(503);
    assertThat(before.body()).contains("operator not started");
    assertThat(get(port, "/healthz").status())
        .as("a starting operator is alive: no restart while informers sync")
        .isEqualTo(200);

    operator.start();
    await("/readyz 200", () -> get(port, "/readyz").status() == 200);
    assertThat(get(port, "/readyz").body()).isEqualTo("ok\n");
    assertThat(get(port, "/healthz"))
        .isEqualTo(new Reply(200, "text/plain; charset=utf-8", "ok\n"));

    operator.stop();
    operator = null;
    assertThat(get(port, "/healthz").status()).isEqualTo(503);
    assertThat(get(port, "/healthz").body()).contains("operator stopped");
    assertThat(get(port, "/readyz").status()).isEqualTo(503);
    assertThat(get(port, "/nothing-here").status()).isEqualTo(404);
  }

  @Test
  void probesAndMetricsAnswerWhileTheOperatorIsStuckStarting() throws Exception {
    int refused;
    try (ServerSocket socket = new ServerSocket(0)) {
      refused = socket.getLocalPort();
    }
    try (KubernetesClient unreachable =
        new KubernetesClientBuilder()
            .withConfig(
                // The client's default backoff retries a refused connection for a good while.
                new ConfigBuilder().withMasterUrl("http://127.0.0.1:" + refused).build())
            .build()) {
      metrics = new OperatorMetrics();
      Operator stuck = Main.create(unreachable, OPTIONS, Map.of(), metrics);
      endpoints = OperatorEndpoints.open(stuck, metrics, ANY_PORT, ANY_PORT);
      Thread starter =
          Thread.ofPlatform()
              .daemon()
              .start(
                  () -> {
                    try {
                      stuck.start();
                    } catch (RuntimeException expected) {
                      // the informers never sync; start gives up when the client closes
                    }
                  });
      BooleanSupplier insideLockedStart =
          () ->
              Arrays.stream(starter.getStackTrace())
                  .anyMatch(
                      f ->
                          f.getClassName().equals("io.javaoperatorsdk.operator.ControllerManager")
                              && f.getMethodName().equals("start"));
      await(
          "Operator.start() inside JOSDK's locked ControllerManager.start, waiting for informers",
          insideLockedStart);

      assertThat(get(endpoints.healthPort(), "/healthz").body()).isEqualTo("ok: starting\n");
      Reply ready = get(endpoints.healthPort(), "/readyz");
      assertThat(ready.status()).isEqualTo(503);
      assertThat(ready.body()).contains("operator not started");
      assertThat(get(endpoints.metricsPort(), "/metrics").body()).contains("jvm_memory_used_bytes");
      // A probe that waited for JOSDK's lock would only have been answered after start() let go.
      assertThat(insideLockedStart.getAsBoolean())
          .as("the answers came while start() still held its lock")
          .isTrue();
    }
  }

  @Test
  void metricsCarryJosdkReconcileCountersJvmMetricsAndClonesByPhase() throws IOException {
    openBeforeStart();
    assertThat(endpoints.metricsPort()).isNotEqualTo(endpoints.healthPort());
    startWithClone();
    var pods = cluster.client.pods().inNamespace("db").withName(AgentPodFactory.podName("c"));
    await("the agent Pod", () -> pods.get() != null);
    await(
        "phase Pending with agentPod",
        () -> {
          var status = cluster.get("db", "c").getStatus();
          return status != null && status.getAgentPod() != null;
        });
    Pod pod = pods.get();
    pod.setStatus(new PodStatusBuilder().withPhase("Running").build());
    cluster.client.resource(pod).updateStatus();
    await(
        "phase Copying",
        () -> {
          var status = cluster.get("db", "c").getStatus();
          return status != null && status.getPhase() == Phase.Copying;
        });
    int port = endpoints.metricsPort();
    await(
        "the informer cache sees the clone Copying",
        () ->
            sample(get(port, "/metrics").body(), "volume_clone_operator_clones{phase=\"Copying\"}")
                == 1);

    Reply scrape = get(port, "/metrics");
    assertThat(scrape.status()).isEqualTo(200);
    assertThat(scrape.contentType()).startsWith("text/plain; version=0.0.4");
    String text = scrape.body();
    assertThat(sum(text, "operator_sdk_reconciliations_started_total"))
        .as("JOSDK counted the reconciles it started")
        .isGreaterThanOrEqualTo(2);
    assertThat(sum(text, "operator_sdk_reconciliations_success_total")).isGreaterThanOrEqualTo(2);
    assertThat(text).contains("# TYPE operator_sdk_reconciliations_started_total counter");
    assertThat(sum(text, "jvm_memory_used_bytes")).isPositive();
    assertThat(text).contains("jvm_threads_live_threads", "process_uptime_seconds");
    assertThat(sample(text, "volume_clone_operator_clones{phase=\"Pending\"}")).isZero();
    assertThat(sample(text, "volume_clone_operator_clones{phase=\"Completed\"}")).isZero();
    assertThat(get(endpoints.healthPort(), "/metrics").status())
        .as("metrics live on their own port")
        .isEqualTo(404);
  }

  @Test
  void perCloneGaugesFollowTheReportedProgressAndGoWithTheClone() throws IOException {
    openBeforeStart();
    startWithClone();
    int port = endpoints.metricsPort();
    String phase =
        "volume_clone_operator_clone_phase{namespace=\"db\",phase=\"%s\",volumeclone=\"c\"}";
    await(
        "phase Pending of db/c in the per-clone phase gauge",
        () -> sample(get(port, "/metrics").body(), phase.formatted("Pending")) == 1);
    assertThat(get(port, "/metrics").body())
        .as("no progress reported yet, so no byte gauges")
        .doesNotContain("volume_clone_operator_clone_copied_bytes{");

    await(
        "the operator's first status of db/c",
        () -> {
          var status = cluster.get("db", "c").getStatus();
          return status != null && status.getAgentPod() != null;
        });
    // The agent's report, as it writes it through the status subresource.
    VolumeClone current = cluster.get("db", "c");
    Progress progress = new Progress();
    progress.setBytesTotal(1L << 30);
    progress.setBytesCopied(3L << 20);
    progress.setBytesPerSecond(1L << 20);
    current.getStatus().setProgress(progress);
    cluster.client.resource(current).updateStatus();
    String tags = "{namespace=\"db\",volumeclone=\"c\"}";
    await(
        "the reported bytes in the per-clone gauges",
        () ->
            sample(get(port, "/metrics").body(), "volume_clone_operator_clone_copied_bytes" + tags)
                == 3 << 20);
    String text = get(port, "/metrics").body();
    assertThat(sample(text, "volume_clone_operator_clone_size_bytes" + tags)).isEqualTo(1 << 30);
    assertThat(sample(text, "volume_clone_operator_clone_copy_rate_bytes_per_second" + tags))
        .isEqualTo(1 << 20);
    assertThat(text).contains("# TYPE volume_clone_operator_clone_copied_bytes gauge");
    for (Phase each : Phase.values()) {
      assertThat(sample(text, phase.formatted(each.name())))
          .as("phase %s of db/c", each)
          .isEqualTo(each == cluster.get("db", "c").getStatus().getPhase() ? 1 : 0);
    }

    cluster.client.resource(cluster.get("db", "c")).delete();
    var pods = cluster.client.pods().inNamespace("db").withName(AgentPodFactory.podName("c"));
    await("the agent Pod stopped", () -> pods.get() == null);
    await(
        "db/c gone from the cache and from every per-clone gauge",
        () -> !get(port, "/metrics").body().contains("volumeclone=\"c\""));
  }

  @Test
  void oneSharedPortServesProbesAndMetrics() throws IOException {
    metrics = new OperatorMetrics();
    operator = Main.create(cluster.client, OPTIONS, Map.of(), metrics);
    try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      // Find a free port, then give it back; the endpoints bind it at once.
      int port = probe.getLocalPort();
      probe.close();
      InetSocketAddress same = new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
      endpoints = OperatorEndpoints.open(operator, metrics, same, same);
    }
    assertThat(endpoints.metricsPort()).isEqualTo(endpoints.healthPort());
    assertThat(get(endpoints.healthPort(), "/metrics").body()).contains("jvm_memory_used_bytes");
    assertThat(get(endpoints.healthPort(), "/readyz").status()).isEqualTo(503);
  }

  @Test
  void runOpensNothingOnPortZeroAndStartsTheOperator() throws IOException {
    running =
        Main.run(
            cluster.client,
            OperatorOptions.of(
                Map.of("leaderElection.enabled", "false", "health.port", "0", "metrics.port", "0")),
            Map.of());
    assertThat(running.endpoints().healthPort()).isZero();
    assertThat(running.endpoints().metricsPort()).isZero();
    assertThat(running.operator().getRuntimeInfo().isStarted()).isTrue();
    assertThat(running.metrics().scrape()).contains("operator_sdk_");
  }

  @Test
  void runRefusesAPortInUseNamingTheSetting() throws IOException {
    try (ServerSocket taken = new ServerSocket(0)) {
      int port = taken.getLocalPort();
      assertThatThrownBy(
              () ->
                  Main.run(
                      cluster.client,
                      OperatorOptions.of(
                          Map.of(
                              "leaderElection.enabled", "false",
                              "health.port", "0",
                              "metrics.port", String.valueOf(port))),
                      Map.of()))
          .isInstanceOf(IOException.class)
          .hasMessageContaining("cannot serve the operator's metrics.port endpoint")
          .hasMessageContaining(":" + port)
          .hasMessageContaining("set it to 0 to switch the endpoint off");
    }
  }

  /** Sum of every sample of {@code metric} (any labels) in Prometheus text. */
  static double sum(String text, String metric) {
    Matcher m =
        Pattern.compile("(?m)^" + Pattern.quote(metric) + "(?:\\{[^}]*\\})? (\\S+)$").matcher(text);
    double total = 0;
    boolean found = false;
    while (m.find()) {
      total += Double.parseDouble(m.group(1));
      found = true;
    }
    if (!found) {
      throw new AssertionError("no sample of " + metric + " in:\n" + text);
    }
    return total;
  }

  /** The value of one exact sample ({@code name{labels}}), or NaN when it is missing. */
  static double sample(String text, String nameAndLabels) {
    Matcher m = Pattern.compile("(?m)^" + Pattern.quote(nameAndLabels) + " (\\S+)$").matcher(text);
    return m.find() ? Double.parseDouble(m.group(1)) : Double.NaN;
  }
}
