package io.volumeclone.nbd;

import static io.volumeclone.nbd.ExternalTools.run;
import static io.volumeclone.testing.HostRequirements.require;
import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.engine.CloneOptions;
import io.volumeclone.engine.CloneTuning;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The export of a real clone, driven by libnbd's and QEMU's tools and fio. */
@Timeout(300)
class NbdClientsIT {

  static final long SIZE = 64L << 20;
  static final int REGION = 64 * 1024;
  static final Duration T = Duration.ofSeconds(120);

  @TempDir Path dir;

  CloneExportFixture idleClone() throws Exception {
    return new CloneExportFixture(dir, SIZE, REGION, CloneOptions.builder("vol").noCopy(true));
  }

  @Test
  void nbdinfoSeesSizeListAndBothMaps() throws Exception {
    require("nbdinfo", "libnbd-bin");
    require("qemu-io", "qemu-utils");
    try (CloneExportFixture f = idleClone()) {
      assertThat(run(T, "nbdinfo", "--size", f.uri()).ok().output().trim())
          .isEqualTo(String.valueOf(SIZE));
      assertThat(run(T, "nbdinfo", "--list", f.uri()).ok().output())
          .contains("export=\"vol\"")
          .contains("volume-clone:copied");
      // Writing one region copies it: the copied map shows it as data, the rest as holes.
      run(T, "qemu-io", "-f", "raw", "-c", "write -P 0x5a " + 2 * REGION + " " + REGION, f.uri())
          .ok();
      String copied = run(T, "nbdinfo", "--map=volume-clone:copied", f.uri()).ok().output();
      assertThat(mapLines(copied))
          .containsExactly(
              List.of(0L, 2L * REGION, 1L),
              List.of(2L * REGION, (long) REGION, 0L),
              List.of(3L * REGION, SIZE - 3L * REGION, 1L));
      String allocation = run(T, "nbdinfo", "--map", f.uri("vol")).ok().output();
      assertThat(mapLines(allocation)).isNotEmpty();
      assertThat(mapLines(allocation).stream().mapToLong(l -> l.get(1)).sum()).isEqualTo(SIZE);
    }
  }

  /** Parses nbdinfo --map lines into (offset, length, flags). */
  static List<List<Long>> mapLines(String output) {
    List<List<Long>> lines = new ArrayList<>();
    for (String line : output.strip().split("\n")) {
      String[] f = line.trim().split("\\s+");
      if (f.length >= 3 && f[0].matches("\\d+")) {
        lines.add(List.of(Long.parseLong(f[0]), Long.parseLong(f[1]), Long.parseLong(f[2])));
      }
    }
    return lines;
  }

  @Test
  void nbdcopyRoundTripsThroughTheClone() throws Exception {
    require("nbdcopy", "libnbd-bin");
    try (CloneExportFixture f = idleClone()) {
      Path out = dir.resolve("out.img");
      run(T, "nbdcopy", f.uri(), out.toString()).ok();
      assertThat(Files.mismatch(out, f.source)).isEqualTo(-1);
      Path other = dir.resolve("other.img");
      CloneExportFixture.writeRandom(other, SIZE, 99);
      run(T, "nbdcopy", "--flush", other.toString(), f.uri()).ok();
      Path back = dir.resolve("back.img");
      run(T, "nbdcopy", f.uri(), back.toString()).ok();
      assertThat(Files.mismatch(back, other)).isEqualTo(-1);
      // Every region was overwritten, so the destination holds exactly the written data.
      f.clone.flush();
      assertThat(Files.mismatch(f.destination, other)).isEqualTo(-1);
    }
  }

  @Test
  void nbdshEdgeCases() throws Exception {
    require("nbdsh", "python3-libnbd");
    try (CloneExportFixture f = idleClone()) {
      String script =
          """
          import errno
          h.set_strict_mode(0)
          size = h.get_size()
          assert size == %d, size
          R = %d
          def expect(err, fn, *args):
              try:
                  fn(*args)
              except nbd.Error as e:
                  assert e.errno == err, (e.errno, e.string)
                  return
              raise SystemExit("expected %%s from %%s%%s" %% (err, fn.__name__, args))
          # unaligned write and read across a region boundary
          h.pwrite(b'u' * 3001, R - 1000)
          assert h.pread(3001, R - 1000) == b'u' * 3001
          src = open('%s', 'rb')
          src.seek(R - 1001); assert h.pread(1, R - 1001) == src.read(1)
          # out of range
          expect('EINVAL', h.pread, 512, size)
          expect('EINVAL', h.pread, 1024, size - 512)
          expect('ENOSPC', h.pwrite, b'x' * 512, size)
          expect('EINVAL', h.trim, 512, size)
          # zero length
          expect('EINVAL', h.pread, 0, 0)
          # FUA write
          h.pwrite(b'f' * 4096, 5 * R, nbd.CMD_FLAG_FUA)
          assert h.pread(4096, 5 * R) == b'f' * 4096
          # trim of whole regions succeeds
          h.trim(2 * R, 8 * R)
          # write-zeroes: partial and whole regions, with NO_HOLE
          h.zero(3 * R + 10, R + 100)
          assert h.pread(R + 100, 3 * R + 10) == bytes(R + 100)
          h.zero(12 * R, 2 * R, nbd.CMD_FLAG_NO_HOLE)
          assert h.pread(2 * R, 12 * R) == bytes(2 * R)
          # fast zero of a partial uncopied region is refused, and writes nothing
          src.seek(20 * R + 100); before = src.read(1000)
          expect('ENOTSUP', h.zero, 1000, 20 * R + 100, nbd.CMD_FLAG_FAST_ZERO)
          assert h.pread(1000, 20 * R + 100) == before
          h.flush()
          h.shutdown()
          print("nbdsh edge cases passed")
          """
              .formatted(SIZE, REGION, f.source);
      Path py = dir.resolve("edge.py");
      Files.writeString(py, script);
      assertThat(
              run(T, "nbdsh", "-u", f.uri(), "-c", "exec(open('" + py + "').read())").ok().output())
          .contains("nbdsh edge cases passed");
    }
  }

  @Test
  void qemuImgCompareAndConvert() throws Exception {
    require("qemu-img", "qemu-utils");
    try (CloneExportFixture f = idleClone()) {
      assertThat(
              run(T, "qemu-img", "compare", "-f", "raw", "-F", "raw", f.source.toString(), f.uri())
                  .ok()
                  .output())
          .contains("Images are identical");
      Path qcow = dir.resolve("copy.qcow2");
      run(T, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", f.uri(), qcow.toString()).ok();
      run(
              T,
              "qemu-img",
              "compare",
              "-f",
              "qcow2",
              "-F",
              "raw",
              qcow.toString(),
              f.source.toString())
          .ok();
      // And the other way: convert a file onto the export.
      Path other = dir.resolve("other.img");
      CloneExportFixture.writeRandom(other, SIZE, 5);
      run(T, "qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", other.toString(), f.uri()).ok();
      run(T, "qemu-img", "compare", "-f", "raw", "-F", "raw", other.toString(), f.uri()).ok();
    }
  }

  @Test
  void qemuIoPatternWritesAndReads() throws Exception {
    require("qemu-io", "qemu-utils");
    try (CloneExportFixture f = idleClone()) {
      run(
              T,
              "qemu-io",
              "-f",
              "raw",
              "-c",
              "write -P 0x11 0 4096",
              "-c",
              "write -P 0x22 65000 70000",
              "-c",
              "write -P 0x33 " + (SIZE - 512) + " 512",
              f.uri())
          .ok();
      String out =
          run(
                  T,
                  "qemu-io",
                  "-f",
                  "raw",
                  "-c",
                  "read -P 0x11 0 4096",
                  "-c",
                  "read -P 0x22 65000 70000",
                  "-c",
                  "read -P 0x33 " + (SIZE - 512) + " 512",
                  f.uri())
              .ok()
              .output();
      assertThat(out)
          .doesNotContain("Pattern verification failed")
          .contains("read 70000/70000 bytes");
    }
  }

  @Test
  void fioVerifiesWhileTheBackgroundCopyRuns() throws Exception {
    require("fio", "fio");
    assertThat(run(T, "fio", "--enghelp=nbd").output()).contains("uri");
    try (CloneExportFixture f =
        new CloneExportFixture(
            dir, SIZE, REGION, CloneOptions.builder("vol").bandwidth(8L << 20))) {
      var result =
          run(
              T,
              "fio",
              "--name=verify",
              "--ioengine=nbd",
              "--uri=" + f.uri(),
              "--rw=randwrite",
              "--bs=4k",
              "--iodepth=32",
              "--size=" + SIZE,
              "--io_size=16m",
              "--verify=crc32c",
              "--do_verify=1",
              "--verify_fatal=1",
              "--randrepeat=1");
      assertThat(result.ok().output()).contains("err= 0").doesNotContain("verify: bad");
      assertThat(f.clone.status().toString()).isNotNull();
      // The copy was still running during fio (8 MiB/s over 64 MiB), and finishes afterwards.
      f.clone.tune(CloneTuning.NONE.withBandwidth(0));
      f.clone.copiedFuture().get(120, TimeUnit.SECONDS);
      Path out = dir.resolve("after.img");
      require("nbdcopy", "libnbd-bin");
      run(T, "nbdcopy", f.uri(), out.toString()).ok();
      f.clone.flush();
      assertThat(Files.mismatch(out, f.destination)).isEqualTo(-1);
    }
  }

  @Test
  void sixteenConnectionsWriteAndReadTheirOwnRanges() throws Exception {
    require("qemu-io", "qemu-utils");
    require("nbdcopy", "libnbd-bin");
    try (CloneExportFixture f = idleClone()) {
      int clients = 16;
      long range = SIZE / clients;
      ExecutorService pool = Executors.newFixedThreadPool(clients);
      List<Future<ExternalTools.Result>> results = new ArrayList<>();
      for (int i = 0; i < clients; i++) {
        long start = i * range;
        int pattern = 0x40 + i;
        results.add(
            pool.submit(
                () ->
                    run(
                        T,
                        "qemu-io",
                        "-f",
                        "raw",
                        "-c",
                        "write -P " + pattern + " " + start + " " + range,
                        "-c",
                        "read -P " + pattern + " " + start + " " + range,
                        f.uri())));
      }
      for (var r : results) {
        assertThat(r.get().ok().output()).doesNotContain("Pattern verification failed");
      }
      pool.shutdown();
      Path out = dir.resolve("all.img");
      run(T, "nbdcopy", f.uri(), out.toString()).ok();
      byte[] all = Files.readAllBytes(out);
      for (int i = 0; i < clients; i++) {
        for (long at = i * range; at < (i + 1) * range; at += 4093) {
          assertThat(all[(int) at]).as("byte %d", at).isEqualTo((byte) (0x40 + i));
        }
      }
    }
  }
}
