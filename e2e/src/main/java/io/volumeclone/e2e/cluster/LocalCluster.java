package io.volumeclone.e2e.cluster;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Everything the demo and the end-to-end tests run on, in one place: a real control plane ({@link
 * ControlPlane}: etcd, kube-apiserver, kube-controller-manager, kube-scheduler), its kubeconfig,
 * the Helm chart installed by {@code helm install} (its operator Deployment's Pod runs on a node)
 * and the node runner playing the kubelet of {@code node-1} and {@code node-2}. The work directory
 * holds {@code kubeconfig}, {@code devices/} (device paths there are allowed on both nodes), {@code
 * nodes/} (each node's hostPath directories), {@code control-plane/} (its data, certificates and
 * logs) and {@code logs/}.
 */
public final class LocalCluster implements AutoCloseable {

  public static final List<String> NODES = List.of("node-1", "node-2");

  private final Path workDirectory;
  private final ControlPlane cluster;
  private final KubernetesClient client;
  private final Path kubeconfig;
  private final HelmRelease release;
  private final NodeRunner runner;
  private final Path shortNodes;

  private LocalCluster(
      Path workDirectory,
      ControlPlane cluster,
      KubernetesClient client,
      Path kubeconfig,
      HelmRelease release,
      NodeRunner runner,
      Path shortNodes) {
    this.workDirectory = workDirectory;
    this.shortNodes = shortNodes;
    this.cluster = cluster;
    this.client = client;
    this.kubeconfig = kubeconfig;
    this.release = release;
    this.runner = runner;
  }

  /**
   * Starts the control plane and the nodes, then installs the chart with the real {@code helm
   * install} (CRD, RBAC, ServiceAccounts, ConfigMap, the operator Deployment): the scheduler places
   * the operator Pod on a node, the node runner runs it with its ServiceAccount's token. {@code
   * values} are added to the local cluster's values ({@link HelmRelease#values}).
   */
  public static LocalCluster start(Path workDirectory, Map<String, Object> values)
      throws IOException {
    Path work = workDirectory.toAbsolutePath();
    Files.createDirectories(work.resolve("devices"));
    ControlPlane cluster = ControlPlane.start(work.resolve("control-plane"));
    KubernetesClient client = null;
    NodeRunner runner = null;
    HelmRelease release = null;
    Path nodes = null;
    try {
      Path kubeconfig = cluster.writeKubeconfig(work.resolve("kubeconfig"));
      client =
          new KubernetesClientBuilder()
              .withConfig(Config.fromKubeconfig(null, Files.readString(kubeconfig), null))
              .build();
      nodes = nodesDirectory(work);
      runner = new NodeRunner(client, nodes, new HashSet<>(NODES));
      runner.start();
      release =
          HelmRelease.install(
              cluster, kubeconfig, work.resolve("helm"), work.resolve("devices"), values);
      return new LocalCluster(
          work,
          cluster,
          client,
          kubeconfig,
          release,
          runner,
          nodes.startsWith(work) ? null : nodes);
    } catch (IOException | RuntimeException e) {
      if (release != null) {
        release.uninstallQuietly();
      }
      if (runner != null) {
        runner.close();
      }
      if (client != null) {
        client.close();
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

  /**
   * Makes {@code namespace} a clone namespace: {@code helm upgrade} with it added to the chart's
   * {@code cloneNamespaces}, which creates it with the agent's ServiceAccount and RoleBinding.
   */
  public void prepareNamespace(String namespace) throws IOException {
    release.addCloneNamespace(namespace);
  }

  public KubernetesClient client() {
    return client;
  }

  public ControlPlane controlPlane() {
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

  /** The control plane's logs (etcd, kube-apiserver, ...) and helm's. */
  public Path logDirectory() {
    return workDirectory.resolve("control-plane/logs");
  }

  /** The Pods' logs, one file per Pod (the operator's and the agents'), as kubectl logs shows. */
  public Path podLogDirectory() {
    return runner.logDirectory();
  }

  public HelmRelease release() {
    return release;
  }

  public NodeRunner nodes() {
    return runner;
  }

  @Override
  public void close() {
    // Operator first, so it does not recreate agent Pods while the nodes stop.
    runner.stopOperator();
    runner.close();
    client.close();
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
