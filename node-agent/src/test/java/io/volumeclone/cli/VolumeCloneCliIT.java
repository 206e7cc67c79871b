package io.volumeclone.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.volumeclone.testing.HostRequirements;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real jar, {@code java -jar node-agent/target/volume-clone.jar}, on sparse files and (as root)
 * loop devices: a clone completes and the destination equals the source; a clone killed with
 * SIGKILL resumes from its metadata instead of starting over; bad input gets its message and exit
 * code.
 */
class VolumeCloneCliIT {

  static final ObjectMapper JSON = new ObjectMapper();
  static Path jar;

  @TempDir Path dir;

  @BeforeAll
  static void findJar() {
    jar = Path.of("target", "volume-clone.jar").toAbsolutePath();
    assertThat(jar).as("the build makes the runnable jar before integration tests").exists();
  }

  record Result(int code, String out, String err) {}

  static ProcessBuilder command(String... args) {
    List<String> command = new ArrayList<>();
    command.add(ProcessHandle.current().info().command().orElse("java"));
    command.add("-jar");
    command.add(jar.toString());
    command.addAll(Arrays.asList(args));
    return new ProcessBuilder(command);
  }

  static Result run(String... args) throws Exception {
    Path out = Files.createTempFile("vc-out", ".txt");
    Path err = Files.createTempFile("vc-err", ".txt");
    Process p = command(args).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
    assertThat(p.waitFor(5, TimeUnit.MINUTES)).as("volume-clone finished").isTrue();
    Result result =
        new Result(
            p.exitValue(),
            Files.readString(out, StandardCharsets.UTF_8),
            Files.readString(err, StandardCharsets.UTF_8));
    Files.delete(out);
    Files.delete(err);
    return result;
  }

  /** A sparse file: random data in some 1 MiB chunks, holes elsewhere. */
  Path sparseSource(String name, long size, long seed) throws IOException {
    Path path = dir.resolve(name);
    Random random = new Random(seed);
    try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "rw")) {
      f.setLength(size);
      byte[] chunk = new byte[1 << 20];
      for (long pos = 0; pos < size; pos += chunk.length) {
        if (random.nextInt(3) != 0) {
          random.nextBytes(chunk);
          f.seek(pos);
          f.write(chunk, 0, (int) Math.min(chunk.length, size - pos));
        }
      }
    }
    return path;
  }

  Path sparse(String name, long size) throws IOException {
    Path path = dir.resolve(name);
    try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "rw")) {
      f.setLength(size);
    }
    return path;
  }

  static void assertSamePrefix(Path source, Path destination, long size) throws Exception {
    Process cmp =
        new ProcessBuilder(
                "cmp", "-n", Long.toString(size), source.toString(), destination.toString())
            .redirectErrorStream(true)
            .start();
    String output = new String(cmp.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(cmp.waitFor()).as("cmp: " + output).isZero();
  }

  static JsonNode status(Path metadata) throws Exception {
    Result status = run("status", "--metadata", metadata.toString(), "--json");
    assertThat(status.code()).as(status.err()).isZero();
    return JSON.readTree(status.out());
  }

  @Test
  void clonesASparseFileAndExitsZero() throws Exception {
    long size = 48L << 20;
    Path source = sparseSource("source.img", size, 1);
    Path destination = sparse("destination.img", size + (1 << 20));
    Path metadata = dir.resolve("metadata.img");
    Result result =
        run(
            "clone",
            "--source",
            source.toString(),
            "--destination",
            destination.toString(),
            "--metadata",
            metadata.toString());
    assertThat(result.code()).as(result.err()).isZero();
    assertSamePrefix(source, destination, size);
    JsonNode status = status(metadata);
    assertThat(status.get("regionsCopied").asLong()).isEqualTo(size / 65536);
    assertThat(status.get("cutOver").asBoolean()).isTrue();
  }

  @Test
  void aKilledCloneResumesFromItsMetadataInsteadOfStartingOver() throws Exception {
    long size = 64L << 20;
    Path source = sparseSource("source.img", size, 2);
    Path destination = sparse("destination.img", size);
    Path metadata = dir.resolve("metadata.img");
    String[] args = {
      "clone",
      "--source",
      source.toString(),
      "--destination",
      destination.toString(),
      "--metadata",
      metadata.toString(),
      "--region-size",
      "256Ki",
      "--batch-regions",
      "4",
      "--bandwidth",
      "8Mi"
    };
    Process first = command(args).redirectErrorStream(true).start();
    long copiedBeforeKill = 0;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (copiedBeforeKill == 0 && System.nanoTime() < deadline) {
      Thread.sleep(500);
      if (Files.exists(metadata) && Files.size(metadata) > 0) {
        Result status = run("status", "--metadata", metadata.toString(), "--json");
        if (status.code() == 0) {
          // Committed, not just copied: a live status answers from the running clone's memory,
          // and only what was committed survives the SIGKILL.
          JsonNode live = JSON.readTree(status.out());
          copiedBeforeKill =
              live.has("regionsCommitted")
                  ? live.get("regionsCommitted").asLong()
                  : live.get("regionsCopied").asLong();
        }
      }
    }
    assertThat(first.isAlive()).as("the first run is still copying").isTrue();
    first.destroyForcibly(); // SIGKILL
    first.waitFor();
    JsonNode afterKill = status(metadata);
    long committed = afterKill.get("regionsCopied").asLong();
    assertThat(committed).isGreaterThan(0).isLessThan(afterKill.get("regionsTotal").asLong());
    assertThat(afterKill.get("complete").asBoolean()).isFalse();

    String[] rerun = Arrays.copyOf(args, args.length - 2); // same clone, no bandwidth limit
    Result second = run(rerun);
    assertThat(second.code()).as(second.err()).isZero();
    // Its first progress line already counts what the killed run committed.
    String firstLine = second.out().lines().findFirst().orElseThrow();
    assertThat(JSON.readTree(firstLine).get("regionsCopied").asLong())
        .isGreaterThanOrEqualTo(committed);
    assertSamePrefix(source, destination, size);
    assertThat(status(metadata).get("cutOver").asBoolean()).isTrue();
  }

  @Test
  void sigtermWhileAManualCutoverWaitsStopsQuietly() throws Exception {
    long size = 8L << 20;
    Path source = sparseSource("source.img", size, 3);
    Path destination = sparse("destination.img", size);
    Path metadata = dir.resolve("metadata.img");
    Path out = dir.resolve("out.txt");
    Path err = dir.resolve("err.txt");
    Process clone =
        command(
                "clone",
                "--source",
                source.toString(),
                "--destination",
                destination.toString(),
                "--metadata",
                metadata.toString(),
                "--export",
                "unix:" + dir.resolve("nbd.sock"),
                "--cutover",
                "manual")
            .redirectOutput(out.toFile())
            .redirectError(err.toFile())
            .start();
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (!Files.readString(out).contains("\"event\":\"waiting-for-cutover\"")) {
        assertThat(clone.isAlive()).as(Files.readString(err)).isTrue();
        assertThat(System.nanoTime()).as("waiting-for-cutover within 60 s").isLessThan(deadline);
        Thread.sleep(100);
      }
    } finally {
      clone.destroy(); // SIGTERM, as Ctrl-C's SIGINT: the shutdown hook closes the clone
      assertThat(clone.waitFor(60, TimeUnit.SECONDS)).as("volume-clone stops").isTrue();
    }
    String stderr = Files.readString(err);
    assertThat(stderr).doesNotContain("failed").doesNotContain("error");
    assertThat(clone.exitValue()).as(stderr).isEqualTo(143);
    JsonNode status = status(metadata);
    assertThat(status.get("complete").asBoolean()).isTrue();
    assertThat(status.get("cutOver").asBoolean()).as("no approval, no cutover").isFalse();
  }

  @Test
  void badInputGetsAnActionableMessageAndExitCode() throws Exception {
    Path source = sparseSource("source.img", 8L << 20, 3);
    Path destination = sparse("destination.img", 8L << 20);
    Path small = sparse("small.img", 4L << 20);

    Result missing =
        run(
            "clone",
            "--source",
            dir.resolve("no-such.img").toString(),
            "--destination",
            destination.toString(),
            "--metadata",
            dir.resolve("m1").toString());
    assertThat(missing.code()).isEqualTo(1);
    assertThat(missing.err()).contains("no-such.img").contains("no such device or file");

    Result tooSmall =
        run(
            "clone",
            "--source",
            source.toString(),
            "--destination",
            small.toString(),
            "--metadata",
            dir.resolve("m2").toString());
    assertThat(tooSmall.code()).isEqualTo(1);
    assertThat(tooSmall.err())
        .contains("destination too small")
        .contains(Long.toString(8L << 20))
        .contains(Long.toString(4L << 20));

    Result badSize =
        run(
            "clone",
            "--source",
            source.toString(),
            "--destination",
            destination.toString(),
            "--metadata",
            dir.resolve("m3").toString(),
            "--region-size",
            "64Kb");
    assertThat(badSize.code()).isEqualTo(2);
    assertThat(badSize.err()).contains("--region-size").contains("\"64Kb\"");

    // Metadata of another clone (another region size): refused, untouched, with the way out.
    Path metadata = dir.resolve("m4");
    Result first =
        run(
            "clone",
            "--source",
            source.toString(),
            "--destination",
            destination.toString(),
            "--metadata",
            metadata.toString());
    assertThat(first.code()).as(first.err()).isZero();
    byte[] before = Files.readAllBytes(metadata);
    Result other =
        run(
            "clone",
            "--source",
            source.toString(),
            "--destination",
            destination.toString(),
            "--metadata",
            metadata.toString(),
            "--region-size",
            "128Ki");
    assertThat(other.code()).isEqualTo(1);
    assertThat(other.err())
        .contains(metadata.toString())
        .contains("region size")
        .contains("--force");
    assertThat(other.err()).doesNotContain("\tat ");
    assertThat(Files.readAllBytes(metadata)).isEqualTo(before);
  }

  @Test
  void clonesLoopDevices() throws Exception {
    HostRequirements.requireRoot("loop devices need CAP_SYS_ADMIN");
    HostRequirements.require("losetup", "mount");
    long size = 32L << 20;
    Path sourceFile = sparseSource("source.img", size, 4);
    Path destinationFile = sparse("destination.img", size);
    String sourceLoop = attach(sourceFile, true);
    try {
      String destinationLoop = attach(destinationFile, false);
      try {
        Result result =
            run(
                "clone",
                "--source",
                sourceLoop,
                "--destination",
                destinationLoop,
                "--metadata",
                dir.resolve("metadata.img").toString());
        assertThat(result.code()).as(result.err()).isZero();
        assertSamePrefix(Path.of(sourceLoop), Path.of(destinationLoop), size);
      } finally {
        detach(destinationLoop);
      }
    } finally {
      detach(sourceLoop);
    }
    assertSamePrefix(sourceFile, destinationFile, size);
  }

  static String attach(Path file, boolean readOnly) throws Exception {
    List<String> command = new ArrayList<>(List.of("losetup", "--find", "--show"));
    if (readOnly) {
      command.add("--read-only");
    }
    command.add(file.toString());
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    HostRequirements.require(p.waitFor() == 0, "a free loop device (losetup said: " + out + ")");
    return out;
  }

  static void detach(String device) throws Exception {
    new ProcessBuilder("losetup", "--detach", device).inheritIO().start().waitFor();
  }
}
