package io.volumeclone.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class DurationsTest {

  @Test
  void readsEveryFormTheOperatorAndTheAgentAccept() {
    assertThat(Durations.parse("500ms")).isEqualTo(Duration.ofMillis(500));
    assertThat(Durations.parse("5s")).isEqualTo(Duration.ofSeconds(5));
    assertThat(Durations.parse("2m")).isEqualTo(Duration.ofMinutes(2));
    assertThat(Durations.parse("1h")).isEqualTo(Duration.ofHours(1));
    assertThat(Durations.parse("7")).as("plain seconds").isEqualTo(Duration.ofSeconds(7));
    assertThat(Durations.parse(" 5S ")).isEqualTo(Duration.ofSeconds(5));
    assertThat(Durations.parse("PT1.5S")).isEqualTo(Duration.ofMillis(1500));
  }

  @ParameterizedTest
  @ValueSource(longs = {1, 999, 1000, 1500, 5000, 60_000, 3_600_000, 86_400_123})
  void whatFormatWritesParseReadsBack(long millis) {
    Duration d = Duration.ofMillis(millis);
    assertThat(Durations.parse(Durations.format(d))).isEqualTo(d);
  }

  @Test
  void formatsWholeSecondsInSecondsAndTheRestInMilliseconds() {
    assertThat(Durations.format(Duration.ofSeconds(5))).isEqualTo("5s");
    assertThat(Durations.format(Duration.ofMinutes(2))).isEqualTo("120s");
    assertThat(Durations.format(Duration.ofMillis(1500))).isEqualTo("1500ms");
  }

  @ParameterizedTest
  @ValueSource(strings = {"5 sec", "", "-5s", "5d", "1.5s", "s"})
  void refusesOtherTextQuotingIt(String text) {
    assertThatThrownBy(() -> Durations.parse(text))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("invalid duration '" + text + "': expected e.g. 500ms, 5s, 2m or PT5S");
  }

  @Test
  void refusesAnOverflowingValue() {
    assertThatThrownBy(() -> Durations.parse("99999999999999999999h"))
        .hasMessage("invalid duration '99999999999999999999h': too large");
  }
}
