package io.volumeclone.e2e.demo;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.e2e.cluster.ControlPlane;
import io.volumeclone.e2e.cluster.HelmRelease;
import io.volumeclone.e2e.cluster.LocalCluster;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * The demo: {@code java -jar volume-clone-demo.jar} starts a Kubernetes control plane ({@link
 * ControlPlane}), the operator and two simulated nodes as processes, clones an ext4 image with a
 * few files into a clone volume ({@code spec.volume}: the claim {@value #CLAIM}), starts a workload
 * Pod on that claim, reads a file from the clone through its NBD export while the copy still runs,
 * shows the workload placed on the clone's node and reading the clone's data, verifies the
 * destination, deletes the clone (held back while the workload uses the claim) and exits 0. This
 * machine's kernel has no nbd module, so the clone has no kernel device while it copies and the
 * claim is bound at cutover; the demo says so. {@code --serve --dir DIR} keeps it all running for
 * kubectl.
 */
public final class Demo {

  private static final long SIZE = 64L << 20;
  private static final String BANDWIDTH = "8Mi";
  private static final Duration DEADLINE = Duration.ofSeconds(150);
  private static final String CLAIM = "demo-data";
  private static final String READER = "reader";
  private static final String MOTD =
      "Hello from volume-clone: this file was read from the clone while it was still copying.\n";

  private final PrintStream out = System.out;
  private final boolean terminal = System.console() != null;

  public static void main(String[] args) throws Exception {
    // Both fabric8 HTTP clients are on the demo's class path (the agent's and the operator's);
    // either works, so the warning about the choice is noise here.
    System.setProperty(
        "org.slf4j.simpleLogger.log.io.fabric8.kubernetes.client.utils.HttpClientUtils", "error");
    System.setProperty(
        "org.slf4j.simpleLogger.log.io.fabric8.kubernetes.client.dsl.internal.VersionUsageUtils",
        "error");
    boolean serve = false;
    boolean keep = false;
    boolean guest = false;
    Path dir = null;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--serve" -> serve = true;
        case "--keep" -> keep = true;
        case "--guest" -> guest = true;
        case "--dir" -> {
          if (i + 1 >= args.length) {
            fail("--dir needs a directory");
          }
          dir = Path.of(args[++i]);
        }
        case "-h", "--help" -> {
          System.out.println(
              """
              Usage: volume-clone-demo [--guest] [--dir DIR | --keep]
                     volume-clone-demo --serve --dir DIR

                (no options)      clone a 64 MiB ext4 image on a local cluster into a clone
                                  volume, run a workload Pod on its claim, read a file from the
                                  clone while it copies, verify, delete the clone once the
                                  workload is gone, print what happened, exit 0;
                                  the run's files go to a new /tmp/vcdemo-* directory,
                                  deleted at the end when the demo succeeds
                --guest           the clone's node inside a Linux guest under qemu, whose kernel
                                  has nbd and device-mapper: the workload mounts the clone's
                                  mapper device (ext4) and writes through the copy and the
                                  live cutover (emulated: about 5 minutes)
                --keep            keep that /tmp/vcdemo-* directory (images, logs, kubeconfig)
                --dir DIR         put the run's files in DIR instead and keep them
                --serve --dir DIR keep the control plane, operator and nodes running until
                                  Ctrl-C; writes DIR/kubeconfig and accepts device paths under
                                  DIR/devices on node-1 and node-2""");
          return;
        }
        default -> fail("unknown option " + args[i] + " (see --help)");
      }
    }
    if (serve && dir == null) {
      fail("--serve needs --dir DIR (where the kubeconfig and the devices go)");
    }
    Demo demo = new Demo();
    int code = serve ? demo.serve(dir) : guest ? demo.runInGuest(dir, keep) : demo.run(dir, keep);
    System.exit(code);
  }

  private static void fail(String message) {
    System.err.println("volume-clone-demo: " + message);
    System.exit(2);
  }

  // ---------------------------------------------------------------- serve

  private int serve(Path dir) throws Exception {
    Files.createDirectories(dir);
    out.println(
        "Starting the local cluster (Kubernetes "
            + ControlPlane.KUBERNETES_VERSION
            + ") in "
            + dir.toAbsolutePath()
            + " ...");
    LocalCluster cluster = LocalCluster.start(dir, Map.of());
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  System.out.println("\nStopping the operator, the nodes and the API server.");
                  cluster.close();
                }));
    Path devices = cluster.deviceDirectory();
    Path source = devices.resolve("source.img");
    Path destination = devices.resolve("destination.img");
    if (!Files.exists(source)) {
      makeSource(dir.resolve("demo-files"), source);
    }
    if (!Files.exists(destination)) {
      sparse(destination, Files.size(source));
    }
    Path example = dir.resolve("example.yaml");
    Files.writeString(example, manifest("example", source, destination, "node-1"));
    out.printf(
        """

        The local cluster is running (kube-apiserver %s at %s).
          export KUBECONFIG=%s
          export PATH=%s:$PATH   # kubectl, helm and kstatus built with it
          kubectl version
          kubectl get nodes
          kubectl apply -f %s         # clones %s to %s on node-1
          kubectl get vc -w
          kubectl describe vc example
          kubectl logs -l app.kubernetes.io/component=agent
          kubectl auth can-i update volumeclones.volumeclone.io --subresource=status \\
              --as system:serviceaccount:default:volume-clone-agent
        Device paths under %s are allowed on node-1 and node-2; put your own images there.
        Logs: %s (one per Pod: the operator's and the agents'), %s (control plane, helm).
        Ctrl-C stops everything; the devices stay.
        """,
        ControlPlane.KUBERNETES_VERSION,
        cluster.controlPlane().url(),
        cluster.kubeconfig(),
        cluster.controlPlane().tool("kubectl").getParent(),
        example,
        source.getFileName(),
        destination.getFileName(),
        devices,
        cluster.workDirectory().resolve("nodes/logs"),
        cluster.logDirectory());
    Thread.currentThread().join();
    return 0;
  }

  // ---------------------------------------------------------------- the demo run

  private int run(Path dir, boolean keep) throws Exception {
    Instant began = Instant.now();
    Path work = dir != null ? dir : Files.createTempDirectory(Path.of("/tmp"), "vcdemo-");
    Files.createDirectories(work);
    step(
        "Starting Kubernetes "
            + ControlPlane.KUBERNETES_VERSION
            + " (etcd, kube-apiserver, kube-controller-manager, kube-scheduler), the operator"
            + " and nodes node-1, node-2");
    LocalCluster cluster = LocalCluster.start(work, Map.of());
    int code;
    try {
      out.println(
          "  kube-apiserver "
              + cluster.client().getKubernetesVersion().getGitVersion()
              + " at "
              + cluster.controlPlane().url()
              + "; chart installed by helm install, operator Pod running in "
              + HelmRelease.NAMESPACE);
      code = demo(cluster, began);
    } finally {
      step("Stopping the operator, the nodes and the API server");
      cluster.close();
    }
    // A temporary work directory holds about 120 MiB of images; it goes unless asked for, or
    // unless the demo failed and its logs are what the user needs next.
    if (dir != null) {
      out.println("This run's files: " + work.toAbsolutePath());
    } else if (keep) {
      out.println("This run's files (kept, --keep): " + work);
    } else if (code != 0) {
      out.println("This run's files are kept for a look at the logs: " + work);
    } else {
      LocalCluster.deleteTree(work);
      out.println("This run's files in " + work + " were deleted; --keep or --dir DIR keeps them.");
    }
    return code;
  }

  private int runInGuest(Path dir, boolean keep) throws Exception {
    Path work = dir != null ? dir : Files.createTempDirectory(Path.of("/tmp"), "vcdemo-guest-");
    Files.createDirectories(work);
    int code = new GuestDemo().run(work);
    if (dir == null && !keep && code == 0) {
      LocalCluster.deleteTree(work);
      out.println("This run's files in " + work + " were deleted; --keep or --dir DIR keeps them.");
    } else {
      out.println("This run's files: " + work);
    }
    return code;
  }

  private int demo(LocalCluster cluster, Instant began) throws Exception {
    KubernetesClient client = cluster.client();
    Path devices = cluster.deviceDirectory();
    Path source = devices.resolve("source.img");
    Path destination = devices.resolve("destination.img");

    step("Creating the source: a 64 MiB ext4 image with a few files (mkfs.ext4 -d)");
    boolean ext4 = makeSource(cluster.workDirectory().resolve("demo-files"), source);
    sparse(destination, Files.size(source));
    out.println("  source      " + source + (ext4 ? " (ext4)" : " (random data)"));
    out.println("  destination " + destination + " (empty)");

    String yaml = manifest("demo", source, destination, "node-1");
    Path manifest = cluster.workDirectory().resolve("volumeclone.yaml");
    Files.writeString(manifest, yaml);
    step("Applying a VolumeClone (copy limited to " + BANDWIDTH + "/s so there is time to look)");
    out.println(indent(yaml));
    out.println(
        "  (applied through the Kubernetes client; the same with kubectl:)\n  KUBECONFIG="
            + cluster.kubeconfig()
            + " kubectl apply -f "
            + manifest);
    try (InputStream in = new java.io.ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8))) {
      client.resources(VolumeClone.class).load(in).create();
    }
    String sourceDigest = sha256(source);

    step(
        "Starting a workload on the clone's claim "
            + CLAIM
            + " (no nodeName: kube-scheduler places it)");
    String readerYaml = ClaimReader.manifest(READER, CLAIM);
    out.println(indent(readerYaml));
    ClaimReader reader = new ClaimReader(client, "default", READER, "demo", sourceDigest, out);
    reader.create(readerYaml);

    step("Watching the clone (the operator starts an agent Pod; node-1 runs it) and the workload");
    Instant deadline = began.plus(DEADLINE);
    String readResult = null;
    String exportUri = null;
    String lastLine = "";
    VolumeClone clone = null;
    double readAtPercent = -1;
    while (Instant.now().isBefore(deadline)) {
      clone = client.resources(VolumeClone.class).inNamespace("default").withName("demo").get();
      List<String> news = reader.observe(clone);
      if (!news.isEmpty()) {
        if (terminal && !lastLine.isEmpty()) {
          out.println();
        }
        news.forEach(n -> out.println("  " + n));
        lastLine = "";
      }
      String line = progressLine(clone);
      if (!line.equals(lastLine)) {
        if (terminal) {
          out.print("\r  " + line + "   ");
        } else {
          out.println("  " + line);
        }
        lastLine = line;
      }
      Phase phase = clone.getStatus() == null ? null : clone.getStatus().getPhase();
      String uri =
          clone.getStatus() == null || clone.getStatus().getExport() == null
              ? null
              : clone.getStatus().getExport().getUri();
      if (readResult == null && phase == Phase.Copying && uri != null && ext4) {
        readAtPercent = percent(clone);
        exportUri = uri;
        if (terminal) {
          out.println();
        }
        readResult = readThroughExport(uri, cluster.workDirectory(), deadline);
        out.println(indent(readResult));
      }
      if (phase == Phase.Failed || (phase == Phase.Completed && reader.hasRead())) {
        break;
      }
      Thread.sleep(250);
    }
    if (terminal) {
      out.println();
    }
    if (clone == null
        || clone.getStatus() == null
        || clone.getStatus().getPhase() != Phase.Completed) {
      out.println(
          "The clone did not complete within "
              + DEADLINE.toSeconds()
              + " s: "
              + (clone == null ? "no clone" : clone.getStatus()));
      out.println(
          "Logs: "
              + cluster.workDirectory().resolve("nodes/logs")
              + " (Pods) and "
              + cluster.logDirectory()
              + " (control plane)");
      return 1;
    }

    Result listed =
        exec(
            List.of(
                cluster.controlPlane().tool("kubectl").toString(),
                "--kubeconfig",
                cluster.kubeconfig().toString(),
                "get",
                "vc",
                "demo"));
    out.println("  $ kubectl get vc demo\n" + indent(listed.output));

    step("Verifying the destination");
    boolean same = sameBytes(source, destination);
    out.println(
        "  byte-for-byte comparison of source and destination: " + (same ? "equal" : "DIFFERENT"));
    boolean fsck = true;
    if (ext4 && tool("e2fsck") != null) {
      Result r = exec(List.of(tool("e2fsck"), "-n", "-f", destination.toString()));
      fsck = r.code == 0;
      out.println(
          "  e2fsck -n -f destination: "
              + (fsck ? "clean" : "exit " + r.code + "\n" + indent(r.output)));
    }

    step("Deleting the VolumeClone while Pod default/" + READER + " still uses " + CLAIM);
    boolean deletion = reader.deleteCloneThenReader();

    Duration took = Duration.between(began, Instant.now());
    step("What happened");
    out.printf(
        """
          1. The operator (the Pod of the chart's Deployment, placed by kube-scheduler, run by a
             node runner as its own JVM with its ServiceAccount's token) saw VolumeClone
             default/demo, validated it and created the agent Pod %s on node-1.
          2. node-1's runner started the agent as a local process; the agent opened the devices,
             started the background copy at %s/s and served the clone over NBD:
             %s
          3. %s
          4. Every region was copied and committed; the agent cut over (the destination alone
             holds the data now) and exited 0. Phase: %s.
          5. The workload Pod %s on claim %s:
             %s
          6. The destination equals the source byte for byte%s.
          7. Deleting the VolumeClone waited for the workload: %s
        Done in %d s. To look around yourself, keep a cluster running:
          ./demo --serve --dir /tmp/vc   (or java -jar e2e/target/volume-clone-demo.jar --serve ...;
          then: export KUBECONFIG=/tmp/vc/kubeconfig; kubectl get vc)
        """,
        clone.getStatus().getAgentPod(),
        BANDWIDTH,
        exportUri != null
            ? exportUri
            : clone.getStatus().getExport() == null
                ? "(closed at cutover)"
                : clone.getStatus().getExport().getUri(),
        readResult == null
            ? "(the read through the export was skipped: it needs an ext4 source, nbdcopy and debugfs)"
            : String.format(
                "At %.1f%% copied, nbdcopy read the whole clone through the export and debugfs"
                    + " printed /etc/motd from it: reads of regions not copied yet came from the"
                    + " source.",
                readAtPercent),
        clone.getStatus().getPhase(),
        READER,
        CLAIM,
        reader.summary(),
        ext4 ? " and e2fsck finds the file system clean" : "",
        deletion
            ? "refused while the Pod used the claim, done once it was gone; the data stays on the"
                + " destination"
            : "NOT as it should (see above)",
        took.toSeconds());
    return same && fsck && reader.readTheSource() && deletion ? 0 : 1;
  }

  private static String manifest(String name, Path source, Path destination, String node) {
    return """
        apiVersion: volumeclone.io/v1alpha1
        kind: VolumeClone
        metadata:
          name: %s
          namespace: default
        spec:
          nodeName: %s
          source:
            device:
              path: %s
          destination:
            device:
              path: %s
          copy:
            bandwidth: %s
          volume:
            claimName: %s
            mode: Block
        """
        .formatted(
            name, node, source.toAbsolutePath(), destination.toAbsolutePath(), BANDWIDTH, CLAIM);
  }

  static String progressLine(VolumeClone clone) {
    if (clone == null || clone.getStatus() == null || clone.getStatus().getPhase() == null) {
      return "Pending (waiting for the operator)";
    }
    var s = clone.getStatus();
    StringBuilder line = new StringBuilder(s.getPhase().toString());
    if (s.getProgress() != null && s.getProgress().getPercent() != null) {
      double p = Double.parseDouble(s.getProgress().getPercent());
      int filled = (int) (p / 5);
      line.append(" [")
          .append("#".repeat(filled))
          .append(".".repeat(20 - filled))
          .append("] ")
          .append(s.getProgress().getPercent())
          .append("% ");
      if (s.getProgress().getBytesCopied() != null) {
        line.append(s.getProgress().getBytesCopied() >> 20)
            .append(" of ")
            .append(s.getProgress().getBytesTotal() >> 20)
            .append(" MiB");
      }
    }
    return line.toString();
  }

  private static double percent(VolumeClone clone) {
    try {
      return Double.parseDouble(clone.getStatus().getProgress().getPercent());
    } catch (RuntimeException e) {
      return 0;
    }
  }

  /** nbdcopy the whole export to a scratch image, then debugfs reads /etc/motd out of it. */
  private String readThroughExport(String uri, Path work, Instant deadline)
      throws IOException, InterruptedException {
    String nbdcopy = tool("nbdcopy");
    String debugfs = tool("debugfs");
    if (nbdcopy == null || debugfs == null) {
      return "(skipped the read through the export: apt-get install libnbd-bin e2fsprogs)";
    }
    Path scratch = work.resolve("read-through-export.img");
    Files.deleteIfExists(scratch);
    StringBuilder text = new StringBuilder();
    text.append("Reading the clone through its NBD export while it copies:\n");
    text.append("  $ nbdcopy '").append(uri).append("' ").append(scratch).append('\n');
    // The read counts against the demo's deadline: a hung export must not hold the demo past it.
    Duration left = Duration.between(Instant.now(), deadline);
    if (left.compareTo(Duration.ofSeconds(1)) < 0) {
      left = Duration.ofSeconds(1);
    }
    Result copy =
        exec(
            List.of(nbdcopy, uri, scratch.toString()),
            left.compareTo(TOOL_TIMEOUT) < 0 ? left : TOOL_TIMEOUT);
    if (copy.code != 0) {
      return text.append("  nbdcopy failed (exit ")
          .append(copy.code)
          .append("): ")
          .append(copy.output)
          .toString();
    }
    text.append("  $ debugfs -R 'cat /etc/motd' ").append(scratch).append('\n');
    Result cat = exec(List.of(debugfs, "-R", "cat /etc/motd", scratch.toString()));
    for (String l : cat.output.split("\n")) {
      if (!l.startsWith("debugfs ")) {
        text.append("  | ").append(l).append('\n');
      }
    }
    Files.deleteIfExists(scratch);
    return text.toString().stripTrailing();
  }

  /** An ext4 image populated from a directory of sample files; random data without mkfs.ext4. */
  private boolean makeSource(Path filesDir, Path image) throws IOException, InterruptedException {
    Files.createDirectories(filesDir.resolve("etc"));
    Files.createDirectories(filesDir.resolve("data"));
    Files.writeString(filesDir.resolve("etc/motd"), MOTD);
    Files.writeString(
        filesDir.resolve("README.txt"),
        "This file system was cloned by volume-clone, region by region, while it stayed usable.\n");
    byte[] block = new byte[1 << 20];
    Random random = new Random(7);
    for (int i = 0; i < 3; i++) {
      try (var file = Files.newOutputStream(filesDir.resolve("data/blob-" + i + ".bin"))) {
        for (int m = 0; m < 8; m++) {
          random.nextBytes(block);
          file.write(block);
        }
      }
    }
    String mkfs = tool("mkfs.ext4");
    Files.deleteIfExists(image);
    if (mkfs != null) {
      Result r =
          exec(
              List.of(
                  mkfs,
                  "-q",
                  "-F",
                  "-L",
                  "vc-demo",
                  "-d",
                  filesDir.toString(),
                  image.toString(),
                  (SIZE >> 20) + "M"));
      if (r.code == 0) {
        return true;
      }
      out.println("  mkfs.ext4 failed (exit " + r.code + "): " + r.output.strip());
    } else {
      out.println("  mkfs.ext4 is missing (apt-get install e2fsprogs): using random data");
    }
    try (RandomAccessFile raf = new RandomAccessFile(image.toFile(), "rw")) {
      for (long off = 0; off < SIZE; off += block.length) {
        random.nextBytes(block);
        raf.write(block);
      }
    }
    return false;
  }

  static void sparse(Path file, long size) throws IOException {
    Files.deleteIfExists(file);
    try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
      raf.setLength(size);
    }
  }

  private static boolean sameBytes(Path a, Path b) throws IOException {
    if (Files.size(a) != Files.size(b)) {
      return false;
    }
    try (InputStream x = Files.newInputStream(a);
        InputStream y = Files.newInputStream(b)) {
      byte[] p = new byte[1 << 20];
      byte[] q = new byte[1 << 20];
      while (true) {
        int n = x.readNBytes(p, 0, p.length);
        int m = y.readNBytes(q, 0, q.length);
        if (n != m || !Arrays.equals(p, 0, n, q, 0, m)) {
          return false;
        }
        if (n == 0) {
          return true;
        }
      }
    }
  }

  static String sha256(Path file) throws IOException {
    try (InputStream in = Files.newInputStream(file)) {
      java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
      byte[] buffer = new byte[1 << 20];
      for (int n; (n = in.read(buffer)) > 0; ) {
        sha.update(buffer, 0, n);
      }
      return java.util.HexFormat.of().formatHex(sha.digest());
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  record Result(int code, String output) {}

  /** How long one tool (mkfs.ext4, nbdcopy, debugfs, e2fsck) may run before the demo gives up. */
  private static final Duration TOOL_TIMEOUT = Duration.ofSeconds(60);

  /**
   * Runs a tool with its output going to a file rather than a pipe, so that waiting is bounded by
   * the timeout: reading a pipe to its end would wait as long as a hung tool (an nbdcopy stuck on
   * an export) keeps it open. On timeout the tool and its children are killed.
   */
  static Result exec(List<String> command) throws IOException, InterruptedException {
    return exec(command, TOOL_TIMEOUT);
  }

  private static Result exec(List<String> command, Duration timeout)
      throws IOException, InterruptedException {
    Path log = Files.createTempFile("vcdemo-tool-", ".log");
    try {
      ProcessBuilder pb = new ProcessBuilder(new ArrayList<>(command));
      pb.environment().put("PATH", "/usr/bin:/usr/sbin:/bin:/sbin:" + System.getenv("PATH"));
      pb.redirectErrorStream(true);
      pb.redirectOutput(log.toFile());
      pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
      Process p = pb.start();
      if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        p.waitFor(10, TimeUnit.SECONDS);
        return new Result(
            -1,
            command.get(0)
                + " did not finish within "
                + timeout.toSeconds()
                + " s and was killed; its output so far:\n"
                + new String(Files.readAllBytes(log), StandardCharsets.UTF_8));
      }
      return new Result(p.exitValue(), new String(Files.readAllBytes(log), StandardCharsets.UTF_8));
    } finally {
      Files.deleteIfExists(log);
    }
  }

  static String tool(String name) {
    for (String dir : List.of("/usr/bin", "/usr/sbin", "/bin", "/sbin")) {
      Path p = Path.of(dir, name);
      if (Files.isExecutable(p)) {
        return p.toString();
      }
    }
    return null;
  }

  private void step(String what) {
    out.println("\n== " + what);
  }

  static String indent(String text) {
    return text.stripTrailing()
        .lines()
        .map(l -> "  " + l)
        .reduce((a, b) -> a + "\n" + b)
        .orElse("");
  }
}
