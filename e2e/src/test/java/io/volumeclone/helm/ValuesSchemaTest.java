package io.volumeclone.helm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bad values never render: values.schema.json (applied by Helm itself on install, upgrade, lint and
 * template) or a {@code fail} in the templates stops them with a message that names the value and
 * says what is wrong.
 */
class ValuesSchemaTest {

  @TempDir Path scratch;

  /** values YAML, then fragments the error message must contain. */
  static Stream<Arguments> badValues() {
    return Stream.of(
        Arguments.of("operator:\n  replicas: three\n", new String[] {"replicas", "integer"}),
        Arguments.of("operator:\n  replicas: 0\n", new String[] {"replicas", "minimum"}),
        Arguments.of("maxClonesPerNode: -1\n", new String[] {"/maxClonesPerNode", "minimum", "1"}),
        Arguments.of("maxClonesPerNode: \"4\"\n", new String[] {"maxClonesPerNode", "integer"}),
        Arguments.of("maxClonesPerNode: 2.5\n", new String[] {"maxClonesPerNode", "integer"}),
        Arguments.of(
            "operator:\n  replica: 2\n", new String[] {"replica", "additional properties"}),
        Arguments.of(
            "maxClonesPerNodes: 4\n", new String[] {"maxClonesPerNodes", "additional properties"}),
        Arguments.of(
            "agent:\n  reportInterval: 5 seconds\n",
            new String[] {"/agent/reportInterval", "5 seconds"}),
        Arguments.of("agent:\n  reportInterval: 5\n", new String[] {"reportInterval", "string"}),
        Arguments.of(
            "agent:\n  nodeBandwidth: fast\n", new String[] {"/agent/nodeBandwidth", "fast"}),
        Arguments.of("agent:\n  nodeBandwidth: 200\n", new String[] {"nodeBandwidth", "string"}),
        Arguments.of(
            "agent:\n  nodeBandwidth: 200K\n", new String[] {"/agent/nodeBandwidth", "200K"}),
        Arguments.of("agent:\n  privileged: \"yes\"\n", new String[] {"privileged", "boolean"}),
        Arguments.of(
            "agent:\n  image:\n    pullPolicy: Sometimes\n",
            new String[] {"/agent/image/pullPolicy", "Always", "IfNotPresent", "Never"}),
        Arguments.of(
            "agent:\n  resources:\n    limits:\n      memory: lots\n", new String[] {"memory"}),
        Arguments.of(
            "agent:\n  stateDirectory: var/lib/volume-clone\n",
            new String[] {"/agent/stateDirectory", "var/lib/volume-clone"}),
        Arguments.of(
            "agent:\n  metrics:\n    port: 70000\n",
            new String[] {"/agent/metrics/port", "maximum"}),
        Arguments.of(
            "agent:\n  metrics:\n    podMonitor:\n      enabled: \"yes\"\n",
            new String[] {"podMonitor", "boolean"}),
        Arguments.of(
            "rbac:\n  aggregateToViewRoles: true\n", new String[] {"aggregateToViewRoles"}),
        Arguments.of(
            "allowedDevicePrefixes: [\"/\"]\n", new String[] {"/allowedDevicePrefixes/0", "'/'"}),
        Arguments.of(
            "allowedDevicePrefixes: [\"dev/disk/\"]\n", new String[] {"allowedDevicePrefixes"}),
        Arguments.of(
            "allowedDevicePrefixes: [\"/dev/../etc/\"]\n",
            new String[] {"/allowedDevicePrefixes/0", "/dev/../etc/"}),
        Arguments.of(
            "allowedDevicePrefixes: [\"/dev/a,/dev/b\"]\n", new String[] {"allowedDevicePrefixes"}),
        Arguments.of(
            "allowedDevicePrefixes: /dev/mapper/\n",
            new String[] {"allowedDevicePrefixes", "array"}),
        Arguments.of("watchNamespaces: [\"Not_A_Namespace\"]\n", new String[] {"watchNamespaces"}),
        Arguments.of(
            "cloneNamespaces:\n  - create: true\n", new String[] {"cloneNamespaces", "name"}),
        Arguments.of(
            "podSecurity:\n  enforce: baseline\n",
            new String[] {"/podSecurity/enforce", "privileged"}),
        Arguments.of("operator:\n  image:\n    digest: latest\n", new String[] {"digest"}),
        Arguments.of(
            "agent:\n  image:\n    registry: https://ghcr.io\n",
            new String[] {"/agent/image/registry", "https://ghcr.io"}),
        Arguments.of(
            "agent:\n  imagePullSecrets:\n    - regcred\n",
            new String[] {"/agent/imagePullSecrets/0", "object"}),
        Arguments.of(
            "operator:\n  logLevel: verbose\n",
            new String[] {"/operator/logLevel", "trace", "error"}),
        Arguments.of("metrics:\n  port: 80\n", new String[] {"port", "minimum"}),
        Arguments.of(
            "metrics:\n  enabled: false\n  serviceMonitor:\n    enabled: true\n",
            new String[] {"metrics.serviceMonitor.enabled needs metrics.enabled"}),
        Arguments.of(
            "metrics:\n  port: 8081\n",
            new String[] {
              "metrics.port and operator.health.port are both 8081; give the metrics and health"
                  + " endpoints different ports"
            }),
        Arguments.of("operator:\n  health:\n    port: 0\n", new String[] {"port", "minimum"}),
        Arguments.of(
            "operator:\n  replicas: 2\n  podDisruptionBudget:\n    minAvailable: 2\n",
            new String[] {
              "operator.podDisruptionBudget.minAvailable (2) must be lower than operator.replicas (2)"
            }));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badValues")
  void badValuesAreRejectedWithAMessageNamingTheValue(String yaml, String[] fragments) {
    Path values = ChartFixture.valuesFile(scratch, yaml);

    assertThatThrownBy(() -> ChartFixture.template(values))
        .as("values %s", yaml)
        .satisfies(e -> assertThat(e.getMessage()).contains(fragments));
  }

  @Test
  void theSameValuesFileRendersOnceFixed() {
    // The rejections above come from the values, not from the way the test renders.
    Path fixed =
        ChartFixture.valuesFile(scratch, "maxClonesPerNode: 1\noperator:\n  replicas: 2\n");

    assertThat(ChartFixture.template(fixed)).contains("maxClonesPerNode: 1");
  }
}
