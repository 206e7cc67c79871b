package io.volumeclone.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.volumeclone.engine.CloneMetadata;
import io.volumeclone.engine.CloneStatus;
import org.junit.jupiter.api.Test;

/** The progress lines a tool follows on stdout are JSON that a JSON parser reads back as given. */
class ProgressReporterTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void aProgressLineIsOneJsonObjectWithEveryField() throws Exception {
    CloneStatus status =
        new CloneStatus(
            "db-data",
            CloneStatus.State.COPYING,
            65536,
            100,
            42,
            40,
            100L * 65536,
            42L * 65536,
            CloneMetadata.Mode.READ_ONLY,
            true,
            false,
            3,
            null,
            1 << 20);
    String line = ProgressReporter.json("progress", status);
    assertThat(line).doesNotContain("\n");
    JsonNode node = JSON.readTree(line);
    assertThat(node.path("event").asText()).isEqualTo("progress");
    assertThat(node.path("name").asText()).isEqualTo("db-data");
    assertThat(node.path("state").asText()).isEqualTo("COPYING");
    assertThat(node.path("regionSize").asLong()).isEqualTo(65536);
    assertThat(node.path("regionsTotal").asLong()).isEqualTo(100);
    assertThat(node.path("regionsCopied").asLong()).isEqualTo(42);
    assertThat(node.path("regionsCommitted").asLong()).isEqualTo(40);
    assertThat(node.path("bytesTotal").asLong()).isEqualTo(100L * 65536);
    assertThat(node.path("bytesCopied").asLong()).isEqualTo(42L * 65536);
    assertThat(node.path("percent").isNumber()).isTrue();
    assertThat(node.path("percent").decimalValue()).isEqualByComparingTo("42.0");
    assertThat(node.path("bytesPerSecond").asLong()).isEqualTo(1 << 20);
    assertThat(node.path("etaSeconds").asLong()).isEqualTo(status.etaSeconds());
    assertThat(node.path("metadataMode").asText()).isEqualTo("READ_ONLY");
    assertThat(node.path("paused").asBoolean()).isTrue();
    assertThat(node.path("degraded").asBoolean()).isFalse();
    assertThat(node.path("copyErrors").asLong()).isEqualTo(3);
    assertThat(node.has("lastError")).isFalse();
  }

  @Test
  void stringsWithQuotesBackslashesAndControlCharactersReadBackUnchanged() throws Exception {
    String error = "read of \"/dev/sdb\" at 4096 failed:\n\tC:\\path \u0001 ü ☃";
    CloneStatus status =
        new CloneStatus(
            "a\"b\\c",
            CloneStatus.State.COPIED,
            4096,
            0,
            0,
            0,
            0,
            0,
            CloneMetadata.Mode.WRITE,
            false,
            true,
            1,
            error,
            0);
    JsonNode node = JSON.readTree(ProgressReporter.json("waiting-for-cutover", status));
    assertThat(node.path("name").asText()).isEqualTo("a\"b\\c");
    assertThat(node.path("lastError").asText()).isEqualTo(error);
    assertThat(node.path("percent").decimalValue()).isEqualByComparingTo("100.0");
    assertThat(node.path("degraded").asBoolean()).isTrue();
  }
}
