package io.volumeclone.guest;

import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.DiskCloneMetadata;
import io.volumeclone.engine.FileBlockDevice;
import io.volumeclone.testing.Guest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A power cut at every flush, in a Linux guest: the clone's destination and metadata are two slices
 * of one {@code dm-log-writes} device, so one log orders every write that reached either. While the
 * attached clone copies, writes are acknowledged through {@code /dev/mapper/NAME} (some followed by
 * fsync, some with O_DSYNC, which the kernel sends as FUA) and each acknowledgement is marked in
 * the log. The host then replays the log up to every FLUSH and FUA entry, each a state a power cut
 * could have left, and checks it with the engine's own metadata code: the metadata opens (or is
 * still unformatted, before the first commit), no region recorded as copied holds anything but the
 * source (with the user's write where there was one), and every write acknowledged before that
 * point is on the destination in a region recorded as copied.
 */
class GuestPowerCutIT {

  static final int MiB = 1 << 20;
  static final int KiB = 1 << 10;
  static final int REGION = 64 * KiB;
  static final int SIZE = 8 * MiB;

  /** Where the workload writes: offset, length, FUA (O_DSYNC) or write + fsync. */
  record UserWrite(int offset, int length, boolean fua) {}

  static final List<UserWrite> WRITES =
      List.of(
          new UserWrite(3 * REGION + 4 * KiB, 4 * KiB, false),
          new UserWrite(20 * REGION, REGION, true),
          new UserWrite(41 * REGION + 512, 4 * KiB, true),
          new UserWrite(70 * REGION, REGION, false),
          new UserWrite(100 * REGION + 60 * KiB, 4 * KiB, false),
          new UserWrite(121 * REGION + 8 * KiB, 16 * KiB, true));

  @TempDir Path work;

  @Test
  @Timeout(value = 6, unit = TimeUnit.MINUTES)
  void everyFlushPointOpensAndHoldsEveryAcknowledgedWrite() throws Exception {
    Guest guest = Guest.in(work).timeout(Duration.ofMinutes(5));
    Path source = work.resolve("source.img");
    GuestFioIT.writeRandom(source, SIZE);
    Random random = new Random(11);
    List<byte[]> patterns = new ArrayList<>();
    StringBuilder script = new StringBuilder(PROLOGUE);
    for (int i = 0; i < WRITES.size(); i++) {
      UserWrite w = WRITES.get(i);
      byte[] p = new byte[w.length()];
      random.nextBytes(p);
      patterns.add(p);
      Files.write(work.resolve("pattern-" + i), p);
      script.append(
          String.format("write %d %d %d %s%n", i, w.offset(), w.length(), w.fua() ? "fua" : ""));
    }
    script.append(EPILOGUE);
    Path disk = work.resolve("disk.img");
    Path log = work.resolve("log.img");
    guest.disk(source, 0).disk(disk, SIZE + MiB).disk(log, 96L * MiB);

    Guest.Result result = guest.run(script.toString()).assertPassed();
    assertThat(result.console()).contains("clone exited 0 after the cutover");

    List<LogWritesReplay.Entry> entries = LogWritesReplay.read(log);
    byte[] src = Files.readAllBytes(source);
    byte[] image = new byte[SIZE + MiB];
    CloneGeometry geometry = new CloneGeometry(0, 0, SIZE, REGION, SIZE, SIZE);
    Map<Integer, Integer> writeOfRegion = new HashMap<>();
    for (int i = 0; i < WRITES.size(); i++) {
      writeOfRegion.put(WRITES.get(i).offset() / REGION, i);
    }
    List<Integer> acknowledged = new ArrayList<>();
    int flushPoints = 0;
    int formattedPoints = 0;
    Path metadataCopy = work.resolve("metadata-at-flush.img");
    for (LogWritesReplay.Entry e : entries) {
      LogWritesReplay.apply(e, image);
      if (e.mark() != null && e.mark().startsWith("ack-")) {
        acknowledged.add(Integer.parseInt(e.mark().substring(4)));
      }
      if (!e.isFlushOrFua()) {
        continue;
      }
      flushPoints++;
      String at = "at log entry " + e.index() + " (" + flushPoints + ". flush or FUA)";
      byte[] md = Arrays.copyOfRange(image, SIZE, SIZE + MiB);
      boolean unformatted = isZero(md, 0, DiskCloneMetadata.BLOCK_SIZE);
      if (unformatted) {
        assertThat(acknowledged).as("acknowledged writes %s with no metadata yet", at).isEmpty();
        continue;
      }
      formattedPoints++;
      Files.write(metadataCopy, md);
      try (FileBlockDevice device = FileBlockDevice.openExclusive(metadataCopy);
          DiskCloneMetadata metadata = DiskCloneMetadata.open(device, geometry, false)) {
        for (long r = 0; r < geometry.regionCount(); r++) {
          if (!metadata.isHydrated(r)) {
            continue;
          }
          int from = (int) (r * REGION);
          Integer w = writeOfRegion.get((int) r);
          boolean asSource = Arrays.equals(image, from, from + REGION, src, from, from + REGION);
          if (w == null) {
            assertThat(asSource)
                .as("region %d recorded as copied %s holds the source", r, at)
                .isTrue();
          } else {
            UserWrite uw = WRITES.get(w);
            byte[] expected = Arrays.copyOfRange(src, from, from + REGION);
            System.arraycopy(patterns.get(w), 0, expected, uw.offset() - from, uw.length());
            boolean asWritten = Arrays.equals(image, from, from + REGION, expected, 0, REGION);
            assertThat(asSource || asWritten)
                .as("region %d recorded as copied %s holds the source or the user's write", r, at)
                .isTrue();
          }
        }
        for (int w : acknowledged) {
          UserWrite uw = WRITES.get(w);
          assertThat(metadata.isHydrated(uw.offset() / REGION))
              .as("the region of acknowledged write %d is recorded as copied %s", w, at)
              .isTrue();
          assertThat(
                  Arrays.equals(
                      image,
                      uw.offset(),
                      uw.offset() + uw.length(),
                      patterns.get(w),
                      0,
                      uw.length()))
              .as("acknowledged write %d is on the destination %s", w, at)
              .isTrue();
        }
      }
    }
    assertThat(acknowledged).as("marks found in the log").hasSize(WRITES.size());
    assertThat(formattedPoints).as("flush points with metadata").isGreaterThan(WRITES.size());
    System.out.printf(
        "replayed %d log entries, checked %d flush/FUA points (%d with metadata)%n",
        entries.size(), flushPoints, formattedPoints);
  }

  static boolean isZero(byte[] b, int from, int to) {
    for (int i = from; i < to; i++) {
      if (b[i] != 0) {
        return false;
      }
    }
    return true;
  }

  /**
   * vda source, vdb the disk under the log (8 MiB destination, then 1 MiB metadata), vdc the log.
   */
  static final String PROLOGUE =
      """
      set -euo pipefail
      trap 'echo "failed at line $LINENO"; tail -20 /work/clone.err' ERR
      log() { echo "[$(cut -d' ' -f1 /proc/uptime)] $*"; }
      modprobe dm-log-writes
      sectors=$(blockdev --getsz /dev/vdb)
      dmsetup create lw --table "0 $sectors log-writes /dev/vdb /dev/vdc"
      dmsetup mknodes lw
      dmsetup create dst --table "0 16384 linear /dev/mapper/lw 0"
      dmsetup create md --table "0 2048 linear /dev/mapper/lw 16384"
      dmsetup mknodes
      /work/vc clone --source /dev/vda --destination /dev/mapper/dst --metadata /dev/mapper/md \\
          --region-size 64Ki --bandwidth 512Ki --attach pc >/work/clone.out 2>/work/clone.err &
      clone=$!
      for i in $(seq 1200); do [ -b /dev/mapper/pc ] && break; sleep 0.1; done
      [ -b /dev/mapper/pc ] || { echo "no /dev/mapper/pc"; cat /work/clone.err; exit 1; }
      log "attached: $(dmsetup table pc)"
      write() {
        if [ "${4:-}" = fua ]; then flags=direct,dsync; conv=notrunc; else flags=direct; conv=fsync,notrunc; fi
        dd if=/work/pattern-$1 of=/dev/mapper/pc bs=$3 seek=$2 count=1 oflag=$flags,seek_bytes conv=$conv status=none
        dmsetup message lw 0 mark ack-$1
        log "write $1 acknowledged"
      }
      """;

  static final String EPILOGUE =
      """
      wait $clone && log "clone exited 0 after the cutover"
      dmsetup remove pc
      dmsetup remove dst
      dmsetup remove md
      dmsetup remove lw
      sync
      """;
}
