package io.volumeclone.engine;

import java.math.BigDecimal;
import java.math.RoundingMode;

/**
 * A snapshot of a clone's progress, as the CLI, the agent and the export report it, and the one
 * place its figures become text (percent, rate, ETA, sizes), as {@code dmsetup status} is one line
 * of facts: the progress bar, {@code volume-clone status} and {@code list} print what these methods
 * return, so they never disagree about a clone. The percent is the one the VolumeClone's {@code
 * status.progress.percent} carries (one decimal, rounded down, so "100.0" means done).
 *
 * @param name the clone's name
 * @param state where the clone is in its life
 * @param regionSize bytes per region
 * @param regionsTotal regions in the clone range
 * @param regionsCopied regions whose data is on the destination (committed or not)
 * @param regionsCommitted regions recorded as copied by the last metadata commit
 * @param bytesTotal bytes in the clone range
 * @param bytesCopied bytes of the copied regions
 * @param metadataMode WRITE, READ_ONLY or FAIL (WRITE after cutover: the metadata is closed)
 * @param paused background copying is paused
 * @param degraded copy errors went past the error budget
 * @param copyErrors copy errors seen by the background copier
 * @param lastError the last copy or commit error, or null
 * @param bytesPerSecond recent background copy rate
 */
public record CloneStatus(
    String name,
    State state,
    int regionSize,
    long regionsTotal,
    long regionsCopied,
    long regionsCommitted,
    long bytesTotal,
    long bytesCopied,
    CloneMetadata.Mode metadataMode,
    boolean paused,
    boolean degraded,
    long copyErrors,
    String lastError,
    long bytesPerSecond) {

  /**
   * The clone's life: copying, then copied (complete, maybe waiting for approval), then cut over.
   */
  public enum State {
    COPYING,
    COPIED,
    CUT_OVER,
    CLOSED
  }

  public double percent() {
    return regionsTotal == 0 ? 100.0 : 100.0 * regionsCopied / regionsTotal;
  }

  /** Seconds until the copy completes at the current rate, or -1 when unknown. */
  public long etaSeconds() {
    if (bytesPerSecond <= 0) {
      return bytesCopied >= bytesTotal ? 0 : -1;
    }
    return (bytesTotal - bytesCopied + bytesPerSecond - 1) / bytesPerSecond;
  }

  /** The copied share of the bytes, e.g. {@code "42.5"}: see {@link #percentOf}. */
  public String percentText() {
    return percentOf(bytesCopied, bytesTotal);
  }

  /** The copy rate, e.g. {@code "120Mi/s"}. */
  public String rateText() {
    return rateOf(bytesPerSecond);
  }

  /** The time left at the current rate, e.g. {@code "0:01:05"}, or {@code "--:--:--"}. */
  public String etaText() {
    return etaOf(etaSeconds());
  }

  /**
   * {@code copied} of {@code total} in percent with one decimal, rounded down so that "100.0" is
   * shown only when everything is copied; a total of 0 is done. Figures outside 0..total (a
   * snapshot taken while a region is counted) are clamped rather than shown as 100.1 or -0.1.
   */
  public static String percentOf(long copied, long total) {
    long t = Math.max(0, total);
    long c = Math.max(0, Math.min(copied, t));
    if (t == 0) {
      return "100.0";
    }
    long remainder = c % t;
    if (remainder <= Long.MAX_VALUE / 1000) {
      // In long arithmetic below 8 PiB: BigDecimal's class initialisation alone costs a CLI clone
      // 14 ms of CPU on its first progress line, while its consumer's first writes run (issue 19).
      long permille = c / t * 1000 + remainder * 1000 / t;
      return (permille / 10) + "." + (permille % 10);
    }
    return BigDecimal.valueOf(c)
        .multiply(BigDecimal.valueOf(100))
        .divide(BigDecimal.valueOf(t), 1, RoundingMode.DOWN)
        .toPlainString();
  }

  /** A rate in bytes per second as {@link #bytesText} per second, e.g. {@code "120Mi/s"}. */
  public static String rateOf(long bytesPerSecond) {
    return bytesText(Math.max(0, bytesPerSecond)) + "/s";
  }

  /** {@code seconds} as H:MM:SS, or {@code "--:--:--"} when negative (unknown). */
  public static String etaOf(long seconds) {
    if (seconds < 0) {
      return "--:--:--";
    }
    return String.format("%d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60);
  }

  private static final String[] BINARY_UNITS = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};

  /**
   * A short form of {@code bytes}: plain bytes below 1Ki, otherwise the largest binary unit it
   * reaches, exact ({@code 64Ki}) or with one decimal ({@code 1.5Gi}, rounded half up). Exact forms
   * parse back to the same value with the API's size parser; one-decimal forms are approximate. The
   * one formatter of sizes: the status, the CLI, the logs and the benchmarks use it.
   */
  public static String bytesText(long bytes) {
    if (bytes < 0) {
      throw new IllegalArgumentException("invalid size " + bytes + ": a size cannot be negative");
    }
    if (bytes < 1024) {
      return Long.toString(bytes);
    }
    int unit = (63 - Long.numberOfLeadingZeros(bytes)) / 10; // 1 = Ki .. 6 = Ei
    long unitBytes = 1L << (10 * unit);
    if (bytes % unitBytes == 0) {
      return (bytes / unitBytes) + BINARY_UNITS[unit - 1];
    }
    BigDecimal scaled =
        BigDecimal.valueOf(bytes).divide(BigDecimal.valueOf(unitBytes), 1, RoundingMode.HALF_UP);
    if (scaled.compareTo(BigDecimal.valueOf(1024)) >= 0 && unit < BINARY_UNITS.length) {
      // 1023.96Ki rounds to 1024.0Ki: say 1.0Mi instead
      return "1.0" + BINARY_UNITS[unit];
    }
    return scaled.toPlainString() + BINARY_UNITS[unit - 1];
  }
}
