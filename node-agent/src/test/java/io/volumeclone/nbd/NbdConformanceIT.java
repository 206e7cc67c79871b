package io.volumeclone.nbd;

import static io.volumeclone.nbd.ExternalTools.run;
import static io.volumeclone.testing.HostRequirements.require;
import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.engine.CloneOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * NBD conformance details that real clients trip over (issue 11, items 5 to 7): provisioning with
 * NO_HOLE, block sizes of an export whose size is not a multiple of 512, and connection bursts.
 */
@Timeout(300)
class NbdConformanceIT {

  static final int REGION = 64 * 1024;
  static final Duration T = Duration.ofSeconds(120);

  @TempDir Path dir;

  static void runNbdsh(Path dir, String uri, String script, String done) throws Exception {
    Path py = dir.resolve("script.py");
    Files.writeString(py, script);
    assertThat(run(T, "nbdsh", "-u", uri, "-c", "exec(open('" + py + "').read())").ok().output())
        .contains(done);
  }

  @Test
  void writeZeroesWithNoHoleLeavesTheDestinationAllocated() throws Exception {
    require("nbdsh", "python3-libnbd");
    long size = 32L * REGION;
    try (CloneExportFixture f =
        new CloneExportFixture(dir, size, REGION, CloneOptions.builder("vol").noCopy(true), true)) {
      String script =
          """
          import os
          R = %d
          # h.zero(count, offset): whole uncopied regions, a copied region, a partial uncopied one
          h.pwrite(b'w' * R, 8 * R)
          h.zero(4 * R, 2 * R, nbd.CMD_FLAG_NO_HOLE)
          h.zero(R, 8 * R, nbd.CMD_FLAG_NO_HOLE)
          h.zero(R // 2, 12 * R + 512, nbd.CMD_FLAG_NO_HOLE)
          assert h.pread(R, 8 * R) == bytes(R)
          assert h.pread(2 * R, 4 * R) == bytes(2 * R)
          assert h.pread(R // 2, 12 * R + 512) == bytes(R // 2)
          # fast zeroing on a file system that zeroes ranges in place is fast: it succeeds
          h.zero(12 * R, 20 * R, nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FAST_ZERO)
          assert h.pread(12 * R, 20 * R) == bytes(12 * R)
          h.flush()
          fd = os.open('%s', os.O_RDONLY)
          for start, end in [(4 * R, 6 * R), (8 * R, 9 * R), (12 * R, 12 * R + R // 2), (20 * R, 32 * R)]:
              hole = os.lseek(fd, start, os.SEEK_HOLE)
              assert hole >= end, "destination has a hole at %%d in [%%d, %%d)" %% (hole, start, end)
          os.close(fd)
          h.shutdown()
          print("no-hole passed")
          """
              .formatted(REGION, f.destination);
      runNbdsh(dir, f.uri(), script, "no-hole passed");
      assertThat(Files.size(f.destination)).isEqualTo(size);
    }
  }

  @Test
  void anExportWhoseSizeIsNotAMultipleOf512WorksWithLibnbdAndQemu() throws Exception {
    require("nbdinfo", "libnbd-bin");
    require("nbdcopy", "libnbd-bin");
    require("qemu-img", "qemu-utils");
    long size = (1L << 20) + 100;
    try (CloneExportFixture f =
        new CloneExportFixture(dir, size, REGION, CloneOptions.builder("vol").noCopy(true))) {
      assertThat(run(T, "nbdinfo", "--size", f.uri()).ok().output().trim())
          .isEqualTo(String.valueOf(size));
      List<List<Long>> map =
          NbdClientsIT.mapLines(run(T, "nbdinfo", "--map", f.uri()).ok().output());
      assertThat(map.stream().mapToLong(l -> l.get(1)).sum()).isEqualTo(size);
      List<List<Long>> copied =
          NbdClientsIT.mapLines(
              run(T, "nbdinfo", "--map=volume-clone:copied", f.uri()).ok().output());
      assertThat(copied.stream().mapToLong(l -> l.get(1)).sum()).isEqualTo(size);

      Path out = dir.resolve("out.img");
      run(T, "nbdcopy", f.uri(), out.toString()).ok();
      assertThat(Files.mismatch(out, f.source)).isEqualTo(-1);

      Path converted = dir.resolve("converted.img");
      run(T, "qemu-img", "convert", "-f", "raw", "-O", "raw", f.uri(), converted.toString()).ok();
      // QEMU sees images in whole 512-byte sectors: the copy ends in the zeroes of the last one.
      byte[] copy = Files.readAllBytes(converted);
      assertThat(copy).hasSize((int) ((size + 511) / 512 * 512));
      assertThat(java.util.Arrays.copyOf(copy, (int) size)).isEqualTo(Files.readAllBytes(f.source));
      assertThat(java.util.Arrays.copyOfRange(copy, (int) size, copy.length)).containsOnly(0);

      Path other = dir.resolve("other.img");
      CloneExportFixture.writeRandom(other, size, 7);
      run(T, "nbdcopy", "--flush", other.toString(), f.uri()).ok();
      run(T, "qemu-img", "compare", "-f", "raw", "-F", "raw", other.toString(), f.uri()).ok();
    }
  }

  @Test
  void aBurstOfConnectionsIsAccepted() throws Exception {
    require("nbdsh", "python3-libnbd");
    int connections = 400;
    try (CloneExportFixture f =
        new CloneExportFixture(
            dir, 16L * REGION, REGION, CloneOptions.builder("vol").noCopy(true))) {
      // Every connect is issued before any handshake is driven, as a burst of clients would.
      String script =
          """
          N = %d
          handles, failed = [], []
          for i in range(N):
              c = nbd.NBD()
              try:
                  c.aio_connect_unix('%s')
                  handles.append(c)
              except nbd.Error as e:
                  failed.append(e.string)
          for c in handles:
              try:
                  while c.aio_is_connecting():
                      c.poll(-1)
                  if not c.aio_is_ready():
                      failed.append("not ready")
              except nbd.Error as e:
                  failed.append(e.string)
          assert not failed, "%%d of %%d connections failed, first: %%s" %% (len(failed), N, failed[0])
          for c in handles:
              assert c.get_size() == %d
              c.shutdown()
          h.shutdown()
          print("burst passed")
          """
              .formatted(connections, f.socket, 16L * REGION);
      runNbdsh(dir, f.uri(), script, "burst passed");
    }
  }
}
