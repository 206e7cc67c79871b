package io.volumeclone.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.volumeclone.api.Durations;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AgentSettingsTest {

  @Test
  void argumentsWinOverTheEnvironmentWhichWinsOverDefaults() {
    Map<String, String> env =
        Map.of(
            "VOLUME_CLONE_NAME", "from-env",
            "VOLUME_CLONE_NAMESPACE", "env-ns",
            "VOLUME_CLONE_STATE_DIRECTORY", "/var/lib/volume-clone/env-ns/from-env",
            "VOLUME_CLONE_REPORT_INTERVAL", "500ms");

    AgentSettings fromEnv = AgentSettings.resolve(null, null, null, null, null, null, null, env);
    AgentSettings fromArgs =
        AgentSettings.resolve("arg", "arg-ns", Path.of("/tmp/s"), "2m", 9090, null, "json", env);
    AgentSettings defaults =
        AgentSettings.resolve("db-restore", "db", null, null, null, null, null, Map.of());

    assertThat(fromEnv.name()).isEqualTo("from-env");
    assertThat(fromEnv.reportInterval()).isEqualTo(Duration.ofMillis(500));
    assertThat(fromEnv.socketPath())
        .isEqualTo(Path.of("/var/lib/volume-clone/env-ns/from-env/nbd.sock"));
    assertThat(fromArgs.name()).isEqualTo("arg");
    assertThat(fromArgs.stateDirectory()).isEqualTo(Path.of("/tmp/s"));
    assertThat(fromArgs.reportInterval()).isEqualTo(Duration.ofMinutes(2));
    assertThat(fromArgs.metricsPort()).isEqualTo(9090);
    assertThat(fromArgs.logFormat()).isEqualTo(AgentLog.Format.JSON);
    assertThat(defaults.reportInterval()).isEqualTo(Duration.ofSeconds(5));
    assertThat(defaults.metadataFile())
        .isEqualTo(Path.of("/var/lib/volume-clone/db/db-restore/metadata"));
    assertThat(defaults.pvcDevice("source")).isEqualTo(Path.of("/dev/volume-clone/source"));
    assertThat(defaults.metricsPort()).isZero();
  }

  @Test
  void missingOrBadValuesAreNamed() {
    assertThatThrownBy(
            () -> AgentSettings.resolve(null, "ns", null, null, null, null, null, Map.of()))
        .hasMessageContaining("--name or set VOLUME_CLONE_NAME");
    assertThatThrownBy(
            () -> AgentSettings.resolve("n", null, null, null, null, null, null, Map.of()))
        .hasMessageContaining("--namespace or set VOLUME_CLONE_NAMESPACE");
    assertThatThrownBy(() -> Durations.parse("5 sec"))
        .hasMessage("invalid duration '5 sec': expected e.g. 500ms, 5s, 2m or PT5S");
    assertThatThrownBy(
            () -> AgentSettings.resolve("n", "ns", null, "0s", null, null, null, Map.of()))
        .hasMessageContaining("reporting interval must be positive");
    assertThatThrownBy(
            () -> AgentSettings.resolve("n", "ns", null, null, 70000, null, null, Map.of()))
        .hasMessageContaining("invalid metrics port 70000");
    assertThatThrownBy(
            () -> AgentSettings.resolve("n", "ns", null, null, null, null, "xml", Map.of()))
        .hasMessage("invalid log format 'xml': expected text or json");
  }

  @Test
  void jsonLogLinesNameTheCloneDeviceAndOffset() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    AgentLog log =
        new AgentLog(
            "db/restore", AgentLog.Format.JSON, new PrintStream(out, true, StandardCharsets.UTF_8));

    log.warn("copy-error", "read failed", "device", "/dev/sdb", "offset", 65536L, "skipped", null);

    JsonNode line = new ObjectMapper().readTree(out.toString(StandardCharsets.UTF_8));
    assertThat(line.get("clone").asText()).isEqualTo("db/restore");
    assertThat(line.get("level").asText()).isEqualTo("warn");
    assertThat(line.get("event").asText()).isEqualTo("copy-error");
    assertThat(line.get("device").asText()).isEqualTo("/dev/sdb");
    assertThat(line.get("offset").asLong()).isEqualTo(65536L);
    assertThat(line.has("skipped")).isFalse();
    String text =
        new AgentLog("db/restore", AgentLog.Format.TEXT, System.err)
            .format("info", "e", "opened", "device", "/dev/sdb", "offset", 0);
    assertThat(text)
        .endsWith("INFO volume-clone agent db/restore: opened (device=/dev/sdb, offset=0)");
  }
}
