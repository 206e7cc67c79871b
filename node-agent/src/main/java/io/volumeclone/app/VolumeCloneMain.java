package io.volumeclone.app;

import io.volumeclone.agent.AgentCommand;
import io.volumeclone.cli.Main;
import io.volumeclone.engine.Devices;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.nio.channels.SocketChannel;
import java.util.List;

/**
 * The {@code volume-clone} binary's entry point: the CLI's commands plus {@code agent}, the agent
 * Pod's. It is the one class that sees both the CLI and the agent, so neither imports the other
 * (DESIGN.md's arrows, checked by {@code DependencyArrowsTest}).
 */
public final class VolumeCloneMain {

  private VolumeCloneMain() {}

  public static void main(String[] args) {
    if (args.length > 0 && (args[0].equals("clone") || args[0].equals("agent"))) {
      // Both open devices soon; a process's start is a consumer's wait (issue 19).
      Devices.bindNativeCallsInBackground();
      initUnixSocketsInBackground();
    }
    System.exit(Main.run(System.out, System.err, List.of(AgentCommand.class), args));
  }

  /**
   * Initialises the JDK's Unix-domain sockets while the command line is parsed: their class
   * initialisation looks up a SecureRandom (the security providers, 10 ms or more) and used to
   * happen on the way to the export's listening socket, with a consumer waiting (issue 19).
   */
  private static void initUnixSocketsInBackground() {
    Thread.ofPlatform()
        .name("volume-clone-socket-init")
        .daemon()
        .start(
            () -> {
              try {
                SocketChannel.open(StandardProtocolFamily.UNIX).close();
              } catch (IOException | UnsupportedOperationException e) {
                // the real open reports it, with its address
              }
            });
  }
}
