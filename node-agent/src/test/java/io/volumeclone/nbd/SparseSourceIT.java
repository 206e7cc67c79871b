package io.volumeclone.nbd;

import static io.volumeclone.testing.HostRequirements.require;
import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.engine.BlockDevice;
import io.volumeclone.engine.Clone;
import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.CloneOptions;
import io.volumeclone.engine.FileBlockDevice;
import io.volumeclone.engine.TestingMemoryCloneMetadata;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sparse sources end to end (issue 17, item 4): a sparse file source and an nbdkit source over a
 * sparse file clone to a fresh sparse destination with the same sha256, without the holes being
 * read or written, and {@code nbdinfo --map} on the export shows the holes, before and after the
 * copy.
 */
@Timeout(300)
class SparseSourceIT {

  static final int MIB = 1 << 20;
  static final long SIZE = 64L * MIB;
  static final int REGION = MIB;

  /** Data ranges of the source; the rest is holes. */
  static final long[][] DATA = {{0, MIB}, {17L * MIB + 4096, 64 * 1024}, {40L * MIB, 2L * MIB}};

  /** Ranges that are holes whole regions long (what the map must report as hole,zero). */
  static final long[][] HOLES = {
    {2L * MIB, 15L * MIB}, {19L * MIB, 21L * MIB}, {43L * MIB, SIZE - 43L * MIB}
  };

  @TempDir Path dir;

  Path sparseSource() throws Exception {
    Path file = dir.resolve("source.img");
    Random random = new Random(4);
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.setLength(SIZE);
      for (long[] range : DATA) {
        byte[] bytes = new byte[(int) range[1]];
        random.nextBytes(bytes);
        f.seek(range[0]);
        f.write(bytes);
      }
    }
    return file;
  }

  Path freshDestination() throws Exception {
    Path file = dir.resolve("destination.img");
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.setLength(SIZE);
    }
    return file;
  }

  static CloneGeometry geometry() {
    return new CloneGeometry(0, 0, SIZE, REGION, SIZE, SIZE);
  }

  /** {@code nbdinfo --map}: one {start, length, type} per line. */
  static List<long[]> map(String uri) throws Exception {
    String out = ExternalTools.run(Duration.ofSeconds(60), "nbdinfo", "--map", uri).ok().output();
    List<long[]> extents = new ArrayList<>();
    for (String line : out.strip().split("\n")) {
      String[] f = line.trim().split("\\s+");
      extents.add(new long[] {Long.parseLong(f[0]), Long.parseLong(f[1]), Long.parseLong(f[2])});
    }
    return extents;
  }

  /** The map's type over all of {@code [start, start + length)}, or -1 if it changes there. */
  static long typeOver(List<long[]> map, long start, long length) {
    long type = -2;
    for (long[] e : map) {
      if (e[0] < start + length && start < e[0] + e[1]) {
        if (type != -2 && type != e[2]) {
          return -1;
        }
        type = e[2];
      }
    }
    return type;
  }

  static void assertMapShowsHolesAndData(List<long[]> map) {
    for (long[] hole : HOLES) {
      assertThat(typeOver(map, hole[0], hole[1]))
          .as("map over hole %d+%d: %s", hole[0], hole[1], describe(map))
          .isEqualTo(3); // NBD_STATE_HOLE | NBD_STATE_ZERO
    }
    for (long[] data : DATA) {
      assertThat(typeOver(map, data[0], data[1]))
          .as("map over data %d+%d", data[0], data[1])
          .isEqualTo(0);
    }
  }

  static String describe(List<long[]> map) {
    StringBuilder b = new StringBuilder();
    for (long[] e : map) {
      b.append(String.format("%n%d %d %d", e[0], e[1], e[2]));
    }
    return b.toString();
  }

  static String sha256(Path file) throws Exception {
    return ExternalTools.run(Duration.ofSeconds(60), "sha256sum", file.toString())
        .ok()
        .output()
        .split("\\s+")[0];
  }

  static void assertHolesStayHoles(Path destination) throws Exception {
    try (FileBlockDevice device = FileBlockDevice.openReadOnly(destination)) {
      for (long[] hole : HOLES) {
        assertThat(device.allocation(hole[0], hole[1]))
            .as("destination at %d: never written", hole[0])
            .isEqualTo(new BlockDevice.Run(hole[1], true));
      }
    }
  }

  @Test
  void aSparseFileSourceClonesExactlyAndTheExportMapsItsHoles() throws Exception {
    require("nbdinfo", "libnbd-bin");
    require("sha256sum", "coreutils");
    Path source = sparseSource();
    Path destination = freshDestination();
    Path socket = dir.resolve("export.sock");
    TestingMemoryCloneMetadata metadata = new TestingMemoryCloneMetadata(geometry());
    String uri = "nbd+unix:///?socket=" + socket;

    // Nothing copied yet: the map comes from the source's holes.
    try (Clone clone =
            Clone.open(
                FileBlockDevice.openReadOnly(source),
                FileBlockDevice.openExclusive(destination),
                metadata,
                CloneOptions.builder("sparse-uncopied").noCopy(true).build());
        NbdServer server =
            NbdServer.start(
                ExportAddress.unix(socket), NbdServer.Options.defaults(), List.of(clone))) {
      assertMapShowsHolesAndData(map(uri));
    }

    // Copied: the map comes from the destination, which got the data and kept the holes.
    metadata = metadata.reopenCommitted();
    try (Clone clone =
        Clone.open(
            FileBlockDevice.openReadOnly(source, true),
            FileBlockDevice.openExclusive(destination, true),
            metadata,
            CloneOptions.builder("sparse-copied").build())) {
      clone.copiedFuture().get(120, TimeUnit.SECONDS);
      clone.flush();
      assertThat(metadata.isRangeHydrated(0, SIZE / REGION)).isTrue();
      try (NbdServer server =
          NbdServer.start(
              ExportAddress.unix(socket), NbdServer.Options.defaults(), List.of(clone))) {
        assertMapShowsHolesAndData(map(uri));
      }
    }
    assertThat(sha256(destination)).isEqualTo(sha256(source));
    assertHolesStayHoles(destination);
  }

  private static final Pattern READ =
      Pattern.compile("Read id=\\d+ offset=0x([0-9a-f]+) count=0x([0-9a-f]+)");

  @Test
  void anNbdkitSourceIsAskedForBlockStatusAndItsHolesAreNeitherReadNorWritten() throws Exception {
    require("nbdkit", "nbdkit");
    require("sha256sum", "coreutils");
    Path source = sparseSource();
    Path destination = freshDestination();
    Path socket = dir.resolve("kit.sock");
    Path log = dir.resolve("requests.log");
    List<String> cmd =
        List.of(
            "nbdkit",
            "-f",
            "-r",
            "-U",
            socket.toString(),
            "--filter=log",
            "file",
            source.toString(),
            "logfile=" + log);
    Files.deleteIfExists(socket);
    Process kit = ExternalTools.start(cmd, dir.resolve("nbdkit.log"));
    try {
      ExternalTools.awaitSocket(socket, kit);
      String uri = "nbd+unix:///?socket=" + socket;
      try (NbdBlockDevice probe = NbdBlockDevice.open(uri)) {
        assertThat(probe.allocation(0, SIZE)).isEqualTo(new BlockDevice.Run(MIB, false));
        assertThat(probe.allocation(MIB, 16L * MIB))
            .as("nbdkit's file plugin reports the hole as hole,zero")
            .isEqualTo(new BlockDevice.Run(16L * MIB, true));
      }
      TestingMemoryCloneMetadata metadata = new TestingMemoryCloneMetadata(geometry());
      try (Clone clone =
          Clone.open(
              NbdBlockDevice.open(uri),
              FileBlockDevice.openExclusive(destination, true),
              metadata,
              CloneOptions.builder("sparse-from-nbdkit").build())) {
        clone.copiedFuture().get(120, TimeUnit.SECONDS);
        clone.flush();
      }
      assertThat(metadata.isRangeHydrated(0, SIZE / REGION)).isTrue();
    } finally {
      kit.destroy();
      kit.waitFor();
    }
    assertThat(sha256(destination)).isEqualTo(sha256(source));
    assertHolesStayHoles(destination);
    String requests = Files.readString(log);
    assertThat(requests).contains("Extents");
    Matcher m = READ.matcher(requests);
    int reads = 0;
    while (m.find()) {
      reads++;
      long offset = Long.parseLong(m.group(1), 16);
      long count = Long.parseLong(m.group(2), 16);
      for (long[] hole : HOLES) {
        assertThat(offset < hole[0] + hole[1] && hole[0] < offset + count)
            .as("read at %d+%d touches hole %d+%d", offset, count, hole[0], hole[1])
            .isFalse();
      }
    }
    assertThat(reads).as("the data was read").isPositive();
  }
}
