package io.volumeclone.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Metrics as a cluster's Prometheus scrapes them: the agent Pod through the port it declares and
 * its prometheus.io annotations, the operator Pod through its declared metrics port, and the
 * operator's per-clone gauges through a clone's life until it is deleted.
 */
class MetricsIT {

  private static final long SIZE = 8 << 20;
  private static final String PHASE = "volume_clone_operator_clone_phase";

  @Test
  void operatorAndAgentEndpointsFollowACloneAndTheOperatorForgetsItWhenDeleted() throws Exception {
    String ns = E2e.namespace("metrics");
    Path src = E2e.randomDevice(ns + "-src", SIZE, 61);
    Path dst = E2e.emptyDevice(ns + "-dst", SIZE);
    // 8 MiB at 1 MiB/s: several reports while copying; the manual cutover keeps the agent up.
    E2e.apply(
        Manifests.deviceClone(
            ns, "m", src, dst, "  cutover: Manual\n  copy:\n    bandwidth: 1Mi\n"));
    String cloneTags = "namespace=\"" + ns + "\",volumeclone=\"m\"";
    URI operator = E2e.podPort(operatorPod(), "metrics");

    VolumeClone copying =
        E2e.awaitClone(
            ns, "m", "phase Copying with an agent Pod", c -> Clones.phase(c, Phase.Copying));
    Pod agent =
        E2e.await(
            "the agent Pod " + copying.getStatus().getAgentPod(),
            () -> E2e.pod(ns, copying.getStatus().getAgentPod()),
            p -> p.getStatus() != null && "Running".equals(p.getStatus().getPhase()));
    var annotations = agent.getMetadata().getAnnotations();
    assertThat(annotations)
        .containsEntry("prometheus.io/scrape", "true")
        .containsEntry("prometheus.io/path", "/metrics");
    int declared =
        agent.getSpec().getContainers().get(0).getPorts().stream()
            .filter(p -> "metrics".equals(p.getName()))
            .findFirst()
            .orElseThrow()
            .getContainerPort();
    assertThat(annotations.get("prometheus.io/port"))
        .as("the annotation names the declared metrics port")
        .isEqualTo(Integer.toString(declared));
    URI agentEndpoint = E2e.podPort(agent, "metrics");

    // While copying: both endpoints show progress under way, at a rate.
    String agentText =
        E2e.await(
            "the agent's /metrics showing a copy under way",
            () -> E2e.httpGet(agentEndpoint, annotations.get("prometheus.io/path")),
            t ->
                sample(t, "volume_clone_copy_rate_bytes_per_second", cloneTags) > 0
                    && sample(t, "volume_clone_bytes_copied", cloneTags) < SIZE);
    assertThat(sample(agentText, "volume_clone_size_bytes", cloneTags)).isEqualTo(SIZE);
    assertThat(sample(agentText, "volume_clone_bytes_copied", cloneTags))
        .isBetween(0.0, SIZE - 1.0);
    assertThat(sample(agentText, "volume_clone_metadata_mode", cloneTags + ",mode=\"Write\""))
        .isEqualTo(1);
    String operatorText =
        E2e.await(
            "the operator's per-clone gauges showing the copy under way",
            () -> E2e.httpGet(operator, "/metrics"),
            t ->
                sample(t, "volume_clone_operator_clone_copy_rate_bytes_per_second", cloneTags) > 0
                    && sample(t, "volume_clone_operator_clone_copied_bytes", cloneTags) > 0
                    && sample(t, "volume_clone_operator_clone_copied_bytes", cloneTags) < SIZE);
    assertThat(sample(operatorText, "volume_clone_operator_clone_size_bytes", cloneTags))
        .isEqualTo(SIZE);
    assertPhase(operatorText, cloneTags, Phase.Copying);

    // Copied, waiting for approval: everything copied, on both endpoints.
    E2e.awaitClone(ns, "m", "phase Copied", c -> Clones.phase(c, Phase.Copied));
    E2e.await(
        "the agent's /metrics showing every byte copied",
        () -> E2e.httpGet(agentEndpoint, "/metrics"),
        t -> sample(t, "volume_clone_bytes_copied", cloneTags) == SIZE);
    operatorText =
        E2e.await(
            "the operator's gauges showing every byte copied and phase Copied",
            () -> E2e.httpGet(operator, "/metrics"),
            t ->
                sample(t, "volume_clone_operator_clone_copied_bytes", cloneTags) == SIZE
                    && sample(t, PHASE, cloneTags + phaseTag(Phase.Copied)) == 1);
    assertPhase(operatorText, cloneTags, Phase.Copied);
    assertThat(sample(operatorText, "volume_clone_operator_clones", "phase=\"Copied\""))
        .isGreaterThanOrEqualTo(1);

    E2e.approveCutover(ns, "m");
    E2e.awaitClone(ns, "m", "phase Completed", c -> Clones.phase(c, Phase.Completed));
    assertPhase(
        E2e.await(
            "the operator's phase gauge at Completed",
            () -> E2e.httpGet(operator, "/metrics"),
            t -> sample(t, PHASE, cloneTags + phaseTag(Phase.Completed)) == 1),
        cloneTags,
        Phase.Completed);

    E2e.kubectl("-n", ns, "delete", "vc", "m", "--wait=true");
    String afterDelete =
        E2e.await(
            "every series of " + ns + "/m gone from the operator's /metrics",
            () -> E2e.httpGet(operator, "/metrics"),
            t -> !t.contains(cloneTags));
    assertThat(afterDelete).contains("volume_clone_operator_clones{");
    Clones.assertSameBytes(src, dst);
  }

  private static Pod operatorPod() {
    List<Pod> pods =
        E2e.client()
            .pods()
            .inAnyNamespace()
            .withLabel("app.kubernetes.io/component", "operator")
            .withLabel("app.kubernetes.io/part-of", "volume-clone")
            .list()
            .getItems()
            .stream()
            .filter(p -> p.getStatus() != null && "Running".equals(p.getStatus().getPhase()))
            .toList();
    assertThat(pods).as("running operator Pods").isNotEmpty();
    return pods.get(0);
  }

  private static void assertPhase(String text, String cloneTags, Phase current) {
    for (Phase each : Phase.values()) {
      assertThat(sample(text, PHASE, cloneTags + phaseTag(each)))
          .as("volume_clone_operator_clone_phase of phase %s while %s", each, current)
          .isEqualTo(each == current ? 1 : 0);
    }
  }

  private static String phaseTag(Phase phase) {
    return ",phase=\"" + phase.name() + "\"";
  }

  /**
   * The value of {@code metric} whose labels include every one of {@code labels} (a comma-separated
   * {@code k="v"} list, in any order among the sample's others); NaN when there is none.
   */
  static double sample(String text, String metric, String labels) {
    Matcher m =
        Pattern.compile("(?m)^" + Pattern.quote(metric) + "\\{([^}]*)\\} (\\S+)$").matcher(text);
    List<String> wanted = List.of(labels.split(",(?=[a-z_]+=\")"));
    while (m.find()) {
      List<String> have = List.of(m.group(1).split(",(?=[a-z_]+=\")"));
      if (have.containsAll(wanted)) {
        return Double.parseDouble(m.group(2));
      }
    }
    return Double.NaN;
  }
}
