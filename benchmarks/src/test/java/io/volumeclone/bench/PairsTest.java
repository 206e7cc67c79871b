package io.volumeclone.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class PairsTest {

  @Test
  void theFirstSideAlternatesFromPairToPairWithTheHookBeforeEveryRun() throws Exception {
    List<String> order = new ArrayList<>();
    int[] ours = {0};
    int[] theirs = {0};
    Pairs pairs =
        Pairs.interleave(
            4,
            "ours",
            () -> {
              order.add("ours");
              return ++ours[0];
            },
            "theirs",
            () -> {
              order.add("theirs");
              return 10 * ++theirs[0];
            },
            () -> order.add("sync"));

    assertThat(order)
        .containsExactly(
            "sync", "ours", "sync", "theirs", "sync", "theirs", "sync", "ours", "sync", "ours",
            "sync", "theirs", "sync", "theirs", "sync", "ours");
    assertThat(pairs.count()).isEqualTo(4);
    assertThat(pairs.ours(0)).containsExactly(1, 2, 3, 4);
    assertThat(pairs.theirs(0)).containsExactly(10, 20, 30, 40);
    assertThat(pairs.ratios(0, 0)).containsExactly(0.1, 0.1, 0.1, 0.1);
  }

  @Test
  void ratiosAreTakenWithinEachPairBetweenTheChosenFigures() {
    Pairs pairs =
        Pairs.of(
            "clone",
            List.of(new double[] {1, 8}, new double[] {1, 6}),
            "source",
            List.of(new double[] {2}, new double[] {4}));

    assertThat(pairs.ratios(1, 0)).containsExactly(4.0, 1.5);
  }

  @Test
  void summaryTakesTheMiddleValueOrTheMeanOfTheMiddleTwo() {
    assertThat(Pairs.Summary.of(new double[] {3, 1, 2, 9, 5}))
        .isEqualTo(new Pairs.Summary(1, 3, 9));
    assertThat(Pairs.Summary.of(new double[] {4, 1, 2, 3})).isEqualTo(new Pairs.Summary(1, 2.5, 4));
    assertThatThrownBy(() -> Pairs.Summary.of(new double[0]))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void aGoalOnTheMedianIgnoresOneBadPairButAGoalInEveryPairDoesNot() {
    Pairs.Summary oneBadPair = Pairs.Summary.of(new double[] {0.9, 0.95, 0.92, 2.75, 0.94});

    assertThat(Pairs.Goal.atMost(1.0).metBy(oneBadPair)).isTrue();
    assertThat(Pairs.Goal.atMostInEveryPair(1.0).metBy(oneBadPair)).isFalse();
    assertThat(Pairs.Goal.atLeast(1.0).metBy(oneBadPair)).isFalse();
    assertThat(Pairs.Goal.atLeast(0.9).metBy(oneBadPair)).isTrue();
  }

  @Test
  void theReportPrintsBothSidesAndTheRatiosMinMedianMaxNextToTheGoal() throws Exception {
    double[] oursValues = {1.2, 1.0, 1.1, 1.3, 1.0};
    double[] theirsValues = {1.0, 1.0, 1.0, 1.0, 2.0};
    int[] run = {0, 0};
    Pairs pairs =
        Pairs.interleave(
            5,
            "volume-clone",
            () -> oursValues[run[0]++],
            "nbdkit",
            () -> theirsValues[run[1]++],
            () -> {});
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();

    Pairs.Summary s;
    try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
      s = pairs.report(out, "1. a figure", Pairs.Goal.atMost(1.0));
    }

    assertThat(s).isEqualTo(new Pairs.Summary(0.5, 1.1, 1.3));
    assertThat(bytes.toString(StandardCharsets.UTF_8))
        .contains("1. a figure")
        .contains("volume-clone: [1.200, 1.000, 1.100, 1.300, 1.000]")
        .contains("nbdkit:       [1.000, 1.000, 1.000, 1.000, 2.000]")
        .contains("ratio volume-clone/nbdkit over 5 pairs: min / median / max 0.50 / 1.10 / 1.30")
        .contains("(goal <= 1.00) NOT met");
  }

  @Test
  void fewerPairsThanTheMinimumAreSaidSo() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
      Pairs.reportAlone(out, "time to first read", new double[] {0.2, 0.3}, Pairs.Goal.atMost(1));
    }

    assertThat(bytes.toString(StandardCharsets.UTF_8))
        .contains("over 2 runs: min / median / max 0.20 / 0.25 / 0.30 (goal <= 1.00) met")
        .contains("only 2 runs, fewer than 5");
  }
}
