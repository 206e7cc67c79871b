package io.volumeclone.guest;

import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.testing.Guest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A destination that starts failing writes mid-copy, in a Linux guest: the clone's destination is a
 * device-mapper device over the real disk, first linear, then {@code flakey} with {@code
 * error_writes} while the attached clone copies. A write that was fsynced before the fault is
 * acknowledged; the write after it must fail, the clone must say so and stop (its metadata
 * READ_ONLY or its copy degraded), and once the disk is healthy again a second run of the same
 * command resumes and finishes: the destination then holds the source and the acknowledged write.
 */
class GuestFlakeyIT {

  static final long MiB = 1L << 20;
  static final long KiB = 1L << 10;

  @TempDir Path work;

  @Test
  @Timeout(value = 6, unit = TimeUnit.MINUTES)
  void writesFailingUnderTheDestinationStopTheCloneAndLoseNothingAcknowledged() throws Exception {
    Guest guest = Guest.in(work).timeout(Duration.ofMinutes(5));
    Path source = work.resolve("source.img");
    GuestFioIT.writeRandom(source, 8 * MiB);
    Path destination = work.resolve("destination.img");
    guest.disk(source, 0).disk(destination, 8 * MiB).disk(work.resolve("metadata.img"), MiB);

    Guest.Result result = guest.run(SCRIPT).assertPassed();

    String console = result.console();
    assertThat(console)
        .contains("write before the fault: acknowledged")
        .contains("write after the fault: failed")
        .contains("the faulty run stopped with 143")
        .contains("the second run exited with 0");
    String report = Files.readString(work.resolve("fault-report.json"));
    assertThat(report)
        .as("what the clone reported once the destination failed")
        .containsPattern("\"copyErrors\":[1-9]|\"metadataMode\":\"READ_ONLY\"")
        .containsPattern("on /dev/mapper/dst at offset [0-9]+ failed: Input/output error");
    byte[] src = Files.readAllBytes(source);
    byte[] dst = Files.readAllBytes(destination);
    byte[] acknowledged = Files.readAllBytes(work.resolve("pattern-a"));
    int a = (int) MiB;
    assertThat(Arrays.equals(dst, a, a + acknowledged.length, acknowledged, 0, acknowledged.length))
        .as("the write acknowledged before the fault is on the destination")
        .isTrue();
    // every other byte is the source's, the range of the failed write included
    assertThat(Arrays.equals(src, 0, a, dst, 0, a)).isTrue();
    int end = a + acknowledged.length;
    assertThat(Arrays.equals(src, end, src.length, dst, end, dst.length)).isTrue();
  }

  /**
   * vda source (8 MiB), vdb the disk under the destination, vdc metadata. The copy runs at 256
   * KiB/s so the fault comes while most regions are uncopied.
   */
  static final String SCRIPT =
      """
      set -uo pipefail
      log() { echo "[$(cut -d' ' -f1 /proc/uptime)] $*"; }
      modprobe dm-flakey || exit 1
      sectors=$(blockdev --getsz /dev/vdb)
      dmsetup create dst --table "0 $sectors linear /dev/vdb 0" && dmsetup mknodes dst
      /work/vc clone --source /dev/vda --destination /dev/mapper/dst --metadata /dev/vdc \\
          --region-size 64Ki --bandwidth 256Ki --attach flaky >/work/faulty.out 2>/work/faulty.err &
      clone=$!
      for i in $(seq 1200); do [ -b /dev/mapper/flaky ] && break; sleep 0.1; done
      [ -b /dev/mapper/flaky ] || { echo "no /dev/mapper/flaky"; cat /work/faulty.err; exit 1; }
      log "attached: $(dmsetup table flaky)"
      dd if=/dev/urandom of=/work/pattern-a bs=64k count=1 status=none
      dd if=/dev/urandom of=/work/pattern-b bs=64k count=1 status=none
      if dd if=/work/pattern-a of=/dev/mapper/flaky bs=64k seek=16 oflag=direct conv=fsync,notrunc status=none; then
        echo "write before the fault: acknowledged"
      else
        echo "write before the fault: FAILED"; exit 1
      fi
      dmsetup suspend dst
      dmsetup load dst --table "0 $sectors flakey /dev/vdb 0 0 3600 1 error_writes" || exit 1
      dmsetup resume dst
      log "destination now fails writes: $(dmsetup table dst)"
      if dd if=/work/pattern-b of=/dev/mapper/flaky bs=64k seek=100 oflag=direct conv=fsync,notrunc status=none; then
        echo "write after the fault: ACKNOWLEDGED"; exit 1
      else
        echo "write after the fault: failed"
      fi
      for i in $(seq 600); do
        tail -1 /work/faulty.out | grep -qE '"copyErrors":[1-9]|"metadataMode":"READ_ONLY"' && break
        sleep 0.1
      done
      tail -1 /work/faulty.out >/work/fault-report.json
      log "reported: $(cut -c1-400 /work/fault-report.json)"
      kill -TERM $clone
      wait $clone
      echo "the faulty run stopped with $?"
      grep -v WARNING /work/faulty.err | tail -5
      ! dmsetup info flaky >/dev/null 2>&1 || { echo "the stop left /dev/mapper/flaky"; exit 1; }
      [ ! -e /dev/mapper/flaky ] || { echo "the stop left the node /dev/mapper/flaky"; exit 1; }
      [ ! -e /sys/block/nbd0/pid ] || { echo "the stop left nbd0 attached"; exit 1; }
      dmsetup suspend dst
      dmsetup load dst --table "0 $sectors linear /dev/vdb 0"
      dmsetup resume dst
      log "destination healthy again"
      /work/vc clone --source /dev/vda --destination /dev/mapper/dst --metadata /dev/vdc \\
          --region-size 64Ki >/work/second.out 2>/work/second.err
      echo "the second run exited with $?"
      grep -v WARNING /work/second.err | tail -5
      dmsetup remove dst
      sync
      """;
}
