package io.volumeclone.bench;

import io.volumeclone.api.Sizes;
import io.volumeclone.engine.BlockDevice;
import io.volumeclone.engine.BlockIoException;
import io.volumeclone.engine.Clone;
import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.CloneLauncher;
import io.volumeclone.engine.CloneOptions;
import io.volumeclone.engine.CloneStatus;
import io.volumeclone.engine.Devices;
import io.volumeclone.engine.DiskCloneMetadata;
import io.volumeclone.engine.FileBlockDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Engine benchmark: copies a random-data file with the clone engine and the same data with {@code
 * dd bs=4M iflag=direct oflag=direct} in the same run, in interleaved pairs (alternating which goes
 * first; {@link Pairs}), and prints each side's times and the ratio engine/dd as min, median and
 * max (goal: at most 1.00 in every pair, stretch 0.85; issue 17). Also prints the bitmap memory of
 * a 16 TiB clone with 64 KiB regions and how long opening such a clone takes on a sparse metadata
 * file. And sparse sources (issue 17, item 4): a 16 GiB source holding 1 GiB of data in 64 MiB
 * chunks scattered over it against a 1 GiB dense source of the same data, both cloned by the engine
 * to fresh sparse files, as the ratio sparse/dense (goal: at most 1.2 in every pair).
 *
 * <pre>
 * ./bench engine [--size 1Gi] [--pairs 5] [--dir DIR] [--only full|sparse|bitmap]
 * </pre>
 *
 * The scratch directory must be on a disk file system (the files are sparse, so the 16 GiB source
 * costs 1 GiB), not tmpfs, whose holes and page cache would make the figures meaningless.
 *
 * <p>The engine's time runs from opening the devices to the clone being cut over and closed, which
 * includes its final flush of the destination and the metadata commits.
 */
public final class EngineBenchmark {

  public static void main(String[] args) throws Exception {
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    long size = 1L << 30;
    int pairs = Pairs.MINIMUM;
    Path dir = Path.of(System.getProperty("java.io.tmpdir"));
    String only = null;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--size" -> size = Sizes.parse(args[++i]);
        case "--pairs" -> pairs = Integer.parseInt(args[++i]);
        case "--dir" -> dir = Path.of(args[++i]);
        case "--only" -> only = args[++i];
        default -> {
          System.err.println(
              "usage: EngineBenchmark [--size 1Gi] [--pairs 5] [--dir DIR]"
                  + " [--only full|sparse|bitmap]; unknown: "
                  + args[i]);
          System.exit(2);
        }
      }
    }
    Path work = Files.createTempDirectory(dir, "volume-clone-bench-");
    try {
      if (only == null || only.equals("full")) {
        copyBenchmark(work, size, pairs);
      }
      if (only == null || only.equals("sparse")) {
        sparseBenchmark(work, pairs);
      }
      if (only == null || only.equals("bitmap")) {
        bitmapBenchmark(work);
      }
    } finally {
      try (var files = Files.list(work)) {
        for (Path p : files.toList()) {
          Files.deleteIfExists(p);
        }
      }
      Files.deleteIfExists(work);
    }
  }

  private static void copyBenchmark(Path work, long size, int pairs) throws Exception {
    Path source = work.resolve("source.img");
    System.out.printf("writing %s of random data to %s%n", CloneStatus.bytesText(size), source);
    BenchFiles.writeRandom(source, size);
    // Warm the JIT on a small copy first, so the pairs compare steady-state copying.
    Path warmup = work.resolve("warmup.img");
    long warmupSize = Math.min(size, 64L << 20);
    BenchFiles.writeRandom(warmup, warmupSize);
    engineCopy(work, warmup, warmupSize);
    Files.deleteIfExists(warmup);
    Path input = source;
    Pairs.Summary ratio =
        Pairs.interleave(
                pairs,
                "engine",
                () -> engineCopy(work, input, size),
                "dd direct",
                () -> ddCopy(work, input, size),
                () -> {})
            .report(
                System.out,
                "full copy of " + CloneStatus.bytesText(size) + " (seconds, lower is better)",
                Pairs.Goal.atMostInEveryPair(1.00));
    Pairs.Goal stretch = Pairs.Goal.atMostInEveryPair(0.85);
    System.out.printf(
        "   stretch goal %s: %s%n", stretch.describe(), stretch.metBy(ratio) ? "met" : "NOT met");
    Files.deleteIfExists(source);
  }

  static final long SPARSE_SIZE = 16L << 30;
  static final long SPARSE_DATA = 1L << 30;
  static final long SPARSE_CHUNK = 64L << 20;

  /**
   * Clone time of a 16 GiB source with 1 GiB of data (16 chunks of 64 MiB, one in each GiB at a
   * varying offset, holes elsewhere) over that of a 1 GiB dense source holding the same bytes.
   */
  private static void sparseBenchmark(Path work, int pairs) throws Exception {
    Path dense = work.resolve("dense.img");
    Path sparse = work.resolve("sparse.img");
    System.out.printf(
        "writing %s of random data to %s and the same bytes in %s chunks over a sparse %s file%n",
        CloneStatus.bytesText(SPARSE_DATA),
        dense,
        CloneStatus.bytesText(SPARSE_CHUNK),
        CloneStatus.bytesText(SPARSE_SIZE));
    BenchFiles.writeRandom(dense, SPARSE_DATA);
    Files.deleteIfExists(sparse);
    BenchFiles.sparseFile(sparse, SPARSE_SIZE);
    try (FileChannel in = FileChannel.open(dense);
        FileChannel out = FileChannel.open(sparse, java.nio.file.StandardOpenOption.WRITE)) {
      long chunks = SPARSE_DATA / SPARSE_CHUNK;
      long stride = SPARSE_SIZE / chunks;
      for (long i = 0; i < chunks; i++) {
        long at = i * stride + (i * 5 % (stride / SPARSE_CHUNK)) * SPARSE_CHUNK;
        for (long done = 0; done < SPARSE_CHUNK; ) {
          done +=
              in.transferTo(i * SPARSE_CHUNK + done, SPARSE_CHUNK - done, out.position(at + done));
        }
      }
      out.force(true);
    }
    // Warm the JIT on both paths (holes and data) before the pairs, as the full copy does.
    Path warmup = work.resolve("sparse-warmup.img");
    BenchFiles.sparseFile(warmup, SPARSE_DATA);
    try (FileChannel in = FileChannel.open(dense);
        FileChannel out = FileChannel.open(warmup, java.nio.file.StandardOpenOption.WRITE)) {
      in.transferTo(0, SPARSE_CHUNK, out.position(SPARSE_DATA / 2));
    }
    engineCopy(work, warmup, SPARSE_DATA);
    engineCopy(work, warmup, SPARSE_DATA);
    Files.deleteIfExists(warmup);
    Pairs.interleave(
            pairs,
            "sparse " + CloneStatus.bytesText(SPARSE_SIZE),
            () -> engineCopy(work, sparse, SPARSE_SIZE),
            "dense " + CloneStatus.bytesText(SPARSE_DATA),
            () -> engineCopy(work, dense, SPARSE_DATA),
            () -> {})
        .report(
            System.out,
            CloneStatus.bytesText(SPARSE_SIZE)
                + " source with "
                + CloneStatus.bytesText(SPARSE_DATA)
                + " of data vs "
                + CloneStatus.bytesText(SPARSE_DATA)
                + " dense, clone time (seconds, lower is better)",
            Pairs.Goal.atMostInEveryPair(1.20));
    Files.deleteIfExists(sparse);
    Files.deleteIfExists(dense);
  }

  private static double engineCopy(Path work, Path source, long size) throws Exception {
    Path destination = work.resolve("engine-destination.img");
    Path metadata = work.resolve("engine-metadata.img");
    Files.deleteIfExists(destination);
    Files.deleteIfExists(metadata);
    CloneGeometry geometry = new CloneGeometry(0, 0, size, 64 << 10, size, size);
    BenchFiles.sparseFile(destination, size);
    Devices.prepareMetadataFile(metadata, geometry);
    long start = System.nanoTime();
    Clone clone =
        CloneLauncher.of(CloneOptions.builder("bench").build())
            .source(source)
            .destination(destination)
            .metadataDevice(metadata)
            .range(0, 0, size)
            .regionSize(geometry.regionSize())
            .launch();
    clone.cutOverFuture().get(1, TimeUnit.HOURS);
    clone.close();
    double seconds = (System.nanoTime() - start) / 1e9;
    if (!sameContent(source, destination, size)) {
      throw new IllegalStateException("engine copy differs from the source");
    }
    Files.deleteIfExists(destination);
    Files.deleteIfExists(metadata);
    return seconds;
  }

  private static double ddCopy(Path work, Path source, long size) throws Exception {
    Path destination = work.resolve("dd-destination.img");
    Files.deleteIfExists(destination);
    long start = System.nanoTime();
    Process dd =
        new ProcessBuilder(
                "dd",
                "if=" + source,
                "of=" + destination,
                "bs=4M",
                "iflag=direct",
                "oflag=direct",
                "status=none")
            .inheritIO()
            .start();
    int status = dd.waitFor();
    double seconds = (System.nanoTime() - start) / 1e9;
    if (status != 0) {
      throw new IllegalStateException("dd failed with status " + status);
    }
    if (Files.size(destination) != size) {
      throw new IllegalStateException("dd copied " + Files.size(destination) + " bytes");
    }
    Files.deleteIfExists(destination);
    return seconds;
  }

  private static boolean sameContent(Path a, Path b, long size) throws IOException {
    try (FileChannel ca = FileChannel.open(a);
        FileChannel cb = FileChannel.open(b)) {
      ByteBuffer ba = ByteBuffer.allocateDirect(8 << 20);
      ByteBuffer bb = ByteBuffer.allocateDirect(8 << 20);
      for (long pos = 0; pos < size; pos += ba.capacity()) {
        ba.clear();
        bb.clear();
        int na = ca.read(ba, pos);
        int nb = cb.read(bb, pos);
        if (na != nb) {
          return false;
        }
        ba.flip();
        bb.flip();
        if (!ba.equals(bb)) {
          return false;
        }
      }
    }
    return true;
  }

  /** 16 TiB of 64 KiB regions: bitmap memory and the time to open on a sparse metadata file. */
  private static void bitmapBenchmark(Path work) throws Exception {
    long size = 16L << 40;
    CloneGeometry geometry = new CloneGeometry(0, 0, size, 64 << 10, size, size);
    Path metadata = work.resolve("metadata-16t.img");
    Files.deleteIfExists(metadata);
    Devices.prepareMetadataFile(metadata, geometry);
    System.gc();
    long heapBeforeOpen = usedHeap();
    long formatStart = System.nanoTime();
    DiskCloneMetadata formatted =
        DiskCloneMetadata.open(FileBlockDevice.openExclusive(metadata), geometry, false);
    double formatSeconds = (System.nanoTime() - formatStart) / 1e9;
    System.gc();
    long heapGrowth = usedHeap() - heapBeforeOpen;
    System.out.printf(
        "16 TiB clone, 64 KiB regions: %d regions, metadata device %s, formatted in %.3f s%n",
        geometry.regionCount(),
        CloneStatus.bytesText(DiskCloneMetadata.requiredSize(geometry)),
        formatSeconds);
    System.out.printf(
        "bitmap memory: %s (RegionMap), heap growth with the metadata open %s (goal <= 40Mi)%n",
        CloneStatus.bytesText(formatted.regionMap().memoryBytes()),
        CloneStatus.bytesText(Math.max(0, heapGrowth)));
    formatted.close();
    long openStart = System.nanoTime();
    Clone clone =
        CloneLauncher.of(CloneOptions.builder("bench-16t").noCopy(true).build())
            .source("source-16t", () -> new NullDevice("source-16t", size))
            .destination("destination-16t", () -> new NullDevice("destination-16t", size))
            .metadata((g, identity) -> {}, () -> FileBlockDevice.openExclusive(metadata))
            .range(0, 0, size)
            .regionSize(geometry.regionSize())
            .launch();
    double openSeconds = (System.nanoTime() - openStart) / 1e9;
    System.out.printf(
        "time to open the 16 TiB clone (sparse metadata): %.3f s (goal <= 1 s)%n", openSeconds);
    clone.close();
    Files.deleteIfExists(metadata);
  }

  private static long usedHeap() {
    return java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }

  /** A device of a given size that reads zeroes and accepts writes; stands in for 16 TiB disks. */
  private record NullDevice(String name, long size) implements BlockDevice {
    @Override
    public int logicalBlockSize() {
      return 512;
    }

    @Override
    public boolean readOnly() {
      return false;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
      check(offset, dst.remaining());
      while (dst.hasRemaining()) {
        dst.put((byte) 0);
      }
    }

    @Override
    public void write(long offset, ByteBuffer src) throws IOException {
      check(offset, src.remaining());
      src.position(src.limit());
    }

    @Override
    public void flush() {}

    @Override
    public void discard(long offset, long length) throws IOException {
      check(offset, length);
    }

    @Override
    public void writeZeroes(long offset, long length) throws IOException {
      check(offset, length);
    }

    @Override
    public void close() {}

    private void check(long offset, long length) throws BlockIoException {
      if (offset < 0 || length < 0 || offset + length > size) {
        throw new BlockIoException(
            BlockIoException.Kind.OUT_OF_RANGE, name, "io", offset, "outside " + size + " bytes");
      }
    }
  }
}
