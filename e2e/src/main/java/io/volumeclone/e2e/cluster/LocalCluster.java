package io.volumeclone.e2e.cluster;

import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

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
  private final Path shortNodes;

  private LocalCluster(
      Path workDirectory,
      EmbeddedCluster cluster,
      Path kubeconfig,
      OperatorProcess operator,
      NodeRunner runner,
      Path shortNodes) {
    this.workDirectory = workDirectory;
    this.shortNodes = shortNodes;
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
    Path nodes = null;
    try {
      Path kubeconfig = cluster.writeKubeconfig(work.resolve("kubeconfig"));
      java.util.Map<String, String> settings =
          new java.util.LinkedHashMap<>(OperatorProcess.settings(work.resolve("devices")));
      settings.putAll(operatorSettings);
      operator = OperatorProcess.start(kubeconfig, settings, work.resolve("logs"));
      nodes = nodesDirectory(work);
      runner =
          new NodeRunner(cluster.client(), kubeconfig, nodes, new HashSet<>(EmbeddedCluster.NODES));
      runner.start();
      return new LocalCluster(
          work, cluster, kubeconfig, operator, runner, nodes.startsWith(work) ? null : nodes);
    } catch (IOException | RuntimeException e) {
      if (runner != null) {
        runner.close();
      }
      if (operator != null) {
        operator.close();
      }
      cluster.close();
      if (nodes != null && !nodes.startsWith(work)) {
        bringBack(nodes, work.resolve("nodes"));
      }
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
    if (shortNodes != null) {
      bringBack(shortNodes, workDirectory.resolve("nodes"));
    }
  }

  /**
   * Moves the nodes' files from the short directory below /tmp back into {@code <work>/nodes} (in
   * place of the symlink) and deletes the short directory, so that nothing is left behind in /tmp
   * and the node logs stay where the work directory's users look for them. Sockets, the reason for
   * the short directory, are dead by now and not copied.
   */
  private static void bringBack(Path shortDir, Path nodes) {
    try {
      if (Files.isSymbolicLink(nodes)) {
        Files.delete(nodes);
      }
      if (Files.isDirectory(nodes.getParent())) {
        List<Path> all;
        try (Stream<Path> walk = Files.walk(shortDir)) {
          all = walk.toList();
        }
        for (Path from : all) {
          Path to = nodes.resolve(shortDir.relativize(from).toString());
          if (Files.isDirectory(from, LinkOption.NOFOLLOW_LINKS)) {
            Files.createDirectories(to);
          } else if (Files.isRegularFile(from, LinkOption.NOFOLLOW_LINKS)
              || Files.isSymbolicLink(from)) {
            Files.copy(
                from,
                to,
                LinkOption.NOFOLLOW_LINKS,
                StandardCopyOption.COPY_ATTRIBUTES,
                StandardCopyOption.REPLACE_EXISTING);
          }
        }
      }
      deleteTree(shortDir);
    } catch (IOException | UncheckedIOException e) {
      System.err.println(
          "volume-clone: could not move the node files from "
              + shortDir
              + " back to "
              + nodes
              + ": "
              + e);
    }
  }

  /** Deletes a directory tree; symlinks in it are deleted, never followed. */
  public static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    List<Path> all;
    try (Stream<Path> walk = Files.walk(root)) {
      all = walk.sorted(Comparator.reverseOrder()).toList();
    }
    for (Path p : all) {
      Files.deleteIfExists(p);
    }
  }
}
