package io.volumeclone.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.volumeclone.api.Sizes;
import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.CloneMetadata;
import io.volumeclone.engine.CloneStatus;
import io.volumeclone.engine.MetadataReport;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The CLI shows progress the way the status's {@code progress.percent} does: rounded down, so
 * "100.0" appears only when every byte is copied. The engine's formatter ({@link CloneStatus}) and
 * the API module's ({@link Progress}, {@link Sizes}) must print the same text for the same figures,
 * since the CLI prints one and the VolumeClone's status the other.
 */
class PercentTest {

  static final int REGION = 4096;
  static final long REGIONS = 10_000;

  static CloneStatus status(long regionsCopied) {
    return new CloneStatus(
        "c",
        CloneStatus.State.COPYING,
        REGION,
        REGIONS,
        regionsCopied,
        regionsCopied,
        REGIONS * REGION,
        regionsCopied * REGION,
        CloneMetadata.Mode.WRITE,
        false,
        false,
        0,
        null,
        0);
  }

  static com.fasterxml.jackson.databind.JsonNode progressLine(CloneStatus status) {
    try {
      return new com.fasterxml.jackson.databind.ObjectMapper()
          .readTree(ProgressReporter.json("progress", status));
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  static MetadataReport report(long committed) {
    CloneGeometry g =
        new CloneGeometry(0, 0, REGIONS * REGION, REGION, REGIONS * REGION, REGIONS * REGION);
    return new MetadataReport(
        "/dev/md",
        MetadataReport.State.VALID,
        null,
        1,
        UUID.randomUUID(),
        g,
        7,
        committed,
        committed == REGIONS,
        false,
        1 << 20,
        1 << 20,
        null);
  }

  @Test
  void oneRegionShortOfTenThousandIsNot100Percent() {
    assertThat(ProgressReporter.bar(status(REGIONS - 1)))
        .contains(" 99.9%")
        .doesNotContain("100.0")
        .startsWith("[" + "#".repeat(29) + ".]");
    assertThat(progressLine(status(REGIONS - 1)).get("percent").toString()).isEqualTo("99.9");
    assertThat(StatusCommand.toJson(report(REGIONS - 1)).get("percent").toString())
        .isEqualTo("99.9");
  }

  @Test
  void everyRegionIs100Percent() {
    assertThat(ProgressReporter.bar(status(REGIONS)))
        .contains("100.0%")
        .startsWith("[" + "#".repeat(30) + "]");
    assertThat(progressLine(status(REGIONS)).get("percent").toString()).isEqualTo("100.0");
    assertThat(StatusCommand.toJson(report(REGIONS)).get("percent").toString()).isEqualTo("100.0");
  }

  @Test
  void roundsDownLikeTheStatus() {
    assertThat(CloneStatus.percentOf(2, 3)).isEqualTo("66.6");
    assertThat(CloneStatus.percentOf(0, 0)).isEqualTo("100.0");
    assertThat(progressLine(status(REGIONS * 2 / 3)).get("percent").asDouble()).isEqualTo(66.6);
  }

  @Test
  void clampsASnapshotOutsideItsTotal() {
    assertThat(CloneStatus.percentOf(11, 10)).isEqualTo("100.0");
    assertThat(CloneStatus.percentOf(-1, 10)).isEqualTo("0.0");
  }

  /** The same cases as the API model's schema test (ModelTest), which checks the pattern. */
  @ParameterizedTest(name = "{0} of {1} = {2}")
  @CsvSource({
    "0, 1000, 0.0",
    "425, 1000, 42.5",
    "1, 3, 33.3",
    "2, 3, 66.6",
    "999999, 1000000, 99.9",
    "10, 10, 100.0",
    "0, 0, 100.0"
  })
  void percentIsOneDecimalRoundedDown(long copied, long total, String percent) {
    assertThat(CloneStatus.percentOf(copied, total)).isEqualTo(percent);
  }

  @Test
  void rateAndEtaReadAsTheStatusAndTheProgressBarShowThem() {
    assertThat(CloneStatus.rateOf(1_610_612_736)).isEqualTo("1.5Gi/s");
    assertThat(CloneStatus.rateOf(120L << 20)).isEqualTo("120Mi/s");
    assertThat(CloneStatus.rateOf(0)).isEqualTo("0/s");
    assertThat(CloneStatus.etaOf(3725)).isEqualTo("1:02:05");
    assertThat(CloneStatus.etaOf(-1)).isEqualTo("--:--:--");
    assertThat(status(REGIONS / 2).etaText()).as("no rate yet").isEqualTo("--:--:--");
    assertThat(status(REGIONS).etaText()).as("done").isEqualTo("0:00:00");
  }

  /** The short form the status, the progress bar and the logs show (was the API's Sizes.format). */
  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
    "0, 0",
    "1023, 1023",
    "1024, 1Ki",
    "1536, 1.5Ki",
    "65536, 64Ki",
    "1048576, 1Mi",
    "1610612736, 1.5Gi",
    "10737418240, 10Gi",
    "1048575, 1.0Mi",
    "1048063, 1023.5Ki",
    "1025, 1.0Ki",
    "1152921504606846976, 1Ei",
    "9223372036854775807, 8.0Ei"
  })
  void bytesTextGivesAShortForm(long bytes, String text) {
    assertThat(CloneStatus.bytesText(bytes)).isEqualTo(text);
    assertThat(CloneStatus.rateOf(bytes)).isEqualTo(text + "/s");
  }

  /**
   * Exact forms are what a user may type back: the API's size parser reads them as the same value.
   */
  @ParameterizedTest
  @ValueSource(longs = {0, 1, 1023, 4096, 65536, 3L << 20, 1L << 30, 5L << 40, 1L << 62})
  void exactFormsParseBack(long bytes) {
    assertThat(Sizes.parse(CloneStatus.bytesText(bytes))).isEqualTo(bytes);
  }

  @Test
  void bytesTextRejectsNegativeSizes() {
    assertThatThrownBy(() -> CloneStatus.bytesText(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("-1");
  }

  /**
   * The percentage is computed in long arithmetic below 8 PiB (start time, issue 19) and exactly
   * above; both must print what exact decimal arithmetic rounded down prints.
   */
  @Test
  void percentAgreesWithExactArithmeticAcrossTheLongRange() {
    java.util.Random random = new java.util.Random(19);
    long[] totals = {1, 3, 7, 1000, 1 << 20, 10_000_019L, 1L << 40, 9_000_000_000_000_000L};
    for (long total : totals) {
      for (int i = 0; i < 200; i++) {
        long copied =
            switch (i) {
              case 0 -> 0;
              case 1 -> total;
              case 2 -> total - 1;
              default -> Math.floorMod(random.nextLong(), total + 1);
            };
        String exact =
            java.math.BigDecimal.valueOf(copied)
                .multiply(java.math.BigDecimal.valueOf(100))
                .divide(java.math.BigDecimal.valueOf(total), 1, java.math.RoundingMode.DOWN)
                .toPlainString();
        assertThat(CloneStatus.percentOf(copied, total))
            .as("%d of %d", copied, total)
            .isEqualTo(exact);
      }
    }
  }
}
