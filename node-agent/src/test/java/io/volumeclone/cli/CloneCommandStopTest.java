package io.volumeclone.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * Ctrl-C or SIGTERM while {@code --export --cutover manual} waits for approval is a normal stop:
 * the shutdown hook ({@link CloneCommand#stop}) closes the clone, and the command returns quietly
 * instead of reporting the closed clone as a failure.
 */
class CloneCommandStopTest {

  @TempDir Path dir;

  @Test
  void stopWhileAManualCutoverWaitsIsNoFailure() throws Exception {
    byte[] data = new byte[2 << 20];
    new Random(5).nextBytes(data);
    Path source = Files.write(dir.resolve("src"), data);
    Path destination = Files.write(dir.resolve("dst"), new byte[data.length]);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    CloneCommand command = new CloneCommand();
    new CommandLine(command)
        .parseArgs(
            "--source",
            source.toString(),
            "--destination",
            destination.toString(),
            "--metadata",
            dir.resolve("md").toString(),
            "--export",
            "unix:" + dir.resolve("nbd.sock"),
            "--cutover",
            "manual");
    command.out = new PrintStream(out, true, StandardCharsets.UTF_8);
    command.err = new PrintStream(err, true, StandardCharsets.UTF_8);
    command.terminal = false;
    CompletableFuture<Integer> exit = CompletableFuture.supplyAsync(this.call(command));

    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!out.toString(StandardCharsets.UTF_8).contains("\"event\":\"waiting-for-cutover\"")) {
      assertThat(exit.isDone()).as(err.toString(StandardCharsets.UTF_8)).isFalse();
      assertThat(System.nanoTime()).as("waiting-for-cutover within 60 s").isLessThan(deadline);
      Thread.sleep(50);
    }
    command.stop();

    assertThat(exit.get(1, TimeUnit.MINUTES))
        .as(err.toString(StandardCharsets.UTF_8))
        .isEqualTo(CloneCommand.STOPPED);
    assertThat(err.toString(StandardCharsets.UTF_8)).doesNotContain("failed");
    assertThat(dir.resolve("nbd.sock")).as("the export is closed").doesNotExist();
  }

  private java.util.function.Supplier<Integer> call(CloneCommand command) {
    return () -> {
      try {
        return command.call();
      } catch (Exception e) {
        throw new java.util.concurrent.CompletionException(e);
      }
    };
  }
}
