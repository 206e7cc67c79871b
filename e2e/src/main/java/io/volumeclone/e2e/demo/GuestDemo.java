package io.volumeclone.e2e.demo;

import io.fabric8.kubernetes.api.model.PersistentVolume;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.e2e.cluster.ControlPlane;
import io.volumeclone.e2e.cluster.DeviceConsumer;
import io.volumeclone.e2e.cluster.GuestNode;
import io.volumeclone.e2e.cluster.LocalCluster;
import io.volumeclone.testing.Guest;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * {@code ./demo --guest}: the demo's flow with the clone's node inside the Linux guest under qemu,
 * whose kernel has nbd and device-mapper. The control plane, the operator and node-1/node-2 run
 * here as in the plain demo; node {@value #NODE} is a node runner in the guest ({@link GuestNode}).
 * The agent there attaches the clone as {@code /dev/mapper/volume-clone-<uid>}, the operator
 * publishes it at once as an ext4 PersistentVolume, kube-scheduler places the workload on the guest
 * node, the node mounts the mapper device, and the workload reads a file of the source and writes a
 * line every 200 ms while the clone copies, through the live cutover and after it. At the end the
 * destination alone holds the source's files and every write.
 */
final class GuestDemo {

  static final String NODE = "guest-1";
  private static final long SIZE = 32L << 20;
  private static final String SLOW = "64Ki";
  private static final String FAST = "4Mi";
  private static final Duration LIMIT = Duration.ofMinutes(8);
  private static final String MOTD =
      "Hello from volume-clone: read in the guest through the clone's mapper device.";

  private final PrintStream out = System.out;

  int run(Path work) throws Exception {
    Instant began = Instant.now();
    Path guestWork = Files.createDirectories(work.resolve("guest"));
    try {
      Guest.require();
    } catch (RuntimeException | Error e) {
      out.println(
          "volume-clone-demo --guest needs qemu and the guest's tools: apt-get install -y"
              + " qemu-system-x86 qemu-system-data busybox-static kmod nbd-client dmsetup fio"
              + " e2fsprogs cpio xz-utils ("
              + e.getMessage()
              + ")");
      return 2;
    }
    step("Building the guest image (Debian's kernel and modules; cached after the first run)");
    Path jar = Path.of(GuestDemo.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    Path source = guestWork.resolve("source.img");
    Path destination = guestWork.resolve("destination.img");
    Path files = Files.createDirectories(work.resolve("demo-files/etc"));
    Files.writeString(files.resolve("motd"), MOTD + "\n");
    Demo.Result mkfs =
        Demo.exec(
            List.of(
                "mkfs.ext4",
                "-q",
                "-F",
                "-L",
                "vc-guest",
                "-d",
                files.getParent().toString(),
                source.toString(),
                (SIZE >> 20) + "M"));
    if (mkfs.code() != 0) {
      out.println("mkfs.ext4 failed: " + mkfs.output());
      return 1;
    }

    step(
        "Starting Kubernetes "
            + ControlPlane.KUBERNETES_VERSION
            + ", the operator (chart with agent.kernelAttach=true) and nodes node-1, node-2");
    try (LocalCluster cluster =
        LocalCluster.start(
            work.resolve("cluster"),
            GuestNode.clusterValues(work.resolve("cluster").resolve("devices")))) {
      KubernetesClient client = cluster.client();
      step(
          "Booting the Linux guest (qemu, emulated: slow) with node "
              + NODE
              + ": source /dev/vda (ext4), destination /dev/vdb, metadata /dev/vdc");
      CompletableFuture<Guest.Result> run =
          GuestNode.boot(guestWork, cluster, NODE, jar, source, destination, LIMIT.plusMinutes(2));
      try {
        return flow(client, guestWork, destination, run, began);
      } finally {
        Files.writeString(guestWork.resolve("stop"), "");
        try {
          Guest.Result r = run.get(3, TimeUnit.MINUTES);
          out.println("  the guest powered off (script exit " + r.exitCode() + ")");
        } catch (Exception e) {
          out.println("  the guest did not end cleanly: " + e.getMessage());
        }
      }
    }
  }

  private int flow(
      KubernetesClient client,
      Path guestWork,
      Path destination,
      CompletableFuture<Guest.Result> guest,
      Instant began)
      throws Exception {
    await(
        "node " + NODE + " to register from the guest",
        () -> client.nodes().withName(NODE).get(),
        n -> n != null,
        guest);
    out.println("  node " + NODE + " registered by the node runner inside the guest");

    String yaml = volumeClone();
    step("Applying a VolumeClone with a Filesystem clone volume (copy at " + SLOW + "/s for now)");
    out.println(Demo.indent(yaml));
    client.resource(yaml).create();
    String writer = writer();
    step("Starting a workload on claim demo-data (no nodeName: kube-scheduler places it)");
    out.println(Demo.indent(writer));
    client.resource(writer).create();

    Path log = guestWork.resolve("node-logs/default_writer.log");
    Pod running =
        await(
            "the workload to run",
            () -> client.pods().inNamespace("default").withName("writer").get(),
            p -> p != null && p.getStatus() != null && "Running".equals(p.getStatus().getPhase()),
            guest);
    VolumeClone clone = clone(client);
    PersistentVolume pv =
        client.persistentVolumes().withName("volume-clone-" + clone.getMetadata().getUid()).get();
    out.println(
        "  the agent attached the clone as "
            + clone.getStatus().getVolume().getDevicePath()
            + " on "
            + clone.getStatus().getVolume().getNodeName());
    out.println(
        "  PersistentVolume "
            + pv.getMetadata().getName()
            + ": local "
            + pv.getSpec().getLocal().getPath()
            + ", "
            + pv.getSpec().getVolumeMode()
            + " "
            + pv.getSpec().getLocal().getFsType()
            + ", bound to claim demo-data");
    out.println(
        "  Pod default/writer Running on "
            + running.getSpec().getNodeName()
            + " (placed by kube-scheduler), "
            + Demo.progressLine(clone));
    await(
        "the workload's first writes",
        () -> DeviceConsumer.writesReported(log),
        n -> n >= 3,
        guest);
    String readLine =
        Files.readString(log)
            .lines()
            .filter(l -> l.contains("consumer: read"))
            .findFirst()
            .orElse("");
    out.println("  | " + readLine);
    out.println(
        "  | ... consumer: wrote "
            + DeviceConsumer.writesReported(log)
            + "   at "
            + Demo.progressLine(clone(client)));

    step(
        "Raising the copy to "
            + FAST
            + "/s (spec.copy.bandwidth, applied live) and watching the cutover");
    client
        .resources(VolumeClone.class)
        .inNamespace("default")
        .withName("demo")
        .patch(
            io.fabric8.kubernetes.client.dsl.base.PatchContext.of(
                io.fabric8.kubernetes.client.dsl.base.PatchType.JSON_MERGE),
            "{\"spec\":{\"copy\":{\"bandwidth\":\"" + FAST + "\"}}}");
    String last = "";
    Instant deadline = Instant.now().plus(LIMIT);
    while (Instant.now().isBefore(deadline)) {
      VolumeClone c = clone(client);
      String line =
          Demo.progressLine(c)
              + ", the workload has written "
              + DeviceConsumer.writesReported(log)
              + " lines";
      if (!line.equals(last)) {
        out.println("  " + line);
        last = line;
      }
      if (c.getStatus() != null && c.getStatus().getPhase() == Phase.Completed) {
        break;
      }
      Thread.sleep(1000);
    }
    long atCutover = DeviceConsumer.writesReported(log);
    long after =
        await(
            "writes after the cutover",
            () -> DeviceConsumer.writesReported(log),
            n -> n >= atCutover + 5,
            guest);
    out.println(
        "  cut over with the workload writing: "
            + atCutover
            + " lines by then, "
            + after
            + " now; the mapper device maps the destination directly and the agent holds it");

    step("Stopping the workload, then deleting the VolumeClone");
    client.pods().inNamespace("default").withName("writer").delete();
    await(
        "the workload to stop",
        () -> client.pods().inNamespace("default").withName("writer").get() == null,
        g -> g,
        guest);
    long reported = DeviceConsumer.writesReported(log);
    client.resources(VolumeClone.class).inNamespace("default").withName("demo").delete();
    await("the VolumeClone to go", () -> clone(client) == null, g -> g, guest);
    out.println(
        "  the workload reported "
            + reported
            + " fsync'd writes; the VolumeClone, its PersistentVolume and claim are gone");
    Files.writeString(guestWork.resolve("stop"), "");
    Guest.Result result = guest.get(3, TimeUnit.MINUTES);

    step("Verifying the destination (on this machine, after the guest powered off)");
    String mapped = Files.readString(guestWork.resolve("dm-after.txt")).strip();
    out.println("  dmsetup ls in the guest after the agent stopped: " + mapped);
    Demo.Result fsck = Demo.exec(List.of("e2fsck", "-n", "-f", destination.toString()));
    out.println(
        "  e2fsck -n -f destination: " + (fsck.code() == 0 ? "clean" : "exit " + fsck.code()));
    Demo.Result motd = Demo.exec(List.of("debugfs", "-R", "cat /etc/motd", destination.toString()));
    boolean motdSame = motd.output().contains(MOTD);
    out.println("  /etc/motd on the destination: " + (motdSame ? "the source's" : "DIFFERENT"));
    Demo.Result written =
        Demo.exec(List.of("debugfs", "-R", "cat /written.txt", destination.toString()));
    long lines = written.output().lines().filter(l -> l.startsWith("write ")).count();
    boolean allWrites = lines >= reported && written.output().contains("write " + reported + "\n");
    out.println(
        "  /written.txt on the destination: "
            + lines
            + " lines; every one of the "
            + reported
            + " writes the workload reported is there: "
            + (allWrites ? "yes" : "NO"));
    boolean ok =
        result.exitCode() == 0
            && !mapped.contains("volume-clone-")
            && fsck.code() == 0
            && motdSame
            && allWrites;
    out.printf(
        "%nDone in %d s: %s%n",
        Duration.between(began, Instant.now()).toSeconds(),
        ok
            ? "the workload used the clone through the kernel from the first percent to after the cutover"
            : "NOT as expected (see above)");
    return ok ? 0 : 1;
  }

  private static String volumeClone() {
    return """
        apiVersion: volumeclone.io/v1alpha1
        kind: VolumeClone
        metadata:
          name: demo
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
            bandwidth: %s
          volume:
            claimName: demo-data
            mode: Filesystem
            fsType: ext4
        """
        .formatted(NODE, SLOW);
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
            - name: app
              image: volume-clone-consumer
              command: [volume-clone-consumer]
              args: [--write-through, /data]   # reads /data/etc/motd, appends a line every 200 ms
              volumeMounts:
                - name: data
                  mountPath: /data
          volumes:
            - name: data
              persistentVolumeClaim:
                claimName: demo-data
        """;
  }

  private static VolumeClone clone(KubernetesClient client) {
    return client.resources(VolumeClone.class).inNamespace("default").withName("demo").get();
  }

  private <T> T await(
      String what, Supplier<T> probe, Predicate<T> done, CompletableFuture<Guest.Result> guest)
      throws Exception {
    out.println("  (waiting for " + what + ")");
    Instant deadline = Instant.now().plus(LIMIT);
    while (Instant.now().isBefore(deadline)) {
      if (guest.isDone()) {
        throw new IOException("the guest ended while waiting for " + what);
      }
      try {
        T value = probe.get();
        if (done.test(value)) {
          return value;
        }
      } catch (KubernetesClientException e) {
        // an API server slowed by the emulation: ask again
      }
      Thread.sleep(500);
    }
    throw new IOException("timed out after " + LIMIT.toMinutes() + " min waiting for " + what);
  }

  private void step(String what) {
    out.println("\n== " + what);
  }
}
