package io.volumeclone.api;

import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Durations as the operator's settings and the agent's environment spell them: {@code 500ms},
 * {@code 5s}, {@code 2m}, {@code 1h}, plain seconds ({@code 5}) or ISO-8601 ({@code PT5S}). The
 * operator {@link #format formats} what it passes to the agent, and the agent {@link #parse parses}
 * it with the same rules, so the two cannot disagree.
 */
public final class Durations {

  private static final Pattern SIMPLE = Pattern.compile("^([0-9]+)(ms|s|m|h)?$");

  private Durations() {}

  /** Parses {@code text}; throws an {@link IllegalArgumentException} that quotes it. */
  public static Duration parse(String text) {
    if (text == null) {
      throw new IllegalArgumentException("invalid duration: none given");
    }
    Matcher m = SIMPLE.matcher(text.strip().toLowerCase(Locale.ROOT));
    if (m.matches()) {
      try {
        long value = Long.parseLong(m.group(1));
        String unit = m.group(2) == null ? "s" : m.group(2);
        return switch (unit) {
          case "ms" -> Duration.ofMillis(value);
          case "s" -> Duration.ofSeconds(value);
          case "m" -> Duration.ofMinutes(value);
          default -> Duration.ofHours(value);
        };
      } catch (ArithmeticException | NumberFormatException e) {
        throw new IllegalArgumentException("invalid duration '" + text + "': too large", e);
      }
    }
    try {
      return Duration.parse(text.strip());
    } catch (DateTimeParseException e) {
      throw new IllegalArgumentException(
          "invalid duration '" + text + "': expected e.g. 500ms, 5s, 2m or PT5S");
    }
  }

  /** {@code 5s} for whole seconds, {@code 1500ms} otherwise: text {@link #parse} reads back. */
  public static String format(Duration d) {
    return d.toMillis() % 1000 == 0 ? d.toSeconds() + "s" : d.toMillis() + "ms";
  }
}
