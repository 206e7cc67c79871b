package io.volumeclone.e2e.demo;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.VolumeStatus;
import java.io.ByteArrayInputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * The demo's workload: a Pod on the clone's claim, as an application would run it (no nodeName,
 * just the claim), and what the demo tells about it. The local node runs it as the consumer
 * workload, which reads the whole block device it is given, prints its SHA-256 and holds it open.
 * {@link #observe} turns what the cluster shows (the clone's kernel device or the reason it has
 * none, the claim's binding, the Pod's placement and its read) into one line per change.
 */
final class ClaimReader {

  private static final Duration DELETE_TIMEOUT = Duration.ofSeconds(60);

  private final KubernetesClient client;
  private final String namespace;
  private final String name;
  private final String cloneName;
  private final String sourceDigest;
  private final PrintStream out;

  private String kernelNote;
  private String claimNote;
  private String podNote;
  private String readLine;
  private String readAt;

  ClaimReader(
      KubernetesClient client,
      String namespace,
      String name,
      String cloneName,
      String sourceDigest,
      PrintStream out) {
    this.client = client;
    this.namespace = namespace;
    this.name = name;
    this.cloneName = cloneName;
    this.sourceDigest = sourceDigest;
    this.out = out;
  }

  static String manifest(String name, String claim) {
    return """
        apiVersion: v1
        kind: Pod
        metadata:
          name: %s
          namespace: default
        spec:
          restartPolicy: Never
          terminationGracePeriodSeconds: 1
          containers:
            - name: app
              image: volume-clone-consumer
              command: [volume-clone-consumer]   # reads the whole device, prints its SHA-256
              volumeDevices:
                - name: data
                  devicePath: /dev/data
          volumes:
            - name: data
              persistentVolumeClaim:
                claimName: %s
        """
        .formatted(name, claim);
  }

  void create(String yaml) {
    client.pods().load(new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8))).create();
  }

  /** What changed since the last call, one line per change. */
  List<String> observe(VolumeClone clone) {
    List<String> news = new ArrayList<>();
    VolumeStatus volume =
        clone == null || clone.getStatus() == null ? null : clone.getStatus().getVolume();
    if (kernelNote == null && clone != null && clone.getStatus() != null) {
      Condition available = clone.getStatus().condition(ConditionTypes.AVAILABLE).orElse(null);
      if (available != null && "NoKernelAttach".equals(available.getReason())) {
        kernelNote =
            "Available=False NoKernelAttach: "
                + available.getMessage()
                + "\n  (this machine's kernel has no nbd module, so the workload cannot have the"
                + " clone's device while it copies; the demo reads the clone through the NBD"
                + " export instead, and the workload gets the claim at cutover)";
        news.add(kernelNote);
      } else if (volume != null
          && volume.getDevicePath() != null
          && volume.getDevicePath().startsWith("/dev/mapper/")) {
        kernelNote =
            "the clone is the kernel device "
                + volume.getDevicePath()
                + " on "
                + volume.getNodeName();
        news.add(kernelNote);
      }
    }
    PersistentVolumeClaim claim =
        volume == null || volume.getClaimName() == null
            ? null
            : client
                .persistentVolumeClaims()
                .inNamespace(namespace)
                .withName(volume.getClaimName())
                .get();
    if (claim != null) {
      String phase = claim.getStatus() == null ? null : claim.getStatus().getPhase();
      String note =
          "Bound".equals(phase)
              ? "claim "
                  + claim.getMetadata().getName()
                  + " Bound (kube-controller-manager) to PersistentVolume "
                  + claim.getSpec().getVolumeName()
                  + ": device "
                  + volume.getDevicePath()
                  + ", node affinity "
                  + volume.getNodeName()
              : "claim "
                  + claim.getMetadata().getName()
                  + " "
                  + (phase == null ? "created" : phase)
                  + (volume.getMessage() == null ? "" : ": " + volume.getMessage());
      // One line per phase: the message of a Pending claim changes as the clone goes on.
      String key = phase + " " + claim.getSpec().getVolumeName();
      if (!key.equals(claimNote)) {
        claimNote = key;
        news.add(note);
      }
    }
    Pod pod = client.pods().inNamespace(namespace).withName(name).get();
    if (pod != null) {
      String node = pod.getSpec().getNodeName();
      String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
      String note =
          "Pod "
              + namespace
              + "/"
              + name
              + ": "
              + (phase == null ? "Pending" : phase)
              + (node == null
                  ? ", not scheduled (kube-scheduler waits for its claim's volume)"
                  : " on " + node + " (placed by kube-scheduler)");
      if (!note.equals(podNote)) {
        podNote = note;
        news.add(note);
      }
      if (readLine == null && "Running".equals(phase)) {
        String log = podLog();
        if (log.contains("sha256")) {
          readLine =
              log.lines().filter(l -> l.contains("sha256")).findFirst().orElseThrow().strip();
          readAt = progressOf(clone);
          news.add(
              "Pod "
                  + name
                  + " read its device "
                  + readAt
                  + ":\n  | "
                  + readLine
                  + "\n  "
                  + (readTheSource()
                      ? "  = the source's SHA-256: the workload sees the source's data"
                      : "  the source's SHA-256 is " + sourceDigest + ": DIFFERENT"));
        }
      }
    }
    return news;
  }

  boolean hasRead() {
    return readLine != null;
  }

  boolean readTheSource() {
    return readLine != null && readLine.contains(sourceDigest);
  }

  String summary() {
    if (readLine == null) {
      return "did not read its device (" + Objects.requireNonNullElse(podNote, "no Pod") + ")";
    }
    return podNote.substring(podNote.indexOf(':') + 2)
        + ", read all of the claim's device "
        + readAt
        + (readTheSource() ? ", the same bytes as the source" : ", NOT the source's bytes");
  }

  /**
   * Deletes the clone while the workload holds its claim (refused, the finalizer stays and a
   * condition names the Pod), then the workload, and waits until the clone, its PersistentVolume
   * and its claim are gone.
   */
  boolean deleteCloneThenReader() throws InterruptedException {
    VolumeClone before = currentClone();
    String volumeName =
        before == null || before.getStatus() == null || before.getStatus().getVolume() == null
            ? null
            : before.getStatus().getVolume().getPersistentVolumeName();
    client.resources(VolumeClone.class).inNamespace(namespace).withName(cloneName).delete();
    out.println("  $ kubectl delete vc " + cloneName + " --wait=false");
    Condition stalled =
        await(
            () -> {
              VolumeClone c = currentClone();
              return c == null || c.getStatus() == null
                  ? null
                  : c.getStatus()
                      .condition(ConditionTypes.STALLED)
                      .filter(s -> "VolumeInUse".equals(s.getReason()))
                      .orElse(null);
            });
    if (stalled == null) {
      out.println("  the deletion was not held back for the workload: " + currentClone());
      return false;
    }
    out.println("  Stalled=True VolumeInUse: " + stalled.getMessage());
    Thread.sleep(2000);
    if (currentClone() == null) {
      out.println("  the VolumeClone went although the workload still uses its claim");
      return false;
    }
    out.println("  (the VolumeClone stays, its finalizer held, while the Pod exists)");
    client.pods().inNamespace(namespace).withName(name).delete();
    out.println("  $ kubectl delete pod " + name);
    boolean gone =
        await(() -> currentClone() == null ? Boolean.TRUE : null) != null
            && await(
                    () ->
                        volumeName == null
                                || client.persistentVolumes().withName(volumeName).get() == null
                            ? Boolean.TRUE
                            : null)
                != null;
    out.println(
        gone
            ? "  the VolumeClone, its PersistentVolume "
                + volumeName
                + " and its claim are gone; the destination keeps the data"
            : "  the VolumeClone or its PersistentVolume is still there after "
                + DELETE_TIMEOUT.toSeconds()
                + " s");
    return gone;
  }

  private VolumeClone currentClone() {
    return client.resources(VolumeClone.class).inNamespace(namespace).withName(cloneName).get();
  }

  private String podLog() {
    try {
      return Objects.requireNonNullElse(
          client.pods().inNamespace(namespace).withName(name).getLog(), "");
    } catch (KubernetesClientException e) {
      return "";
    }
  }

  private static String progressOf(VolumeClone clone) {
    if (clone == null || clone.getStatus() == null) {
      return "";
    }
    var status = clone.getStatus();
    String percent =
        status.getProgress() == null || status.getProgress().getPercent() == null
            ? "?"
            : status.getProgress().getPercent();
    return "at " + percent + "% copied (phase " + status.getPhase() + ")";
  }

  private static <T> T await(Supplier<T> what) throws InterruptedException {
    Instant deadline = Instant.now().plus(DELETE_TIMEOUT);
    while (Instant.now().isBefore(deadline)) {
      T value = what.get();
      if (value != null) {
        return value;
      }
      Thread.sleep(250);
    }
    return null;
  }
}
