package io.volumeclone.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.fail;

import io.volumeclone.testing.HostRequirements;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs the real NBD tools from integration tests, with {@link HostRequirements#PATH} ({@code
 * /usr/bin} first, because {@code nbdsh} needs Debian's own python3). Tests check for the tools
 * with {@link HostRequirements#require(String, String)}.
 */
final class ExternalTools {

  private ExternalTools() {}

  record Result(int exitCode, String output) {
    Result ok() {
      assertThat(exitCode).as("exit code; output:%n%s", output).isZero();
      return this;
    }
  }

  static Result run(Duration timeout, String... command) throws IOException, InterruptedException {
    return run(timeout, List.of(command));
  }

  static Result run(Duration timeout, List<String> command)
      throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(new ArrayList<>(command)).redirectErrorStream(true);
    pb.environment().put("PATH", HostRequirements.PATH);
    pb.environment().remove("PYTHONHOME");
    pb.environment().remove("PYTHONPATH");
    Process p = pb.start();
    p.getOutputStream().close();
    var out = new java.io.ByteArrayOutputStream();
    Thread pump =
        Thread.ofPlatform()
            .start(
                () -> {
                  try {
                    p.getInputStream().transferTo(out);
                  } catch (IOException ignored) {
                    // Process ended.
                  }
                });
    if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      p.destroyForcibly();
      pump.join(1000);
      fail(
          String.join(" ", command)
              + " did not finish within "
              + timeout
              + "; output:\n"
              + out.toString(StandardCharsets.UTF_8));
    }
    pump.join(5000);
    return new Result(p.exitValue(), out.toString(StandardCharsets.UTF_8));
  }

  static Process start(List<String> command, Path log) throws IOException {
    ProcessBuilder pb =
        new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().put("PATH", HostRequirements.PATH);
    return pb.start();
  }

  /** Waits until a Unix socket file appears (a freshly started server is listening). */
  static void awaitSocket(Path socket, Process process) throws InterruptedException {
    for (int i = 0; i < 200 && !Files.exists(socket); i++) {
      if (!process.isAlive()) {
        fail("server exited with " + process.exitValue() + " before creating " + socket);
      }
      Thread.sleep(50);
    }
    assertThat(socket).exists();
    // The socket file appears at bind(), before listen(): a client connecting in between is
    // refused. Wait until a connection is accepted (the server sees it close at once).
    java.io.IOException last = null;
    for (int i = 0; i < 200; i++) {
      try (java.nio.channels.SocketChannel probe =
          java.nio.channels.SocketChannel.open(java.net.UnixDomainSocketAddress.of(socket))) {
        return;
      } catch (java.io.IOException e) {
        last = e;
        if (!process.isAlive()) {
          fail("server exited with " + process.exitValue() + " before listening on " + socket);
        }
        Thread.sleep(50);
      }
    }
    fail("nothing listens on " + socket + ": " + last);
  }
}
