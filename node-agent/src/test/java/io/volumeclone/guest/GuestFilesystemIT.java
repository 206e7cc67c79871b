package io.volumeclone.guest;

import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.testing.Guest;
import io.volumeclone.testing.HostRequirements;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A filesystem on a clone while it copies, in a Linux guest: {@code clone --attach} over a source
 * that holds ext4 with known files; the mapper device is mounted at once, the files are read, new
 * ones written and fsynced, and the copy finishes and cuts over live with the filesystem mounted
 * and a writer running. Afterwards the mapper device is a linear map of the destination with no nbd
 * device under it, the filesystem checks clean, and the destination alone (checked again on the
 * host, from its image file) holds the source's files and every write.
 */
class GuestFilesystemIT {

  static final long MiB = 1L << 20;

  @TempDir Path work;

  @Test
  @Timeout(value = 6, unit = TimeUnit.MINUTES)
  void ext4OnTheCloneSurvivesALiveCutoverWithAWriterRunning() throws Exception {
    Guest guest = Guest.in(work).timeout(Duration.ofMinutes(5));
    Path files = Files.createDirectories(work.resolve("source-files"));
    StringBuilder sums = new StringBuilder();
    Random random = new Random(13);
    for (int i = 0; i < 12; i++) {
      byte[] data = new byte[(i + 1) * 37_000];
      random.nextBytes(data);
      Files.write(files.resolve("file-" + i), data);
      sums.append(sha256(data)).append("  file-").append(i).append('\n');
    }
    Files.writeString(work.resolve("source.sha256"), sums);
    Path source = work.resolve("source.img");
    mkfs(source, files, 24 * MiB);
    Path destination = work.resolve("destination.img");
    guest.disk(source, 0).disk(destination, 24 * MiB).disk(work.resolve("metadata.img"), MiB);

    Guest.Result result = guest.run(SCRIPT).assertPassed();

    String console = result.console();
    assertThat(console)
        .contains("source files read back through the clone: ok")
        .contains("writes done before the cutover: yes");
    String table = Files.readString(work.resolve("table.txt")).strip();
    String destinationNumber = Files.readString(work.resolve("destination-number.txt")).strip();
    assertThat(table).as(console).isEqualTo("0 49152 linear " + destinationNumber + " 0");
    assertThat(Files.readString(work.resolve("deps.txt")))
        .as("dmsetup deps after cutover")
        .contains("1 dependencies")
        .doesNotContain("(43,"); // 43 is nbd's major
    assertThat(Files.readString(work.resolve("clone.out"))).startsWith("/dev/mapper/fsclone\n");
    // The destination image alone, checked by the host's own e2fsck: clean.
    Process fsck =
        new ProcessBuilder("e2fsck", "-f", "-n", destination.toString())
            .redirectErrorStream(true)
            .start();
    String fsckOutput = new String(fsck.getInputStream().readAllBytes());
    assertThat(fsck.waitFor()).as(fsckOutput).isEqualTo(0);
    assertThat(fsckOutput).doesNotContain("UNEXPECTED INCONSISTENCY");
    List<String> written = Files.readAllLines(work.resolve("writer.sha256"));
    assertThat(written).as("files the writer fsynced").hasSizeGreaterThan(3);
  }

  static void mkfs(Path image, Path contents, long size) throws IOException, InterruptedException {
    HostRequirements.require("mkfs.ext4", "e2fsprogs");
    try (var raf = new java.io.RandomAccessFile(image.toFile(), "rw")) {
      raf.setLength(size);
    }
    Process p =
        new ProcessBuilder(
                "mkfs.ext4", "-q", "-F", "-b", "4096", "-d", contents.toString(), image.toString())
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor()).as("mkfs.ext4: " + out).isEqualTo(0);
  }

  static String sha256(byte[] data) throws NoSuchAlgorithmException {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
  }

  /**
   * vda: source (ext4), vdb: destination, vdc: metadata. The copy is slowed to 2 MiB/s so that the
   * mount, the reads and the writes happen while regions are still uncopied.
   */
  static final String SCRIPT =
      """
      set -euo pipefail
      trap 'echo "failed at line $LINENO"; tail -20 /work/clone.err' ERR
      log() { echo "[$(cut -d' ' -f1 /proc/uptime)] $*"; }
      log start
      /work/vc clone --source /dev/vda --destination /dev/vdb --metadata /dev/vdc \\
          --region-size 64Ki --bandwidth 1Mi --attach fsclone >/work/clone.out 2>/work/clone.err &
      clone=$!
      for i in $(seq 1200); do [ -b /dev/mapper/fsclone ] && break; sleep 0.1; done
      [ -b /dev/mapper/fsclone ] || { echo "no /dev/mapper/fsclone"; cat /work/clone.err; exit 1; }
      log "attached: $(dmsetup table fsclone)"
      mount -t ext4 /dev/mapper/fsclone /mnt
      (cd /mnt && sha256sum -c /work/source.sha256) && log "source files read back through the clone: ok"
      : >/work/writer.sha256
      for i in 1 2 3 4; do
        dd if=/dev/urandom of=/mnt/before-$i bs=64k count=4 conv=fsync status=none
        (cd /mnt && sha256sum before-$i) >>/work/writer.sha256
      done
      if grep -q '"cut-over"' /work/clone.out; then echo "writes done before the cutover: no"; else echo "writes done before the cutover: yes"; fi
      (
        # 64 file names over and over, so a slow copy (emulation on a loaded machine) never fills
        # the filesystem; the last fsynced content of each file is what must survive.
        n=0
        while [ ! -e /tmp/stop ]; do
          f=during-$((n % 64))
          dd if=/dev/urandom of=/mnt/$f bs=4k count=4 conv=fsync status=none
          (cd /mnt && sha256sum $f) >>/work/writer.sha256
          n=$((n + 1))
        done
      ) &
      writer=$!
      log "writer started"
      wait $clone || { echo "clone exited with $?"; cat /work/clone.err; exit 1; }
      log "clone exited after cutover"
      sleep 1
      touch /tmp/stop
      wait $writer
      sync
      awk '{ last[$2] = $0 } END { for (f in last) print last[f] }' /work/writer.sha256 >/work/writer.last
      mv /work/writer.last /work/writer.sha256
      dmsetup table fsclone >/work/table.txt
      dmsetup deps fsclone >/work/deps.txt
      echo "$((0x$(stat -c %t /dev/vdb))):$((0x$(stat -c %T /dev/vdb)))" >/work/destination-number.txt
      cat /work/table.txt /work/deps.txt
      (cd /mnt && sha256sum -c /work/source.sha256 /work/writer.sha256) >/dev/null
      umount /mnt
      e2fsck -f -n /dev/mapper/fsclone
      log "e2fsck clean"
      dmsetup remove fsclone
      [ ! -e /sys/block/nbd0/pid ] || { echo "nbd0 is still attached"; exit 1; }
      mount -t ext4 -o ro /dev/vdb /mnt
      (cd /mnt && sha256sum -c /work/source.sha256 /work/writer.sha256) >/dev/null
      echo "destination alone holds the source and every write: $(wc -l </work/writer.sha256) files written"
      umount /mnt
      """;
}
