package io.volumeclone.nbd;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Records the commands the agent would run on a node, answers them with exit 0 or with a scripted
 * failure, and pretends that a chosen set of programs is on the PATH.
 */
public final class TestingCommandRunner implements CommandRunner {

  private final List<String> commands = new ArrayList<>();
  private final Map<String, Result> failures = new HashMap<>();
  private final Set<String> programs;

  public TestingCommandRunner(String... programsOnPath) {
    this.programs = Set.of(programsOnPath);
  }

  /** Commands that start with {@code prefix} fail with {@code output}. */
  public TestingCommandRunner failing(String prefix, String output) {
    failures.put(prefix, new Result(1, output));
    return this;
  }

  @Override
  public synchronized Result run(List<String> command) {
    String line = String.join(" ", command);
    commands.add(line);
    for (Map.Entry<String, Result> f : failures.entrySet()) {
      if (line.startsWith(f.getKey())) {
        return f.getValue();
      }
    }
    return new Result(0, "");
  }

  /** Records something that is not a command (a flush) in the same sequence as the commands. */
  public synchronized void note(String event) {
    commands.add(event);
  }

  @Override
  public boolean onPath(String program) {
    return programs.contains(program);
  }

  public synchronized List<String> commands() {
    return List.copyOf(commands);
  }
}
