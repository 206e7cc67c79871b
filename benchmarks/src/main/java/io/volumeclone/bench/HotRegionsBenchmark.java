package io.volumeclone.bench;

import io.volumeclone.engine.BlockDevice;
import io.volumeclone.engine.Clone;
import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.CloneLauncher;
import io.volumeclone.engine.CloneOptions;
import io.volumeclone.engine.Devices;
import io.volumeclone.engine.FileBlockDevice;
import io.volumeclone.engine.ForwardingBlockDevice;
import io.volumeclone.nbd.ExportAddress;
import io.volumeclone.nbd.NbdBlockDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Benchmark 6 of {@code ./bench nbd} (issue 17 item 5): hot regions first against the plain scan.
 *
 * <p>A 2 GiB clone of a slow nbdkit source (100 MiB/s, 2 ms per read) is read by {@link #READERS}
 * threads doing 4 KiB reads at random from a fixed hot set, a tenth of the clone in {@link
 * #HOT_EXTENTS} extents spread over it (one at a random place in each of as many equal slices), as
 * a database's indexes and busiest tables would be. Each run opens a fresh clone and reports the
 * seconds from its start until 99% of the hot set's reads are served from the destination: the
 * start of the first 100 ms window from which on every window of the run held at least 99%
 * destination reads (the run ends after two such seconds). Whether a read went to the source is
 * seen at the source itself, on the reading thread; nothing is inferred from latencies. Pairs: hot
 * regions first on (ours) and off, the scan order dm-clone has (theirs); the goal is at most a
 * quarter of the scan's time.
 */
final class HotRegionsBenchmark {

  static final int HOT_EXTENTS = 32;
  static final int READERS = 2;
  private static final int REGION = 64 << 10;
  private static final long WINDOW_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
  private static final int WINDOWS = 6000; // ten minutes
  private static final int SETTLED_WINDOWS = 20;
  private static final double SERVED = 0.99;

  private HotRegionsBenchmark() {}

  static void run(Path dir, long size, int pairs) throws Exception {
    Path image = dir.resolve("hot-source.img");
    BenchFiles.writeRandom(image, size);
    Path sock = dir.resolve("hot.sock");
    Process kit = NbdBenchmark.startSlowSource(sock, image);
    String sourceUri = ExportAddress.unix(sock).nbdUri("");
    long[][] hot = hotSet(size);
    try {
      Pairs runs =
          Pairs.interleave(
              pairs,
              "hot regions first",
              () -> secondsTo99(dir, sourceUri, size, hot, true),
              "scan order",
              () -> secondsTo99(dir, sourceUri, size, hot, false),
              NbdBenchmark::sync);
      runs.report(
          System.out,
          String.format(
              "6. %d readers of a %d MiB hot set (%d extents) in a %d MiB clone of the slow source:"
                  + " seconds until 99%% of their reads come from the destination",
              READERS, hotBytes(hot) >> 20, HOT_EXTENTS, size >> 20),
          Pairs.Goal.atMost(0.25));
    } finally {
      kit.destroy();
      kit.waitFor();
    }
  }

  /** {start, length} of each hot extent, region-aligned; the same for the same size. */
  static long[][] hotSet(long size) {
    long slice = size / HOT_EXTENTS;
    long extent = Math.max(REGION, (size / 10 / HOT_EXTENTS) / REGION * REGION);
    Random random = new Random(17);
    long[][] hot = new long[HOT_EXTENTS][];
    for (int i = 0; i < HOT_EXTENTS; i++) {
      long room = (slice - extent) / REGION;
      long start = i * slice + (room <= 0 ? 0 : (long) (random.nextDouble() * room)) * REGION;
      hot[i] = new long[] {start, extent};
    }
    return hot;
  }

  private static long hotBytes(long[][] hot) {
    long total = 0;
    for (long[] e : hot) {
      total += e[1];
    }
    return total;
  }

  private static double secondsTo99(
      Path dir, String sourceUri, long size, long[][] hot, boolean hotRegionsFirst)
      throws Exception {
    Path dest = dir.resolve("hot-dest.img");
    Path meta = dir.resolve("hot-meta.img");
    Files.deleteIfExists(dest);
    BenchFiles.sparseFile(dest, size);
    CloneGeometry g = new CloneGeometry(0, 0, size, REGION, size, size);
    Files.deleteIfExists(meta);
    Devices.prepareMetadataFile(meta, g);
    AtomicLongArray reads = new AtomicLongArray(WINDOWS);
    AtomicLongArray fromSource = new AtomicLongArray(WINDOWS);
    long t0 = System.nanoTime();
    Clone clone =
        CloneLauncher.of(CloneOptions.builder("hot").hotRegionsFirst(hotRegionsFirst).build())
            .source(sourceUri, () -> new SourceTap(NbdBlockDevice.open(sourceUri)))
            .destination(dest.toString(), () -> FileBlockDevice.openExclusive(dest))
            .metadataDevice(meta)
            .range(0, 0, size)
            .regionSize(REGION)
            .launch();
    Thread[] readers = new Thread[READERS];
    Throwable[] failure = new Throwable[1];
    // Not interrupts: an interrupt inside a FileChannel read closes the destination's channel.
    java.util.concurrent.atomic.AtomicBoolean stop =
        new java.util.concurrent.atomic.AtomicBoolean();
    try {
      for (int i = 0; i < READERS; i++) {
        Random random = new Random(100 + i);
        readers[i] =
            Thread.ofPlatform()
                .name("hot-reader-" + i)
                .start(
                    () -> {
                      ByteBuffer buffer = ByteBuffer.allocateDirect(8192).alignedSlice(4096);
                      try {
                        while (!stop.get()) {
                          long[] extent = hot[random.nextInt(hot.length)];
                          long offset = extent[0] + random.nextLong(extent[1] / 4096) * 4096;
                          SourceTap.READ_SOURCE.set(false);
                          buffer.clear();
                          clone.read(offset, buffer);
                          int window = (int) ((System.nanoTime() - t0) / WINDOW_NANOS);
                          if (window >= WINDOWS) {
                            return;
                          }
                          reads.incrementAndGet(window);
                          if (SourceTap.READ_SOURCE.get()) {
                            fromSource.incrementAndGet(window);
                          }
                        }
                      } catch (IOException | RuntimeException e) {
                        synchronized (failure) {
                          failure[0] = e;
                        }
                      }
                    });
      }
      while (true) {
        Thread.sleep(50);
        synchronized (failure) {
          if (failure[0] != null) {
            throw new IOException("a hot-set reader failed: " + failure[0], failure[0]);
          }
        }
        int now = (int) ((System.nanoTime() - t0) / WINDOW_NANOS);
        if (now >= WINDOWS) {
          throw new IllegalStateException(
              "the hot set was not served from the destination within "
                  + WINDOWS * WINDOW_NANOS / 1_000_000_000L
                  + " s");
        }
        int settledFrom = settledFrom(reads, fromSource, now);
        if (settledFrom >= 0 && now - settledFrom >= SETTLED_WINDOWS) {
          return settledFrom * (WINDOW_NANOS / 1e9);
        }
      }
    } finally {
      stop.set(true);
      for (Thread reader : readers) {
        if (reader != null) {
          reader.join();
        }
      }
      clone.close();
    }
  }

  /**
   * The first window from which on every complete window before {@code now} served at least 99% of
   * its reads from the destination, or -1.
   */
  private static int settledFrom(AtomicLongArray reads, AtomicLongArray fromSource, int now) {
    int from = -1;
    for (int w = 0; w < now; w++) {
      long n = reads.get(w);
      boolean served = n > 0 && fromSource.get(w) <= (1 - SERVED) * n;
      if (!served) {
        from = -1;
      } else if (from < 0) {
        from = w;
      }
    }
    return from;
  }

  /** The source, telling the thread that reads it that it did. */
  private static final class SourceTap extends ForwardingBlockDevice {
    static final ThreadLocal<Boolean> READ_SOURCE = ThreadLocal.withInitial(() -> false);

    SourceTap(BlockDevice inner) {
      super(inner);
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
      READ_SOURCE.set(true);
      inner.read(offset, dst);
    }
  }
}
