package io.volumeclone.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.e2e.cluster.LocalCluster;
import io.volumeclone.testing.HostRequirements;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * Where the scenarios run. Without {@code KUBECONFIG} they start one {@link LocalCluster} for the
 * whole test JVM (a real control plane built from source, the chart installed by helm, the node
 * runner playing the kubelet). With {@code KUBECONFIG} set they run against that cluster instead,
 * which must have volume-clone installed (the Helm chart) with {@code VOLUME_CLONE_E2E_DEVICE_DIR}
 * in the allowed device prefixes and privileged agents, and the tests must run on the node named by
 * {@code VOLUME_CLONE_E2E_NODE} (a single-node k3s or kind cluster with that directory mounted),
 * because they create the device files and read the export's Unix socket locally.
 *
 * <p>Assertions use only the Kubernetes API, kubectl and the export: nothing the local cluster
 * offers beyond a real one. The one local-only act, killing an agent's process, has a real cluster
 * equivalent ({@code kubectl exec ... kill -9 1}).
 */
final class E2e {

  static final Duration TIMEOUT = Duration.ofSeconds(90);
  private static final AtomicInteger NAMESPACES = new AtomicInteger();
  private static LocalCluster local;
  private static KubernetesClient real;
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  private E2e() {}

  static boolean onLocalCluster() {
    return System.getenv("KUBECONFIG") == null || System.getenv("KUBECONFIG").isBlank();
  }

  static synchronized KubernetesClient client() {
    if (onLocalCluster()) {
      return local().client();
    }
    if (real == null) {
      real = new KubernetesClientBuilder().build();
    }
    return real;
  }

  static synchronized LocalCluster local() {
    if (local == null) {
      try {
        Path work =
            Path.of(System.getProperty("volumeclone.e2e.work", "target/e2e-work"))
                .toAbsolutePath()
                .resolve("cluster-" + ProcessHandle.current().pid());
        Files.createDirectories(work);
        local = LocalCluster.start(work, Map.of());
        Runtime.getRuntime().addShutdownHook(new Thread(local::close));
      } catch (IOException e) {
        throw new IllegalStateException("cannot start the local cluster: " + e, e);
      }
    }
    return local;
  }

  static String kubeconfig() {
    return onLocalCluster() ? local().kubeconfig().toString() : System.getenv("KUBECONFIG");
  }

  static String node() {
    return onLocalCluster()
        ? "node-1"
        : System.getenv().getOrDefault("VOLUME_CLONE_E2E_NODE", "node-1");
  }

  /** A directory whose device paths the operator allows, on the test's node. */
  static Path deviceDirectory() {
    if (onLocalCluster()) {
      return local().deviceDirectory();
    }
    return Path.of(
        System.getenv().getOrDefault("VOLUME_CLONE_E2E_DEVICE_DIR", "/var/tmp/volume-clone-e2e"));
  }

  /** A new namespace for one scenario, so scenarios never see each other's clones. */
  static String namespace(String prefix) {
    String name =
        prefix + "-" + NAMESPACES.incrementAndGet() + "-" + (ProcessHandle.current().pid() % 10000);
    if (onLocalCluster()) {
      try {
        local().prepareNamespace(name);
      } catch (IOException e) {
        throw new IllegalStateException("cannot add the clone namespace " + name + ": " + e, e);
      }
    } else {
      client()
          .namespaces()
          .resource(new NamespaceBuilder().withNewMetadata().withName(name).endMetadata().build())
          .create();
    }
    return name;
  }

  /** A file of {@code size} bytes of seeded random data, standing in for a block device. */
  static Path randomDevice(String name, long size, long seed) throws IOException {
    Path file = deviceDirectory().resolve(name);
    Files.createDirectories(file.getParent());
    Random random = new Random(seed);
    byte[] chunk = new byte[1 << 20];
    try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
      raf.setLength(0);
      for (long written = 0; written < size; written += chunk.length) {
        random.nextBytes(chunk);
        raf.write(chunk, 0, (int) Math.min(chunk.length, size - written));
      }
    }
    return file;
  }

  /** An all-zero (sparse) file of {@code size} bytes. */
  static Path emptyDevice(String name, long size) throws IOException {
    Path file = deviceDirectory().resolve(name);
    Files.createDirectories(file.getParent());
    Files.deleteIfExists(file);
    try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
      raf.setLength(size);
    }
    return file;
  }

  /** Runs kubectl against the cluster; a non-zero exit fails the test with its output. */
  static String kubectl(String... args) {
    return kubectlResult(args).orFail(command(args)).stdout();
  }

  static Tools.Result kubectlResult(String... args) {
    Path cache =
        Path.of(
            System.getProperty("java.io.tmpdir"),
            "volume-clone-e2e-kubecache-" + ProcessHandle.current().pid());
    return Tools.run(
        command(args), Map.of("KUBECONFIG", kubeconfig(), "KUBECACHEDIR", cache.toString()));
  }

  private static List<String> command(String... args) {
    List<String> c = new ArrayList<>();
    c.add(kubectlPath());
    c.addAll(List.of(args));
    return c;
  }

  /**
   * The kubectl built with the control plane (v1.37), or for a cluster given by KUBECONFIG the
   * kubectl on PATH when there is no local build.
   */
  static String kubectlPath() {
    if (onLocalCluster()) {
      return local().controlPlane().tool("kubectl").toString();
    }
    HostRequirements.require("kubectl", "kubernetes-client (or kubectl from pkgs.k8s.io)");
    return Tools.path("kubectl");
  }

  /** kubectl apply -f of a manifest written to a temporary file. */
  static String apply(String yaml) throws IOException {
    Path file = Files.createTempFile("volumeclone-e2e", ".yaml");
    Files.writeString(file, yaml);
    try {
      return kubectl("apply", "-f", file.toString());
    } finally {
      Files.deleteIfExists(file);
    }
  }

  /** Approves the manual cutover of a clone waiting at phase Copied, as a user does. */
  static void approveCutover(String namespace, String name) {
    kubectl(
        "-n",
        namespace,
        "patch",
        "vc",
        name,
        "--type",
        "merge",
        "-p",
        "{\"spec\":{\"cutoverApproved\":true}}");
  }

  static VolumeClone clone(String namespace, String name) {
    return client().resources(VolumeClone.class).inNamespace(namespace).withName(name).get();
  }

  /** Polls {@code value} until {@code condition} holds; fails with the last value seen. */
  static <T> T await(String what, Supplier<T> value, Predicate<T> condition) {
    return await(what, value, condition, TIMEOUT);
  }

  static <T> T await(String what, Supplier<T> value, Predicate<T> condition, Duration timeout) {
    Instant deadline = Instant.now().plus(timeout);
    T last = null;
    while (Instant.now().isBefore(deadline)) {
      try {
        last = value.get();
        if (last != null && condition.test(last)) {
          return last;
        }
      } catch (RuntimeException e) {
        // a read that fails now may succeed on the next poll
      }
      sleep(Duration.ofMillis(250));
    }
    throw new AssertionError(
        "timed out after "
            + timeout.toSeconds()
            + " s waiting for "
            + what
            + "; last seen: "
            + last);
  }

  static VolumeClone awaitClone(
      String namespace, String name, String what, Predicate<VolumeClone> condition) {
    return await(
        what + " of VolumeClone " + namespace + "/" + name,
        () -> clone(namespace, name),
        condition);
  }

  static Pod pod(String namespace, String name) {
    return client().pods().inNamespace(namespace).withName(name).get();
  }

  /**
   * Kills the agent's process with SIGKILL, as a crash or the OOM killer would: the local process
   * on the local cluster, PID 1 of the container (kubectl exec) on a real one.
   */
  static void killAgent(String namespace, String podName) {
    if (onLocalCluster()) {
      ProcessHandle process =
          await(
              "the agent process of Pod " + namespace + "/" + podName,
              () -> local().nodes().process(namespace, podName).orElse(null),
              p -> p.isAlive());
      assertThat(process.destroyForcibly()).as("SIGKILL sent").isTrue();
    } else {
      kubectl("-n", namespace, "exec", podName, "--", "kill", "-9", "1");
    }
  }

  /**
   * Where a client on the test's node reaches the port named {@code portName} that the Pod
   * declares: its podIP and containerPort on a real cluster; on the local cluster, where Pods share
   * this machine's network, the local port the node runner gave that declared port.
   */
  static URI podPort(Pod pod, String portName) {
    String where = pod.getMetadata().getNamespace() + "/" + pod.getMetadata().getName();
    ContainerPort declared =
        pod.getSpec().getContainers().stream()
            .flatMap(c -> Optional.ofNullable(c.getPorts()).orElse(List.of()).stream())
            .filter(p -> portName.equals(p.getName()))
            .findFirst()
            .orElseThrow(
                () -> new AssertionError("Pod " + where + " declares no port named " + portName));
    if (onLocalCluster()) {
      int port =
          await(
              "Pod " + where + " running with its port " + declared.getContainerPort(),
              () ->
                  local()
                      .nodes()
                      .localPort(
                          pod.getMetadata().getNamespace(),
                          pod.getMetadata().getName(),
                          declared.getContainerPort())
                      .orElse(null),
              p -> true);
      return URI.create("http://127.0.0.1:" + port);
    }
    return URI.create("http://" + pod.getStatus().getPodIP() + ":" + declared.getContainerPort());
  }

  /** GET {@code path} on {@code base}; the body of a 200 answer, or an error naming the URL. */
  static String httpGet(URI base, String path) {
    URI url = base.resolve(path);
    try {
      HttpResponse<String> response =
          HTTP.send(
              HttpRequest.newBuilder(url)
                  // Not a speed check: a hanging endpoint fails the test instead of stalling it.
                  .timeout(Duration.ofSeconds(30))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      if (response.statusCode() != 200) {
        throw new IllegalStateException(
            "GET " + url + " answered " + response.statusCode() + ": " + response.body());
      }
      return response.body();
    } catch (IOException e) {
      throw new IllegalStateException("GET " + url + " failed: " + e, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted");
    }
  }

  /** The agent's log (for failure messages): the local log file, or kubectl logs. */
  static String agentLog(String namespace, String podName) {
    try {
      if (onLocalCluster()) {
        Path log = local().nodes().logFile(namespace, podName);
        return Files.exists(log) ? Files.readString(log) : "(no log at " + log + ")";
      }
      return kubectlResult("-n", namespace, "logs", podName).stdout();
    } catch (IOException e) {
      return "(cannot read the agent log: " + e + ")";
    }
  }

  static void sleep(Duration d) {
    try {
      Thread.sleep(d.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted");
    }
  }
}
