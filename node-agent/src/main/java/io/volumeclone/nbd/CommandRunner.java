package io.volumeclone.nbd;

import java.io.IOException;
import java.util.List;

/** Runs node tools ({@code nbd-client}, {@code dmsetup}); tests record instead. */
public interface CommandRunner {

  /** Exit code and combined stdout and stderr of one command. */
  record Result(int exitCode, String output) {
    public boolean ok() {
      return exitCode == 0;
    }
  }

  Result run(List<String> command) throws IOException;

  /** True when {@code program} is an executable on the PATH. */
  boolean onPath(String program);
}
