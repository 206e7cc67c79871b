package io.volumeclone.operator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.volumeclone.api.Durations;
import io.volumeclone.contract.AgentPaths;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.function.Function;

/**
 * Every setting of the operator, each with its key, default and description, read from (highest
 * wins) environment variables, a config file, then the defaults.
 *
 * <p>The environment variable of a key is {@code VOLUME_CLONE_} plus the key in upper snake case
 * ({@code agent.image} is {@code VOLUME_CLONE_AGENT_IMAGE}, {@code maxClonesPerNode} is {@code
 * VOLUME_CLONE_MAX_CLONES_PER_NODE}). The config file is named by {@code VOLUME_CLONE_CONFIG}; it
 * is a {@code .properties} file with the keys as written here, or a YAML file whose nested maps
 * spell the same dotted keys (lists become comma-separated values). The Helm chart renders its
 * values into that file.
 */
public final class OperatorOptions {

  /** One setting: its key, its default (as text, parsed like any other value) and what it does. */
  public record Option<T>(
      String key, String defaultValue, String description, Function<String, T> parser) {

    public String environmentVariable() {
      return "VOLUME_CLONE_"
          + key.replaceAll("([a-z0-9])([A-Z])", "$1_$2").replace('.', '_').toUpperCase(Locale.ROOT);
    }
  }

  private static final List<Option<?>> ALL = new ArrayList<>();

  public static final Option<String> AGENT_IMAGE =
      define(
          "agent.image",
          "ghcr.io/volume-clone/volume-clone:0.1.0",
          "Image of the agent Pod; it must contain the volume-clone binary.",
          Function.identity());
  public static final Option<String> AGENT_IMAGE_PULL_POLICY =
      define(
          "agent.imagePullPolicy",
          "IfNotPresent",
          "imagePullPolicy of the agent container: Always, IfNotPresent or Never.",
          OperatorOptions::pullPolicy);
  public static final Option<List<String>> AGENT_IMAGE_PULL_SECRETS =
      define(
          "agent.imagePullSecrets",
          "",
          "Comma-separated names of the Secrets agent Pods pull their image with; each must exist"
              + " in every namespace where VolumeClones live (an agent Pod runs in its"
              + " VolumeClone's namespace); empty = none.",
          OperatorOptions::list);
  public static final Option<String> AGENT_SERVICE_ACCOUNT =
      define(
          "agent.serviceAccount",
          "volume-clone-agent",
          "ServiceAccount of the agent Pods; it needs get/watch on its VolumeClone and update on"
              + " volumeclones/status.",
          Function.identity());
  public static final Option<String> AGENT_CPU_REQUEST =
      define("agent.resources.requests.cpu", "100m", "CPU request of the agent.", s -> s);
  public static final Option<String> AGENT_MEMORY_REQUEST =
      define("agent.resources.requests.memory", "128Mi", "Memory request of the agent.", s -> s);
  public static final Option<String> AGENT_CPU_LIMIT =
      define("agent.resources.limits.cpu", "", "CPU limit of the agent; empty = none.", s -> s);
  public static final Option<String> AGENT_MEMORY_LIMIT =
      define(
          "agent.resources.limits.memory",
          "512Mi",
          "Memory limit of the agent; empty = none.",
          s -> s);
  public static final Option<Boolean> AGENT_PRIVILEGED =
      define(
          "agent.privileged",
          "false",
          "Run agent Pods privileged. Needed only to open host devices (spec.*.device.path): a"
              + " container gets no access to a host device node without it. PVC-only clones"
              + " never run privileged. When false, clones that name a host device are refused"
              + " with a Stalled condition that says so.",
          OperatorOptions::bool);
  public static final Option<Boolean> AGENT_KERNEL_ATTACH =
      define(
          "agent.kernelAttach",
          "false",
          "Run the agent Pods of clones that publish a volume (spec.volume) privileged, so that"
              + " the agent can attach the clone as a kernel device (nbd + device-mapper, which"
              + " need CAP_SYS_ADMIN and the host's /dev) and workloads use it while it copies."
              + " The clones' namespaces then need Pod Security privileged. When false such clones"
              + " report NoKernelAttach and their claim is bound after cutover.",
          OperatorOptions::bool);
  public static final Option<Duration> AGENT_STOP_GRACE_PERIOD =
      define(
          "agent.stopGracePeriod",
          "60s",
          "Grace period given to an agent Pod deleted because its VolumeClone is deleted; the"
              + " agent commits its metadata and exits within it.",
          Durations::parse);
  public static final Option<Duration> AGENT_DELETION_TIMEOUT =
      define(
          "agent.deletionTimeout",
          "5m",
          "How long a deleted VolumeClone waits, past the agent's stop grace period, for its agent"
              + " Pod to go away. A Pod stuck terminating (its node lost, NotReady or deleted) is"
              + " then left behind: the VolumeClone is removed anyway, with a Warning event naming"
              + " the Pod, its node and the devices and metadata it may still hold.",
          Durations::parse);
  public static final Option<Duration> AGENT_REPORT_INTERVAL =
      define(
          "agent.reportInterval",
          "5s",
          "How often an agent writes progress to the status (passed to the agent as"
              + " VOLUME_CLONE_REPORT_INTERVAL).",
          Durations::parse);
  public static final Option<String> AGENT_STATE_DIRECTORY =
      define(
          "agent.stateDirectory",
          AgentPaths.STATE_ROOT,
          "Directory on each node that holds <namespace>/<name>/ per clone (NBD socket, metadata"
              + " file when none is given).",
          Function.identity());
  public static final Option<Long> AGENT_NODE_BANDWIDTH =
      define(
          "agent.nodeBandwidth",
          "0",
          "Copy bandwidth of each node in bytes per second (bytes or a quantity such as 200Mi),"
              + " shared fairly by the clones copying on that node: each gets an equal share, a"
              + " clone whose own spec.copy.bandwidth is lower keeps its limit and leaves the rest"
              + " to the others; 0 = no node limit. Agents hold a lease under"
              + " <agent.stateDirectory>/.copying while they copy and rebalance every second."
              + " Passed to the agent as VOLUME_CLONE_NODE_BANDWIDTH.",
          OperatorOptions::bandwidth);
  public static final Option<Integer> AGENT_METRICS_PORT =
      define(
          "agent.metrics.port",
          "9090",
          "Port of each agent Pod's Prometheus endpoint GET /metrics (progress, rate, errors,"
              + " consumer I/O), declared as the container port named metrics and in the Pod's"
              + " prometheus.io/scrape, port and path annotations; 0 = off.",
          OperatorOptions::port);
  // No default prefix: which host devices an agent may open is the installer's decision, and
  // /dev/mapper/ in particular holds every LVM volume and dm-crypt mapping of the node.
  public static final Option<List<String>> ALLOWED_DEVICE_PREFIXES =
      define(
          "allowedDevicePrefixes",
          "",
          "Comma-separated path prefixes a host device path must start with; empty (the default)"
              + " refuses every device path, so only PVCs and NBD sources can be cloned.",
          OperatorOptions::list);
  public static final Option<Integer> MAX_CLONES_PER_NODE =
      define(
          "maxClonesPerNode",
          "4",
          "Most clones copying at once on one node; the rest wait as Pending/Queued, in creation"
              + " order.",
          OperatorOptions::positiveInt);
  public static final Option<List<String>> WATCH_NAMESPACES =
      define(
          "watchNamespaces",
          "",
          "Comma-separated namespaces whose VolumeClones are reconciled; empty = all.",
          OperatorOptions::list);
  public static final Option<Boolean> LEADER_ELECTION =
      define(
          "leaderElection.enabled",
          "true",
          "Elect a leader through a Lease so several operator replicas can run.",
          OperatorOptions::bool);
  public static final Option<String> LEADER_ELECTION_LEASE_NAME =
      define(
          "leaderElection.leaseName",
          "volume-clone-operator",
          "Name of the Lease used for leader election.",
          Function.identity());
  public static final Option<String> LEADER_ELECTION_NAMESPACE =
      define(
          "leaderElection.namespace",
          "",
          "Namespace of the Lease; empty = the operator's own namespace.",
          Function.identity());
  public static final Option<Duration> RECHECK_INTERVAL =
      define(
          "recheckInterval",
          "30s",
          "How often a waiting clone (queued, destination in use, invalid) is checked again.",
          Durations::parse);

  public static final Option<Integer> HEALTH_PORT =
      define(
          "health.port",
          "8081",
          "Port of the probe endpoints: GET /healthz (200 until the operator stops) and GET /readyz"
              + " (200 once the operator has started and every informer is healthy, 503 naming the"
              + " unhealthy ones otherwise); 0 = off.",
          OperatorOptions::port);
  public static final Option<Integer> METRICS_PORT =
      define(
          "metrics.port",
          "8080",
          "Port of GET /metrics (Prometheus text: JOSDK reconcile counters and timers, JVM metrics,"
              + " clones by phase); 0 = off. May equal health.port.",
          OperatorOptions::port);

  private final Map<String, String> values;

  private OperatorOptions(Map<String, String> values) {
    this.values = values;
    for (Option<?> option : ALL) {
      get(option); // fail at start-up, naming the key, rather than at first use
    }
  }

  /** Defaults only. */
  public static OperatorOptions defaults() {
    return new OperatorOptions(Map.of());
  }

  /** Defaults overridden by {@code overrides} (keys as in {@link #all()}). */
  public static OperatorOptions of(Map<String, String> overrides) {
    for (String key : overrides.keySet()) {
      if (ALL.stream().noneMatch(o -> o.key().equals(key))) {
        throw new IllegalArgumentException("unknown operator setting '" + key + "'");
      }
    }
    return new OperatorOptions(Map.copyOf(overrides));
  }

  /** Reads the file named by {@code VOLUME_CLONE_CONFIG} (if any), then the environment. */
  public static OperatorOptions load(Map<String, String> environment) throws IOException {
    Map<String, String> merged = new LinkedHashMap<>();
    String file = environment.get("VOLUME_CLONE_CONFIG");
    if (file != null && !file.isBlank()) {
      merged.putAll(readFile(Path.of(file)));
    }
    for (Option<?> option : ALL) {
      String value = environment.get(option.environmentVariable());
      if (value != null) {
        merged.put(option.key(), value);
      }
    }
    return of(merged);
  }

  static Map<String, String> readFile(Path file) throws IOException {
    Map<String, String> out = new LinkedHashMap<>();
    String name = file.getFileName().toString();
    if (name.endsWith(".properties")) {
      Properties properties = new Properties();
      try (Reader reader = Files.newBufferedReader(file)) {
        properties.load(reader);
      }
      properties.forEach((k, v) -> out.put(k.toString().trim(), v.toString().trim()));
    } else if (name.endsWith(".yaml") || name.endsWith(".yml")) {
      JsonNode root = new ObjectMapper(new YAMLFactory()).readTree(file.toFile());
      if (root != null && !root.isNull()) {
        if (!root.isObject()) {
          throw new IOException("operator config " + file + " must be a YAML map of settings");
        }
        flatten("", root, out);
      }
    } else {
      throw new IOException("operator config " + file + " must end in .properties, .yaml or .yml");
    }
    return out;
  }

  private static void flatten(String prefix, JsonNode node, Map<String, String> out) {
    if (node.isObject()) {
      Iterator<Map.Entry<String, JsonNode>> fields = node.fields();
      while (fields.hasNext()) {
        Map.Entry<String, JsonNode> field = fields.next();
        flatten(
            prefix.isEmpty() ? field.getKey() : prefix + "." + field.getKey(),
            field.getValue(),
            out);
      }
    } else if (node.isArray()) {
      List<String> items = new ArrayList<>();
      node.forEach(item -> items.add(item.asText()));
      out.put(prefix, String.join(",", items));
    } else {
      out.put(prefix, node.isNull() ? "" : node.asText());
    }
  }

  public <T> T get(Option<T> option) {
    String raw = values.getOrDefault(option.key(), option.defaultValue());
    try {
      return option.parser().apply(raw.trim());
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(
          "operator setting "
              + option.key()
              + " ("
              + option.environmentVariable()
              + ") = '"
              + raw
              + "' is invalid: "
              + e.getMessage(),
          e);
    }
  }

  /** Every option, in declaration order (for the chart's documentation and --help). */
  public static List<Option<?>> all() {
    return Collections.unmodifiableList(ALL);
  }

  /** One line per option: key, environment variable, default, description. */
  public static String describe() {
    StringBuilder out = new StringBuilder();
    for (Option<?> o : ALL) {
      out.append(o.key())
          .append(" (")
          .append(o.environmentVariable())
          .append(", default '")
          .append(o.defaultValue())
          .append("'): ")
          .append(o.description())
          .append('\n');
    }
    return out.toString();
  }

  private static <T> Option<T> define(
      String key, String defaultValue, String description, Function<String, T> parser) {
    Option<T> option = new Option<>(key, defaultValue, description, parser);
    ALL.add(option);
    return option;
  }

  static boolean bool(String s) {
    return switch (s.toLowerCase(Locale.ROOT)) {
      case "true", "yes", "on", "1" -> true;
      case "false", "no", "off", "0", "" -> false;
      default -> throw new IllegalArgumentException("expected true or false");
    };
  }

  static int positiveInt(String s) {
    int value;
    try {
      value = Integer.parseInt(s);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("expected a whole number");
    }
    if (value < 1) {
      throw new IllegalArgumentException("must be at least 1");
    }
    return value;
  }

  static int port(String s) {
    int value;
    try {
      value = Integer.parseInt(s);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("expected a TCP port number (0 = off)");
    }
    if (value < 0 || value > 65535) {
      throw new IllegalArgumentException("must be between 0 (off) and 65535");
    }
    return value;
  }

  static long bandwidth(String s) {
    return io.volumeclone.api.Sizes.parseQuantity(s.strip());
  }

  static List<String> list(String s) {
    return Arrays.stream(s.split(",")).map(String::trim).filter(x -> !x.isEmpty()).toList();
  }

  static String pullPolicy(String s) {
    return switch (s) {
      case "Always", "IfNotPresent", "Never" -> s;
      default -> throw new IllegalArgumentException("expected Always, IfNotPresent or Never");
    };
  }
}
