package io.volumeclone.nbd;

import static io.volumeclone.nbd.ExternalTools.awaitSocket;
import static io.volumeclone.nbd.ExternalTools.run;
import static io.volumeclone.testing.HostRequirements.require;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CLI as a user drives it: {@code volume-clone clone --export} serves the clone to real NBD
 * clients while it copies and after cutover, and {@code --source nbd+unix://...} clones from an
 * nbdkit export. Runs the real jar in a child JVM.
 */
class CliExportIT {

  static final int MiB = 1 << 20;
  static Path jar;

  @TempDir Path dir;

  @BeforeAll
  static void findJar() {
    jar = Path.of("target", "volume-clone.jar").toAbsolutePath();
    assertThat(jar).as("the build makes the runnable jar before integration tests").exists();
  }

  static List<String> volumeClone(String... args) {
    List<String> command = new ArrayList<>();
    command.add(ProcessHandle.current().info().command().orElse("java"));
    command.add("--enable-native-access=ALL-UNNAMED");
    command.add("-jar");
    command.add(jar.toString());
    command.addAll(Arrays.asList(args));
    return command;
  }

  byte[] randomFile(Path path, int size, long seed) throws Exception {
    byte[] data = new byte[size];
    new Random(seed).nextBytes(data);
    Files.write(path, data);
    return data;
  }

  static void awaitLine(Path log, String text, Process process) throws Exception {
    for (int i = 0; i < 1200; i++) {
      if (Files.exists(log) && Files.readString(log).contains(text)) {
        return;
      }
      assertThat(process.isAlive())
          .as("volume-clone exited before '%s':%n%s", text, Files.readString(log))
          .isTrue();
      Thread.sleep(100);
    }
    throw new AssertionError("no '" + text + "' in " + log + ":\n" + Files.readString(log));
  }

  @Test
  void theExportServesReadsAndWritesWhileCopyingAndKeepsServingAfterCutover() throws Exception {
    require("nbdinfo", "libnbd-bin");
    require("nbdcopy", "libnbd-bin");
    require("qemu-io", "qemu-utils");
    Path source = dir.resolve("source.img");
    Path destination = dir.resolve("destination.img");
    Path metadata = dir.resolve("metadata");
    Path socket = dir.resolve("nbd.sock");
    Path log = dir.resolve("clone.log");
    byte[] sourceBytes = randomFile(source, 32 * MiB, 7);
    Files.write(destination, new byte[32 * MiB]);

    Process clone =
        ExternalTools.start(
            volumeClone(
                "clone",
                "--source",
                source.toString(),
                "--destination",
                destination.toString(),
                "--metadata",
                metadata.toString(),
                "--bandwidth",
                "8Mi",
                "--name",
                "restore",
                "--export",
                "unix:" + socket),
            log);
    try {
      awaitSocket(socket, clone);
      assertThat(Files.getPosixFilePermissions(socket).toString())
          .as("socket mode")
          .isEqualTo("[OWNER_READ, OWNER_WRITE]");
      String uri = "nbd+unix:///restore?socket=" + socket;
      assertThat(run(Duration.ofSeconds(30), "nbdinfo", "--size", uri).ok().output().trim())
          .isEqualTo(Long.toString(32L * MiB));
      assertThat(
              run(Duration.ofSeconds(30), "nbdinfo", "--size", "nbd+unix:///?socket=" + socket)
                  .ok()
                  .output()
                  .trim())
          .as("the empty export name reaches the clone too")
          .isEqualTo(Long.toString(32L * MiB));

      // Whole-image read while most regions are still uncopied: served from the source.
      Path snapshot = dir.resolve("snapshot.img");
      run(Duration.ofSeconds(60), "nbdcopy", uri, snapshot.toString()).ok();
      assertThat(Files.readAllBytes(snapshot)).isEqualTo(sourceBytes);

      // A write into an uncopied region in the middle of the image, unaligned.
      long offset = 20L * MiB + 1000;
      run(
              Duration.ofSeconds(30),
              "qemu-io",
              "-f",
              "raw",
              "-c",
              "write -P 0xab " + offset + " 5000",
              "-c",
              "flush",
              uri)
          .ok();

      awaitLine(log, "\"event\":\"cut-over\"", clone);
      // Still served after cutover, now straight from the destination.
      String readBack =
          run(
                  Duration.ofSeconds(30),
                  "qemu-io",
                  "-f",
                  "raw",
                  "-c",
                  "read -P 0xab " + offset + " 5000",
                  uri)
              .ok()
              .output();
      assertThat(readBack).doesNotContain("Pattern verification failed");
    } finally {
      clone.destroy(); // SIGTERM: close the export, commit, exit
      assertThat(clone.waitFor(60, TimeUnit.SECONDS)).as("volume-clone stops on SIGTERM").isTrue();
    }
    assertThat(socket).as("the export removes its socket").doesNotExist();

    byte[] expected = sourceBytes.clone();
    Arrays.fill(expected, (int) (20L * MiB + 1000), (int) (20L * MiB + 6000), (byte) 0xab);
    assertThat(Files.readAllBytes(destination)).isEqualTo(expected);
    assertThat(Files.readAllBytes(source)).as("the source is never written").isEqualTo(sourceBytes);
  }

  @Test
  void clonesFromAnNbdkitExportGivenAsSourceUri() throws Exception {
    require("nbdkit", "nbdkit");
    Path source = dir.resolve("remote.img");
    Path destination = dir.resolve("local.img");
    Path metadata = dir.resolve("metadata");
    Path socket = dir.resolve("nbdkit.sock");
    byte[] sourceBytes = randomFile(source, 24 * MiB + 4096, 11);
    Files.write(destination, new byte[24 * MiB + 4096]);
    Process nbdkit =
        ExternalTools.start(
            List.of("nbdkit", "-f", "-r", "-U", socket.toString(), "file", source.toString()),
            dir.resolve("nbdkit.log"));
    try {
      awaitSocket(socket, nbdkit);
      var result =
          run(
              Duration.ofMinutes(2),
              volumeClone(
                  "clone",
                  "--source",
                  "nbd+unix:///?socket=" + socket,
                  "--destination",
                  destination.toString(),
                  "--metadata",
                  metadata.toString()));
      assertThat(result.exitCode()).as(result.output()).isZero();
      assertThat(Files.readAllBytes(destination)).isEqualTo(sourceBytes);
    } finally {
      nbdkit.destroy();
      nbdkit.waitFor(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void aBadExportAddressIsAUsageErrorNamingIt() throws Exception {
    Path source = dir.resolve("s.img");
    randomFile(source, MiB, 1);
    var result =
        run(
            Duration.ofMinutes(1),
            volumeClone(
                "clone",
                "--source",
                source.toString(),
                "--destination",
                dir.resolve("d.img").toString(),
                "--metadata",
                dir.resolve("m").toString(),
                "--export",
                "udp:1.2.3.4"));
    assertThat(result.exitCode()).as(result.output()).isEqualTo(2);
    assertThat(result.output()).contains("--export").contains("udp:1.2.3.4");
  }
}
