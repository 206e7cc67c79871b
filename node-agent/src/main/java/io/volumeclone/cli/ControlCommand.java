package io.volumeclone.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.volumeclone.engine.CloneStatus;
import java.io.PrintStream;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** What the commands that talk to running clones share: the run directory and the output. */
abstract class ControlCommand {

  @Option(
      names = "--run-dir",
      description =
          "Directory of the running clones' control sockets (default: $"
              + ControlPaths.ENV
              + " or /run/volume-clone).")
  Path runDir;

  PrintStream out = System.out;
  PrintStream err = System.err;

  Path runDir() {
    return ControlPaths.runDir(runDir);
  }

  static String rate(JsonNode clone) {
    return CloneStatus.rateOf(clone.path("bytesPerSecond").asLong());
  }

  static String eta(JsonNode clone) {
    String phase = clone.path("phase").asText();
    if (!phase.equals("COPYING")) {
      return "-";
    }
    return CloneStatus.etaOf(clone.path("etaSeconds").asLong(-1));
  }

  static String knobs(JsonNode clone) {
    JsonNode t = clone.path("tuning");
    long bandwidth = t.path("bandwidth").asLong();
    return (t.path("paused").asBoolean() ? "paused" : "copying")
        + ", bandwidth "
        + (bandwidth == 0 ? "unlimited" : CloneStatus.rateOf(bandwidth))
        + ", "
        + t.path("regionsInFlight").asInt()
        + " regions in flight, batch "
        + t.path("batchRegions").asInt()
        + ", copy-on-read "
        + (t.path("copyOnRead").asBoolean() ? "on" : "off")
        + ", hot regions first "
        + (t.path("hotRegionsFirst").asBoolean() ? "on" : "off");
  }
}
