package io.volumeclone.operator;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts the operator: {@code java -jar operator/target/volume-clone-operator.jar [--help |
 * --version]} (the image runs that jar).
 */
public final class Main {

  private static final Logger LOG = LoggerFactory.getLogger(Main.class);

  private Main() {}

  public static void main(String[] args) throws Exception {
    if (args.length > 0 && (args[0].equals("--version") || args[0].equals("-V"))) {
      // Written into the shaded jar's manifest by the Maven build (operator/pom.xml).
      String version = Main.class.getPackage().getImplementationVersion();
      System.out.println(
          "volume-clone-operator "
              + (version != null ? version : "(unknown: not run from the operator jar)"));
      return;
    }
    if (args.length > 0 && (args[0].equals("--help") || args[0].equals("-h"))) {
      System.out.println(
          "volume-clone operator. Settings come from environment variables or the file named by"
              + " VOLUME_CLONE_CONFIG (.properties or .yaml):\n");
      System.out.print(OperatorOptions.describe());
      return;
    }
    OperatorOptions options = OperatorOptions.load(System.getenv());
    KubernetesClient client = new KubernetesClientBuilder().build();
    Running running = run(client, options, System.getenv());
    running.operator().installShutdownHook(Duration.ofSeconds(30));
    Runtime.getRuntime()
        .addShutdownHook(new Thread(running.endpoints()::close, "volume-clone-endpoints-stop"));
    LOG.info("volume-clone operator started");
  }

  /** The operator with its endpoints and metrics, as {@link #main} runs it. */
  public record Running(Operator operator, OperatorEndpoints endpoints, OperatorMetrics metrics)
      implements AutoCloseable {
    @Override
    public void close() {
      try {
        operator.stop();
      } finally {
        endpoints.close();
        metrics.close();
      }
    }
  }

  /**
   * Starts the operator with metrics and opens its endpoints on the ports {@code options} name
   * ({@link OperatorOptions#HEALTH_PORT}, {@link OperatorOptions#METRICS_PORT}; 0 = off). The
   * endpoints open before the operator starts, so {@code /readyz} answers 503 until it has.
   */
  public static Running run(
      KubernetesClient client, OperatorOptions options, Map<String, String> environment)
      throws IOException {
    OperatorMetrics metrics = new OperatorMetrics();
    Operator operator = create(client, options, environment, metrics);
    OperatorEndpoints endpoints;
    try {
      endpoints =
          OperatorEndpoints.open(
              operator,
              metrics,
              address(options.get(OperatorOptions.HEALTH_PORT)),
              address(options.get(OperatorOptions.METRICS_PORT)));
    } catch (IOException | RuntimeException e) {
      operator.stop(); // not started: only releases its executors
      metrics.close();
      throw e;
    }
    try {
      operator.start();
    } catch (RuntimeException e) {
      endpoints.close();
      metrics.close();
      throw e;
    }
    endpoints.operatorStarted();
    return new Running(operator, endpoints, metrics);
  }

  private static InetSocketAddress address(int port) {
    return port == 0 ? null : new InetSocketAddress(port);
  }

  /**
   * Registers the reconciler and starts the operator on {@code client}, without metrics or
   * endpoints; used by tests and e2e.
   */
  public static Operator start(
      KubernetesClient client, OperatorOptions options, Map<String, String> environment) {
    Operator operator = create(client, options, environment, null);
    operator.start();
    return operator;
  }

  /**
   * The operator with the reconciler registered, not started; JOSDK reports to {@code metrics}
   * unless it is null.
   */
  static Operator create(
      KubernetesClient client,
      OperatorOptions options,
      Map<String, String> environment,
      OperatorMetrics metrics) {
    Operator operator =
        new Operator(
            o -> {
              o.withKubernetesClient(client);
              if (metrics != null) {
                o.withMetrics(metrics.josdk());
              }
              o.withCloseClientOnStop(false);
              // The operator writes status itself (StatusWriter); JOSDK only adds and removes
              // the finalizer, by JSON patch, which every API server (and the mock) supports.
              o.withUseSSAToPatchPrimaryResource(false);
              if (options.get(OperatorOptions.LEADER_ELECTION)) {
                String namespace = options.get(OperatorOptions.LEADER_ELECTION_NAMESPACE);
                if (namespace.isEmpty()) {
                  namespace = environment.getOrDefault("POD_NAMESPACE", client.getNamespace());
                }
                o.withLeaderElectionConfiguration(
                    new LeaderElectionConfiguration(
                        options.get(OperatorOptions.LEADER_ELECTION_LEASE_NAME),
                        namespace,
                        environment.get("POD_NAME")));
              }
            });
    VolumeCloneReconciler reconciler =
        new VolumeCloneReconciler(client, options, Clock.systemUTC());
    List<String> namespaces = options.get(OperatorOptions.WATCH_NAMESPACES);
    var registered =
        operator.register(
            reconciler,
            c -> {
              c.withOnUpdateFilter(VolumeCloneReconciler::relevantUpdate);
              if (namespaces.isEmpty()) {
                c.watchingAllNamespaces();
              } else {
                c.settingNamespaces(new HashSet<>(namespaces));
              }
            });
    if (metrics != null) {
      metrics.countClones(registered);
    }
    return operator;
  }
}
