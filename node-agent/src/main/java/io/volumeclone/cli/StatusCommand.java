package io.volumeclone.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.volumeclone.api.Sizes;
import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.DiskCloneMetadata;
import io.volumeclone.engine.FileBlockDevice;
import io.volumeclone.engine.MetadataReport;
import java.io.IOException;
import java.io.PrintStream;
import java.math.BigDecimal;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code volume-clone status}: what a metadata device records (what {@code dmsetup status} says for
 * dm-clone). Reads the device without claiming it, so it works while a clone runs; it then shows
 * the last committed state.
 */
@Command(
    name = "status",
    mixinStandardHelpOptions = true,
    description = "Print the geometry and committed progress recorded on a metadata device.",
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:the metadata is valid",
      "1:missing, unformatted or invalid metadata (the reason is printed)",
      "2:usage error"
    })
public class StatusCommand implements Callable<Integer> {

  @Option(names = "--metadata", required = true, description = "Metadata device or file.")
  Path metadata;

  @Option(names = "--json", description = "One JSON object, for tools.")
  boolean json;

  PrintStream out = System.out;

  @Override
  public Integer call() throws IOException {
    MetadataReport report;
    try (FileBlockDevice device = FileBlockDevice.openReadOnly(metadata)) {
      report = DiskCloneMetadata.inspect(device);
    } catch (NoSuchFileException e) {
      throw new IOException("metadata " + metadata + ": no such device or file", e);
    }
    if (json) {
      out.println(toJson(report));
    } else {
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
        "source:       bytes %d..%d of %d%n",
        g.sourceOffset(), g.sourceOffset() + g.size(), g.sourceSize());
    out.printf(
        "destination:  bytes %d..%d of %d%n",
        g.destinationOffset(), g.destinationOffset() + g.size(), g.destinationSize());
    out.printf("size:         %d (%s)%n", g.size(), Sizes.format(g.size()));
    out.printf("region size:  %d (%s)%n", g.regionSize(), Sizes.format(g.regionSize()));
    out.printf(
        "copied:       %d/%d regions, %s%%, %s of %s%n",
        r.committedCount(),
        r.regionCount(),
        ProgressReporter.percent(r.bytesCopied(), g.size()),
        Sizes.format(r.bytesCopied()),
        Sizes.format(g.size()));
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
      node.put("sourceOffset", g.sourceOffset());
      node.put("destinationOffset", g.destinationOffset());
      node.put("size", g.size());
      node.put("regionSize", g.regionSize());
      node.put("sourceSize", g.sourceSize());
      node.put("destinationSize", g.destinationSize());
      node.put("regionsTotal", r.regionCount());
      node.put("regionsCopied", r.committedCount());
      node.put("bytesCopied", r.bytesCopied());
      node.put("percent", new BigDecimal(ProgressReporter.percent(r.bytesCopied(), g.size())));
      node.put("transactionId", r.transactionId());
      node.put("mode", r.cutOver() ? "CLOSED" : "WRITE");
      node.put("complete", r.complete());
      node.put("cutOver", r.cutOver());
    }
    return node;
  }
}
