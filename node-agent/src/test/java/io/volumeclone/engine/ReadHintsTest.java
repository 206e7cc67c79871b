package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ReadHintsTest {

  final ReadHints hints = new ReadHints();

  @Test
  void theNewestHintComesFirst() {
    hints.record(5);
    hints.record(9);
    hints.record(7);

    assertThat(hints.takeNewest()).isEqualTo(7);
    assertThat(hints.takeNewest()).isEqualTo(9);
    assertThat(hints.takeNewest()).isEqualTo(5);
    assertThat(hints.takeNewest()).isEqualTo(-1);
  }

  @Test
  void aRegionAlreadyHintedIsNotRecordedAgain() {
    hints.record(5);
    hints.record(9);
    hints.record(5);

    assertThat(hints.size()).isEqualTo(2);
    assertThat(hints.recorded()).isEqualTo(2);
    assertThat(hints.takeNewest()).isEqualTo(9);
  }

  @Test
  void pastItsCapacityTheOldestHintsAreDropped() {
    for (long region = 0; region < ReadHints.CAPACITY + 10; region++) {
      hints.record(region);
    }

    assertThat(hints.size()).isEqualTo(ReadHints.CAPACITY);
    long last = -1;
    for (long region = hints.takeNewest(); region >= 0; region = hints.takeNewest()) {
      last = region;
    }
    assertThat(last).as("the oldest hint kept").isEqualTo(10);
  }

  @Test
  void aRegionTakenIsRecordedAgainWhenReadAgain() {
    hints.record(3);
    hints.takeNewest();
    hints.record(3);

    assertThat(hints.takeNewest()).isEqualTo(3);
    assertThat(hints.recorded()).isEqualTo(2);
  }
}
