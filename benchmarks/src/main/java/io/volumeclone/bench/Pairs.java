package io.volumeclone.bench;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Interleaved pairs of runs, ours against a reference tool's, and the ratio of each figure printed
 * as min, median and max next to its goal: the one way every benchmark reports (issue 17 item 6).
 *
 * <p>Why pairs and not two series: a noisy neighbour on a shared machine slows whatever runs at
 * that moment, so each ratio is taken within one pair, where both sides ran back to back; the first
 * side alternates from pair to pair, so neither always meets a cold or a warm cache. Why min,
 * median and max rather than a mean: one disturbed pair shows up as an outlier at the edge, not as
 * a shifted average, and a goal that must hold "in every pair" is checked on the edge.
 *
 * <p>A run may yield several figures at once (benchmark 5's p50 and p99, the peer benchmark's three
 * latencies); {@link #report} picks one of ours and one of theirs by index.
 */
final class Pairs {

  /** Minimum number of pairs for a figure to count as measured (issue 17 item 6). */
  static final int MINIMUM = 5;

  /** One side's run: the figures it measured, in a fixed order. */
  interface Run {
    double[] measure() throws Exception;
  }

  /** One side's run yielding a single figure. */
  interface SingleRun {
    double measure() throws Exception;
  }

  /** What a ratio must be for the figure to meet its goal. */
  record Goal(boolean atMost, double bound, boolean inEveryPair) {

    static Goal atMost(double bound) {
      return new Goal(true, bound, false);
    }

    static Goal atLeast(double bound) {
      return new Goal(false, bound, false);
    }

    /** The goal holds for the worst pair, not only for the median. */
    static Goal atMostInEveryPair(double bound) {
      return new Goal(true, bound, true);
    }

    boolean metBy(Summary s) {
      double judged = inEveryPair ? (atMost ? s.max() : s.min()) : s.median();
      return atMost ? judged <= bound : judged >= bound;
    }

    String describe() {
      return (atMost ? "<= " : ">= ")
          + String.format(Locale.ROOT, "%.2f", bound)
          + (inEveryPair ? " in every pair" : "");
    }
  }

  /** Min, median (the mean of the middle two for an even count) and max of some values. */
  record Summary(double min, double median, double max) {

    static Summary of(double[] values) {
      if (values.length == 0) {
        throw new IllegalArgumentException("no values to summarise");
      }
      double[] s = values.clone();
      Arrays.sort(s);
      int n = s.length;
      double median = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
      return new Summary(s[0], median, s[n - 1]);
    }

    String format(String pattern) {
      return String.format(
          Locale.ROOT, pattern + " / " + pattern + " / " + pattern, min, median, max);
    }
  }

  private final String oursName;
  private final String theirsName;
  private final List<double[]> ours = new ArrayList<>();
  private final List<double[]> theirs = new ArrayList<>();

  private Pairs(String oursName, String theirsName) {
    this.oursName = oursName;
    this.theirsName = theirsName;
  }

  /**
   * Runs {@code count} pairs: ours first in pairs 1, 3, 5..., theirs first in pairs 2, 4.... {@code
   * between} runs before every single run (a sync, say, so that neither side pays for the other's
   * write-back).
   */
  static Pairs interleave(
      int count, String oursName, Run oursRun, String theirsName, Run theirsRun, Runnable between)
      throws Exception {
    if (count < 1) {
      throw new IllegalArgumentException("pairs must be at least 1, not " + count);
    }
    Pairs pairs = new Pairs(oursName, theirsName);
    for (int i = 0; i < count; i++) {
      if (i % 2 == 0) {
        between.run();
        pairs.ours.add(oursRun.measure());
        between.run();
        pairs.theirs.add(theirsRun.measure());
      } else {
        between.run();
        pairs.theirs.add(theirsRun.measure());
        between.run();
        pairs.ours.add(oursRun.measure());
      }
    }
    return pairs;
  }

  static Pairs interleave(
      int count,
      String oursName,
      SingleRun oursRun,
      String theirsName,
      SingleRun theirsRun,
      Runnable between)
      throws Exception {
    return interleave(
        count,
        oursName,
        () -> new double[] {oursRun.measure()},
        theirsName,
        () -> new double[] {theirsRun.measure()},
        between);
  }

  /** Pairs measured elsewhere, one row of figures per run and side, in pair order. */
  static Pairs of(String oursName, List<double[]> ours, String theirsName, List<double[]> theirs) {
    if (ours.size() != theirs.size() || ours.isEmpty()) {
      throw new IllegalArgumentException(
          ours.size() + " runs of ours, " + theirs.size() + " of theirs");
    }
    Pairs pairs = new Pairs(oursName, theirsName);
    pairs.ours.addAll(ours);
    pairs.theirs.addAll(theirs);
    return pairs;
  }

  int count() {
    return ours.size();
  }

  double[] ours(int figure) {
    return ours.stream().mapToDouble(run -> run[figure]).toArray();
  }

  double[] theirs(int figure) {
    return theirs.stream().mapToDouble(run -> run[figure]).toArray();
  }

  /** Per pair, our figure {@code oursFigure} over their figure {@code theirsFigure}. */
  double[] ratios(int oursFigure, int theirsFigure) {
    double[] a = ours(oursFigure);
    double[] b = theirs(theirsFigure);
    double[] r = new double[a.length];
    for (int i = 0; i < r.length; i++) {
      r[i] = a[i] / b[i];
    }
    return r;
  }

  /** Prints the single figure of each side and its ratio. */
  Summary report(PrintStream out, String title, Goal goal) {
    return report(out, title, 0, 0, goal);
  }

  /**
   * Prints both sides' values of one figure pair by pair, then the ratio's min, median and max next
   * to the goal and whether it is met; returns the ratio's summary.
   */
  Summary report(PrintStream out, String title, int oursFigure, int theirsFigure, Goal goal) {
    double[] ratios = ratios(oursFigure, theirsFigure);
    Summary s = Summary.of(ratios);
    int width = Math.max(oursName.length(), theirsName.length()) + 1;
    out.printf(
        Locale.ROOT,
        "%s%n   %-"
            + width
            + "s %s%n   %-"
            + width
            + "s %s%n"
            + "   ratio %s/%s over %d pairs: min / median / max %s (goal %s) %s%n",
        title,
        oursName + ":",
        values(ours(oursFigure)),
        theirsName + ":",
        values(theirs(theirsFigure)),
        oursName,
        theirsName,
        ratios.length,
        s.format("%.2f"),
        goal.describe(),
        verdict(goal, s, ratios.length, "pairs"));
    return s;
  }

  /**
   * Prints a figure that has no reference run (a time against a fixed bound, say): its values,
   * their min, median and max next to the goal.
   */
  static Summary reportAlone(PrintStream out, String title, double[] values, Goal goal) {
    Summary s = Summary.of(values);
    out.printf(
        Locale.ROOT,
        "%s%n   %s%n   over %d runs: min / median / max %s (goal %s) %s%n",
        title,
        values(values),
        values.length,
        s.format("%.2f"),
        goal.describe(),
        verdict(goal, s, values.length, "runs"));
    return s;
  }

  private static String verdict(Goal goal, Summary s, int count, String what) {
    String met = goal.metBy(s) ? "met" : "NOT met";
    return count < MINIMUM
        ? met + " (only " + count + " " + what + ", fewer than " + MINIMUM + ")"
        : met;
  }

  private static String values(double[] v) {
    StringBuilder b = new StringBuilder("[");
    for (int i = 0; i < v.length; i++) {
      // IOPS in the tens of thousands need no decimals; seconds and ratios need three.
      String pattern = Math.abs(v[i]) >= 100 ? "%.0f" : "%.3f";
      b.append(i == 0 ? "" : ", ").append(String.format(Locale.ROOT, pattern, v[i]));
    }
    return b.append(']').toString();
  }
}
