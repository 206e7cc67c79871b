package io.volumeclone.nbd;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs commands as child processes with a deadline, so a hung tool cannot hang the agent. The
 * output goes to a temporary file, not a pipe: a tool that writes more than the pipe holds (64 KiB)
 * would otherwise block until the deadline, since nobody reads the pipe while we wait.
 */
public final class ProcessCommandRunner implements CommandRunner {

  private static final Duration TIMEOUT = Duration.ofSeconds(60);

  private final Duration timeout;

  public ProcessCommandRunner() {
    this(TIMEOUT);
  }

  public ProcessCommandRunner(Duration timeout) {
    this.timeout = timeout;
  }

  @Override
  public Result run(List<String> command) throws IOException {
    Path output = Files.createTempFile("volume-clone-command", ".out");
    try {
      Process process =
          new ProcessBuilder(command)
              .redirectErrorStream(true)
              .redirectOutput(output.toFile())
              .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
              .start();
      try {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
          process.destroyForcibly();
          throw new IOException(
              String.join(" ", command)
                  + " did not finish within "
                  + (timeout.toMillis() % 1000 == 0
                      ? timeout.toSeconds() + " s"
                      : timeout.toMillis() + " ms"));
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while running " + String.join(" ", command), e);
      }
      return new Result(
          process.exitValue(),
          new String(Files.readAllBytes(output), StandardCharsets.UTF_8).strip());
    } finally {
      Files.deleteIfExists(output);
    }
  }

  @Override
  public boolean onPath(String program) {
    String path = System.getenv("PATH");
    if (path == null) {
      return false;
    }
    for (String dir : path.split(File.pathSeparator)) {
      if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, program))) {
        return true;
      }
    }
    return false;
  }
}
