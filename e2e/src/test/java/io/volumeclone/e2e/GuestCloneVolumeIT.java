package io.volumeclone.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.PersistentVolume;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.e2e.cluster.DeviceConsumer;
import io.volumeclone.e2e.cluster.GuestNode;
import io.volumeclone.e2e.cluster.LocalCluster;
import io.volumeclone.testing.Guest;
import io.volumeclone.testing.HostRequirements;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * The clone volume on a node with the kernel data path: the node {@value #NODE} runs inside the
 * Linux guest (its kubelet is {@code GuestNode}, talking to this machine's control plane), so the
 * agent attaches the clone as {@code /dev/mapper/volume-clone-<uid>} (nbd + device-mapper), the
 * operator publishes it as a Filesystem PersistentVolume at once ({@code access: Immediate}), the
 * real scheduler places a workload Pod on the guest node through the volume's node affinity, the
 * node really mounts the mapper device (ext4) for it, and the workload reads the source's file and
 * writes through the copy and the live cutover. Afterwards the destination alone holds the source's
 * files and every write the workload reported, and nothing maps it any more.
 */
class GuestCloneVolumeIT {

  static final String NODE = "guest-1";
  private static final String MOTD = "Hello from the source, read through the clone volume.";
  private static final Duration LIMIT = Duration.ofMinutes(6);

  @Test
  void aWorkloadMountsTheMapperDeviceWhileTheCloneCopiesAndWritesThroughTheCutover()
      throws Exception {
    Guest.require();
    // Kept after the run (under target/) for its logs: the guest node's, its Pods', the console.
    Path dir = Path.of("target", "guest-clone-volume").toAbsolutePath();
    LocalCluster.deleteTree(dir);
    Files.createDirectories(dir);
    HostRequirements.require("mkfs.ext4", "e2fsprogs");
    HostRequirements.require("debugfs", "e2fsprogs");
    Path demoJar = Path.of("target", "volume-clone-demo.jar").toAbsolutePath();
    assertThat(demoJar).as("the package phase builds the demo jar the guest node runs").exists();

    Path guestWork = Files.createDirectories(dir.resolve("guest"));
    Path source = guestWork.resolve("source.img");
    Path destination = guestWork.resolve("destination.img");
    Path files = Files.createDirectories(dir.resolve("files/etc"));
    Files.writeString(files.resolve("motd"), MOTD + "\n");
    exec("mkfs.ext4", "-q", "-F", "-d", files.getParent().toString(), source.toString(), "16M");

    Map<String, Object> values = GuestNode.clusterValues(dir.resolve("cluster/devices"));
    try (LocalCluster cluster = LocalCluster.start(dir.resolve("cluster"), values)) {
      KubernetesClient client = cluster.client();
      CompletableFuture<Guest.Result> run =
          GuestNode.boot(
              guestWork, cluster, NODE, demoJar, source, destination, LIMIT.plusMinutes(2));
      try {
        await(
            "node " + NODE + " registered from the guest",
            () -> client.nodes().withName(NODE).get(),
            n -> n != null,
            run);

        apply(client, volumeClone());
        apply(client, writer());

        Pod running =
            await(
                "the workload Running on the guest node",
                () -> client.pods().inNamespace("default").withName("writer").get(),
                p ->
                    p != null
                        && p.getStatus() != null
                        && "Running".equals(p.getStatus().getPhase()),
                run);
        assertThat(running.getSpec().getNodeName())
            .as("placed by kube-scheduler through the volume's node affinity")
            .isEqualTo(NODE);
        VolumeClone copying = clone(client);
        String mapper = "/dev/mapper/volume-clone-" + copying.getMetadata().getUid();
        assertThat(copying.getStatus().getPhase())
            .as("the workload runs while the clone has not copied (paused)")
            .isEqualTo(Phase.Copying);
        PersistentVolume pv =
            client
                .persistentVolumes()
                .withName("volume-clone-" + copying.getMetadata().getUid())
                .get();
        assertThat(pv.getSpec().getLocal().getPath()).isEqualTo(mapper);
        assertThat(pv.getSpec().getLocal().getFsType()).isEqualTo("ext4");
        assertThat(pv.getSpec().getVolumeMode()).isEqualTo("Filesystem");
        assertThat(copying.getStatus().getVolume().getDevicePath()).isEqualTo(mapper);

        Path log = guestWork.resolve("node-logs/default_writer.log");
        await(
            "the workload's writes while the clone copies",
            () -> DeviceConsumer.writesReported(log),
            n -> n >= 5,
            run);
        assertThat(Files.readString(log))
            .as("the workload read the source's file through the clone")
            .contains("consumer: read ")
            .contains(MOTD);
        long beforeCopy = DeviceConsumer.writesReported(log);

        client
            .resources(VolumeClone.class)
            .inNamespace("default")
            .withName("db")
            .patch(
                io.fabric8.kubernetes.client.dsl.base.PatchContext.of(
                    io.fabric8.kubernetes.client.dsl.base.PatchType.JSON_MERGE),
                "{\"spec\":{\"copy\":{\"paused\":false}}}");
        await(
            "the clone Completed with the workload writing",
            () -> clone(client),
            c -> c.getStatus() != null && c.getStatus().getPhase() == Phase.Completed,
            run);
        long atCutover = DeviceConsumer.writesReported(log);
        assertThat(atCutover).as("writes went on while the copy ran").isGreaterThan(beforeCopy);
        long after =
            await(
                "writes after the cutover",
                () -> DeviceConsumer.writesReported(log),
                n -> n >= atCutover + 5,
                run);
        assertThat(Files.readString(log)).doesNotContain("failed");

        client.pods().inNamespace("default").withName("writer").delete();
        await(
            "the workload gone",
            () -> client.pods().inNamespace("default").withName("writer").get() == null,
            gone -> gone,
            run);
        long reported = DeviceConsumer.writesReported(log);
        assertThat(reported).isGreaterThanOrEqualTo(after);
        client.resources(VolumeClone.class).inNamespace("default").withName("db").delete();
        await("the VolumeClone gone", () -> clone(client) == null, gone -> gone, run);

        Files.writeString(guestWork.resolve("stop"), "");
        Guest.Result result = run.get(LIMIT.toMinutes(), TimeUnit.MINUTES).assertPassed();
        assertThat(Files.readString(guestWork.resolve("dm-after.txt")))
            .as(
                "the holder removed the mapper device when it was stopped; console:%n%s",
                result.console())
            .doesNotContain("volume-clone-");

        assertThat(exec("e2fsck", "-n", "-f", destination.toString()).code())
            .as("e2fsck of the destination")
            .isZero();
        assertThat(debugfsCat(destination, "/etc/motd")).isEqualTo(MOTD + "\n");
        List<String> lines = debugfsCat(destination, "/written.txt").lines().toList();
        List<String> expected = new ArrayList<>();
        for (long n = 1; n <= lines.size(); n++) {
          expected.add("write " + n);
        }
        assertThat(lines).as("the writes, in order, none lost").isEqualTo(expected);
        assertThat((long) lines.size())
            .as("every write the workload reported (fsync'd) is on the destination")
            .isGreaterThanOrEqualTo(reported);
      } finally {
        Files.writeString(guestWork.resolve("stop"), "");
        try {
          run.get(3, TimeUnit.MINUTES);
        } catch (Exception e) {
          // the assertion above reports the guest's failure
        }
      }
    }
  }

  private static String volumeClone() {
    return """
        apiVersion: volumeclone.io/v1alpha1
        kind: VolumeClone
        metadata:
          name: db
          namespace: default
        spec:
          nodeName: %s
          source:
            device:
              path: /dev/vda
          destination:
            device:
              path: /dev/vdb
          metadata:
            device:
              path: /dev/vdc
          copy:
            paused: true
            bandwidth: 4Mi
          volume:
            claimName: db-data
            mode: Filesystem
            fsType: ext4
        """
        .formatted(NODE);
  }

  private static String writer() {
    return """
        apiVersion: v1
        kind: Pod
        metadata:
          name: writer
          namespace: default
        spec:
          restartPolicy: Never
          terminationGracePeriodSeconds: 5
          containers:
            - name: db
              image: volume-clone-consumer
              command: [volume-clone-consumer]
              args: [--write-through, /data]
              volumeMounts:
                - name: data
                  mountPath: /data
          volumes:
            - name: data
              persistentVolumeClaim:
                claimName: db-data
        """;
  }

  private static void apply(KubernetesClient client, String yaml) {
    client.resource(yaml).create();
  }

  private static VolumeClone clone(KubernetesClient client) {
    return client.resources(VolumeClone.class).inNamespace("default").withName("db").get();
  }

  /** Polls until {@code done}; fails at once, with the guest's console, if the guest ended. */
  private static <T> T await(
      String what, Supplier<T> probe, Predicate<T> done, CompletableFuture<Guest.Result> guest)
      throws Exception {
    Instant deadline = Instant.now().plus(LIMIT);
    T last = null;
    while (Instant.now().isBefore(deadline)) {
      if (guest.isDone()) {
        throw new AssertionError(
            "the guest ended while waiting for " + what + ": " + describe(guest));
      }
      try {
        last = probe.get();
        if (done.test(last)) {
          return last;
        }
      } catch (KubernetesClientException e) {
        // an API server slowed by the emulation: ask again
      }
      Thread.sleep(500);
    }
    throw new AssertionError("timed out waiting for " + what + "; last: " + last);
  }

  private static String describe(CompletableFuture<Guest.Result> guest) {
    try {
      Guest.Result r = guest.getNow(null);
      return r == null ? "(running)" : "exit " + r.exitCode() + "\n" + r.console();
    } catch (RuntimeException e) {
      return e.toString();
    }
  }

  private record Exec(int code, String output) {}

  private static Exec exec(String... command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
    return new Exec(p.exitValue(), out);
  }

  private static String debugfsCat(Path image, String file) throws Exception {
    Process p =
        new ProcessBuilder("debugfs", "-R", "cat " + file, image.toString())
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor(1, TimeUnit.MINUTES);
    return out;
  }
}
