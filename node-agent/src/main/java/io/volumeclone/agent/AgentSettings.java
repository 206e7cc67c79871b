package io.volumeclone.agent;

import io.volumeclone.api.Durations;
import io.volumeclone.api.Sizes;
import io.volumeclone.contract.AgentPaths;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * Everything the agent is told at start: which VolumeClone, where its state lives, how often it
 * reports. Arguments win over environment variables, which win over defaults.
 *
 * @param name the VolumeClone's name
 * @param namespace the VolumeClone's namespace
 * @param stateDirectory this clone's node state directory (NBD socket, metadata file)
 * @param reportInterval least time between two progress writes to the status
 * @param metricsPort HTTP port of the Prometheus endpoint, 0 for none
 * @param pvcDeviceDirectory where PVCs appear as block devices ({@code /dev/volume-clone})
 * @param logFormat text or JSON lines
 * @param nodeBandwidth bytes per second shared by all clones copying on the node, 0 for no budget
 *     ({@link NodeBandwidthShare})
 * @param leaseDirectory where the node's copying agents hold their leases; null means {@code
 *     .copying} in the state root, two levels above {@code stateDirectory}
 */
public record AgentSettings(
    String name,
    String namespace,
    Path stateDirectory,
    Duration reportInterval,
    int metricsPort,
    Path pvcDeviceDirectory,
    AgentLog.Format logFormat,
    long nodeBandwidth,
    Path leaseDirectory) {

  public static final String ENV_NAME = "VOLUME_CLONE_NAME";
  public static final String ENV_NAMESPACE = "VOLUME_CLONE_NAMESPACE";
  public static final Duration DEFAULT_REPORT_INTERVAL = Duration.ofSeconds(5);

  public AgentSettings {
    if (name == null || name.isBlank()) {
      throw new IllegalArgumentException(
          "the VolumeClone's name is missing: pass --name or set " + ENV_NAME);
    }
    if (namespace == null || namespace.isBlank()) {
      throw new IllegalArgumentException(
          "the VolumeClone's namespace is missing: pass --namespace or set " + ENV_NAMESPACE);
    }
    if (reportInterval.isNegative() || reportInterval.isZero()) {
      throw new IllegalArgumentException(
          "the reporting interval must be positive, got " + reportInterval);
    }
    if (metricsPort < 0 || metricsPort > 65535) {
      throw new IllegalArgumentException(
          "invalid metrics port " + metricsPort + ": expected 0 (off) or 1..65535");
    }
    if (nodeBandwidth < 0) {
      throw new IllegalArgumentException(
          "the node bandwidth must be >= 0 (0 = none), got " + nodeBandwidth);
    }
    if (leaseDirectory == null) {
      leaseDirectory = defaultLeaseDirectory(stateDirectory);
    }
  }

  /** {@code <root>/.copying} for a state directory {@code <root>/<namespace>/<name>}. */
  static Path defaultLeaseDirectory(Path stateDirectory) {
    Path root =
        stateDirectory == null || stateDirectory.toAbsolutePath().getNameCount() < 2
            ? Path.of(AgentPaths.STATE_ROOT)
            : stateDirectory.toAbsolutePath().getParent().getParent();
    return root.resolve(AgentPaths.LEASE_DIRECTORY);
  }

  /** The clone's export name, socket and metadata file live here. */
  public Path socketPath() {
    return stateDirectory.resolve(AgentPaths.NBD_SOCKET);
  }

  public Path metadataFile() {
    return stateDirectory.resolve(AgentPaths.METADATA_FILE);
  }

  /** Where the PVC of {@code role} ("source", "destination", "metadata") appears. */
  public Path pvcDevice(String role) {
    return pvcDeviceDirectory.resolve(role);
  }

  /** Resolves unset values from {@code env} and the defaults. */
  public static AgentSettings resolve(
      String name,
      String namespace,
      Path stateDirectory,
      String reportInterval,
      Integer metricsPort,
      Path pvcDeviceDirectory,
      String logFormat,
      Map<String, String> env) {
    String n = name != null ? name : env.get(ENV_NAME);
    String ns = namespace != null ? namespace : env.get(ENV_NAMESPACE);
    Path state = stateDirectory;
    if (state == null && env.get(AgentPaths.ENV_STATE_DIRECTORY) != null) {
      state = Path.of(env.get(AgentPaths.ENV_STATE_DIRECTORY));
    }
    if (state == null && n != null && ns != null) {
      state = Path.of(AgentPaths.stateDirectory(AgentPaths.STATE_ROOT, ns, n));
    }
    String interval =
        reportInterval != null ? reportInterval : env.get(AgentPaths.ENV_REPORT_INTERVAL);
    String budget = env.get(AgentPaths.ENV_NODE_BANDWIDTH);
    long nodeBandwidth;
    try {
      nodeBandwidth = budget == null || budget.isBlank() ? 0 : Sizes.parseQuantity(budget.strip());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(AgentPaths.ENV_NODE_BANDWIDTH + ": " + e.getMessage(), e);
    }
    String leases = env.get(AgentPaths.ENV_LEASE_DIRECTORY);
    return new AgentSettings(
        n,
        ns,
        state,
        interval == null ? DEFAULT_REPORT_INTERVAL : Durations.parse(interval),
        metricsPort == null ? 0 : metricsPort,
        pvcDeviceDirectory != null
            ? pvcDeviceDirectory
            : Path.of(AgentPaths.SOURCE_DEVICE).getParent(),
        logFormat == null ? AgentLog.Format.TEXT : AgentLog.Format.parse(logFormat),
        nodeBandwidth,
        leases == null || leases.isBlank() ? null : Path.of(leases));
  }
}
