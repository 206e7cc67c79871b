package io.volumeclone.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.volumeclone.engine.CloneStatus;
import java.io.PrintStream;
import java.math.BigDecimal;

/**
 * Progress of a running clone: a bar with rate and ETA on a terminal (stderr), one JSON object per
 * line on stdout otherwise, so tools can follow it.
 */
final class ProgressReporter {

  /**
   * Created on the first JSON line, a second after the start, not with the reporter: Jackson's
   * start-up took 20 ms of CPU right while a consumer's first request was being served (issue 19).
   */
  private static final class Json {
    static final ObjectMapper MAPPER = new ObjectMapper();
  }

  private static final int BAR_WIDTH = 30;

  private final PrintStream out;
  private final PrintStream err;
  private final boolean terminal;
  private boolean barShown;

  ProgressReporter(PrintStream out, PrintStream err, boolean terminal) {
    this.out = out;
    this.err = err;
    this.terminal = terminal;
  }

  /** True when stdout is an interactive terminal (JDK 22+ asks the console; older: any console). */
  static boolean stdoutIsTerminal() {
    java.io.Console console = System.console();
    if (console == null) {
      return false;
    }
    try {
      return (Boolean) java.io.Console.class.getMethod("isTerminal").invoke(console);
    } catch (ReflectiveOperationException e) {
      return true;
    }
  }

  synchronized void update(String event, CloneStatus status) {
    if (terminal) {
      err.print("\r" + bar(status));
      err.flush();
      barShown = true;
      if (!"progress".equals(event)) {
        err.println();
        err.println(message(event, status));
        barShown = false;
      }
    } else {
      out.println(json(event, status));
      out.flush();
    }
  }

  synchronized void finish() {
    if (terminal && barShown) {
      err.println();
      barShown = false;
    }
  }

  static String bar(CloneStatus s) {
    long total = Math.max(0, s.bytesTotal());
    long copied = Math.max(0, Math.min(s.bytesCopied(), total));
    int filled = total == 0 ? BAR_WIDTH : (int) (copied * BAR_WIDTH / total);
    return String.format(
        "[%s%s] %5s%%  %s/%s  %s/s  ETA %s%s",
        "#".repeat(filled),
        ".".repeat(BAR_WIDTH - filled),
        s.percentText(),
        CloneStatus.bytesText(Math.max(0, s.bytesCopied())),
        CloneStatus.bytesText(Math.max(0, s.bytesTotal())),
        CloneStatus.bytesText(Math.max(0, s.bytesPerSecond())),
        s.etaText(),
        s.paused() ? "  paused" : s.degraded() ? "  DEGRADED" : "");
  }

  static String message(String event, CloneStatus s) {
    return switch (event) {
      case "cut-over" -> "clone " + s.name() + ": cut over; the destination is the volume now";
      case "waiting-for-cutover" ->
          "clone "
              + s.name()
              + ": copy complete; manual cutover: approve it with 'volume-clone cutover "
              + s.name()
              + "' while the export runs, or rerun with --cutover auto";
      default -> "clone " + s.name() + ": " + event;
    };
  }

  static ObjectNode json(String event, CloneStatus s) {
    ObjectNode node = Json.MAPPER.createObjectNode();
    node.put("event", event);
    node.put("name", s.name());
    node.put("state", s.state().name());
    node.put("regionSize", s.regionSize());
    node.put("regionsTotal", s.regionsTotal());
    node.put("regionsCopied", s.regionsCopied());
    node.put("regionsCommitted", s.regionsCommitted());
    node.put("bytesTotal", s.bytesTotal());
    node.put("bytesCopied", s.bytesCopied());
    node.put("percent", new BigDecimal(s.percentText()));
    node.put("bytesPerSecond", s.bytesPerSecond());
    node.put("etaSeconds", s.etaSeconds());
    node.put("metadataMode", s.metadataMode().name());
    node.put("paused", s.paused());
    node.put("degraded", s.degraded());
    node.put("copyErrors", s.copyErrors());
    if (s.lastError() != null) {
      node.put("lastError", s.lastError());
    }
    return node;
  }
}
