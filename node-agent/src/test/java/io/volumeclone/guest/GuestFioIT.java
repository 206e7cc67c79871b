package io.volumeclone.guest;

import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.testing.Guest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A raw block workload across the live cutover, in a Linux guest: fio writes with {@code
 * verify=crc32c} and direct I/O to {@code /dev/mapper/NAME} of an attached clone, one job in
 * 512-byte blocks (not 4 KiB aligned, so the clone writes them through its buffered descriptor) and
 * one in 4 KiB blocks, both running while the copy finishes and the device moves from NBD onto the
 * destination. Every block fio wrote verifies, through both mappings.
 */
class GuestFioIT {

  static final long MiB = 1L << 20;

  @TempDir Path work;

  @Test
  @Timeout(value = 6, unit = TimeUnit.MINUTES)
  void fioVerifiesEveryBlockWrittenAcrossTheCutover() throws Exception {
    Guest guest = Guest.in(work).timeout(Duration.ofMinutes(5));
    Path source = work.resolve("source.img");
    writeRandom(source, 16 * MiB);
    guest
        .disk(source, 0)
        .disk(work.resolve("destination.img"), 16 * MiB)
        .disk(work.resolve("metadata.img"), MiB);

    Guest.Result result = guest.run(SCRIPT).assertPassed();

    String console = result.console();
    assertThat(console)
        .contains("clone exited 0 after the cutover")
        .contains("table after fio: 0 32768 linear 254:16 0")
        .containsPattern("fio passes started before the cutover: [1-9][0-9]*, after: [1-9]");
    // terse v3: jobname is field 3, error 5, read kB 6, write kB 47 (1-based)
    List<String> jobs = Files.readAllLines(work.resolve("fio.out"));
    assertThat(jobs).as(console).hasSizeGreaterThanOrEqualTo(4);
    for (String line : jobs) {
      String[] f = line.split(";");
      assertThat(f[4]).as("fio error of %s", line).isEqualTo("0");
      long readKiB = Long.parseLong(f[5]);
      long writtenKiB = Long.parseLong(f[46]);
      long expected = f[2].equals("s512") ? 1024 : 2048;
      assertThat(writtenKiB).as("written by %s", f[2]).isEqualTo(expected);
      assertThat(readKiB).as("verified by %s", f[2]).isEqualTo(expected);
    }
    // What fio did not touch is the source's, on the destination alone.
    byte[] src = Files.readAllBytes(source);
    byte[] dst = Files.readAllBytes(work.resolve("destination.img"));
    assertThat(Arrays.equals(src, (int) MiB, (int) (8 * MiB), dst, (int) MiB, (int) (8 * MiB)))
        .isTrue();
    assertThat(
            Arrays.equals(
                src, (int) (10 * MiB), (int) (16 * MiB), dst, (int) (10 * MiB), (int) (16 * MiB)))
        .isTrue();
  }

  static void writeRandom(Path file, long size) throws IOException {
    byte[] data = new byte[(int) size];
    new Random(7).nextBytes(data);
    Files.write(file, data);
  }

  /**
   * fio passes (each writes its range, then reads and verifies all of it) run back to back until
   * the clone has cut over and exited, and once more after: passes before, across and after the
   * cutover, however fast this machine emulates.
   */
  static final String SCRIPT =
      """
      set -euo pipefail
      trap 'echo "failed at line $LINENO"; tail -20 /work/clone.err' ERR
      log() { echo "[$(cut -d' ' -f1 /proc/uptime)] $*"; }
      /work/vc clone --source /dev/vda --destination /dev/vdb --metadata /dev/vdc \\
          --region-size 64Ki --bandwidth 512Ki --attach fio >/work/clone.out 2>/work/clone.err &
      clone=$!
      for i in $(seq 1200); do [ -b /dev/mapper/fio ] && break; sleep 0.1; done
      [ -b /dev/mapper/fio ] || { echo "no /dev/mapper/fio"; cat /work/clone.err; exit 1; }
      log "attached: $(dmsetup table fio)"
      pass() {
        fio --output-format=terse --terse-version=3 --ioengine=psync --direct=1 \\
            --verify=crc32c --verify_fatal=1 --do_verify=1 --filename=/dev/mapper/fio \\
            --name=s512 --rw=randwrite --bs=512 --offset=0 --size=1M \\
            --name=s4k --rw=randwrite --bs=4k --offset=8M --size=2M >>/work/fio.out
      }
      before=0; after=0
      while kill -0 $clone 2>/dev/null; do
        if grep -q '"cut-over"' /work/clone.out; then after=$((after + 1)); else before=$((before + 1)); fi
        log "fio pass on $(dmsetup table fio)"
        pass
      done
      wait $clone && log "clone exited 0 after the cutover"
      log "fio pass on $(dmsetup table fio)"
      pass
      after=$((after + 1))
      echo "fio passes started before the cutover: $before, after: $after"
      echo "table after fio: $(dmsetup table fio)"
      """;
}
