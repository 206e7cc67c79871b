package io.volumeclone.e2e.cluster;

import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Map;

/**
 * Everything the demo and the end-to-end tests run on, in one place: the embedded API server, its
 * kubeconfig, the operator as a child JVM and the node runner playing {@code node-1} and {@code
 * node-2}. The work directory holds {@code kubeconfig}, {@code devices/} (device paths there are
 * allowed on both nodes), {@code nodes/} (each node's hostPath directories) and {@code logs/}.
 */
public final class LocalCluster implements AutoCloseable {

  private final Path workDirectory;
  private final EmbeddedCluster cluster;
  private final Path kubeconfig;
  private final OperatorProcess operator;
  private final NodeRunner runner;

  private LocalCluster(
      Path workDirectory,
      EmbeddedCluster cluster,
      Path kubeconfig,
      OperatorProcess operator,
      NodeRunner runner) {
    this.workDirectory = workDirectory;
    this.cluster = cluster;
    this.kubeconfig = kubeconfig;
    this.operator = operator;
    this.runner = runner;
  }

  /** Starts the API server on {@code port} (0 = any), the operator and the nodes. */
  public static LocalCluster start(
      Path workDirectory, int port, Map<String, String> operatorSettings) throws IOException {
    Path work = workDirectory.toAbsolutePath();
    Files.createDirectories(work.resolve("devices"));
    Files.createDirectories(work.resolve("logs"));
    EmbeddedCluster cluster = EmbeddedCluster.start(port);
    OperatorProcess operator = null;
    NodeRunner runner = null;
    try {
      Path kubeconfig = cluster.writeKubeconfig(work.resolve("kubeconfig"));
      java.util.Map<String, String> settings =
          new java.util.LinkedHashMap<>(OperatorProcess.settings(work.resolve("devices")));
      settings.putAll(operatorSettings);
      operator = OperatorProcess.start(kubeconfig, settings, work.resolve("logs"));
      runner =
          new NodeRunner(
              cluster.client(),
              kubeconfig,
              nodesDirectory(work),
              new HashSet<>(EmbeddedCluster.NODES));
      runner.start();
      return new LocalCluster(work, cluster, kubeconfig, operator, runner);
    } catch (IOException | RuntimeException e) {
      if (runner != null) {
        runner.close();
      }
      if (operator != null) {
        operator.close();
      }
      cluster.close();
      throw e;
    }
  }

  /**
   * The nodes' hostPath directories. An agent's NBD socket lives at {@code
   * <nodes>/<node>/var/lib/volume-clone/<namespace>/<name>/nbd.sock}, and a Unix socket path has at
   * most 107 bytes: under a long work directory the nodes live in a short one below /tmp instead,
   * with {@code <work>/nodes} a symlink to it.
   */
  private static Path nodesDirectory(Path work) throws IOException {
    Path nodes = work.resolve("nodes");
    if (nodes.toString().length() <= 24) {
      Files.createDirectories(nodes);
      return nodes;
    }
    Path shortDir = Files.createTempDirectory(Path.of("/tmp"), "vcn-");
    Files.deleteIfExists(nodes);
    Files.createSymbolicLink(nodes, shortDir);
    return shortDir;
  }

  public KubernetesClient client() {
    return cluster.client();
  }

  public EmbeddedCluster apiServer() {
    return cluster;
  }

  public Path kubeconfig() {
    return kubeconfig;
  }

  /** Device paths under this directory are allowed on both nodes. */
  public Path deviceDirectory() {
    return workDirectory.resolve("devices");
  }

  public Path workDirectory() {
    return workDirectory;
  }

  public Path logDirectory() {
    return workDirectory.resolve("logs");
  }

  public OperatorProcess operator() {
    return operator;
  }

  public NodeRunner nodes() {
    return runner;
  }

  @Override
  public void close() {
    // Operator first, so it does not recreate agent Pods while the nodes stop.
    operator.stop(Duration.ofSeconds(10));
    runner.close();
    cluster.close();
  }
}
