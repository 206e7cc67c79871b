package io.volumeclone.cli;

import io.volumeclone.engine.CloneStatus;
import java.io.PrintStream;

/**
 * Progress of a running clone: a bar with rate and ETA on a terminal (stderr), one JSON object per
 * line on stdout otherwise, so tools can follow it.
 */
final class ProgressReporter {

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

  /**
   * One progress line as a JSON object. Written here rather than by Jackson: an ObjectMapper's
   * start-up costs tens of milliseconds of CPU, which a clone paid either while its consumer's
   * first request was served or, made lazy, on the first line a second later, while the consumer's
   * first writes were (issue 19). The fields are flat numbers, booleans and strings.
   */
  static String json(String event, CloneStatus s) {
    StringBuilder line = new StringBuilder(400).append('{');
    string(line, "event", event);
    string(line.append(','), "name", s.name());
    string(line.append(','), "state", s.state().name());
    number(line, "regionSize", s.regionSize());
    number(line, "regionsTotal", s.regionsTotal());
    number(line, "regionsCopied", s.regionsCopied());
    number(line, "regionsCommitted", s.regionsCommitted());
    number(line, "bytesTotal", s.bytesTotal());
    number(line, "bytesCopied", s.bytesCopied());
    line.append(",\"percent\":").append(s.percentText());
    number(line, "bytesPerSecond", s.bytesPerSecond());
    number(line, "etaSeconds", s.etaSeconds());
    string(line.append(','), "metadataMode", s.metadataMode().name());
    line.append(",\"paused\":").append(s.paused());
    line.append(",\"degraded\":").append(s.degraded());
    number(line, "copyErrors", s.copyErrors());
    if (s.lastError() != null) {
      string(line.append(','), "lastError", s.lastError());
    }
    return line.append('}').toString();
  }

  private static void number(StringBuilder line, String key, long value) {
    line.append(",\"").append(key).append("\":").append(value);
  }

  /** {@code "key":"value"} with the value escaped as JSON (RFC 8259) requires. */
  private static void string(StringBuilder line, String key, String value) {
    line.append('"').append(key).append("\":\"");
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      switch (c) {
        case '"' -> line.append("\\\"");
        case '\\' -> line.append("\\\\");
        case '\n' -> line.append("\\n");
        case '\r' -> line.append("\\r");
        case '\t' -> line.append("\\t");
        default -> {
          if (c < 0x20) {
            line.append(String.format("\\u%04x", (int) c));
          } else {
            line.append(c);
          }
        }
      }
    }
    line.append('"');
  }
}
