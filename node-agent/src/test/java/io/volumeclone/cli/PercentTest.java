package io.volumeclone.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.api.Sizes;
import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.CloneMetadata;
import io.volumeclone.engine.CloneStatus;
import io.volumeclone.engine.MetadataReport;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

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
        1 << 20);
  }

  @Test
  void oneRegionShortOfTenThousandIsNot100Percent() {
    assertThat(ProgressReporter.bar(status(REGIONS - 1)))
        .contains(" 99.9%")
        .doesNotContain("100.0")
        .startsWith("[" + "#".repeat(29) + ".]");
    assertThat(ProgressReporter.json("progress", status(REGIONS - 1)).get("percent").toString())
        .isEqualTo("99.9");
    assertThat(StatusCommand.toJson(report(REGIONS - 1)).get("percent").toString())
        .isEqualTo("99.9");
  }

  @Test
  void everyRegionIs100Percent() {
    assertThat(ProgressReporter.bar(status(REGIONS)))
        .contains("100.0%")
        .startsWith("[" + "#".repeat(30) + "]");
    assertThat(ProgressReporter.json("progress", status(REGIONS)).get("percent").toString())
        .isEqualTo("100.0");
    assertThat(StatusCommand.toJson(report(REGIONS)).get("percent").toString()).isEqualTo("100.0");
  }

  @Test
  void roundsDownLikeTheStatus() {
    assertThat(CloneStatus.percentOf(2, 3)).isEqualTo("66.6");
    assertThat(CloneStatus.percentOf(0, 0)).isEqualTo("100.0");
    assertThat(ProgressReporter.json("progress", status(REGIONS * 2 / 3)).get("percent").asDouble())
        .isEqualTo(66.6);
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

  @Test
  void theEngineFormatsAsTheStatusModelDoes() {
    Random random = new Random(16);
    long[] edges = {0, 1, 1023, 1024, 1025, 1536, 1_048_063, 1_048_575, 1L << 30, Long.MAX_VALUE};
    for (long bytes : edges) {
      assertThat(CloneStatus.bytesText(bytes)).as("%d bytes", bytes).isEqualTo(Sizes.format(bytes));
    }
    for (int i = 0; i < 10_000; i++) {
      long bytes = random.nextLong() >>> (1 + random.nextInt(63));
      assertThat(CloneStatus.bytesText(bytes)).as("%d bytes", bytes).isEqualTo(Sizes.format(bytes));
      assertThat(CloneStatus.rateOf(bytes)).isEqualTo(Sizes.format(bytes) + "/s");
    }
  }
}
