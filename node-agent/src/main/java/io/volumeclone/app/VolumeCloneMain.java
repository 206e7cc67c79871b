package io.volumeclone.app;

import io.volumeclone.agent.AgentCommand;
import io.volumeclone.cli.Main;
import java.util.List;

/**
 * The {@code volume-clone} binary's entry point: the CLI's commands plus {@code agent}, the agent
 * Pod's. It is the one class that sees both the CLI and the agent, so neither imports the other
 * (DESIGN.md's arrows, checked by {@code DependencyArrowsTest}).
 */
public final class VolumeCloneMain {

  private VolumeCloneMain() {}

  public static void main(String[] args) {
    System.exit(Main.run(System.out, System.err, List.of(AgentCommand.class), args));
  }
}
