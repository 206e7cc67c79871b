package io.volumeclone.operator;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.RuntimeInfo;
import io.javaoperatorsdk.operator.health.EventSourceHealthIndicator;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operator's HTTP endpoints, on the JDK's own server (no framework for three paths).
 *
 * <ul>
 *   <li>{@code /healthz} (liveness): 200 while the process runs, until the operator has stopped. It
 *       does not look at informers: a lost watch is for readiness to report and for the informer to
 *       retry, not a reason for the kubelet to restart the JVM.
 *   <li>{@code /readyz} (readiness): 200 once JOSDK says the operator started and every event
 *       source is healthy; 503 otherwise, naming each unhealthy source and its status.
 *   <li>{@code /metrics}: Prometheus text from {@link OperatorMetrics}.
 * </ul>
 *
 * Probes and metrics get separate servers so a slow scrape never delays a probe; when both
 * addresses name the same port one server answers all three paths.
 *
 * <p>Never ask the {@link Operator} anything while it starts: {@code Operator.getRuntimeInfo()}
 * lists controllers under the lock that {@code Operator.start()} holds until every informer has
 * synced (minutes, against a slow API server), so a probe calling it would hang and the kubelet
 * would restart a healthy operator. The {@link RuntimeInfo} is taken once, at {@link #open} (after
 * registration); its {@code isStarted()} and event-source health take no lock.
 */
public final class OperatorEndpoints implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(OperatorEndpoints.class);
  static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";

  private final RuntimeInfo runtime;
  private final OperatorMetrics metrics;
  private final List<HttpServer> servers = new ArrayList<>();
  private volatile boolean seenStarted;
  private int healthPort;
  private int metricsPort;

  private OperatorEndpoints(Operator operator, OperatorMetrics metrics) {
    this.runtime = operator.getRuntimeInfo();
    this.metrics = metrics;
  }

  /**
   * Opens the endpoints for {@code operator}, whose controllers must all be registered and which
   * must not be starting yet; {@code health} or {@code metricsAddress} null means that endpoint is
   * off. Port 0 in an address means any free port (tests); {@link #healthPort()} tells which.
   */
  public static OperatorEndpoints open(
      Operator operator,
      OperatorMetrics metrics,
      InetSocketAddress health,
      InetSocketAddress metricsAddress)
      throws IOException {
    OperatorEndpoints endpoints = new OperatorEndpoints(operator, metrics);
    try {
      boolean shared =
          health != null
              && metricsAddress != null
              && health.getPort() != 0
              && health.equals(metricsAddress);
      if (health != null) {
        HttpServer server = endpoints.bind(health, "health.port");
        server.createContext("/healthz", endpoints.handler(endpoints::healthz));
        server.createContext("/readyz", endpoints.handler(endpoints::readyz));
        endpoints.healthPort = server.getAddress().getPort();
        if (shared) {
          server.createContext("/metrics", endpoints.handler(endpoints::metrics));
          endpoints.metricsPort = endpoints.healthPort;
        }
      }
      if (metricsAddress != null && !shared) {
        HttpServer server = endpoints.bind(metricsAddress, "metrics.port");
        server.createContext("/metrics", endpoints.handler(endpoints::metrics));
        endpoints.metricsPort = server.getAddress().getPort();
      }
    } catch (IOException | RuntimeException e) {
      endpoints.close();
      throw e;
    }
    endpoints.servers.forEach(HttpServer::start);
    LOG.info(
        "endpoints: health on port {}, metrics on port {} (0 = off)",
        endpoints.healthPort,
        endpoints.metricsPort);
    return endpoints;
  }

  private HttpServer bind(InetSocketAddress address, String option) throws IOException {
    try {
      HttpServer server = HttpServer.create(address, 16);
      // Not the dispatcher thread: one stuck request must not stall the others.
      server.setExecutor(
          Executors.newFixedThreadPool(
              2, Thread.ofPlatform().daemon().name("volume-clone-" + option + "-", 0).factory()));
      servers.add(server);
      return server;
    } catch (IOException e) {
      throw new IOException(
          "cannot serve the operator's "
              + option
              + " endpoint on "
              + address
              + ": "
              + e.getMessage()
              + " (change "
              + option
              + ", or set it to 0 to switch the endpoint off)",
          e);
    }
  }

  /** The port {@code /healthz} and {@code /readyz} answer on; 0 when off. */
  public int healthPort() {
    return healthPort;
  }

  /** The port {@code /metrics} answers on; 0 when off. */
  public int metricsPort() {
    return metricsPort;
  }

  /** Tells liveness that the operator has been started, so a later stop fails it. */
  public void operatorStarted() {
    seenStarted = true;
  }

  record Answer(int status, String contentType, String body) {
    static Answer text(int status, String body) {
      return new Answer(status, "text/plain; charset=utf-8", body + "\n");
    }
  }

  Answer healthz() {
    boolean started = runtime.isStarted();
    if (started) {
      seenStarted = true;
      return Answer.text(200, "ok");
    }
    return seenStarted ? Answer.text(503, "operator stopped") : Answer.text(200, "ok: starting");
  }

  Answer readyz() {
    RuntimeInfo info = runtime;
    if (!info.isStarted()) {
      return Answer.text(503, "not ready: operator not started");
    }
    seenStarted = true;
    // controller -> event source -> status, sorted so the message is stable
    Map<String, Map<String, EventSourceHealthIndicator>> unhealthy = info.unhealthyEventSources();
    Map<String, String> named = new TreeMap<>();
    unhealthy.forEach(
        (controller, sources) ->
            sources.forEach(
                (source, indicator) ->
                    named.put(controller + "/" + source, String.valueOf(indicator.getStatus()))));
    if (named.isEmpty()) {
      return Answer.text(200, "ok");
    }
    StringBuilder body = new StringBuilder("not ready: unhealthy event sources:");
    named.forEach(
        (source, status) -> body.append("\n  ").append(source).append(": ").append(status));
    return Answer.text(503, body.toString());
  }

  Answer metrics() {
    return new Answer(200, PROMETHEUS_TEXT, metrics.scrape());
  }

  private HttpHandler handler(java.util.function.Supplier<Answer> answer) {
    return exchange -> {
      try (exchange) {
        if (!exchange.getRequestURI().getPath().equals(exchange.getHttpContext().getPath())) {
          respond(exchange, Answer.text(404, "not found: " + exchange.getRequestURI().getPath()));
          return;
        }
        Answer a;
        try {
          a = answer.get();
        } catch (RuntimeException e) {
          LOG.warn("{} failed", exchange.getRequestURI().getPath(), e);
          a = Answer.text(500, "error: " + e);
        }
        respond(exchange, a);
      }
    };
  }

  private static void respond(HttpExchange exchange, Answer answer) throws IOException {
    byte[] body = answer.body().getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("Content-Type", answer.contentType());
    boolean head = exchange.getRequestMethod().equals("HEAD");
    exchange.sendResponseHeaders(answer.status(), head ? -1 : body.length);
    if (!head) {
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(body);
      }
    }
  }

  @Override
  public void close() {
    for (HttpServer server : servers) {
      server.stop(0);
      if (server.getExecutor() instanceof ExecutorService executor) {
        executor.shutdownNow();
      }
    }
    servers.clear();
  }
}
