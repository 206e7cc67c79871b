package io.volumeclone.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code volume-clone tune NAME}: changes the knobs of a running clone (dm-clone's {@code dmsetup
 * message}), the same ones the VolumeClone spec changes live, through the engine's one control
 * surface. A pause commits before it is reported.
 */
@Command(
    name = "tune",
    mixinStandardHelpOptions = true,
    description =
        "Change bandwidth, regions in flight, batch size, copy-on-read, hot regions first or pause"
            + " a clone.")
public class TuneCommand extends ControlCommand implements Callable<Integer> {

  @Parameters(index = "0", paramLabel = "NAME", description = "The clone, as 'list' shows it.")
  String name;

  @Option(
      names = "--bandwidth",
      converter = SizeConverter.class,
      description = "Copy bandwidth limit per second, e.g. 100Mi; 0 = unlimited.")
  Long bandwidth;

  @Option(names = "--regions-in-flight", description = "Most regions copied at once.")
  Integer regionsInFlight;

  @Option(names = "--batch-regions", description = "Most contiguous regions per copy.")
  Integer batchRegions;

  @Option(
      names = "--copy-on-read",
      paramLabel = "on|off",
      description = "Whether reads of uncopied regions also copy them.")
  String copyOnRead;

  @Option(
      names = "--hot-regions-first",
      paramLabel = "on|off",
      description = "Whether the copier copies regions near reads of uncopied data first.")
  String hotRegionsFirst;

  @ArgGroup(exclusive = true)
  PauseOrResume pauseOrResume;

  static final class PauseOrResume {
    @Option(names = "--pause", description = "Pause the background copy (commits first).")
    boolean pause;

    @Option(names = "--resume", description = "Resume the background copy.")
    boolean resume;
  }

  @Option(names = "--json", description = "Print the clone's status after the change as JSON.")
  boolean json;

  @Override
  public Integer call() throws IOException {
    ObjectNode request = ControlProtocol.request(ControlProtocol.TUNE);
    if (bandwidth != null) {
      request.put("bandwidth", bandwidth);
    }
    if (regionsInFlight != null) {
      request.put("regionsInFlight", regionsInFlight);
    }
    if (batchRegions != null) {
      request.put("batchRegions", batchRegions);
    }
    if (copyOnRead != null) {
      request.put("copyOnRead", onOff("--copy-on-read", copyOnRead));
    }
    if (hotRegionsFirst != null) {
      request.put("hotRegionsFirst", onOff("--hot-regions-first", hotRegionsFirst));
    }
    if (pauseOrResume != null) {
      request.put("paused", pauseOrResume.pause);
    }
    if (request.size() == 1) {
      throw new Main.UsageException(
          "nothing to tune: give --bandwidth, --regions-in-flight, --batch-regions,"
              + " --copy-on-read, --hot-regions-first, --pause or --resume");
    }
    JsonNode clone = RunningClones.call(runDir(), name, request);
    if (json) {
      out.println(ControlProtocol.line(clone));
    } else {
      out.println("clone " + name + ": " + knobs(clone));
    }
    out.flush();
    return 0;
  }

  private static boolean onOff(String option, String value) {
    return switch (value) {
      case "on" -> true;
      case "off" -> false;
      default ->
          throw new Main.UsageException(
              "invalid " + option + " '" + value + "': expected on or off");
    };
  }
}
