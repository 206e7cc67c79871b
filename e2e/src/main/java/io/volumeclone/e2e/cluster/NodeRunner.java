package io.volumeclone.e2e.cluster;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.PersistentVolume;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeDevice;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.volumeclone.nbd.CommandRunner;
import io.volumeclone.nbd.ProcessCommandRunner;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Plays the kubelet of the simulated nodes ({@code node-1}, {@code node-2}): every Pod scheduled to
 * one of them runs as a local process, and the Pod's status says what that process does.
 *
 * <p>What a container gets, and how it is mapped here:
 *
 * <ul>
 *   <li>The command {@code volume-clone} is the node-agent's CLI main class in a child JVM with
 *       this JVM's class path; the container's args are passed as they are. The operator image
 *       ({@code volume-clone-operator}, no command) is the operator's main class, as its
 *       entrypoint. The command {@value #CONSUMER_COMMAND} is a workload ({@link DeviceConsumer})
 *       that reads the block devices it is given and holds them. Other commands fail the Pod with a
 *       message saying so.
 *   <li>Environment: plain values, and {@code fieldRef} values for {@code metadata.name}, {@code
 *       metadata.namespace}, {@code spec.nodeName} and {@code status.podIP}; the in-cluster
 *       variables {@code KUBERNETES_SERVICE_HOST}/{@code _PORT}. No kubeconfig: the process
 *       authenticates with its Pod's projected ServiceAccount token.
 *   <li>configMap and projected volumes (the ServiceAccount admission's {@code kube-api-access-*}:
 *       a TokenRequest bound to the Pod, {@code kube-root-ca.crt}, the namespace) are written to a
 *       per-Pod directory and renewed like the kubelet renews them.
 *   <li>hostPath directories ({@code /var/lib/volume-clone/...}) live under this node's own
 *       directory, {@code <root>/<node>/<path>}; environment values naming a mount path are
 *       rewritten to it. hostPath block devices are used at their own path (both simulated nodes
 *       share this machine's devices).
 *   <li>{@code volumeDevices}: the claim's bound PersistentVolume names a file or device ({@code
 *       spec.local.path} or {@code spec.hostPath.path}); a per-Pod directory holds a symlink per
 *       device, named like the device path's last segment, and the agent is told that directory
 *       with {@code --pvc-device-directory}.
 *   <li>Ports: a kubelet gives each Pod its own network namespace, so every agent Pod may listen on
 *       the same declared {@code containerPort}; here all Pods share this machine's (their {@code
 *       podIP} is 127.0.0.1). So each declared port that the container's args or environment pass
 *       to the process (a value exactly equal to the number) is replaced by a free local port, kept
 *       across restarts of the Pod; a port the process reads elsewhere (the operator's, from its
 *       ConfigMap) stays as declared. {@link #localPort} says where a declared port of a Pod
 *       listens.
 * </ul>
 *
 * <p>Each node is registered as a Node object (Ready, with capacity) and renews its Lease in {@code
 * kube-node-lease} every 10 s, as a kubelet does, so that the controller manager's node lifecycle
 * controller keeps it Ready and does not evict its Pods.
 *
 * <p>Admission, as the kubelet's: a Pod whose CPU or memory requests do not fit the node's
 * allocatable, less what the Pods it runs request and what {@link #reserve} holds outside the API's
 * view (system daemons, static Pods), is rejected: phase Failed, reason {@code OutOfcpu} or {@code
 * OutOfmemory}, the kubelet's message. The scheduler counts only the API's Pods, so with a
 * reservation it places Pods the node then refuses, as on a real cluster whose kubelet's view
 * differs from the scheduler's.
 *
 * <p>{@link #loseNode} plays a node that loses power or its network: its processes die, its Lease
 * stops, its Ready condition turns Unknown, and nothing on it answers any more (Pods deleted there
 * stay Terminating). {@link #recoverNode} brings it back, and it finishes what was asked meanwhile.
 *
 * <p>Restarts follow {@code restartPolicy}: a process that exits non-zero under {@code OnFailure}
 * or {@code Always} is started again after a short back-off and {@code restartCount} goes up; exit
 * 0 makes the Pod {@code Succeeded}. Deleting the Pod sends SIGTERM, then SIGKILL after the Pod's
 * grace period.
 */
public final class NodeRunner implements AutoCloseable {

  private static final String AGENT_MAIN = "io.volumeclone.app.VolumeCloneMain";
  private static final String OPERATOR_MAIN = "io.volumeclone.operator.Main";
  private static final String OPERATOR_IMAGE = "volume-clone-operator";

  /**
   * The command of a consumer Pod, a workload on a claim's block device ({@link DeviceConsumer}):
   * the local node runs no other image's processes.
   */
  static final String CONSUMER_COMMAND = "volume-clone-consumer";

  private static final String CONSUMER_MAIN = DeviceConsumer.class.getName();

  /** mount and umount, with a deadline: a hung mount must not hang the node. */
  private static final CommandRunner COMMANDS = new ProcessCommandRunner();

  private static final String SERVICE_ACCOUNT_MOUNT =
      "/var/run/secrets/kubernetes.io/serviceaccount";
  private static final Duration TOKEN_REFRESH = Duration.ofMinutes(20);

  private final KubernetesClient client;
  private final Path root;
  private final Set<String> nodes;
  private final Map<String, PodRun> runs = new ConcurrentHashMap<>();
  private final Set<String> terminating = ConcurrentHashMap.newKeySet();
  private final Set<String> rejected = ConcurrentHashMap.newKeySet();
  private final Set<String> lost = ConcurrentHashMap.newKeySet();
  private final Map<String, Resources> reserved = new ConcurrentHashMap<>();

  /** CPU in millicores and memory in bytes. */
  private record Resources(long milliCpu, long memoryBytes) {
    Resources plus(Resources other) {
      return new Resources(milliCpu + other.milliCpu, memoryBytes + other.memoryBytes);
    }
  }

  private static final Resources ALLOCATABLE = new Resources(2000, 4L << 30);
  private SharedIndexInformer<Pod> informer;
  private ScheduledExecutorService heartbeat;
  private KubeletLogEndpoint logs;

  public NodeRunner(KubernetesClient client, Path root, Set<String> nodes) {
    this.client = client;
    this.root = root.toAbsolutePath();
    this.nodes = Set.copyOf(nodes);
  }

  /** Where node {@code node} keeps its hostPath directories. */
  public Path nodeDirectory(String node) {
    return root.resolve(node);
  }

  public void start() throws IOException {
    logs =
        KubeletLogEndpoint.start(
            root.resolve("kubelet"),
            this::logFile,
            (namespace, pod) -> process(namespace, pod).isPresent());
    for (String node : nodes) {
      client.nodes().resource(node(node, logs.port())).createOr(existing -> existing.update());
      renewLease(node);
    }
    heartbeat =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "kubelet-heartbeat");
              t.setDaemon(true);
              return t;
            });
    heartbeat.scheduleWithFixedDelay(
        () -> {
          // A scheduled task that throws is never run again: nothing may escape.
          try {
            nodes.stream().filter(n -> !lost.contains(n)).forEach(this::renewLease);
            runs.values().forEach(PodRun::refreshTokens);
          } catch (RuntimeException | Error e) {
            System.err.println("volume-clone node runner: heartbeat failed: " + e);
          }
        },
        10,
        10,
        TimeUnit.SECONDS);
    informer =
        client
            .pods()
            .inAnyNamespace()
            .inform(
                new ResourceEventHandler<>() {
                  @Override
                  public void onAdd(Pod pod) {
                    observe(pod);
                  }

                  @Override
                  public void onUpdate(Pod oldPod, Pod pod) {
                    observe(pod);
                  }

                  @Override
                  public void onDelete(Pod pod, boolean unknownFinalState) {
                    rejected.remove(key(pod));
                    PodRun run = runs.remove(key(pod));
                    if (run != null) {
                      run.stop("the Pod was deleted");
                    }
                  }
                },
                30_000L);
  }

  private void removePod(Pod pod) {
    try {
      client
          .pods()
          .inNamespace(pod.getMetadata().getNamespace())
          .withName(pod.getMetadata().getName())
          .withGracePeriod(0)
          .delete();
    } catch (KubernetesClientException e) {
      if (e.getCode() != 404) {
        System.err.println(
            "volume-clone node runner: cannot remove Pod "
                + pod.getMetadata().getNamespace()
                + "/"
                + pod.getMetadata().getName()
                + ": "
                + e);
      }
    }
  }

  private static Node node(String name, int kubeletPort) {
    String now = Instant.now().toString();
    return new NodeBuilder()
        .withNewMetadata()
        .withName(name)
        .addToLabels("kubernetes.io/hostname", name)
        .addToLabels("kubernetes.io/os", "linux")
        .addToLabels("volumeclone.io/local", "true")
        .endMetadata()
        .withNewStatus()
        .addNewCondition()
        .withType("Ready")
        .withStatus("True")
        .withReason("KubeletReady")
        .withMessage("the volume-clone node runner plays this node's kubelet")
        .withLastHeartbeatTime(now)
        .withLastTransitionTime(now)
        .endCondition()
        .addNewAddress()
        .withType("InternalIP")
        .withAddress("127.0.0.1")
        .endAddress()
        .addToCapacity("cpu", new Quantity(ALLOCATABLE.milliCpu() + "m"))
        .addToCapacity("memory", new Quantity(Long.toString(ALLOCATABLE.memoryBytes())))
        .addToCapacity("pods", new Quantity("110"))
        .addToAllocatable("cpu", new Quantity(ALLOCATABLE.milliCpu() + "m"))
        .addToAllocatable("memory", new Quantity(Long.toString(ALLOCATABLE.memoryBytes())))
        .addToAllocatable("pods", new Quantity("110"))
        .withNewDaemonEndpoints()
        .withNewKubeletEndpoint()
        .withPort(kubeletPort)
        .endKubeletEndpoint()
        .endDaemonEndpoints()
        .endStatus()
        .build();
  }

  private void renewLease(String node) {
    try {
      var lease = client.leases().inNamespace("kube-node-lease").withName(node);
      ZonedDateTime now = ZonedDateTime.now(ZoneOffset.UTC);
      if (lease.get() == null) {
        lease.create(
            new LeaseBuilder()
                .withNewMetadata()
                .withName(node)
                .withNamespace("kube-node-lease")
                .endMetadata()
                .withNewSpec()
                .withHolderIdentity(node)
                .withLeaseDurationSeconds(40)
                .withRenewTime(now)
                .endSpec()
                .build());
      } else {
        lease.edit(
            l -> {
              l.getSpec().setRenewTime(now);
              return l;
            });
      }
    } catch (RuntimeException e) {
      // The next heartbeat tries again; a node whose Lease lapses for 50 s turns NotReady.
      System.err.println("volume-clone node runner: cannot renew the Lease of " + node + ": " + e);
    }
  }

  private static String key(Pod pod) {
    return pod.getMetadata().getNamespace()
        + "/"
        + pod.getMetadata().getName()
        + "/"
        + pod.getMetadata().getUid();
  }

  private void observe(Pod pod) {
    String node = pod.getSpec() == null ? null : pod.getSpec().getNodeName();
    if (node == null || !nodes.contains(node) || lost.contains(node)) {
      return;
    }
    String key = key(pod);
    if (pod.getMetadata().getDeletionTimestamp() != null) {
      // As the kubelet: stop the process within the grace period, then remove the Pod object
      // (grace 0, this Pod's uid only); until then the API server keeps it Terminating.
      if (terminating.add(key)) {
        PodRun run = runs.remove(key);
        Thread stopper =
            new Thread(
                () -> {
                  try {
                    if (run != null) {
                      run.stop("the Pod is being deleted");
                    }
                    removePod(pod);
                  } finally {
                    terminating.remove(key);
                  }
                },
                "kubelet-stop-" + pod.getMetadata().getName());
        stopper.setDaemon(true);
        stopper.start();
      }
      return;
    }
    String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
    if ("Succeeded".equals(phase) || "Failed".equals(phase) || rejected.contains(key)) {
      return;
    }
    synchronized (runs) {
      if (runs.containsKey(key)) {
        return;
      }
      Optional<String[]> refusal = admit(pod, node);
      if (refusal.isPresent()) {
        rejected.add(key);
        reject(pod, refusal.get()[0], refusal.get()[1]);
        return;
      }
      PodRun run = new PodRun(pod, node);
      runs.put(key, run);
      Thread thread =
          new Thread(
              () -> {
                try {
                  run.run();
                } finally {
                  run.finished = true; // a terminal Pod holds no resources
                }
              },
              "kubelet-" + pod.getMetadata().getName());
      thread.setDaemon(true);
      thread.start();
    }
  }

  /**
   * The kubelet's resource admission: the Pod's requests must fit what is left of the node's
   * allocatable; else the reason ({@code OutOfcpu}, {@code OutOfmemory}) and the kubelet's message.
   */
  private Optional<String[]> admit(Pod pod, String node) {
    Resources used = reserved.getOrDefault(node, new Resources(0, 0));
    for (PodRun run : runs.values()) {
      if (run.node.equals(node) && !run.finished) {
        used = used.plus(requests(run.pod));
      }
    }
    Resources wanted = requests(pod);
    if (wanted.milliCpu() + used.milliCpu() > ALLOCATABLE.milliCpu()) {
      return Optional.of(
          refusal("cpu", wanted.milliCpu(), used.milliCpu(), ALLOCATABLE.milliCpu()));
    }
    if (wanted.memoryBytes() + used.memoryBytes() > ALLOCATABLE.memoryBytes()) {
      return Optional.of(
          refusal("memory", wanted.memoryBytes(), used.memoryBytes(), ALLOCATABLE.memoryBytes()));
    }
    return Optional.empty();
  }

  private static String[] refusal(String resource, long requested, long used, long capacity) {
    return new String[] {
      "OutOf" + resource,
      "Pod was rejected: Node didn't have enough resource: "
          + resource
          + ", requested: "
          + requested
          + ", used: "
          + used
          + ", capacity: "
          + capacity
    };
  }

  private static Resources requests(Pod pod) {
    long cpu = 0;
    long memory = 0;
    for (Container c : pod.getSpec().getContainers()) {
      Map<String, Quantity> requests =
          c.getResources() == null || c.getResources().getRequests() == null
              ? Map.of()
              : c.getResources().getRequests();
      if (requests.containsKey("cpu")) {
        cpu +=
            Quantity.getAmountInBytes(requests.get("cpu"))
                .multiply(java.math.BigDecimal.valueOf(1000))
                .longValue();
      }
      if (requests.containsKey("memory")) {
        memory += Quantity.getAmountInBytes(requests.get("memory")).longValue();
      }
    }
    return new Resources(cpu, memory);
  }

  private void reject(Pod pod, String reason, String message) {
    try {
      Pod latest =
          client
              .pods()
              .inNamespace(pod.getMetadata().getNamespace())
              .withName(pod.getMetadata().getName())
              .get();
      if (latest == null || !latest.getMetadata().getUid().equals(pod.getMetadata().getUid())) {
        return;
      }
      latest.setStatus(
          new io.fabric8.kubernetes.api.model.PodStatusBuilder()
              .withPhase("Failed")
              .withReason(reason)
              .withMessage(message)
              .withStartTime(Instant.now().toString())
              .build());
      client.pods().resource(latest).updateStatus();
    } catch (KubernetesClientException e) {
      System.err.println(
          "volume-clone node runner: cannot reject Pod " + pod.getMetadata().getName() + ": " + e);
    }
  }

  /**
   * Holds CPU (millicores) and memory on {@code node} outside the API's view, as system daemons or
   * static Pods do: Pods placed by the scheduler that no longer fit are rejected. Zero frees it.
   */
  public void reserve(String node, long milliCpu, long memoryBytes) {
    reserved.put(node, new Resources(milliCpu, memoryBytes));
  }

  /**
   * The node goes dark: its processes die at once (no SIGTERM), its Lease stops, Ready turns
   * Unknown (what the node lifecycle controller writes after its grace period, written now), and
   * the node handles nothing more: Pods deleted there stay Terminating.
   */
  public void loseNode(String node) {
    lost.add(node);
    for (Map.Entry<String, PodRun> e : runs.entrySet()) {
      if (e.getValue().node.equals(node)) {
        e.getValue().kill();
        runs.remove(e.getKey());
      }
    }
    setReady(node, "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.");
  }

  /** The node is back: Lease, Ready, and every Pod on it handled again (deletions finished). */
  public void recoverNode(String node) {
    lost.remove(node);
    renewLease(node);
    setReady(
        node, "True", "KubeletReady", "the volume-clone node runner plays this node's kubelet");
    for (Pod pod :
        client.pods().inAnyNamespace().withField("spec.nodeName", node).list().getItems()) {
      observe(pod);
    }
  }

  private void setReady(String node, String status, String reason, String message) {
    String now = Instant.now().toString();
    client
        .nodes()
        .withName(node)
        .editStatus(
            n -> {
              n.getStatus().getConditions().removeIf(c -> "Ready".equals(c.getType()));
              n.getStatus()
                  .getConditions()
                  .add(
                      new io.fabric8.kubernetes.api.model.NodeConditionBuilder()
                          .withType("Ready")
                          .withStatus(status)
                          .withReason(reason)
                          .withMessage(message)
                          .withLastHeartbeatTime(now)
                          .withLastTransitionTime(now)
                          .build());
              return n;
            });
  }

  /**
   * Where declared {@code containerPort} of the Pod listens on this machine (see Ports above);
   * empty while the node runs no such Pod or the Pod declares no such port.
   */
  public Optional<Integer> localPort(String namespace, String podName, int containerPort) {
    return runs.entrySet().stream()
        .filter(e -> e.getKey().startsWith(namespace + "/" + podName + "/"))
        .map(e -> e.getValue().localPorts.get(containerPort))
        .filter(p -> p != null)
        .findFirst();
  }

  /** The process currently running for the Pod, if any (for tests that kill agents). */
  public Optional<ProcessHandle> process(String namespace, String podName) {
    return runs.entrySet().stream()
        .filter(e -> e.getKey().startsWith(namespace + "/" + podName + "/"))
        .map(e -> e.getValue().current)
        .filter(p -> p != null && p.isAlive())
        .map(Process::toHandle)
        .findFirst();
  }

  public Path logDirectory() {
    return root.resolve("logs");
  }

  /** The log file the Pod's process writes to. */
  public Path logFile(String namespace, String podName) {
    return root.resolve("logs").resolve(namespace + "_" + podName + ".log");
  }

  /** Stops the operator Pods' processes (SIGTERM, SIGKILL after the Pod's grace period). */
  public void stopOperator() {
    for (Map.Entry<String, PodRun> e : runs.entrySet()) {
      if (OPERATOR_MAIN.equals(e.getValue().mainClass)) {
        e.getValue().stop("the cluster stops");
        runs.remove(e.getKey());
      }
    }
  }

  @Override
  public void close() {
    if (heartbeat != null) {
      heartbeat.shutdownNow();
    }
    if (informer != null) {
      informer.close();
    }
    // Workloads first, agents last, as a kubelet's graceful shutdown orders Pods by priority: an
    // agent serves the kernel device a workload may still have mounted.
    List<PodRun> order = new ArrayList<>(runs.values());
    order.sort(java.util.Comparator.comparing(run -> AGENT_MAIN.equals(run.mainClass)));
    for (PodRun run : order) {
      run.stop("the node runner stops");
    }
    runs.clear();
    if (logs != null) {
      logs.close();
    }
  }

  /** One Pod's life on a simulated node. */
  private final class PodRun {
    private final String namespace;
    private final String name;
    private final String node;
    private final Pod pod;
    private volatile boolean stopped;
    private volatile boolean finished;
    private volatile Process current;
    private volatile String mainClass;
    private int restarts;

    /** Declared containerPort to the local port the process listens on. */
    private final Map<Integer, Integer> localPorts = new ConcurrentHashMap<>();

    PodRun(Pod pod, String node) {
      this.pod = pod;
      this.namespace = pod.getMetadata().getNamespace();
      this.name = pod.getMetadata().getName();
      this.node = node;
    }

    void run() {
      Container container = pod.getSpec().getContainers().get(0);
      String policy = Optional.ofNullable(pod.getSpec().getRestartPolicy()).orElse("Always");
      Duration backoff = Duration.ofMillis(500);
      while (!stopped) {
        Launch launch;
        try {
          launch = prepare(container);
        } catch (WaitingException e) {
          reportWaiting(container.getName(), e.reason, e.getMessage());
          sleep(Duration.ofSeconds(1));
          continue;
        } catch (IOException | RuntimeException e) {
          reportFinished(container.getName(), "Failed", 128, "StartError", e.getMessage());
          return;
        }
        Instant started = Instant.now();
        mainClass = launch.mainClass;
        try {
          synchronized (this) {
            if (stopped) {
              return;
            }
            current =
                ChildJvm.start(
                    launch.mainClass,
                    List.of("-Xmx256m", "-XX:TieredStopAtLevel=1"),
                    launch.args,
                    launch.env,
                    logFile(namespace, name),
                    launch.workingDirectory);
          }
        } catch (IOException e) {
          reportFinished(container.getName(), "Failed", 128, "StartError", e.getMessage());
          return;
        }
        reportRunning(container.getName(), started);
        int exit;
        try {
          exit = current.waitFor();
        } catch (InterruptedException e) {
          current.destroyForcibly();
          return;
        }
        if (stopped) {
          return;
        }
        String reason = exit == 0 ? "Completed" : "Error";
        boolean restart = policy.equals("Always") || (policy.equals("OnFailure") && exit != 0);
        if (!restart) {
          unmountClaims();
          reportFinished(
              container.getName(), exit == 0 ? "Succeeded" : "Failed", exit, reason, null);
          return;
        }
        restarts++;
        reportRestarting(container.getName(), exit, reason, started);
        sleep(backoff);
        backoff =
            backoff.multipliedBy(2).compareTo(Duration.ofSeconds(5)) > 0
                ? Duration.ofSeconds(5)
                : backoff.multipliedBy(2);
      }
    }

    /** Power loss: the process dies without SIGTERM, and nothing is reported. */
    void kill() {
      Process p;
      synchronized (this) {
        stopped = true;
        p = current;
      }
      if (p != null && p.isAlive()) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        try {
          p.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }

    void stop(String why) {
      Process p;
      synchronized (this) {
        stopped = true;
        p = current;
      }
      if (p != null && p.isAlive()) {
        long grace =
            Optional.ofNullable(pod.getSpec().getTerminationGracePeriodSeconds()).orElse(30L);
        p.destroy(); // SIGTERM: the agent commits its metadata and exits
        try {
          if (!p.waitFor(grace, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
          }
        } catch (InterruptedException e) {
          p.destroyForcibly();
          Thread.currentThread().interrupt();
        }
      }
      unmountClaims();
    }

    /** Stands in for the Pod's own network namespace: see Ports in the class comment. */
    private void translatePorts(Container container, List<String> args, Map<String, String> env)
        throws IOException {
      for (ContainerPort declared : Optional.ofNullable(container.getPorts()).orElse(List.of())) {
        String number = Integer.toString(declared.getContainerPort());
        boolean passed = args.contains(number) || env.containsValue(number);
        Integer local = localPorts.get(declared.getContainerPort());
        if (local == null) {
          local = passed ? LoopbackPorts.free() : declared.getContainerPort();
          localPorts.put(declared.getContainerPort(), local);
        }
        String replacement = Integer.toString(local);
        args.replaceAll(a -> a.equals(number) ? replacement : a);
        env.replaceAll((k, v) -> v.equals(number) ? replacement : v);
      }
    }

    private record Launch(
        String mainClass, List<String> args, Map<String, String> env, Path workingDirectory) {}

    /** Projected ServiceAccount tokens this Pod's process reads, refreshed before they expire. */
    private final List<TokenFile> tokens = new java.util.concurrent.CopyOnWriteArrayList<>();

    private Launch prepare(Container container) throws IOException, WaitingException {
      List<String> command = Optional.ofNullable(container.getCommand()).orElse(List.of());
      String image = Optional.ofNullable(container.getImage()).orElse("");
      String mainClass;
      if (command.size() == 1 && command.get(0).endsWith("volume-clone")) {
        mainClass = AGENT_MAIN;
      } else if (command.size() == 1 && command.get(0).equals(CONSUMER_COMMAND)) {
        mainClass = CONSUMER_MAIN;
      } else if (command.isEmpty() && image.contains(OPERATOR_IMAGE)) {
        // The operator image's entrypoint (images/operator/Dockerfile) runs this class.
        mainClass = OPERATOR_MAIN;
      } else {
        throw new IllegalArgumentException(
            "the local node runs only the volume-clone and "
                + CONSUMER_COMMAND
                + " commands and the "
                + OPERATOR_IMAGE
                + " image, not command "
                + command
                + " of image "
                + image);
      }
      Path podDir = root.resolve("pods").resolve(namespace + "_" + name);
      Files.createDirectories(podDir);
      tokens.clear();

      // hostPath directories: each node has its own copy of the host's directories.
      Map<String, Path> mounts = new LinkedHashMap<>();
      Map<String, Volume> volumes = new LinkedHashMap<>();
      for (Volume v : pod.getSpec().getVolumes()) {
        volumes.put(v.getName(), v);
      }
      for (VolumeMount m : Optional.ofNullable(container.getVolumeMounts()).orElse(List.of())) {
        Volume v = volumes.get(m.getName());
        if (v == null) {
          continue;
        }
        if (v.getHostPath() != null) {
          String type = Optional.ofNullable(v.getHostPath().getType()).orElse("");
          if (type.equals("BlockDevice") || type.equals("CharDevice") || type.equals("File")) {
            mounts.put(m.getMountPath(), Path.of(v.getHostPath().getPath()));
          } else {
            Path onNode = nodeDirectory(node).resolve(v.getHostPath().getPath().substring(1));
            Files.createDirectories(onNode);
            mounts.put(m.getMountPath(), onNode);
          }
        } else if (v.getEmptyDir() != null) {
          Path dir = podDir.resolve("volumes").resolve(v.getName());
          Files.createDirectories(dir);
          mounts.put(m.getMountPath(), dir);
        } else if (v.getConfigMap() != null || v.getProjected() != null) {
          Path dir = podDir.resolve("volumes").resolve(v.getName());
          Files.createDirectories(dir);
          if (v.getConfigMap() != null) {
            writeConfigMap(
                dir, v.getConfigMap().getName(), v.getConfigMap().getItems(), v.getName());
          } else {
            writeProjected(dir, v.getProjected());
          }
          mounts.put(m.getMountPath(), dir);
        } else if (v.getPersistentVolumeClaim() != null) {
          mounts.put(
              m.getMountPath(), mountClaim(v, podDir.resolve("volumes").resolve(v.getName())));
        }
      }

      // A container sees its mounts at their mount paths; this process sees the node's directories.
      List<String> args = new ArrayList<>();
      for (String arg : Optional.ofNullable(container.getArgs()).orElse(List.<String>of())) {
        args.add(remap(arg, mounts));
      }
      List<VolumeDevice> devices =
          Optional.ofNullable(container.getVolumeDevices()).orElse(List.of());
      if (!devices.isEmpty()) {
        Path deviceDir = podDir.resolve("dev");
        Files.createDirectories(deviceDir);
        for (VolumeDevice d : devices) {
          Path target = claimTarget(volumes.get(d.getName()));
          Path link = deviceDir.resolve(Path.of(d.getDevicePath()).getFileName().toString());
          Files.deleteIfExists(link);
          Files.createSymbolicLink(link, target);
        }
        args.add("--pvc-device-directory");
        args.add(deviceDir.toString());
      }

      Map<String, String> env = new LinkedHashMap<>();
      for (EnvVar e : Optional.ofNullable(container.getEnv()).orElse(List.of())) {
        String value = e.getValue();
        if (e.getValueFrom() != null && e.getValueFrom().getFieldRef() != null) {
          value =
              switch (e.getValueFrom().getFieldRef().getFieldPath()) {
                case "metadata.name" -> name;
                case "metadata.namespace" -> namespace;
                case "spec.nodeName" -> node;
                case "status.podIP", "status.hostIP" -> "127.0.0.1";
                default -> "";
              };
        }
        env.put(e.getName(), remap(value == null ? "" : value, mounts));
      }
      // In-cluster configuration, as in a Pod: the API server's address in the service
      // environment variables, the projected token and CA where the Pod mounted them. Only the
      // mount point differs from a container's (a fabric8 setting names it); no kubeconfig.
      URI api = URI.create(client.getConfiguration().getMasterUrl());
      env.put("KUBERNETES_SERVICE_HOST", api.getHost());
      env.put("KUBERNETES_SERVICE_PORT", Integer.toString(api.getPort()));
      env.put("KUBERNETES_AUTH_TRYKUBECONFIG", "false");
      Path serviceAccount = mounts.get(SERVICE_ACCOUNT_MOUNT);
      if (serviceAccount != null) {
        env.put("KUBERNETES_AUTH_SERVICEACCOUNT_TOKEN", serviceAccount.resolve("token").toString());
        env.put("KUBERNETES_CERTS_CA_FILE", serviceAccount.resolve("ca.crt").toString());
        env.put("KUBENAMESPACE", serviceAccount.resolve("namespace").toString());
      } else {
        env.put("KUBERNETES_AUTH_SERVICEACCOUNT_TOKEN", podDir.resolve("no-token").toString());
      }
      env.put("VOLUME_CLONE_LOCAL_NODE", node);
      translatePorts(container, args, env);
      return new Launch(mainClass, args, env, podDir);
    }

    private void writeConfigMap(
        Path dir,
        String configMap,
        List<io.fabric8.kubernetes.api.model.KeyToPath> items,
        String volume)
        throws IOException, WaitingException {
      io.fabric8.kubernetes.api.model.ConfigMap map =
          client.configMaps().inNamespace(namespace).withName(configMap).get();
      if (map == null) {
        throw new WaitingException(
            "ContainerCreating",
            "configmap \"" + configMap + "\" not found (volume " + volume + ")");
      }
      Map<String, String> data = Optional.ofNullable(map.getData()).orElse(Map.of());
      if (items == null || items.isEmpty()) {
        for (Map.Entry<String, String> e : data.entrySet()) {
          Files.writeString(dir.resolve(e.getKey()), e.getValue());
        }
      } else {
        for (io.fabric8.kubernetes.api.model.KeyToPath item : items) {
          String value = data.get(item.getKey());
          if (value == null) {
            throw new WaitingException(
                "ContainerCreating", "configmap \"" + configMap + "\" has no key " + item.getKey());
          }
          Path file = dir.resolve(item.getPath());
          Files.createDirectories(file.getParent());
          Files.writeString(file, value);
        }
      }
    }

    private void writeProjected(Path dir, io.fabric8.kubernetes.api.model.ProjectedVolumeSource p)
        throws IOException, WaitingException {
      for (io.fabric8.kubernetes.api.model.VolumeProjection source : p.getSources()) {
        if (source.getServiceAccountToken() != null) {
          var t = source.getServiceAccountToken();
          TokenFile token =
              new TokenFile(
                  dir.resolve(t.getPath()),
                  t.getAudience(),
                  Optional.ofNullable(t.getExpirationSeconds()).orElse(3600L));
          token.refresh();
          tokens.add(token);
        } else if (source.getConfigMap() != null) {
          writeConfigMap(
              dir, source.getConfigMap().getName(), source.getConfigMap().getItems(), "projected");
        } else if (source.getDownwardAPI() != null) {
          for (var item : source.getDownwardAPI().getItems()) {
            String field = item.getFieldRef() == null ? "" : item.getFieldRef().getFieldPath();
            String value =
                switch (field) {
                  case "metadata.namespace" -> namespace;
                  case "metadata.name" -> name;
                  default -> "";
                };
            Files.writeString(dir.resolve(item.getPath()), value);
          }
        }
      }
    }

    /** Renews every projected token older than {@link #TOKEN_REFRESH}, as the kubelet does. */
    void refreshTokens() {
      for (TokenFile token : tokens) {
        if (Duration.between(token.written, Instant.now()).compareTo(TOKEN_REFRESH) > 0) {
          try {
            token.refresh();
          } catch (IOException | RuntimeException e) {
            System.err.println(
                "volume-clone node runner: cannot renew the token of Pod "
                    + namespace
                    + "/"
                    + name
                    + ": "
                    + e);
          }
        }
      }
    }

    /** One projected token: a TokenRequest bound to this Pod, written where the Pod reads it. */
    private final class TokenFile {
      final Path file;
      final String audience;
      final long expirationSeconds;
      volatile Instant written = Instant.EPOCH;

      TokenFile(Path file, String audience, long expirationSeconds) {
        this.file = file;
        this.audience = audience;
        this.expirationSeconds = expirationSeconds;
      }

      void refresh() throws IOException {
        String account =
            Optional.ofNullable(pod.getSpec().getServiceAccountName()).orElse("default");
        var spec =
            new io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder()
                .withNewSpec()
                .withExpirationSeconds(expirationSeconds)
                .withNewBoundObjectRef()
                .withApiVersion("v1")
                .withKind("Pod")
                .withName(name)
                .withUid(pod.getMetadata().getUid())
                .endBoundObjectRef()
                .endSpec();
        if (audience != null && !audience.isEmpty()) {
          spec.editSpec().withAudiences(audience).endSpec();
        }
        var granted =
            client
                .serviceAccounts()
                .inNamespace(namespace)
                .withName(account)
                .tokenRequest(spec.build());
        Path temporary = file.resolveSibling(file.getFileName() + ".new");
        Files.createDirectories(file.getParent());
        Files.writeString(temporary, granted.getStatus().getToken());
        Files.move(
            temporary,
            file,
            java.nio.file.StandardCopyOption.REPLACE_EXISTING,
            java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        written = Instant.now();
      }
    }

    /** File systems this Pod's claims are mounted at, unmounted when its process has ended. */
    private final List<Path> mounted = new java.util.concurrent.CopyOnWriteArrayList<>();

    /**
     * A Filesystem claim, as the kubelet mounts it: the device its local PersistentVolume names,
     * mounted with the volume's fsType at {@code dir} (once per Pod, whatever its restarts). Needs
     * root and a real block device: the node in the Linux guest has both.
     */
    private Path mountClaim(Volume volume, Path dir) throws IOException, WaitingException {
      if (mounted.contains(dir)) {
        return dir;
      }
      PersistentVolume pv = claimVolume(volume);
      Path device = deviceOf(pv);
      String fsType =
          pv.getSpec().getLocal() == null || pv.getSpec().getLocal().getFsType() == null
              ? "ext4"
              : pv.getSpec().getLocal().getFsType();
      Files.createDirectories(dir);
      CommandRunner.Result mount =
          COMMANDS.run(List.of("mount", "-t", fsType, device.toString(), dir.toString()));
      if (!mount.ok()) {
        throw new IOException(
            "mounting "
                + device
                + " ("
                + fsType
                + ", PersistentVolume "
                + pv.getMetadata().getName()
                + ") at "
                + dir
                + " failed: "
                + mount.output());
      }
      mounted.add(dir);
      return dir;
    }

    /** Unmounts this Pod's claims, as the kubelet does once its containers are gone. */
    void unmountClaims() {
      for (Path dir : mounted) {
        try {
          CommandRunner.Result umount = COMMANDS.run(List.of("umount", dir.toString()));
          if (!umount.ok()) {
            System.err.println(
                "volume-clone node runner: cannot unmount "
                    + dir
                    + " of Pod "
                    + namespace
                    + "/"
                    + name
                    + ": "
                    + umount.output());
            continue;
          }
          mounted.remove(dir);
        } catch (IOException e) {
          System.err.println("volume-clone node runner: cannot unmount " + dir + ": " + e);
        }
      }
    }

    private PersistentVolume claimVolume(Volume volume) throws WaitingException {
      String claim = volume.getPersistentVolumeClaim().getClaimName();
      PersistentVolumeClaim pvc =
          client.persistentVolumeClaims().inNamespace(namespace).withName(claim).get();
      if (pvc == null) {
        throw new WaitingException(
            "ContainerCreating", "persistentvolumeclaim \"" + claim + "\" not found");
      }
      String pvName = pvc.getSpec().getVolumeName();
      PersistentVolume pv =
          pvName == null ? null : client.persistentVolumes().withName(pvName).get();
      if (pv == null || pvc.getStatus() == null || !"Bound".equals(pvc.getStatus().getPhase())) {
        throw new WaitingException(
            "ContainerCreating", "persistentvolumeclaim \"" + claim + "\" is not bound");
      }
      return pv;
    }

    private Path claimTarget(Volume volume) throws WaitingException {
      if (volume == null || volume.getPersistentVolumeClaim() == null) {
        throw new IllegalArgumentException(
            "a volumeDevice must name a persistentVolumeClaim volume");
      }
      return deviceOf(claimVolume(volume));
    }

    /** The file or device a local or hostPath PersistentVolume names. */
    private Path deviceOf(PersistentVolume pv) {
      String pvName = pv.getMetadata().getName();
      if (pv.getSpec().getLocal() != null) {
        return Path.of(pv.getSpec().getLocal().getPath());
      }
      if (pv.getSpec().getHostPath() != null) {
        return Path.of(pv.getSpec().getHostPath().getPath());
      }
      throw new IllegalArgumentException(
          "PersistentVolume "
              + pvName
              + " is neither local nor hostPath; the local node cannot attach it");
    }

    /**
     * Rewrites container paths under a mount point to the node's directory for it, for a whole
     * value ({@code /etc/volume-clone/config.yaml}) as for a JVM option inside one ({@code
     * -Dvertx.cacheDirBase=/tmp/vertx-cache}).
     */
    private static String remap(String value, Map<String, Path> mounts) {
      for (Map.Entry<String, Path> m : mounts.entrySet()) {
        String mount = m.getKey();
        if (value.equals(mount) || value.startsWith(mount + "/")) {
          return m.getValue() + value.substring(mount.length());
        }
        value = value.replace("=" + mount + "/", "=" + m.getValue() + "/");
      }
      return value;
    }

    // ---------------------------------------------------------------- status

    private void reportWaiting(String container, String reason, String message) {
      writeStatus(
          "Pending",
          new ContainerStatusBuilder()
              .withName(container)
              .withRestartCount(restarts)
              .withReady(false)
              .withNewState()
              .withNewWaiting()
              .withReason(reason)
              .withMessage(message)
              .endWaiting()
              .endState()
              .build(),
          false,
          message);
    }

    private void reportRunning(String container, Instant started) {
      writeStatus(
          "Running",
          new ContainerStatusBuilder()
              .withName(container)
              .withRestartCount(restarts)
              .withReady(true)
              .withStarted(true)
              .withNewState()
              .withNewRunning()
              .withStartedAt(started.toString())
              .endRunning()
              .endState()
              .build(),
          true,
          null);
    }

    private void reportRestarting(String container, int exit, String reason, Instant started) {
      writeStatus(
          "Running",
          new ContainerStatusBuilder()
              .withName(container)
              .withRestartCount(restarts)
              .withReady(false)
              .withNewState()
              .withNewWaiting()
              .withReason("CrashLoopBackOff")
              .withMessage("the process exited with code " + exit + "; starting it again")
              .endWaiting()
              .endState()
              .withNewLastState()
              .withNewTerminated()
              .withExitCode(exit)
              .withReason(reason)
              .withStartedAt(started.toString())
              .withFinishedAt(Instant.now().toString())
              .endTerminated()
              .endLastState()
              .build(),
          false,
          null);
    }

    private void reportFinished(
        String container, String phase, int exit, String reason, String message) {
      writeStatus(
          phase,
          new ContainerStatusBuilder()
              .withName(container)
              .withRestartCount(restarts)
              .withReady(false)
              .withNewState()
              .withNewTerminated()
              .withExitCode(exit)
              .withReason(reason)
              .withMessage(message)
              .withFinishedAt(Instant.now().toString())
              .endTerminated()
              .endState()
              .build(),
          false,
          message);
    }

    private void writeStatus(String phase, ContainerStatus status, boolean ready, String message) {
      for (int attempt = 0; attempt < 5 && !stopped; attempt++) {
        try {
          Pod latest = client.pods().inNamespace(namespace).withName(name).get();
          if (latest == null || !latest.getMetadata().getUid().equals(pod.getMetadata().getUid())) {
            return;
          }
          PodCondition readyCondition =
              new PodConditionBuilder()
                  .withType("Ready")
                  .withStatus(ready ? "True" : "False")
                  .withLastTransitionTime(Instant.now().toString())
                  .build();
          latest.setStatus(
              new io.fabric8.kubernetes.api.model.PodStatusBuilder()
                  .withPhase(phase)
                  .withMessage(message)
                  .withHostIP("127.0.0.1")
                  .withPodIP("127.0.0.1")
                  .withStartTime(
                      latest.getStatus() != null && latest.getStatus().getStartTime() != null
                          ? latest.getStatus().getStartTime()
                          : Instant.now().toString())
                  .withConditions(readyCondition)
                  .withContainerStatuses(status)
                  .build());
          client.pods().inNamespace(namespace).resource(latest).updateStatus();
          return;
        } catch (KubernetesClientException e) {
          if (e.getCode() == 404) {
            return;
          }
          sleep(Duration.ofMillis(200));
        }
      }
    }
  }

  private static final class WaitingException extends Exception {
    final String reason;

    WaitingException(String reason, String message) {
      super(message);
      this.reason = reason;
    }
  }

  private static void sleep(Duration d) {
    try {
      Thread.sleep(d.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
