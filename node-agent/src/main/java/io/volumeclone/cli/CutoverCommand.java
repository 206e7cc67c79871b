package io.volumeclone.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code volume-clone cutover NAME}: approves the cutover of a clone started with {@code --cutover
 * manual}. A copied clone cuts over before this returns; one still copying cuts over as soon as its
 * copy completes.
 */
@Command(
    name = "cutover",
    mixinStandardHelpOptions = true,
    description = "Approve the cutover of a clone started with --cutover manual.")
public class CutoverCommand extends ControlCommand implements Callable<Integer> {

  @Parameters(index = "0", paramLabel = "NAME", description = "The clone, as 'list' shows it.")
  String name;

  @Override
  public Integer call() throws IOException {
    JsonNode clone =
        RunningClones.call(runDir(), name, ControlProtocol.request(ControlProtocol.CUTOVER));
    String phase = clone.path("phase").asText();
    if (phase.equals("CUT_OVER")) {
      out.println("clone " + name + ": cut over; the destination is the volume now");
    } else {
      out.println(
          "clone "
              + name
              + ": cutover approved; it cuts over as soon as the copy completes (now "
              + clone.path("percent").asText()
              + "%, "
              + phase
              + ")");
    }
    out.flush();
    return 0;
  }
}
