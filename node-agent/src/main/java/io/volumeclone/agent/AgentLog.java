package io.volumeclone.agent;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintStream;
import java.time.Instant;
import java.util.Locale;

/**
 * The agent's own events, one line each: plain text for people, or with {@code --log-format json}
 * one JSON object per line for log collectors. Every line names the clone; events about a device
 * add {@code device} and, where it matters, {@code offset}. The engine's and the NBD server's logs
 * keep going through slf4j-simple as plain text.
 */
public final class AgentLog {

  /** How lines are written. */
  public enum Format {
    TEXT,
    JSON;

    public static Format parse(String text) {
      try {
        return valueOf(text.toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "invalid log format '" + text + "': expected text or json");
      }
    }
  }

  private static final ObjectMapper JSON = new ObjectMapper();

  private final String clone;
  private final Format format;
  private final PrintStream out;

  public AgentLog(String clone, Format format, PrintStream out) {
    this.clone = clone;
    this.format = format;
    this.out = out;
  }

  public void info(String event, String message, Object... fields) {
    write("info", event, message, fields);
  }

  public void warn(String event, String message, Object... fields) {
    write("warn", event, message, fields);
  }

  public void error(String event, String message, Object... fields) {
    write("error", event, message, fields);
  }

  /** {@code fields} alternate key and value; null values are left out. */
  String format(String level, String event, String message, Object... fields) {
    if (fields.length % 2 != 0) {
      throw new IllegalArgumentException("log fields must be key/value pairs");
    }
    if (format == Format.JSON) {
      ObjectNode line = JSON.createObjectNode();
      line.put("time", Instant.now().toString());
      line.put("level", level);
      line.put("clone", clone);
      line.put("event", event);
      line.put("message", message);
      for (int i = 0; i < fields.length; i += 2) {
        Object value = fields[i + 1];
        String key = String.valueOf(fields[i]);
        if (value instanceof Number n) {
          line.put(key, n.longValue());
        } else if (value instanceof Boolean b) {
          line.put(key, b);
        } else if (value != null) {
          line.put(key, String.valueOf(value));
        }
      }
      return line.toString();
    }
    StringBuilder text =
        new StringBuilder()
            .append(Instant.now())
            .append(' ')
            .append(level.toUpperCase(Locale.ROOT))
            .append(" volume-clone agent ")
            .append(clone)
            .append(": ")
            .append(message);
    String separator = " (";
    for (int i = 0; i < fields.length; i += 2) {
      if (fields[i + 1] != null) {
        text.append(separator).append(fields[i]).append('=').append(fields[i + 1]);
        separator = ", ";
      }
    }
    if (!separator.equals(" (")) {
      text.append(')');
    }
    return text.toString();
  }

  private void write(String level, String event, String message, Object... fields) {
    String line = format(level, event, message, fields);
    synchronized (out) {
      out.println(line);
      out.flush();
    }
  }
}
