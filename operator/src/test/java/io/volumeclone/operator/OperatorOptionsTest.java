package io.volumeclone.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OperatorOptionsTest {

  @Test
  void defaultsAreDocumented() {
    OperatorOptions o = OperatorOptions.defaults();
    assertThat(o.get(OperatorOptions.MAX_CLONES_PER_NODE)).isEqualTo(4);
    assertThat(o.get(OperatorOptions.ALLOWED_DEVICE_PREFIXES))
        .as("device paths are opt-in per install")
        .isEmpty();
    assertThat(o.get(OperatorOptions.AGENT_METRICS_PORT)).isEqualTo(9090);
    assertThat(o.get(OperatorOptions.AGENT_PRIVILEGED)).isFalse();
    assertThat(OperatorOptions.describe())
        .contains("maxClonesPerNode (VOLUME_CLONE_MAX_CLONES_PER_NODE, default '4')");
  }

  @Test
  void environmentOverridesTheFileWhichOverridesDefaults(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("operator.yaml");
    Files.writeString(
        file,
        "agent:\n  image: example/agent:1\n  reportInterval: 2s\nmaxClonesPerNode: 8\n"
            + "allowedDevicePrefixes: [/dev/disk/by-id/, /tmp/demo/]\n");
    OperatorOptions o =
        OperatorOptions.load(
            Map.of(
                "VOLUME_CLONE_CONFIG", file.toString(), "VOLUME_CLONE_MAX_CLONES_PER_NODE", "2"));
    assertThat(o.get(OperatorOptions.AGENT_IMAGE)).isEqualTo("example/agent:1");
    assertThat(o.get(OperatorOptions.AGENT_REPORT_INTERVAL)).isEqualTo(Duration.ofSeconds(2));
    assertThat(o.get(OperatorOptions.MAX_CLONES_PER_NODE)).isEqualTo(2);
    assertThat(o.get(OperatorOptions.ALLOWED_DEVICE_PREFIXES))
        .isEqualTo(List.of("/dev/disk/by-id/", "/tmp/demo/"));
  }

  @Test
  void badValuesNameTheSetting() {
    assertThatThrownBy(() -> OperatorOptions.of(Map.of("maxClonesPerNode", "zero")))
        .hasMessage(
            "operator setting maxClonesPerNode (VOLUME_CLONE_MAX_CLONES_PER_NODE) = 'zero' is"
                + " invalid: expected a whole number");
    assertThatThrownBy(() -> OperatorOptions.of(Map.of("maxClonePerNode", "1")))
        .hasMessage("unknown operator setting 'maxClonePerNode'");
  }

  @Test
  void nodeBandwidthIsAQuantityAndDefaultsToNoLimit() throws Exception {
    assertThat(OperatorOptions.defaults().get(OperatorOptions.AGENT_NODE_BANDWIDTH)).isZero();
    OperatorOptions o = OperatorOptions.load(Map.of("VOLUME_CLONE_AGENT_NODE_BANDWIDTH", "200Mi"));
    assertThat(o.get(OperatorOptions.AGENT_NODE_BANDWIDTH)).isEqualTo(200L << 20);
    assertThat(
            OperatorOptions.of(Map.of("agent.nodeBandwidth", "1048576"))
                .get(OperatorOptions.AGENT_NODE_BANDWIDTH))
        .isEqualTo(1L << 20);
    assertThatThrownBy(() -> OperatorOptions.of(Map.of("agent.nodeBandwidth", "fast")))
        .hasMessageContaining(
            "agent.nodeBandwidth (VOLUME_CLONE_AGENT_NODE_BANDWIDTH) = 'fast' is invalid");
  }

  @Test
  void portsDefaultToTheChartsAndZeroSwitchesAnEndpointOff() throws Exception {
    assertThat(OperatorOptions.defaults().get(OperatorOptions.HEALTH_PORT)).isEqualTo(8081);
    assertThat(OperatorOptions.defaults().get(OperatorOptions.METRICS_PORT)).isEqualTo(8080);
    OperatorOptions o =
        OperatorOptions.load(
            Map.of("VOLUME_CLONE_HEALTH_PORT", "0", "VOLUME_CLONE_METRICS_PORT", "9090"));
    assertThat(o.get(OperatorOptions.HEALTH_PORT)).isZero();
    assertThat(o.get(OperatorOptions.METRICS_PORT)).isEqualTo(9090);
    assertThatThrownBy(() -> OperatorOptions.of(Map.of("metrics.port", "70000")))
        .hasMessage(
            "operator setting metrics.port (VOLUME_CLONE_METRICS_PORT) = '70000' is invalid: must"
                + " be between 0 (off) and 65535");
    assertThatThrownBy(() -> OperatorOptions.of(Map.of("health.port", "http")))
        .hasMessageContaining("health.port (VOLUME_CLONE_HEALTH_PORT) = 'http' is invalid");
  }
}
