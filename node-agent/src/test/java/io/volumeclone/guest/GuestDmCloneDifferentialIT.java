package io.volumeclone.guest;

import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.testing.Guest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A differential check against the kernel's own dm-clone, built out of tree for the guest's kernel:
 * the same trace of reads, writes, discards and flushes goes to a kernel {@code clone} target and
 * to a {@code clone --attach} device over identical disks (one source, two empty destinations).
 * Both copy only what the trace makes them copy (dm-clone's {@code no_hydration}, volume-clone's
 * {@code --no-copy}), so every step is deterministic: every read must return the same bytes from
 * both, and the two destinations must end equal.
 */
class GuestDmCloneDifferentialIT {

  static final int MiB = 1 << 20;
  static final int SIZE = 8 * MiB;
  static final int REGION = 64 << 10;

  @TempDir Path work;

  @Test
  @Timeout(value = 8, unit = TimeUnit.MINUTES)
  void readsAndFinalDestinationsMatchTheKernelsDmClone() throws Exception {
    Guest guest = Guest.in(work).timeout(Duration.ofMinutes(5));
    guest.withKernelDmClone();
    Path source = work.resolve("source.img");
    GuestFioIT.writeRandom(source, SIZE);
    GuestFioIT.writeRandom(work.resolve("trace-data"), 2 * MiB);
    Path ours = work.resolve("ours.img");
    Path kernels = work.resolve("kernel.img");
    guest
        .disk(source, 0)
        .disk(ours, SIZE)
        .disk(work.resolve("ours-metadata.img"), MiB)
        .disk(kernels, SIZE)
        .disk(work.resolve("kernel-metadata.img"), 4 * MiB);

    StringBuilder trace = new StringBuilder();
    Random random = new Random(2026);
    int reads = 0;
    for (int i = 0; i < 36; i++) {
      int kind = random.nextInt(10);
      if (kind < 4) {
        int sectors = 1 + random.nextInt(256);
        long offset = 512L * random.nextInt(SIZE / 512 - sectors);
        trace.append(String.format("r %d %d%n", offset / 512, sectors));
        reads++;
      } else if (kind < 8) {
        int sectors = 1 + random.nextInt(256);
        long offset = 512L * random.nextInt(SIZE / 512 - sectors);
        int from = random.nextInt(2 * MiB / 512 - sectors);
        trace.append(String.format("w %d %d %d%n", offset / 512, sectors, from));
      } else if (kind < 9) {
        int regions = 1 + random.nextInt(4);
        long offset = (long) REGION * random.nextInt(SIZE / REGION - regions);
        trace.append(String.format("d %d %d%n", offset, (long) regions * REGION));
      } else {
        trace.append("f\n");
      }
    }
    // every region is read at the end, whatever the trace did to it
    for (long offset = 0; offset < SIZE; offset += 16L * REGION) {
      trace.append(String.format("r %d %d%n", offset / 512, 16 * REGION / 512));
      reads++;
    }
    Files.writeString(work.resolve("trace"), trace);

    Guest.Result result = guest.run(SCRIPT).assertPassed();

    List<String> oursRead = Files.readAllLines(work.resolve("reads-ours"));
    List<String> kernelRead = Files.readAllLines(work.resolve("reads-kernel"));
    assertThat(oursRead).as(result.console()).hasSize(reads);
    assertThat(oursRead)
        .as("reads through volume-clone vs the kernel's dm-clone")
        .isEqualTo(kernelRead);
    assertThat(Files.mismatch(ours, kernels))
        .as("first differing byte of the destinations")
        .isEqualTo(-1L);
  }

  /**
   * vda source, vdb/vdc our destination and metadata, vdd/vde the kernel's. Reads are hashed,
   * writes come from /work/trace-data, discards are whole regions, a flush is an fsync.
   */
  static final String SCRIPT =
      """
      set -euo pipefail
      trap 'echo "failed at line $LINENO"; tail -20 /work/clone.err' ERR
      log() { echo "[$(cut -d' ' -f1 /proc/uptime)] $*"; }
      modprobe dm-persistent-data
      insmod /work/dm-clone.ko
      sectors=$(blockdev --getsz /dev/vda)
      dmsetup create kc --table "0 $sectors clone /dev/vde /dev/vdd /dev/vda 128 1 no_hydration"
      dmsetup mknodes kc
      /work/vc clone --source /dev/vda --destination /dev/vdb --metadata /dev/vdc \\
          --region-size 64Ki --no-copy --attach vcx >/work/clone.out 2>/work/clone.err &
      clone=$!
      for i in $(seq 1200); do [ -b /dev/mapper/vcx ] && break; sleep 0.1; done
      [ -b /dev/mapper/vcx ] || { echo "no /dev/mapper/vcx"; cat /work/clone.err; exit 1; }
      log "attached: $(dmsetup table vcx); kernel: $(dmsetup table kc)"
      apply() {
        local dev=$1 out=$2
        : >"$out"
        while read -r op a b c; do
          case $op in
            r) dd if=$dev bs=512 skip=$a count=$b iflag=direct status=none | sha256sum | cut -d' ' -f1 >>"$out" ;;
            w) dd if=/work/trace-data bs=512 skip=$c count=$b of=$dev seek=$a oflag=direct conv=notrunc status=none ;;
            d) blkdiscard -o $a -l $b $dev ;;
            f) dd if=/dev/null of=$dev conv=fsync,notrunc status=none ;;
          esac
        done </work/trace
      }
      apply /dev/mapper/kc /work/reads-kernel
      log "trace applied to the kernel's dm-clone: $(dmsetup status kc)"
      apply /dev/mapper/vcx /work/reads-ours
      log "trace applied to volume-clone"
      kill -TERM $clone
      wait $clone || true
      dmsetup remove kc
      sync
      if cmp -s /work/reads-kernel /work/reads-ours; then echo "every read matched"; else echo "reads differ"; fi
      """;
}
