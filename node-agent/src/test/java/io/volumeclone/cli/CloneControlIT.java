package io.volumeclone.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real {@code volume-clone clone} child process, started with the launcher {@code
 * bin/volume-clone}, steered from the command line as dmsetup and qclone steer theirs: {@code
 * list}, {@code tune --bandwidth} (half the limit, measurably less rate), {@code tune
 * --pause/--resume}, {@code cancel} and a second {@code clone} that resumes from the metadata, then
 * {@code cutover} of the manual cutover; {@code status} answers from the control socket while the
 * clone runs and from the metadata when it does not.
 */
class CloneControlIT {

  static final String NAME = "it-clone";
  static Path launcher;

  @TempDir Path dir;
  Path runDir;

  @BeforeAll
  static void findLauncher() {
    launcher = Path.of("..", "bin", "volume-clone").toAbsolutePath().normalize();
    assertThat(launcher).as("the launcher is checked in").isExecutable();
    assertThat(Path.of("target", "volume-clone.jar"))
        .as("the build makes the runnable jar before integration tests")
        .exists();
  }

  record Result(int code, String out, String err) {}

  ProcessBuilder command(String... args) {
    List<String> command = new ArrayList<>();
    command.add(launcher.toString());
    command.addAll(Arrays.asList(args));
    ProcessBuilder builder = new ProcessBuilder(command);
    Map<String, String> env = builder.environment();
    env.put(ControlPaths.ENV, runDir.toString());
    env.put("JAVA_HOME", System.getProperty("java.home"));
    return builder;
  }

  Result run(String... args) throws Exception {
    Path out = Files.createTempFile(dir, "out", ".txt");
    Path err = Files.createTempFile(dir, "err", ".txt");
    Process p = command(args).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
    assertThat(p.waitFor(2, TimeUnit.MINUTES)).as("volume-clone " + args[0] + " ends").isTrue();
    return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
  }

  JsonNode json(String... args) throws Exception {
    Result r = run(args);
    assertThat(r.code()).as(String.join(" ", args) + ": " + r.err()).isZero();
    return ControlProtocol.JSON.readTree(r.out());
  }

  /** The child's in-memory status, straight from its control socket. */
  JsonNode live() throws IOException {
    JsonNode reply =
        ControlClient.call(
            ControlPaths.socket(runDir, NAME), ControlProtocol.request(ControlProtocol.STATUS));
    assertThat(reply.path("ok").asBoolean()).as(reply.toString()).isTrue();
    return reply.path("clone");
  }

  /** Bytes per second copied over a window of {@code seconds}, from two exact status figures. */
  double measuredRate(double seconds) throws Exception {
    long bytes0 = live().path("bytesCopied").asLong();
    long t0 = System.nanoTime();
    Thread.sleep((long) (seconds * 1000));
    long bytes1 = live().path("bytesCopied").asLong();
    long t1 = System.nanoTime();
    return (bytes1 - bytes0) * 1e9 / (t1 - t0);
  }

  static void await(String what, long seconds, BooleanSupplier condition) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as(what + " within " + seconds + " s").isLessThan(deadline);
      Thread.sleep(100);
    }
  }

  interface Check {
    boolean ok() throws Exception;
  }

  static BooleanSupplier unchecked(Check check) {
    return () -> {
      try {
        return check.ok();
      } catch (Exception e) {
        return false;
      }
    };
  }

  Path randomFile(String name, long size) throws IOException {
    Path path = dir.resolve(name);
    Random random = new Random(18);
    byte[] chunk = new byte[1 << 20];
    try (OutputStream out = Files.newOutputStream(path)) {
      for (long pos = 0; pos < size; pos += chunk.length) {
        random.nextBytes(chunk);
        out.write(chunk);
      }
    }
    return path;
  }

  @Test
  void aRunningCloneIsListedTunedPausedCancelledResumedAndCutOverFromTheCommandLine()
      throws Exception {
    runDir = dir.resolve("run");
    long size = 128L << 20;
    Path source = randomFile("source.img", size);
    Path destination = dir.resolve("destination.img");
    Files.write(destination, new byte[0]);
    new java.io.RandomAccessFile(destination.toFile(), "rw").setLength(size);
    Path metadata = dir.resolve("metadata.img");
    String[] clone = {
      "clone",
      "--source",
      source.toString(),
      "--destination",
      destination.toString(),
      "--metadata",
      metadata.toString(),
      "--name",
      NAME,
      "--export",
      "unix:" + dir.resolve("nbd.sock"),
      "--cutover",
      "manual",
      "--batch-regions",
      "2",
      "--regions-in-flight",
      "8"
    };
    String[] limited = Arrays.copyOf(clone, clone.length + 2);
    limited[clone.length] = "--bandwidth";
    limited[clone.length + 1] = "4Mi";

    Path firstOut = dir.resolve("first-out.txt");
    Path firstErr = dir.resolve("first-err.txt");
    Process first =
        command(limited).redirectOutput(firstOut.toFile()).redirectError(firstErr.toFile()).start();
    try {
      await("the clone's control socket", 60, unchecked(() -> live() != null));

      // list: the clone, its devices, phase and progress
      JsonNode list = json("list", "--json");
      assertThat(list).hasSize(1);
      assertThat(list.get(0).path("name").asText()).isEqualTo(NAME);
      assertThat(list.get(0).path("source").asText()).isEqualTo(source.toString());
      assertThat(list.get(0).path("destination").asText()).isEqualTo(destination.toString());
      assertThat(list.get(0).path("phase").asText()).isEqualTo("COPYING");
      Result table = run("list");
      assertThat(table.out()).contains("NAME", "PHASE", "PROGRESS", "RATE", "ETA", NAME, "COPYING");

      // tune --bandwidth: half the limit, measurably less copied per second
      double before = measuredRate(4);
      Result tuned = run("tune", NAME, "--bandwidth", "2Mi");
      assertThat(tuned.code()).as(tuned.err()).isZero();
      assertThat(tuned.out()).contains("clone " + NAME).contains("bandwidth 2Mi/s");
      assertThat(live().at("/tuning/bandwidth").asLong()).isEqualTo(2L << 20);
      Thread.sleep(1000); // what the old limit had already granted drains
      double after = measuredRate(4);
      System.out.printf("copy rate: %.0f B/s at 4Mi/s, %.0f B/s at 2Mi/s%n", before, after);
      assertThat(before).as("rate at 4Mi/s").isGreaterThan(1 << 20);
      assertThat(after)
          .as("rate at 2Mi/s (%.0f B/s) against 4Mi/s (%.0f B/s)", after, before)
          .isGreaterThan(0)
          .isLessThan(0.7 * before);

      // tune --pause: the copied count stops advancing and is committed; --resume restarts it
      Result pause = run("tune", NAME, "--pause");
      assertThat(pause.code()).as(pause.err()).isZero();
      JsonNode paused = live();
      assertThat(paused.path("phase").asText()).isEqualTo("PAUSED");
      assertThat(paused.path("regionsCommitted").asLong())
          .as("pause commits")
          .isEqualTo(paused.path("regionsCopied").asLong());
      Thread.sleep(1500);
      assertThat(live().path("regionsCopied").asLong())
          .as("nothing copied while paused")
          .isEqualTo(paused.path("regionsCopied").asLong());
      Result resume = run("tune", NAME, "--resume");
      assertThat(resume.code()).as(resume.err()).isZero();
      long copiedAtPause = paused.path("regionsCopied").asLong();
      await(
          "copying again after resume",
          30,
          unchecked(() -> live().path("regionsCopied").asLong() > copiedAtPause));

      // status while running: from the control socket, exact
      JsonNode status = json("status", NAME, "--json");
      assertThat(status.path("from").asText()).isEqualTo(StatusCommand.FROM_CONTROL_SOCKET);
      assertThat(status.has("regionsCommitted")).isTrue();
      JsonNode byMetadata = json("status", "--metadata", metadata.toString(), "--json");
      assertThat(byMetadata.path("from").asText()).isEqualTo(StatusCommand.FROM_CONTROL_SOCKET);
      assertThat(run("status", NAME).out()).contains("control socket of the running clone");

      // cancel: commit, close, exit; data and metadata stay
      Result cancel = run("cancel", NAME);
      assertThat(cancel.code()).as(cancel.err()).isZero();
      assertThat(cancel.out()).contains("cancelled at").contains("run the same clone command");
      assertThat(first.waitFor(60, TimeUnit.SECONDS)).as("the cancelled clone exits").isTrue();
      assertThat(first.exitValue()).as(Files.readString(firstErr)).isEqualTo(CloneCommand.STOPPED);
    } finally {
      first.destroyForcibly();
      first.waitFor();
    }
    assertThat(Files.readString(firstErr)).doesNotContain("WARNING:").doesNotContain("failed");
    assertThat(ControlPaths.socket(runDir, NAME)).as("cancel removed the socket").doesNotExist();
    JsonNode afterCancel = json("status", "--metadata", metadata.toString(), "--json");
    assertThat(afterCancel.path("from").asText()).isEqualTo(StatusCommand.FROM_METADATA);
    long committed = afterCancel.path("regionsCopied").asLong();
    assertThat(committed).isGreaterThan(0).isLessThan(afterCancel.path("regionsTotal").asLong());
    assertThat(afterCancel.path("complete").asBoolean()).isFalse();
    Result notRunning = run("tune", NAME, "--pause");
    assertThat(notRunning.code()).isEqualTo(1);
    assertThat(notRunning.err()).contains("no clone named '" + NAME + "' is running");

    // clone again: resumes from the metadata, then waits for the manual cutover
    Path secondOut = dir.resolve("second-out.txt");
    Path secondErr = dir.resolve("second-err.txt");
    Process second =
        command(clone).redirectOutput(secondOut.toFile()).redirectError(secondErr.toFile()).start();
    try {
      await(
          "waiting-for-cutover",
          120,
          unchecked(() -> Files.readString(secondOut).contains("\"waiting-for-cutover\"")));
      String firstLine = Files.readString(secondOut).lines().findFirst().orElseThrow();
      assertThat(ControlProtocol.JSON.readTree(firstLine).path("regionsCopied").asLong())
          .as("the second run starts from what the cancelled one committed")
          .isGreaterThanOrEqualTo(committed);
      assertThat(live().path("phase").asText()).isEqualTo("COPIED");

      Result cutover = run("cutover", NAME);
      assertThat(cutover.code()).as(cutover.err()).isZero();
      assertThat(cutover.out()).contains("cut over");
      assertThat(json("status", NAME, "--json").path("phase").asText()).isEqualTo("CUT_OVER");
      // still serving its export: listed until it exits
      JsonNode listed = json("list", "--json");
      assertThat(listed).hasSize(1);
      assertThat(listed.get(0).path("phase").asText()).isEqualTo("CUT_OVER");
    } finally {
      second.destroy(); // SIGTERM
      assertThat(second.waitFor(60, TimeUnit.SECONDS)).isTrue();
    }
    assertThat(Files.readString(secondErr)).doesNotContain("WARNING:");
    assertThat(
            json("status", "--metadata", metadata.toString(), "--json").path("cutOver").asBoolean())
        .isTrue();
    Process cmp =
        new ProcessBuilder("cmp", source.toString(), destination.toString())
            .redirectErrorStream(true)
            .start();
    String cmpOut = new String(cmp.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(cmp.waitFor()).as("cmp: " + cmpOut).isZero();
  }
}
