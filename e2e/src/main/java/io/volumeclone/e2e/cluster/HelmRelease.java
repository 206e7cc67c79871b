package io.volumeclone.e2e.cluster;

import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The chart {@code helm/volume-clone} installed on a {@link ControlPlane} with the real {@code
 * helm} built beside it: release {@value #NAME} in namespace {@value #NAMESPACE}. The chart brings
 * the CRD (from {@code crds/}), the operator's and the agents' ServiceAccounts and RBAC, the
 * ConfigMap and the operator Deployment, so a permission the chart forgot fails the tests.
 */
public final class HelmRelease {

  public static final String NAME = "volume-clone";
  public static final String NAMESPACE = "volume-clone-system";

  /** The node copy budget the local cluster's agents share ({@code agent.nodeBandwidth}). */
  public static final String NODE_BANDWIDTH = "8Mi";

  private static final long HELM_TIMEOUT_SECONDS = 300;

  private final ControlPlane plane;
  private final Path kubeconfig;
  private final Path directory;
  private final Path chart;
  private final Map<String, Object> values;
  private final List<String> cloneNamespaces = new ArrayList<>();

  private HelmRelease(
      ControlPlane plane, Path kubeconfig, Path directory, Path chart, Map<String, Object> values) {
    this.plane = plane;
    this.kubeconfig = kubeconfig;
    this.directory = directory;
    this.chart = chart;
    this.values = values;
  }

  /**
   * The local cluster's values: host devices under {@code deviceDirectory} allowed, and no others
   * (the agent Pods then run privileged), fast reporting and rechecks, a node copy budget of
   * {@value #NODE_BANDWIDTH}, free ports for the operator's health and metrics endpoints (several
   * local clusters may run at once), and {@code default} as the first clone namespace.
   */
  public static Map<String, Object> values(Path deviceDirectory) throws IOException {
    Map<String, Object> v = new LinkedHashMap<>();
    // The chart allows no device path by default; the local cluster's devices are files here.
    v.put("allowedDevicePrefixes", List.of(deviceDirectory.toAbsolutePath() + "/"));
    v.put("recheckInterval", "2s");
    v.put(
        "agent",
        Map.of(
            "privileged",
            true,
            "reportInterval",
            "1s",
            "stopGracePeriod",
            "15s",
            "deletionTimeout",
            "10s",
            "nodeBandwidth",
            NODE_BANDWIDTH));
    v.put("operator", Map.of("health", Map.of("port", LoopbackPorts.free())));
    v.put("metrics", Map.of("port", LoopbackPorts.free()));
    return v;
  }

  /**
   * Where the chart is: {@code VOLUME_CLONE_CHART}, {@code volumeclone.chart}, or found upwards.
   */
  public static Path chartDirectory() throws IOException {
    String given = System.getenv("VOLUME_CLONE_CHART");
    if (given == null || given.isBlank()) {
      given = System.getProperty("volumeclone.chart");
    }
    if (given != null && !given.isBlank()) {
      return Path.of(given).toAbsolutePath();
    }
    Path here = Path.of("").toAbsolutePath();
    for (Path dir = here; dir != null; dir = dir.getParent()) {
      Path candidate = dir.resolve("helm/volume-clone");
      if (Files.isRegularFile(candidate.resolve("Chart.yaml"))) {
        return candidate;
      }
    }
    throw new IOException(
        "cannot find the chart helm/volume-clone from " + here + "; set VOLUME_CLONE_CHART");
  }

  /**
   * {@code helm install --wait}: returns once the operator Deployment is available, i.e. its Pod
   * was scheduled onto a node and the node runner runs it. {@code extra} values override the local
   * cluster's ({@link #values}) key by key at the top level; a null drops the local cluster's value
   * so that the chart's default applies.
   */
  public static HelmRelease install(
      ControlPlane plane,
      Path kubeconfig,
      Path directory,
      Path deviceDirectory,
      Map<String, Object> extra)
      throws IOException {
    Map<String, Object> v = values(deviceDirectory);
    v.putAll(extra);
    v.values().removeIf(java.util.Objects::isNull); // null: the chart's own default applies
    HelmRelease release = new HelmRelease(plane, kubeconfig, directory, chartDirectory(), v);
    release.cloneNamespaces.add("default");
    // Watched namespaces must exist for the operator's RoleBindings there: the chart creates them.
    if (v.get("watchNamespaces") instanceof List<?> watched) {
      watched.stream()
          .map(Object::toString)
          .filter(ns -> !release.cloneNamespaces.contains(ns))
          .forEach(release.cloneNamespaces::add);
    }
    release.helm("install", "--create-namespace", "--wait");
    return release;
  }

  /** Adds {@code namespace} to the chart's {@code cloneNamespaces} ({@code helm upgrade}). */
  public synchronized void addCloneNamespace(String namespace) throws IOException {
    if (cloneNamespaces.contains(namespace)) {
      return;
    }
    cloneNamespaces.add(namespace);
    helm("upgrade");
  }

  private void helm(String verb, String... flags) throws IOException {
    Map<String, Object> all = new LinkedHashMap<>(values);
    List<Map<String, Object>> namespaces = new ArrayList<>();
    for (String ns : cloneNamespaces) {
      namespaces.add(Map.of("name", ns, "create", !ns.equals("default")));
    }
    all.put("cloneNamespaces", namespaces);
    Files.createDirectories(directory);
    Path valuesFile = directory.resolve("values.yaml");
    Files.writeString(valuesFile, Serialization.asYaml(all));
    List<String> command = new ArrayList<>();
    command.add(plane.tool("helm").toString());
    command.add(verb);
    command.add(NAME);
    command.add(chart.toString());
    command.addAll(
        List.of(
            "--namespace",
            NAMESPACE,
            "--kubeconfig",
            kubeconfig.toString(),
            "--values",
            valuesFile.toString(),
            "--timeout",
            HELM_TIMEOUT_SECONDS + "s"));
    command.addAll(List.of(flags));
    run(command);
  }

  /** {@code helm <args>} against this release's cluster; the output, or an error with it. */
  public String run(List<String> command) throws IOException {
    ProcessBuilder pb = new ProcessBuilder(command);
    // Helm's caches and repositories config in the work directory, not in the user's home.
    pb.environment().put("HELM_CACHE_HOME", directory.resolve("cache").toString());
    pb.environment().put("HELM_CONFIG_HOME", directory.resolve("config").toString());
    pb.environment().put("HELM_DATA_HOME", directory.resolve("data").toString());
    pb.redirectErrorStream(true);
    pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
    Path out = directory.resolve("helm.out");
    pb.redirectOutput(out.toFile());
    Process p = pb.start();
    try {
      if (!p.waitFor(HELM_TIMEOUT_SECONDS + 30, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IOException(String.join(" ", command) + " did not finish");
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted: " + String.join(" ", command), e);
    }
    String text = Files.readString(out, StandardCharsets.UTF_8);
    Files.writeString(
        directory.resolve("helm.log"),
        "$ " + String.join(" ", command) + "\n" + text,
        StandardCharsets.UTF_8,
        java.nio.file.StandardOpenOption.CREATE,
        java.nio.file.StandardOpenOption.APPEND);
    if (p.exitValue() != 0) {
      throw new IOException(
          String.join(" ", command) + " exited with code " + p.exitValue() + ":\n" + text);
    }
    return text;
  }

  /** {@code helm uninstall}, ignoring failure: used when a start fails half-way. */
  public void uninstallQuietly() {
    try {
      run(
          List.of(
              plane.tool("helm").toString(),
              "uninstall",
              NAME,
              "--namespace",
              NAMESPACE,
              "--kubeconfig",
              kubeconfig.toString()));
    } catch (IOException e) {
      // the control plane stops next anyway
    }
  }
}
