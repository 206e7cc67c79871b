package io.volumeclone.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.CloneStatus;
import io.volumeclone.engine.DiskCloneMetadata;
import io.volumeclone.engine.FileBlockDevice;
import io.volumeclone.engine.MetadataReport;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code volume-clone status}: what {@code dmsetup status} says for dm-clone. A running clone
 * (named, or found by its metadata among the running ones) answers on its control socket with its
 * exact figures: copied in memory and committed to the metadata. Otherwise the metadata device is
 * read without claiming it and shows the last commit. The output says which of the two it is.
 */
@Command(
    name = "status",
    mixinStandardHelpOptions = true,
    description = {
      "Print a clone's progress: from its control socket while it runs (copied and committed),"
          + " else from its metadata device (the last commit). Says which.",
      "Give the clone's NAME (as 'list' shows it), or --metadata M, or both."
    },
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:the metadata is valid",
      "1:missing, unformatted or invalid metadata (the reason is printed)",
      "2:usage error"
    })
public class StatusCommand extends ControlCommand implements Callable<Integer> {

  static final String FROM_CONTROL_SOCKET = "control-socket";
  static final String FROM_METADATA = "metadata";

  @Parameters(
      index = "0",
      arity = "0..1",
      paramLabel = "NAME",
      description = "A running clone, as 'list' shows it.")
  String name;

  @Option(names = "--metadata", description = "Metadata device or file.")
  Path metadata;

  @Option(names = "--json", description = "One JSON object, for tools.")
  boolean json;

  @Override
  public Integer call() throws IOException {
    if (name == null && metadata == null) {
      throw new Main.UsageException("status needs a clone NAME or --metadata M");
    }
    JsonNode live = null;
    if (name != null && metadata == null) {
      live = RunningClones.call(runDir(), name, ControlProtocol.request(ControlProtocol.STATUS));
    } else {
      live = findRunning();
    }
    if (live != null) {
      printLive(live);
      return 0;
    }
    return printMetadata();
  }

  /** The running clone that uses {@link #metadata} (and is called {@link #name}, if given). */
  private JsonNode findRunning() {
    Path wanted = canonical(metadata.toString());
    for (RunningClones.Entry e : RunningClones.scan(runDir()).running()) {
      if ((name == null || name.equals(e.name()))
          && wanted.equals(canonical(e.status().path("metadata").asText()))) {
        return e.status();
      }
    }
    return null;
  }

  private static Path canonical(String path) {
    Path p = Path.of(path).toAbsolutePath().normalize();
    try {
      return p.toRealPath();
    } catch (IOException e) {
      return p;
    }
  }

  private void printLive(JsonNode clone) {
    if (json) {
      ObjectNode node = ((ObjectNode) clone).deepCopy();
      node.put("from", FROM_CONTROL_SOCKET);
      out.println(ControlProtocol.line(node));
      out.flush();
      return;
    }
    long total = clone.path("regionsTotal").asLong();
    out.printf("name:         %s%n", clone.path("name").asText());
    out.printf(
        "from:         control socket of the running clone (pid %d): exact, in memory%n",
        clone.path("pid").asLong());
    out.printf("phase:        %s%n", clone.path("phase").asText());
    out.printf("source:       %s%n", clone.path("source").asText());
    out.printf("destination:  %s%n", clone.path("destination").asText());
    out.printf("metadata:     %s%n", clone.path("metadata").asText());
    if (clone.has("export")) {
      out.printf("export:       %s%n", clone.path("export").asText());
    }
    out.printf(
        "copied:       %d/%d regions, %s%%, %s of %s%n",
        clone.path("regionsCopied").asLong(),
        total,
        clone.path("percent").asText(),
        CloneStatus.bytesText(clone.path("bytesCopied").asLong()),
        CloneStatus.bytesText(clone.path("bytesTotal").asLong()));
    out.printf("committed:    %d/%d regions%n", clone.path("regionsCommitted").asLong(), total);
    out.printf("rate:         %s%n", rate(clone));
    out.printf("eta:          %s%n", eta(clone));
    out.printf("mode:         %s%n", clone.path("metadataMode").asText().toLowerCase());
    out.printf("cutover:      %s%n", clone.path("cutover").asText());
    out.printf("tuning:       %s%n", knobs(clone));
    if (clone.path("copyErrors").asLong() > 0) {
      out.printf(
          "copy errors:  %d%s%n",
          clone.path("copyErrors").asLong(),
          clone.path("degraded").asBoolean() ? " (degraded)" : "");
    }
    if (clone.has("lastError")) {
      out.printf("last error:   %s%n", clone.path("lastError").asText());
    }
    out.flush();
  }

  private int printMetadata() throws IOException {
    MetadataReport report;
    try (FileBlockDevice device = FileBlockDevice.openReadOnly(metadata)) {
      report = DiskCloneMetadata.inspect(device);
    } catch (NoSuchFileException e) {
      throw new IOException("metadata " + metadata + ": no such device or file", e);
    }
    if (json) {
      ObjectNode node = toJson(report);
      node.put("from", FROM_METADATA);
      out.println(node);
    } else {
      out.println("from:         metadata device (the clone is not running here): last commit");
      printHuman(report);
    }
    out.flush();
    return report.state() == MetadataReport.State.VALID ? 0 : Main.EXIT_FAILURE;
  }

  static String phase(MetadataReport r) {
    if (r.state() != MetadataReport.State.VALID) {
      return r.state().name();
    }
    return r.cutOver() ? "CUT_OVER" : r.complete() ? "COPIED" : "COPYING";
  }

  private void printHuman(MetadataReport r) {
    out.printf("metadata:     %s%n", r.device());
    switch (r.state()) {
      case UNFORMATTED -> {
        out.println("state:        unformatted (no clone has used this device yet)");
        return;
      }
      case INVALID -> {
        out.println("state:        invalid: " + r.problem());
        return;
      }
      case VALID -> out.printf("state:        valid, format v%d%n", r.formatVersion());
    }
    CloneGeometry g = r.geometry();
    out.printf("clone:        %s%n", r.uuid());
    out.printf(
        "bound to:     %s%n",
        r.identity() == null
            ? "nothing recorded (the next clone to commit binds it)"
            : r.identity());
    out.printf(
        "source:       bytes %d..%d of %d%n",
        g.sourceOffset(), g.sourceOffset() + g.size(), g.sourceSize());
    out.printf(
        "destination:  bytes %d..%d of %d%n",
        g.destinationOffset(), g.destinationOffset() + g.size(), g.destinationSize());
    out.printf("size:         %d (%s)%n", g.size(), CloneStatus.bytesText(g.size()));
    out.printf("region size:  %d (%s)%n", g.regionSize(), CloneStatus.bytesText(g.regionSize()));
    out.printf(
        "copied:       %d/%d regions, %s%%, %s of %s%n",
        r.committedCount(),
        r.regionCount(),
        CloneStatus.percentOf(r.bytesCopied(), g.size()),
        CloneStatus.bytesText(r.bytesCopied()),
        CloneStatus.bytesText(g.size()));
    out.printf("transaction:  %d%n", r.transactionId());
    out.printf("mode:         %s%n", r.cutOver() ? "closed (cut over)" : "write");
    out.printf("complete:     %s%n", r.complete() ? "yes" : "no");
    out.printf("cut over:     %s%n", r.cutOver() ? "yes" : "no");
    out.printf("phase:        %s%n", phase(r));
  }

  static ObjectNode toJson(MetadataReport r) {
    ObjectNode node = new ObjectMapper().createObjectNode();
    node.put("metadata", r.device());
    node.put("state", r.state().name());
    if (r.problem() != null) {
      node.put("problem", r.problem());
    }
    node.put("phase", phase(r));
    if (r.state() == MetadataReport.State.VALID) {
      CloneGeometry g = r.geometry();
      node.put("formatVersion", r.formatVersion());
      node.put("uuid", String.valueOf(r.uuid()));
      if (r.identity() != null) {
        node.put("cloneIdentity", r.identity().owner());
        node.put("destinationIdentity", r.identity().destination());
      }
      node.put("sourceOffset", g.sourceOffset());
      node.put("destinationOffset", g.destinationOffset());
      node.put("size", g.size());
      node.put("regionSize", g.regionSize());
      node.put("sourceSize", g.sourceSize());
      node.put("destinationSize", g.destinationSize());
      node.put("regionsTotal", r.regionCount());
      node.put("regionsCopied", r.committedCount());
      node.put("bytesCopied", r.bytesCopied());
      node.put("percent", new BigDecimal(CloneStatus.percentOf(r.bytesCopied(), g.size())));
      node.put("transactionId", r.transactionId());
      node.put("mode", r.cutOver() ? "CLOSED" : "WRITE");
      node.put("complete", r.complete());
      node.put("cutOver", r.cutOver());
    }
    return node;
  }
}
