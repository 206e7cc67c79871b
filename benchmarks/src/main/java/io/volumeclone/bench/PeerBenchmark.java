package io.volumeclone.bench;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * User I/O latency during a clone, against the peer a user would otherwise pick for an instantly
 * usable copy (issue 19): qemu-storage-daemon exporting a qcow2 overlay (64 KiB clusters, {@code
 * cache.direct=on}) over the source, filled by a {@code block-stream} job. Both read the same
 * source, nbdkit's file plugin behind the delay and rate filters (2 ms per read, 800 Mbit/s = 100
 * MB/s), and both run as fresh processes in every pair, alternating who goes first:
 *
 * <ol>
 *   <li>process start to the first 4 KiB read answered (goal: ours at most 15x QEMU's);
 *   <li>a 1 MiB write covering 16 whole uncopied 64 KiB regions, 1 s into the copy (goal 2x);
 *   <li>a 4 KiB write into an uncopied region, 1 s into the copy (goal 2x: it must read one region
 *       from the slow source).
 * </ol>
 *
 * <p>The source is 512 MiB by default so the run fits a small machine; the writes land at fixed
 * offsets (384 MiB and 448 MiB + 4 KiB) that neither copy reaches within the measurement. Ours runs
 * through {@code bin/volume-clone} (so with its class-data sharing archive, kept in the benchmark's
 * directory), and one unmeasured run of each side comes first.
 *
 * <p>Usage: {@code ./bench peer [--dir DIR] [--size-mib N] [--pairs N]}.
 */
public final class PeerBenchmark {

  private static final long WHOLE_WRITE_MIB = 384;
  private static final long PARTIAL_WRITE_MIB = 448;

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(System.getProperty("java.io.tmpdir"), "peer-bench");
    long size = 512L << 20;
    int pairs = Pairs.MINIMUM;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--dir" -> dir = Path.of(args[++i]);
        case "--size-mib" -> size = Long.parseLong(args[++i]) << 20;
        case "--pairs" -> pairs = Integer.parseInt(args[++i]);
        default -> {
          System.err.println("unknown argument " + args[i]);
          System.exit(2);
        }
      }
    }
    if (size < ((PARTIAL_WRITE_MIB + 1) << 20)) {
      System.err.println("--size-mib must be at least " + (PARTIAL_WRITE_MIB + 1));
      System.exit(2);
    }
    Files.createDirectories(dir);
    System.out.printf(
        "Peer benchmark in %s: %d MiB source from nbdkit (rdelay=2ms, rate=800M), %d pairs%n",
        dir, size >> 20, pairs);
    Path image = dir.resolve("source.img");
    BenchFiles.writeRandom(image, size);
    Path kitSock = dir.resolve("source.sock");
    Files.deleteIfExists(kitSock);
    Process kit =
        new ProcessBuilder(
                "nbdkit",
                "-f",
                "-r",
                "-U",
                kitSock.toString(),
                "--filter=delay",
                "--filter=rate",
                "file",
                image.toString(),
                "rdelay=2ms",
                "rate=800M")
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .start();
    try {
      awaitFile(kitSock);
      String sourceUri = "nbd+unix:///?socket=" + kitSock;
      // One unmeasured run of each first: page cache, and our launcher's class-data archive.
      runOurs(dir, sourceUri, size);
      runQemu(dir, kitSock, size);
      Path workDir = dir;
      long sourceSize = size;
      Pairs runs =
          Pairs.interleave(
              pairs,
              "volume-clone",
              () -> runOurs(workDir, sourceUri, sourceSize),
              "qemu",
              () -> runQemu(workDir, kitSock, sourceSize),
              () -> {});
      runs.report(
          System.out,
          "process start to first 4 KiB read (ms, lower is better)",
          0,
          0,
          Pairs.Goal.atMost(15));
      runs.report(
          System.out,
          "1 MiB write of 16 whole uncopied regions during the copy (ms, lower is better)",
          1,
          1,
          Pairs.Goal.atMost(2));
      runs.report(
          System.out,
          "4 KiB write into an uncopied region during the copy (ms, lower is better)",
          2,
          2,
          Pairs.Goal.atMost(2));
    } finally {
      kit.destroy();
      kit.waitFor();
    }
  }

  /** One run of the volume-clone CLI as a child JVM: {first read, 1 MiB write, 4 KiB write}. */
  private static double[] runOurs(Path dir, String sourceUri, long size) throws Exception {
    Path dest = dir.resolve("vc-dest.img");
    Path meta = dir.resolve("vc-meta.img");
    Path sock = dir.resolve("vc.sock");
    Files.deleteIfExists(dest);
    Files.deleteIfExists(meta);
    Files.deleteIfExists(sock);
    BenchFiles.sparseFile(dest, size);
    BenchFiles.sparseFile(meta, 0);
    List<String> cmd = new ArrayList<>();
    Path launcher = Path.of("bin", "volume-clone");
    if (Files.isExecutable(launcher)) {
      // What a user runs: the launcher, with its class-data sharing archive in our cache.
      cmd.add(launcher.toAbsolutePath().toString());
    } else {
      cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
      cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
      cmd.addAll(List.of("-cp", productionJar(), "io.volumeclone.app.VolumeCloneMain"));
    }
    cmd.addAll(
        List.of(
            "clone",
            "--source",
            sourceUri,
            "--destination",
            dest.toString(),
            "--metadata",
            meta.toString(),
            "--region-size",
            "64Ki",
            "--export",
            "unix:" + sock,
            "--run-dir",
            dir.resolve("vc-run").toString()));
    String uri = "nbd+unix:///?socket=" + sock;
    return measure(uri, cmd, null, dir);
  }

  /** One run of qemu-storage-daemon over a fresh qcow2 overlay. */
  private static double[] runQemu(Path dir, Path sourceSock, long size) throws Exception {
    Path overlay = dir.resolve("qemu-overlay.qcow2");
    Path sock = dir.resolve("qemu.sock");
    Path qmp = dir.resolve("qemu-qmp.sock");
    Files.deleteIfExists(overlay);
    Files.deleteIfExists(sock);
    Files.deleteIfExists(qmp);
    exec(
        "qemu-img",
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        "cluster_size=65536",
        overlay.toString(),
        String.valueOf(size));
    List<String> cmd =
        List.of(
            "qemu-storage-daemon",
            "--blockdev",
            "driver=nbd,node-name=src,server.type=unix,server.path=" + sourceSock + ",read-only=on",
            "--blockdev",
            "driver=file,node-name=ovlfile,filename=" + overlay + ",cache.direct=on",
            "--blockdev",
            "driver=qcow2,node-name=ovl,file=ovlfile,backing=src,cache.direct=on",
            "--nbd-server",
            "addr.type=unix,addr.path=" + sock,
            "--export",
            "type=nbd,id=e,node-name=ovl,writable=on,name=",
            "--chardev",
            "socket,id=qmp,path=" + qmp + ",server=on,wait=off",
            "--monitor",
            "chardev=qmp");
    return measure("nbd+unix:///?socket=" + sock, cmd, qmp, dir);
  }

  private static final String FIRST_READ =
      """
      import nbd, sys, time
      print("ready", flush=True)
      while True:
          h = nbd.NBD()
          try:
              h.connect_uri(sys.argv[1])
              break
          except nbd.Error:
              time.sleep(0.001)
      h.pread(4096, 0)
      print("%.6f" % time.time(), flush=True)
      h.shutdown()
      """;

  private static final String WRITES =
      """
      import nbd, sys, time
      h = nbd.NBD()
      h.connect_uri(sys.argv[1])
      whole = b"\\x5a" * (1 << 20)
      part = b"\\xa5" * 4096
      t = time.perf_counter(); h.pwrite(whole, int(sys.argv[2])); a = time.perf_counter() - t
      t = time.perf_counter(); h.pwrite(part, int(sys.argv[3])); b = time.perf_counter() - t
      print("%.6f %.6f" % (a * 1000, b * 1000), flush=True)
      h.shutdown()
      """;

  private static double[] measure(String uri, List<String> serverCmd, Path qmp, Path dir)
      throws Exception {
    Process reader = python(FIRST_READ, uri);
    BufferedReader readerOut =
        new BufferedReader(new InputStreamReader(reader.getInputStream(), StandardCharsets.UTF_8));
    if (!"ready".equals(readerOut.readLine())) {
      throw new IOException("the first-read client did not start");
    }
    double start = System.currentTimeMillis() / 1000.0;
    ProcessBuilder serverBuilder = new ProcessBuilder(serverCmd);
    serverBuilder.environment().put("XDG_CACHE_HOME", dir.resolve("cache").toString());
    serverBuilder.environment().put("VOLUME_CLONE_JAR", productionJar());
    Process server =
        serverBuilder
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .start();
    try {
      String answered = readerOut.readLine();
      if (answered == null || reader.waitFor() != 0) {
        throw new IOException("the first read failed against " + serverCmd.get(0));
      }
      double firstReadMs = (Double.parseDouble(answered) - start) * 1000;
      if (qmp != null) {
        startStream(qmp);
      }
      Thread.sleep(1000);
      Process writes =
          python(
              WRITES,
              uri,
              String.valueOf(WHOLE_WRITE_MIB << 20),
              String.valueOf((PARTIAL_WRITE_MIB << 20) + 4096));
      String line =
          new BufferedReader(new InputStreamReader(writes.getInputStream(), StandardCharsets.UTF_8))
              .readLine();
      if (line == null || writes.waitFor() != 0) {
        throw new IOException("the writes failed against " + serverCmd.get(0));
      }
      String[] parts = line.trim().split(" ");
      return new double[] {firstReadMs, Double.parseDouble(parts[0]), Double.parseDouble(parts[1])};
    } finally {
      reader.destroy();
      server.destroy();
      if (!server.waitFor(30, TimeUnit.SECONDS)) {
        server.destroyForcibly();
        server.waitFor();
      }
    }
  }

  /**
   * The jar a user runs, not the benchmarks' class path: {@code ./bench} names it in {@code
   * -Dvolume-clone.jar}; otherwise the class path's {@code volume-clone.jar}.
   */
  static String productionJar() {
    String named = System.getProperty("volume-clone.jar");
    if (named != null && !named.isBlank()) {
      return named;
    }
    for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
      if (Path.of(entry).getFileName().toString().equals("volume-clone.jar")) {
        return entry;
      }
    }
    throw new IllegalStateException(
        "no volume-clone.jar on the class path "
            + System.getProperty("java.class.path")
            + ": run ./bench peer, or pass -Dvolume-clone.jar=node-agent/target/volume-clone.jar");
  }

  /** Starts qemu's block-stream job (copy the backing file into the overlay) over QMP. */
  private static void startStream(Path qmp) throws Exception {
    try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      channel.connect(UnixDomainSocketAddress.of(qmp));
      BufferedReader in = new BufferedReader(Channels.newReader(channel, StandardCharsets.UTF_8));
      OutputStream out = Channels.newOutputStream(channel);
      in.readLine(); // greeting
      out.write("{\"execute\":\"qmp_capabilities\"}\n".getBytes(StandardCharsets.UTF_8));
      expectReturn(in, "qmp_capabilities");
      out.write(
          "{\"execute\":\"block-stream\",\"arguments\":{\"job-id\":\"fill\",\"device\":\"ovl\"}}\n"
              .getBytes(StandardCharsets.UTF_8));
      expectReturn(in, "block-stream");
    }
  }

  private static void expectReturn(BufferedReader in, String command) throws IOException {
    for (String line; (line = in.readLine()) != null; ) {
      if (line.contains("\"return\"")) {
        return;
      }
      if (line.contains("\"error\"")) {
        throw new IOException("QMP " + command + " failed: " + line);
      }
    }
    throw new IOException("QMP closed before answering " + command);
  }

  private static Process python(String script, String... args) throws IOException {
    List<String> cmd = new ArrayList<>(List.of("/usr/bin/python3", "-c", script));
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
  }

  private static void awaitFile(Path file) throws Exception {
    for (int i = 0; i < 400 && !Files.exists(file); i++) {
      Thread.sleep(25);
    }
    if (!Files.exists(file)) {
      throw new IOException(file + " did not appear");
    }
  }

  private static void exec(String... cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (p.waitFor() != 0) {
      throw new IOException(String.join(" ", cmd) + " failed: " + out);
    }
  }
}
