package io.volumeclone.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code volume-clone list}: the clones running on this machine (QUADStor's {@code qclone -l}),
 * finished clones that still serve their export included until they exit. Stale sockets of dead
 * processes are reported on stderr and removed.
 */
@Command(
    name = "list",
    mixinStandardHelpOptions = true,
    description = "List the clones running on this machine, with phase, progress, rate and ETA.")
public class ListCommand extends ControlCommand implements Callable<Integer> {

  @Option(names = "--json", description = "One JSON array of the clones' status, for tools.")
  boolean json;

  @Override
  public Integer call() {
    RunningClones.Scan scan = RunningClones.scan(runDir());
    for (String problem : scan.problems()) {
      err.println("volume-clone: " + problem);
    }
    if (json) {
      ArrayNode array = ControlProtocol.JSON.createArrayNode();
      for (RunningClones.Entry e : scan.running()) {
        array.add(e.status());
      }
      out.println(ControlProtocol.line(array));
    } else if (scan.running().isEmpty()) {
      out.println("no clone is running under " + runDir());
    } else {
      List<String[]> rows = new ArrayList<>();
      rows.add(
          new String[] {
            "NAME", "PHASE", "PROGRESS", "RATE", "ETA", "MODE", "CUTOVER", "SOURCE", "DESTINATION"
          });
      for (RunningClones.Entry e : scan.running()) {
        JsonNode c = e.status();
        rows.add(
            new String[] {
              e.name(),
              c.path("phase").asText(),
              c.path("percent").asText() + "%",
              rate(c),
              eta(c),
              c.path("metadataMode").asText(),
              c.path("cutover").asText(),
              c.path("source").asText(),
              c.path("destination").asText()
            });
      }
      printTable(rows);
    }
    out.flush();
    return 0;
  }

  private void printTable(List<String[]> rows) {
    int columns = rows.get(0).length;
    int[] width = new int[columns];
    for (String[] row : rows) {
      for (int i = 0; i < columns; i++) {
        width[i] = Math.max(width[i], row[i].length());
      }
    }
    for (String[] row : rows) {
      StringBuilder line = new StringBuilder();
      for (int i = 0; i < columns; i++) {
        line.append(i == columns - 1 ? row[i] : String.format("%-" + (width[i] + 2) + "s", row[i]));
      }
      out.println(line.toString().stripTrailing());
    }
  }
}
