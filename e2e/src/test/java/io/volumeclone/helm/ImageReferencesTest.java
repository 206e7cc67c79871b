package io.volumeclone.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.LocalObjectReference;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.volumeclone.operator.OperatorOptions;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Each component's image reference is composed from its own registry, repository, tag and digest,
 * and pull secrets reach the Pods that need them: the operator's its Deployment, the agent's (via
 * the operator's config) every agent Pod.
 */
class ImageReferencesTest {

  private static final String DIGEST =
      "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  private static final String DEFAULT_OPERATOR = "ghcr.io/volume-clone/volume-clone-operator:0.1.0";
  private static final String DEFAULT_AGENT = "ghcr.io/volume-clone/volume-clone:0.1.0";

  @TempDir Path scratch;

  /** values YAML, then the operator's and the agent's image. */
  static Stream<Arguments> images() {
    return Stream.of(
        Arguments.of("{}\n", DEFAULT_OPERATOR, DEFAULT_AGENT),
        Arguments.of(
            "operator:\n  image:\n    registry: mirror.internal:5000\n    repository: vc/operator\n"
                + "    tag: 1.2.3\n",
            "mirror.internal:5000/vc/operator:1.2.3",
            DEFAULT_AGENT),
        Arguments.of(
            "agent:\n  image:\n    registry: mirror.internal\n",
            DEFAULT_OPERATOR,
            "mirror.internal/volume-clone/volume-clone:0.1.0"),
        Arguments.of(
            "agent:\n  image:\n    tag: 9.9.9\n    digest: " + DIGEST + "\n",
            DEFAULT_OPERATOR,
            "ghcr.io/volume-clone/volume-clone@" + DIGEST),
        Arguments.of(
            "operator:\n  image:\n    registry: \"\"\n    repository: localhost:5000/operator\n"
                + "    digest: "
                + DIGEST
                + "\n",
            "localhost:5000/operator@" + DIGEST,
            DEFAULT_AGENT));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("images")
  void eachComponentsImageComesFromItsOwnValues(String yaml, String operator, String agent) {
    ChartFixture.Manifests m = ChartFixture.render(ChartFixture.valuesFile(scratch, yaml));

    assertThat(operatorPod(m).getContainers().get(0).getImage()).isEqualTo(operator);
    assertThat(OperatorConfig.of(m, scratch).options().get(OperatorOptions.AGENT_IMAGE))
        .isEqualTo(agent);
  }

  @Test
  void pullSecretsGoToTheirOwnComponentOnly() {
    ChartFixture.Manifests operatorOnly =
        ChartFixture.render(
            ChartFixture.valuesFile(scratch, "operator:\n  imagePullSecrets:\n    - name: ops\n"));
    ChartFixture.Manifests agentOnly =
        ChartFixture.render(
            ChartFixture.valuesFile(
                scratch, "agent:\n  imagePullSecrets:\n    - name: a\n    - name: b\n"));

    assertThat(operatorPod(operatorOnly).getImagePullSecrets())
        .extracting(LocalObjectReference::getName)
        .containsExactly("ops");
    // The operator's Secrets live in the release namespace; agent Pods could not use them.
    assertThat(agentPullSecrets(operatorOnly)).isEmpty();
    assertThat(operatorPod(agentOnly).getImagePullSecrets()).isNullOrEmpty();
    assertThat(agentPullSecrets(agentOnly)).containsExactly("a", "b");
  }

  @Test
  void defaultsNameNoPullSecrets() {
    ChartFixture.Manifests defaults = ChartFixture.render();

    assertThat(operatorPod(defaults).getImagePullSecrets()).isNullOrEmpty();
    assertThat(agentPullSecrets(defaults)).isEmpty();
  }

  private static PodSpec operatorPod(ChartFixture.Manifests m) {
    return m.only(Deployment.class).getSpec().getTemplate().getSpec();
  }

  private List<String> agentPullSecrets(ChartFixture.Manifests m) {
    return OperatorConfig.of(m, scratch).options().get(OperatorOptions.AGENT_IMAGE_PULL_SECRETS);
  }
}
