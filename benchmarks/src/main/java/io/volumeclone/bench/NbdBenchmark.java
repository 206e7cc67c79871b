package io.volumeclone.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.volumeclone.engine.Clone;
import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.CloneLauncher;
import io.volumeclone.engine.CloneOptions;
import io.volumeclone.engine.Devices;
import io.volumeclone.engine.FileBlockDevice;
import io.volumeclone.nbd.ExportAddress;
import io.volumeclone.nbd.NbdBlockDevice;
import io.volumeclone.nbd.NbdServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The export benchmarks of issues 4 and 17, each next to nbdkit's file plugin doing the same work
 * in the same run, in {@code --pairs} interleaved pairs (5 by default; {@link Pairs}), every figure
 * a ratio printed as min, median and max next to its goal:
 *
 * <ol>
 *   <li>nbdcopy of a fully copied 1 GiB clone to null: (time ratio, goal at most 1.00);
 *   <li>fio nbd 4k random read QD32 (IOPS ratio, goal at least 1.00);
 *   <li>fio nbd 1M sequential write QD16 (throughput ratio, goal at least 1.00);
 *   <li>a clone of 1 GiB ({@code --slow-size-mib}) from a slow nbdkit source (100 MiB/s, 2 ms) with
 *       the export on, one per pair: time to the first read (goal at most 1 s), full copy time
 *       against the floor at 100 MiB/s (goal at most 1.05), fio 4k random read p99 on the clone
 *       during the copy against the idle source's own p99 (goal at most 2);
 *   <li>latency at queue depth 1 (fio nbd, one request in flight): p50 and p99 of 512 B and 4 KiB
 *       random reads and writes, goal at most 1.5;
 *   <li>hot regions first: a 2 GiB ({@code --hot-size-mib}) clone of the slow source read at random
 *       in a 10% hot set, seconds until 99% of those reads come from the destination, against the
 *       plain scan order (goal at most 0.25; {@link HotRegionsBenchmark}).
 * </ol>
 *
 * <p>Usage: {@code ./bench nbd [--dir DIR] [--size-mib N] [--slow-size-mib N] [--hot-size-mib N]
 * [--pairs N] [--only 123456]}; {@code --only 13} runs benchmarks 1 and 3.
 */
public final class NbdBenchmark {

  private static final ObjectMapper JSON = new ObjectMapper();

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(System.getProperty("java.io.tmpdir"), "nbd-bench");
    long size = 1L << 30;
    // 1 GiB copies in 10.5 s at the source's 100 MiB/s: room for the 5 s fio run on the clone,
    // and five pairs in under two minutes.
    long slowSize = 1L << 30;
    long hotSize = 2L << 30;
    String only = "123456";
    int pairs = Pairs.MINIMUM;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--dir" -> dir = Path.of(args[++i]);
        case "--size-mib" -> size = Long.parseLong(args[++i]) << 20;
        case "--slow-size-mib" -> slowSize = Long.parseLong(args[++i]) << 20;
        case "--hot-size-mib" -> hotSize = Long.parseLong(args[++i]) << 20;
        case "--only" -> only = args[++i];
        case "--pairs" -> pairs = Integer.parseInt(args[++i]);
        default -> {
          System.err.println("unknown argument " + args[i]);
          System.exit(2);
        }
      }
    }
    Files.createDirectories(dir);
    System.out.printf("NBD export benchmarks in %s (image %d MiB)%n", dir, size >> 20);
    Path source = dir.resolve("source.img");
    BenchFiles.writeRandom(source, size);
    Path copy = dir.resolve("clone-dest.img");
    Path metadata = dir.resolve("clone-meta.img");
    try (Clone clone = fullyCopiedClone(source, copy, metadata, size, "bench");
        NbdServer server = NbdServer.start(ExportAddress.unix(dir.resolve("vc.sock")), clone)) {
      String ours = server.uri();
      Path kitSock = dir.resolve("kit.sock");
      Path kitImage = dir.resolve("kit.img");
      Files.copy(source, kitImage, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      Process kit = startNbdkit(kitSock, List.of(), kitImage, List.of(), false);
      String theirs = ExportAddress.unix(kitSock).nbdUri("");
      try {
        if (only.contains("1")) {
          // One unmeasured copy each: our JIT compiles the read path, both page caches fill.
          timed("nbdcopy", ours, "null:");
          timed("nbdcopy", theirs, "null:");
          Pairs.interleave(
                  pairs,
                  "volume-clone",
                  () -> timed("nbdcopy", ours, "null:"),
                  "nbdkit file",
                  () -> timed("nbdcopy", theirs, "null:"),
                  NbdBenchmark::sync)
              .report(
                  System.out,
                  "1. nbdcopy " + (size >> 20) + " MiB clone to null (seconds, lower is better)",
                  Pairs.Goal.atMost(1.00));
        }
        if (only.contains("2")) {
          Pairs.interleave(
                  pairs,
                  "volume-clone",
                  () -> fio(ours, "randread", "4k", 32, "read", "iops"),
                  "nbdkit file",
                  () -> fio(theirs, "randread", "4k", 32, "read", "iops"),
                  NbdBenchmark::sync)
              .report(
                  System.out,
                  "2. fio nbd 4k randread QD32 (IOPS, higher is better)",
                  Pairs.Goal.atLeast(1.00));
        }
        if (only.contains("3")) {
          Pairs.interleave(
                  pairs,
                  "volume-clone",
                  () -> fio(ours, "write", "1M", 16, "write", "bw") / 1024,
                  "nbdkit file",
                  () -> fio(theirs, "write", "1M", 16, "write", "bw") / 1024,
                  NbdBenchmark::sync)
              .report(
                  System.out,
                  "3. fio nbd 1M seq write QD16 (MiB/s, higher is better)",
                  Pairs.Goal.atLeast(1.00));
        }
        if (only.contains("5")) {
          latencyAtQueueDepthOne(ours, theirs, pairs);
        }
      } finally {
        kit.destroy();
        kit.waitFor();
      }
    }
    if (only.contains("4")) {
      slowSourceClone(dir, slowSize, pairs);
    }
    if (only.contains("6")) {
      HotRegionsBenchmark.run(dir, hotSize, pairs);
    }
  }

  /** Before every run: no dirty pages left, so neither side pays for the other's write-back. */
  static void sync() {
    try {
      exec("sync");
    } catch (Exception e) {
      throw new IllegalStateException("sync failed", e);
    }
  }

  private static Clone fullyCopiedClone(Path source, Path dest, Path meta, long size, String name)
      throws Exception {
    BenchFiles.sparseFile(dest, size);
    CloneGeometry g = new CloneGeometry(0, 0, size, 1 << 20, size, size);
    Files.deleteIfExists(meta);
    Devices.prepareMetadataFile(meta, g);
    Clone clone =
        CloneLauncher.of(CloneOptions.builder(name).build())
            .source(source.toString(), () -> FileBlockDevice.openReadOnly(source))
            .destination(dest.toString(), () -> FileBlockDevice.openExclusive(dest))
            .metadataDevice(meta)
            .range(0, 0, size)
            .regionSize(g.regionSize())
            .launch();
    clone.cutOverFuture().get(600, TimeUnit.SECONDS);
    return clone;
  }

  /** nbdkit serving {@code image} read-only at 100 MiB/s with 2 ms per read: the slow source. */
  static Process startSlowSource(Path socket, Path image) throws Exception {
    return startNbdkit(
        socket,
        List.of("--filter=delay", "--filter=rate"),
        image,
        List.of("rate=800M", "rdelay=2ms"),
        true);
  }

  static Process startNbdkit(
      Path socket, List<String> filters, Path image, List<String> params, boolean readOnly)
      throws Exception {
    Files.deleteIfExists(socket);
    List<String> cmd = new ArrayList<>(List.of("nbdkit", "-f", "-U", socket.toString()));
    if (readOnly) {
      cmd.add("-r");
    }
    cmd.addAll(filters);
    cmd.add("file");
    cmd.add(image.toString());
    cmd.addAll(params);
    Process p =
        new ProcessBuilder(cmd)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .start();
    for (int i = 0; i < 200 && !Files.exists(socket); i++) {
      Thread.sleep(25);
    }
    if (!Files.exists(socket)) {
      throw new IOException("nbdkit did not start: " + cmd);
    }
    return p;
  }

  private static double timed(String... cmd) throws Exception {
    long t = System.nanoTime();
    exec(cmd);
    return (System.nanoTime() - t) / 1e9;
  }

  private static String exec(String... cmd) throws Exception {
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().put("PATH", "/usr/bin:/usr/sbin:/bin:/sbin");
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes());
    if (p.waitFor() != 0) {
      throw new IOException(String.join(" ", cmd) + " failed: " + out);
    }
    return out;
  }

  /** Runs fio for 5 s and returns jobs[0].{rw}.{field} (iops, or bw in KiB/s). */
  private static double fio(String uri, String rw, String bs, int depth, String dir, String field)
      throws Exception {
    JsonNode job = fioJob(uri, rw, bs, depth, 5);
    return job.path(dir).path(field).asDouble();
  }

  private static JsonNode fioJob(String uri, String rw, String bs, int depth, int seconds)
      throws Exception {
    String out =
        exec(
            "fio",
            "--name=bench",
            "--ioengine=nbd",
            "--uri=" + uri,
            "--rw=" + rw,
            "--bs=" + bs,
            "--iodepth=" + depth,
            "--runtime=" + seconds,
            "--time_based",
            "--output-format=json",
            "--size=100%");
    return JSON.readTree(out.substring(out.indexOf('{'))).path("jobs").get(0);
  }

  /** The workloads of benchmark 5: fio's rw, block size, and the side of its JSON to read. */
  private record LatencyWorkload(String rw, String bs, String side) {
    String label() {
      return rw + " " + bs;
    }
  }

  private static final List<LatencyWorkload> LATENCY_WORKLOADS =
      List.of(
          new LatencyWorkload("randread", "512", "read"),
          new LatencyWorkload("randread", "4k", "read"),
          new LatencyWorkload("randwrite", "512", "write"),
          new LatencyWorkload("randwrite", "4k", "write"));

  /** Seconds of each fio run in benchmark 5: enough for a stable p99 at thousands of IOPS. */
  private static final int LATENCY_RUN_SECONDS = 3;

  /**
   * Benchmark 5. Each workload runs its own interleaved pairs, every run yielding p50 and p99; the
   * ratios are taken per pair, then summarised.
   */
  private static void latencyAtQueueDepthOne(String ours, String theirs, int pairs)
      throws Exception {
    // One discarded pass first: our JIT compiles the data path, nbdkit's page cache fills alike.
    for (LatencyWorkload load : LATENCY_WORKLOADS) {
      latency(ours, load);
      latency(theirs, load);
    }
    System.out.printf(
        "5. latency at queue depth 1, fio nbd, %d pairs of %d s runs per workload (microseconds,"
            + " lower is better)%n",
        pairs, LATENCY_RUN_SECONDS);
    for (LatencyWorkload load : LATENCY_WORKLOADS) {
      Pairs latencies =
          Pairs.interleave(
              pairs,
              "volume-clone",
              () -> latency(ours, load),
              "nbdkit file",
              () -> latency(theirs, load),
              NbdBenchmark::sync);
      latencies.report(System.out, "   " + load.label() + " p50", 0, 0, Pairs.Goal.atMost(1.5));
      latencies.report(System.out, "   " + load.label() + " p99", 1, 1, Pairs.Goal.atMost(1.5));
    }
  }

  /** One fio run of {@code load} at queue depth 1: {p50, p99} in microseconds. */
  private static double[] latency(String uri, LatencyWorkload load) throws Exception {
    String out =
        exec(
            "fio",
            "--name=latency",
            "--ioengine=nbd",
            "--uri=" + uri,
            "--rw=" + load.rw(),
            "--bs=" + load.bs(),
            "--iodepth=1",
            "--runtime=" + LATENCY_RUN_SECONDS,
            "--time_based",
            "--lat_percentiles=1",
            "--percentile_list=50:99",
            "--output-format=json",
            "--size=100%");
    JsonNode percentiles =
        JSON.readTree(out.substring(out.indexOf('{')))
            .path("jobs")
            .get(0)
            .path(load.side())
            .path("lat_ns")
            .path("percentile");
    double p50 = percentiles.path("50.000000").asDouble() / 1e3;
    double p99 = percentiles.path("99.000000").asDouble() / 1e3;
    if (p50 <= 0 || p99 <= 0) {
      throw new IOException("fio reported no latency percentiles for " + load.label() + ": " + out);
    }
    return new double[] {p50, p99};
  }

  private static double p99ms(JsonNode job) {
    return job.path("read").path("clat_ns").path("percentile").path("99.000000").asDouble() / 1e6;
  }

  /**
   * Benchmark 4. Each pair is one clone from the slow source with the export on (our run: time to
   * the first read, full copy time, fio p99 on the clone during the copy) and one fio run on the
   * idle source itself (theirs: its own p99).
   */
  private static void slowSourceClone(Path dir, long size, int pairs) throws Exception {
    Path image = dir.resolve("slow-source.img");
    BenchFiles.writeRandom(image, size);
    Path sock = dir.resolve("slow.sock");
    Process kit = startSlowSource(sock, image);
    String sourceUri = ExportAddress.unix(sock).nbdUri("");
    try {
      Pairs runs =
          Pairs.interleave(
              pairs,
              "clone during copy",
              () -> cloneFromSlowSource(dir, sourceUri, size),
              "source alone",
              () -> new double[] {p99ms(fioJob(sourceUri, "randread", "4k", 32, 5))},
              NbdBenchmark::sync);
      // The source delivers 100 MiB/s: that is the fastest any copy can be.
      double floor = size / (100.0 * (1 << 20));
      System.out.printf(
          "4. clone %d MiB from a slow nbdkit source (rate=800M, rdelay=2ms), %d pairs%n",
          size >> 20, pairs);
      Pairs.reportAlone(
          System.out,
          "   time to the first 4 KiB read of the export (s)",
          runs.ours(0),
          Pairs.Goal.atMost(1.00));
      Pairs.reportAlone(
          System.out,
          String.format("   full copy time over the %.2f s floor at 100 MiB/s", floor),
          Arrays.stream(runs.ours(1)).map(t -> t / floor).toArray(),
          Pairs.Goal.atMost(1.05));
      runs.report(
          System.out,
          "   fio 4k randread QD32 p99 (ms): on the clone during the copy vs the source's own",
          2,
          0,
          Pairs.Goal.atMost(2.00));
    } finally {
      kit.destroy();
      kit.waitFor();
    }
  }

  /** One clone of the slow source: {seconds to the first read, seconds to copied, p99 ms}. */
  private static double[] cloneFromSlowSource(Path dir, String sourceUri, long size)
      throws Exception {
    Path dest = dir.resolve("slow-dest.img");
    Path meta = dir.resolve("slow-meta.img");
    Files.deleteIfExists(dest);
    BenchFiles.sparseFile(dest, size);
    CloneGeometry g = new CloneGeometry(0, 0, size, 1 << 20, size, size);
    Files.deleteIfExists(meta);
    Devices.prepareMetadataFile(meta, g);
    long t0 = System.nanoTime();
    Clone clone =
        CloneLauncher.of(CloneOptions.builder("slow").build())
            .source(sourceUri, () -> NbdBlockDevice.open(sourceUri))
            .destination(dest.toString(), () -> FileBlockDevice.openExclusive(dest))
            .metadataDevice(meta)
            .range(0, 0, size)
            .regionSize(g.regionSize())
            .launch();
    try (NbdServer server =
        NbdServer.start(ExportAddress.unix(dir.resolve("slow-vc.sock")), clone)) {
      exec("nbdsh", "-u", server.uri(), "-c", "h.pread(4096, 0)");
      double firstRead = (System.nanoTime() - t0) / 1e9;
      double cloneP99 = p99ms(fioJob(server.uri(), "randread", "4k", 32, 5));
      if (clone.copiedFuture().isDone()) {
        // The p99 would then be partly that of a copied clone, flattering the figure.
        throw new IllegalStateException(
            "the copy of "
                + (size >> 20)
                + " MiB ended before the 5 s fio run on the clone did: give a larger"
                + " --slow-size-mib");
      }
      clone.copiedFuture().get(1800, TimeUnit.SECONDS);
      double copySeconds = (System.nanoTime() - t0) / 1e9;
      return new double[] {firstRead, copySeconds, cloneP99};
    } finally {
      clone.close();
    }
  }
}
