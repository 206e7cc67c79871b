package io.volumeclone.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.CloneMetadata;
import io.volumeclone.engine.CloneStatus;
import io.volumeclone.engine.MetadataReport;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * The CLI shows progress the way the status's {@code progress.percent} does: rounded down, so
 * "100.0" appears only when every byte is copied.
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
    assertThat(ProgressReporter.percent(2, 3)).isEqualTo("66.6");
    assertThat(ProgressReporter.percent(0, 0)).isEqualTo("100.0");
    assertThat(ProgressReporter.json("progress", status(REGIONS * 2 / 3)).get("percent").asDouble())
        .isEqualTo(66.6);
  }
}
