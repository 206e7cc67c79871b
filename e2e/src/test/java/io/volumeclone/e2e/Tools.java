package io.volumeclone.e2e;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs the Debian tools the scenarios drive. Tests check for them first with {@code
 * HostRequirements.require}: a missing tool fails the test naming its package when {@code CI=true},
 * and skips it (saying why) elsewhere.
 */
final class Tools {

  private Tools() {}

  static String path(String tool) {
    return Files.isExecutable(Path.of("/usr/bin", tool)) ? "/usr/bin/" + tool : "/usr/sbin/" + tool;
  }

  /** Output of a finished command. */
  record Result(int exitCode, String stdout, String stderr) {
    Result orFail(List<String> command) {
      if (exitCode != 0) {
        throw new AssertionError(
            String.join(" ", command) + " exited " + exitCode + ":\n" + stdout + "\n" + stderr);
      }
      return this;
    }
  }

  /** Runs {@code command} with /usr/bin first on PATH (Debian's python3 for nbdsh). */
  static Result run(List<String> command, Map<String, String> env) {
    try {
      ProcessBuilder pb = new ProcessBuilder(command);
      pb.environment().put("PATH", "/usr/bin:/usr/sbin:/bin:/sbin:" + System.getenv("PATH"));
      pb.environment().putAll(env);
      Path out = Files.createTempFile("e2e-out", ".txt");
      Path err = Files.createTempFile("e2e-err", ".txt");
      pb.redirectOutput(out.toFile());
      pb.redirectError(err.toFile());
      Process p = pb.start();
      if (!p.waitFor(120, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new AssertionError(String.join(" ", command) + " did not finish in 120 s");
      }
      Result r =
          new Result(
              p.exitValue(),
              Files.readString(out, StandardCharsets.UTF_8),
              Files.readString(err, StandardCharsets.UTF_8));
      Files.deleteIfExists(out);
      Files.deleteIfExists(err);
      return r;
    } catch (IOException e) {
      throw new AssertionError("cannot run " + command + ": " + e, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted running " + command);
    }
  }

  static Result run(String... command) {
    return run(List.of(command), Map.of()).orFail(List.of(command));
  }

  static List<String> list(String... items) {
    return new ArrayList<>(List.of(items));
  }
}
