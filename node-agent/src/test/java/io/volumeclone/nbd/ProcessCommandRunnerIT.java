package io.volumeclone.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Real child processes: their output, exit code and deadline as the agent's node commands see. */
class ProcessCommandRunnerIT {

  final ProcessCommandRunner runner = new ProcessCommandRunner(Duration.ofSeconds(30));

  @Test
  void outputLargerThanAPipeDoesNotBlockTheTool() throws IOException {
    // 200 000 bytes: three times what a pipe holds before the writer blocks
    CommandRunner.Result result =
        runner.run(
            List.of(
                "sh", "-c", "head -c 200000 /dev/zero | tr '\\0' a; echo; echo done >&2; exit 3"));

    assertThat(result.exitCode()).isEqualTo(3);
    assertThat(result.output()).startsWith("aaaa").endsWith("done").hasSize(200_000 + 1 + 4);
  }

  @Test
  void aToolPastItsDeadlineIsKilledAndNamed() {
    ProcessCommandRunner quick = new ProcessCommandRunner(Duration.ofMillis(200));
    assertThatThrownBy(() -> quick.run(List.of("sleep", "30")))
        .isInstanceOf(IOException.class)
        .hasMessage("sleep 30 did not finish within 200 ms");
  }

  @Test
  void stdinIsClosed() throws IOException {
    // cat would wait for input forever if stdin stayed open
    assertThat(runner.run(List.of("cat")).output()).isEmpty();
  }
}
