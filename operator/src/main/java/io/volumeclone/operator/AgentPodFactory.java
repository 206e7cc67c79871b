package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.Affinity;
import io.fabric8.kubernetes.api.model.AffinityBuilder;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.ContainerPortBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.LocalObjectReference;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.SecurityContextBuilder;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeDevice;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.volumeclone.api.Durations;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.contract.AgentPaths;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds the agent Pod of one VolumeClone from a {@link Plan} (what to mount, where it runs) and
 * the operator's settings.
 *
 * <p>Privileges. PVCs arrive as {@code volumeDevices}: the kubelet grants the container's device
 * cgroup access to exactly those block devices, and the device nodes are owned by root, so the
 * agent runs as uid 0 with every capability dropped, no privilege escalation, a read-only root
 * filesystem and the runtime's default seccomp profile. No capability is needed for read, write,
 * fsync, BLKGETSIZE64 or BLKDISCARD on a device the process may open. Host devices given by path
 * are different: a container's device cgroup admits no host device node, so only a privileged Pod
 * can open one; such Pods are built only when {@code agent.privileged} is on.
 */
public final class AgentPodFactory {

  public static final String LABEL_COMPONENT = "app.kubernetes.io/component";
  public static final String LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
  public static final String LABEL_NAME = "app.kubernetes.io/name";
  public static final String LABEL_CLONE = "volumeclone.io/clone";
  public static final String MANAGED_BY = "volume-clone-operator";
  private static final String METADATA_CLEANUP = "metadata-cleanup";
  public static final String AGENT_SELECTOR =
      LABEL_MANAGED_BY + "=" + MANAGED_BY + "," + LABEL_COMPONENT + "=agent";
  public static final String METADATA_REMOVAL_SELECTOR =
      LABEL_MANAGED_BY + "=" + MANAGED_BY + "," + LABEL_COMPONENT + "=" + METADATA_CLEANUP;
  public static final String CONTAINER = "agent";

  /** Name of the agent container's metrics port, which PodMonitors select. */
  public static final String METRICS_PORT_NAME = "metrics";

  /** The three things a clone may open, each a PVC, a host device path, or neither (nbd / file). */
  public enum Role {
    SOURCE("source", AgentPaths.SOURCE_DEVICE),
    DESTINATION("destination", AgentPaths.DESTINATION_DEVICE),
    METADATA("metadata", AgentPaths.METADATA_DEVICE);

    public final String volumeName;
    public final String pvcDevicePath;

    Role(String volumeName, String pvcDevicePath) {
      this.volumeName = volumeName;
      this.pvcDevicePath = pvcDevicePath;
    }
  }

  /** One side to mount: exactly one of claimName and hostPath is set. */
  public record Attachment(Role role, String claimName, String hostPath) {
    public static Attachment claim(Role role, String claimName) {
      return new Attachment(role, claimName, null);
    }

    public static Attachment device(Role role, String path) {
      return new Attachment(role, null, path);
    }
  }

  /**
   * Everything about one clone the Pod depends on. With {@code byScheduler} the Pod gets no
   * nodeName: kube-scheduler places it where its claims can be used, and {@code nodeName}, when
   * set, is a required node affinity instead, so the scheduler still binds WaitForFirstConsumer
   * claims (a Pod with spec.nodeName bypasses it, and such claims would never bind).
   */
  public record Plan(
      HasMetadata owner, String nodeName, List<Attachment> attachments, boolean byScheduler) {
    public Plan(HasMetadata owner, String nodeName, List<Attachment> attachments) {
      this(owner, nodeName, attachments, false);
    }

    public boolean usesHostDevices() {
      return attachments.stream().anyMatch(a -> a.hostPath() != null);
    }
  }

  private final OperatorOptions options;

  public AgentPodFactory(OperatorOptions options) {
    this.options = options;
  }

  /** Pod names are the clone's name with a fixed prefix; too long names get a hash instead. */
  public static String podName(String cloneName) {
    return prefixedName("volume-clone-", cloneName);
  }

  /** The Pod that removes a completed clone's default metadata file on its node. */
  public static String forgetPodName(String cloneName) {
    return prefixedName("volume-clone-forget-", cloneName);
  }

  private static String prefixedName(String prefix, String cloneName) {
    String name = prefix + cloneName;
    if (name.length() <= 63) {
      return name;
    }
    return name.substring(0, 52) + "-" + shortHash(cloneName);
  }

  /** A label value (63 characters at most) that identifies the clone. */
  public static String cloneLabel(String cloneName) {
    return cloneName.length() <= 63
        ? cloneName
        : cloneName.substring(0, 52) + "-" + shortHash(cloneName);
  }

  public Pod build(Plan plan) {
    HasMetadata owner = plan.owner();
    String name = owner.getMetadata().getName();
    String namespace = owner.getMetadata().getNamespace();
    boolean privileged =
        plan.usesHostDevices()
            || (options.get(OperatorOptions.AGENT_KERNEL_ATTACH) && publishesVolume(owner));
    String stateRoot = options.get(OperatorOptions.AGENT_STATE_DIRECTORY);
    String stateDir = AgentPaths.stateDirectory(stateRoot, namespace, name);
    String leaseDir = AgentPaths.leaseDirectory(stateRoot);

    List<Volume> volumes = new ArrayList<>();
    List<VolumeDevice> devices = new ArrayList<>();
    List<VolumeMount> mounts = new ArrayList<>();
    for (Attachment a : plan.attachments()) {
      if (a.claimName() != null) {
        volumes.add(
            new VolumeBuilder()
                .withName(a.role().volumeName)
                .withNewPersistentVolumeClaim()
                .withClaimName(a.claimName())
                .endPersistentVolumeClaim()
                .build());
        devices.add(new VolumeDevice(a.role().pvcDevicePath, a.role().volumeName));
      } else {
        String volume = "host-" + a.role().volumeName;
        volumes.add(
            new VolumeBuilder()
                .withName(volume)
                .withNewHostPath()
                .withPath(a.hostPath())
                .withType("BlockDevice")
                .endHostPath()
                .build());
        mounts.add(mount(volume, a.hostPath()));
      }
    }
    volumes.add(
        new VolumeBuilder()
            .withName("state")
            .withNewHostPath()
            .withPath(stateDir)
            .withType("DirectoryOrCreate")
            .endHostPath()
            .build());
    mounts.add(mount("state", stateDir));
    // The agents of one node share its copy bandwidth through lease files here; only the lease
    // files are shared, no other clone's state.
    volumes.add(
        new VolumeBuilder()
            .withName("leases")
            .withNewHostPath()
            .withPath(leaseDir)
            .withType("DirectoryOrCreate")
            .endHostPath()
            .build());
    mounts.add(mount("leases", leaseDir));
    // The root filesystem is read-only; the JVM still wants a scratch directory.
    volumes.add(new VolumeBuilder().withName("tmp").withNewEmptyDir().endEmptyDir().build());
    mounts.add(mount("tmp", "/tmp"));

    int metricsPort = options.get(OperatorOptions.AGENT_METRICS_PORT);
    List<String> args = new ArrayList<>(List.of("agent", "--name", name, "--namespace", namespace));
    if (metricsPort > 0) {
      args.addAll(List.of("--metrics-port", Integer.toString(metricsPort)));
    }
    Container container =
        new ContainerBuilder()
            .withName(CONTAINER)
            .withImage(options.get(OperatorOptions.AGENT_IMAGE))
            .withImagePullPolicy(options.get(OperatorOptions.AGENT_IMAGE_PULL_POLICY))
            .withCommand("volume-clone")
            .withArgs(args)
            .withPorts(
                metricsPort > 0
                    ? List.of(
                        new ContainerPortBuilder()
                            .withName(METRICS_PORT_NAME)
                            .withContainerPort(metricsPort)
                            .withProtocol("TCP")
                            .build())
                    : List.of())
            .withEnv(environment(stateDir, leaseDir))
            .withVolumeDevices(devices)
            .withVolumeMounts(mounts)
            .withResources(resources())
            .withSecurityContext(securityContext(privileged))
            .build();

    long grace = options.get(OperatorOptions.AGENT_STOP_GRACE_PERIOD).toSeconds();
    return new PodBuilder()
        .withNewMetadata()
        .withName(podName(name))
        .withNamespace(namespace)
        .withLabels(labels(name, "agent"))
        .addToAnnotations(LABEL_CLONE, name)
        .addToAnnotations(scrapeAnnotations(metricsPort))
        .withOwnerReferences(controller(owner, true))
        .endMetadata()
        .withNewSpec()
        .withNodeName(plan.byScheduler() ? null : plan.nodeName())
        .withAffinity(plan.byScheduler() ? nodeAffinity(plan.nodeName()) : null)
        .withRestartPolicy("OnFailure") // a crashed agent resumes from its metadata in place
        .withServiceAccountName(options.get(OperatorOptions.AGENT_SERVICE_ACCOUNT))
        .withImagePullSecrets(pullSecrets())
        .withTerminationGracePeriodSeconds(grace)
        .withEnableServiceLinks(false)
        .withContainers(container)
        .withVolumes(volumes)
        .endSpec()
        .build();
  }

  /** What annotation-based Prometheus discovery (prometheus.io/*) reads; nothing when off. */
  private static Map<String, String> scrapeAnnotations(int metricsPort) {
    if (metricsPort == 0) {
      return Map.of();
    }
    Map<String, String> out = new LinkedHashMap<>();
    out.put("prometheus.io/scrape", "true");
    out.put("prometheus.io/port", Integer.toString(metricsPort));
    out.put("prometheus.io/path", "/metrics");
    return out;
  }

  private ResourceRequirements resources() {
    return new ResourceRequirementsBuilder()
        .withRequests(
            quantities(OperatorOptions.AGENT_CPU_REQUEST, OperatorOptions.AGENT_MEMORY_REQUEST))
        .withLimits(quantities(OperatorOptions.AGENT_CPU_LIMIT, OperatorOptions.AGENT_MEMORY_LIMIT))
        .build();
  }

  static Map<String, String> labels(String cloneName, String component) {
    Map<String, String> labels = new LinkedHashMap<>();
    labels.put(LABEL_NAME, "volume-clone");
    labels.put(LABEL_COMPONENT, component);
    labels.put(LABEL_MANAGED_BY, MANAGED_BY);
    labels.put(LABEL_CLONE, cloneLabel(cloneName));
    return labels;
  }

  /**
   * The clone as controlling owner. {@code blockOwnerDeletion} for the agent: a foreground deletion
   * of the clone then waits for its agent to stop.
   */
  static OwnerReference controller(HasMetadata owner, boolean blockOwnerDeletion) {
    return new OwnerReferenceBuilder()
        .withApiVersion(owner.getApiVersion())
        .withKind(owner.getKind())
        .withName(owner.getMetadata().getName())
        .withUid(owner.getMetadata().getUid())
        .withController(true)
        .withBlockOwnerDeletion(blockOwnerDeletion ? true : null)
        .build();
  }

  /** Every Pod the operator starts pulls the agent image, so each gets the same Secrets. */
  private List<LocalObjectReference> pullSecrets() {
    return options.get(OperatorOptions.AGENT_IMAGE_PULL_SECRETS).stream()
        .map(LocalObjectReference::new)
        .toList();
  }

  private static Affinity nodeAffinity(String node) {
    if (node == null) {
      return null;
    }
    return new AffinityBuilder()
        .withNewNodeAffinity()
        .withNewRequiredDuringSchedulingIgnoredDuringExecution()
        .addNewNodeSelectorTerm()
        .addNewMatchField()
        .withKey("metadata.name")
        .withOperator("In")
        .withValues(node)
        .endMatchField()
        .endNodeSelectorTerm()
        .endRequiredDuringSchedulingIgnoredDuringExecution()
        .endNodeAffinity()
        .build();
  }

  /**
   * A short Pod on {@code node} that runs {@code volume-clone forget} on the clone's default
   * metadata file: the file is on that node only, so something must run there. It sees only the
   * clone's own state directory, no device, no API token, and runs once ({@code Never}); the tail
   * of its log becomes the termination message the operator reports when it fails.
   */
  public Pod forgetPod(HasMetadata owner, String node) {
    String name = owner.getMetadata().getName();
    String namespace = owner.getMetadata().getNamespace();
    String stateDir =
        AgentPaths.stateDirectory(
            options.get(OperatorOptions.AGENT_STATE_DIRECTORY), namespace, name);
    Container container =
        new ContainerBuilder()
            .withName("forget")
            .withImage(options.get(OperatorOptions.AGENT_IMAGE))
            .withImagePullPolicy(options.get(OperatorOptions.AGENT_IMAGE_PULL_POLICY))
            .withCommand("volume-clone")
            .withArgs(
                "forget",
                "--metadata",
                stateDir + "/" + AgentPaths.METADATA_FILE,
                "--uid",
                owner.getMetadata().getUid())
            .withVolumeMounts(mount("state", stateDir), mount("tmp", "/tmp"))
            .withResources(resources())
            .withTerminationMessagePolicy("FallbackToLogsOnError")
            .withSecurityContext(securityContext(false))
            .build();
    return new PodBuilder()
        .withNewMetadata()
        .withName(forgetPodName(name))
        .withNamespace(namespace)
        .withLabels(labels(name, METADATA_CLEANUP))
        .addToAnnotations(LABEL_CLONE, name)
        .withOwnerReferences(controller(owner, false))
        .endMetadata()
        .withNewSpec()
        .withNodeName(node)
        .withRestartPolicy("Never")
        .withImagePullSecrets(pullSecrets())
        .withServiceAccountName(options.get(OperatorOptions.AGENT_SERVICE_ACCOUNT))
        .withAutomountServiceAccountToken(false)
        .withEnableServiceLinks(false)
        .withContainers(container)
        .withVolumes(
            new VolumeBuilder()
                .withName("state")
                .withNewHostPath()
                .withPath(stateDir)
                .withType("DirectoryOrCreate")
                .endHostPath()
                .build(),
            new VolumeBuilder().withName("tmp").withNewEmptyDir().endEmptyDir().build())
        .endSpec()
        .build();
  }

  private List<EnvVar> environment(String stateDir, String leaseDir) {
    return List.of(
        new EnvVarBuilder()
            .withName(AgentPaths.ENV_POD_NAME)
            .withNewValueFrom()
            .withNewFieldRef()
            .withFieldPath("metadata.name")
            .endFieldRef()
            .endValueFrom()
            .build(),
        new EnvVarBuilder()
            .withName(AgentPaths.ENV_NODE_NAME)
            .withNewValueFrom()
            .withNewFieldRef()
            .withFieldPath("spec.nodeName")
            .endFieldRef()
            .endValueFrom()
            .build(),
        new EnvVar(
            AgentPaths.ENV_REPORT_INTERVAL,
            Durations.format(options.get(OperatorOptions.AGENT_REPORT_INTERVAL)),
            null),
        new EnvVar(AgentPaths.ENV_STATE_DIRECTORY, stateDir, null),
        new EnvVar(AgentPaths.ENV_LEASE_DIRECTORY, leaseDir, null),
        new EnvVar(
            AgentPaths.ENV_NODE_BANDWIDTH,
            Long.toString(options.get(OperatorOptions.AGENT_NODE_BANDWIDTH)),
            null));
  }

  private static SecurityContext securityContext(boolean privileged) {
    if (privileged) {
      return new SecurityContextBuilder()
          .withPrivileged(true)
          .withRunAsUser(0L)
          .withRunAsNonRoot(false)
          .withReadOnlyRootFilesystem(true)
          .build();
    }
    return new SecurityContextBuilder()
        .withPrivileged(false)
        .withAllowPrivilegeEscalation(false)
        .withRunAsUser(0L)
        .withRunAsNonRoot(false)
        .withReadOnlyRootFilesystem(true)
        .withNewCapabilities()
        .withDrop("ALL")
        .endCapabilities()
        .withNewSeccompProfile()
        .withType("RuntimeDefault")
        .endSeccompProfile()
        .build();
  }

  private static boolean publishesVolume(HasMetadata owner) {
    return owner instanceof VolumeClone clone
        && clone.getSpec() != null
        && clone.getSpec().getVolume() != null;
  }

  private Map<String, Quantity> quantities(
      OperatorOptions.Option<String> cpu, OperatorOptions.Option<String> memory) {
    Map<String, Quantity> out = new LinkedHashMap<>();
    if (!options.get(cpu).isEmpty()) {
      out.put("cpu", new Quantity(options.get(cpu)));
    }
    if (!options.get(memory).isEmpty()) {
      out.put("memory", new Quantity(options.get(memory)));
    }
    return out;
  }

  private static VolumeMount mount(String volume, String path) {
    VolumeMount m = new VolumeMount();
    m.setName(volume);
    m.setMountPath(path);
    return m;
  }

  private static String shortHash(String s) {
    try {
      byte[] digest =
          MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(digest, 0, 5);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
