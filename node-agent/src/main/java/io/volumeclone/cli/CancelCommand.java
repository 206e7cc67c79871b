package io.volumeclone.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code volume-clone cancel NAME}: stops a running clone cleanly (QUADStor's {@code qclone -c}):
 * the copier stops, the metadata is committed and the devices are closed; the data and the metadata
 * stay, so running the same {@code clone} command again resumes where this one stopped. Returns
 * once the clone's process has let go of its name.
 */
@Command(
    name = "cancel",
    mixinStandardHelpOptions = true,
    description = "Stop a running clone cleanly; its progress is kept and 'clone' resumes it.")
public class CancelCommand extends ControlCommand implements Callable<Integer> {

  @Parameters(index = "0", paramLabel = "NAME", description = "The clone, as 'list' shows it.")
  String name;

  @Override
  public Integer call() throws IOException, InterruptedException {
    Path socket = ControlPaths.socket(runDir(), name);
    JsonNode clone =
        RunningClones.call(runDir(), name, ControlProtocol.request(ControlProtocol.CANCEL));
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (Files.exists(socket, LinkOption.NOFOLLOW_LINKS)
        && ControlClient.answers(socket)
        && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    out.println(
        "clone "
            + name
            + ": cancelled at "
            + clone.path("percent").asText()
            + "% ("
            + clone.path("regionsCommitted").asLong()
            + " of "
            + clone.path("regionsTotal").asLong()
            + " regions committed to "
            + clone.path("metadata").asText()
            + "); run the same clone command to resume");
    out.flush();
    return 0;
  }
}
