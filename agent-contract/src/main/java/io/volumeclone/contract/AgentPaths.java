package io.volumeclone.contract;

/**
 * Where the agent finds things inside its Pod. The operator mounts PVCs as raw block {@code
 * volumeDevices} at these fixed paths, so the agent opens a PVC side by its role, never by claim
 * name; host devices keep their own path. This is the contract between the operator, which builds
 * the agent Pod, and the agent, which runs in it.
 */
public final class AgentPaths {

  /** The node state directory root; one directory per clone below it. */
  public static final String STATE_ROOT = "/var/lib/volume-clone";

  /** File name of the clone's NBD socket in its state directory. */
  public static final String NBD_SOCKET = "nbd.sock";

  /** File name of the metadata file in the state directory, when spec.metadata is absent. */
  public static final String METADATA_FILE = "metadata";

  /** The source PVC, when the source is a PVC. */
  public static final String SOURCE_DEVICE = "/dev/volume-clone/source";

  /** The destination PVC, when the destination is a PVC. */
  public static final String DESTINATION_DEVICE = "/dev/volume-clone/destination";

  /** The metadata PVC, when the metadata is a PVC. */
  public static final String METADATA_DEVICE = "/dev/volume-clone/metadata";

  /**
   * The node state directory of one clone, {@code /var/lib/volume-clone/<namespace>/<name>},
   * mounted at the same path it has on the node. Only that clone's directory is mounted.
   */
  public static String stateDirectory(String root, String namespace, String name) {
    return root + "/" + namespace + "/" + name;
  }

  /** Environment variable carrying the reporting interval (e.g. {@code 5s}) to the agent. */
  public static final String ENV_REPORT_INTERVAL = "VOLUME_CLONE_REPORT_INTERVAL";

  /** Environment variable carrying the clone's state directory to the agent. */
  public static final String ENV_STATE_DIRECTORY = "VOLUME_CLONE_STATE_DIRECTORY";

  /**
   * The directory below the state root where agents that are copying hold their leases, so that
   * they can share the node's copy bandwidth; mounted into every agent Pod.
   */
  public static final String LEASE_DIRECTORY = ".copying";

  /** {@code <root>/.copying}. */
  public static String leaseDirectory(String root) {
    return root + "/" + LEASE_DIRECTORY;
  }

  /** Environment variable carrying the lease directory to the agent. */
  public static final String ENV_LEASE_DIRECTORY = "VOLUME_CLONE_LEASE_DIRECTORY";

  /**
   * Environment variable carrying the node's copy bandwidth budget in bytes per second (0 or unset
   * = none), shared by the clones copying on the node.
   */
  public static final String ENV_NODE_BANDWIDTH = "VOLUME_CLONE_NODE_BANDWIDTH";

  /** Environment variables filled by the downward API. */
  public static final String ENV_POD_NAME = "POD_NAME";

  public static final String ENV_NODE_NAME = "NODE_NAME";

  private AgentPaths() {}
}
