package io.volumeclone.e2e;

import static io.volumeclone.e2e.E2e.kubectl;
import static io.volumeclone.e2e.E2e.kubectlResult;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * Plain kubectl against the cluster: apply, get with the CRD's printer columns, describe with
 * events, patch (merge and JSON), the status subresource and delete, against the real API server:
 * it checks the CRD (printer columns, status subresource, no strategic merge for a custom
 * resource).
 */
class KubectlIT {

  private static String manifest(String namespace, String name, String destination) {
    return """
        apiVersion: volumeclone.io/v1alpha1
        kind: VolumeClone
        metadata:
          name: %s
          namespace: %s
        spec:
          nodeName: %s
          source:
            device:
              path: %s
          destination:
            device:
              path: %s
          copy:
            paused: true
        """
        .formatted(
            name,
            namespace,
            E2e.node(),
            E2e.deviceDirectory().resolve(namespace + "-src"),
            E2e.deviceDirectory().resolve(namespace + "-" + destination));
  }

  @Test
  void applyGetDescribePatchDelete() throws IOException {
    String ns = E2e.namespace("kubectl");
    E2e.emptyDevice(ns + "-src", 1 << 20);
    E2e.emptyDevice(ns + "-dst", 1 << 20);

    assertThat(E2e.apply(manifest(ns, "k1", "dst")))
        .contains("volumeclone.volumeclone.io/k1 created");
    assertThat(kubectl("-n", ns, "get", "vc", "k1", "-o", "jsonpath={.metadata.generation}"))
        .isEqualTo("1");

    // The operator fills in the summary columns; kubectl get shows the CRD's printer columns.
    E2e.awaitClone(
        ns,
        "k1",
        "the node column",
        c -> c.getStatus() != null && E2e.node().equals(c.getStatus().getNodeName()));
    String table = kubectl("-n", ns, "get", "vc");
    assertThat(table.lines().findFirst().orElseThrow())
        .containsSubsequence(
            "NAME", "SOURCE", "DESTINATION", "VOLUME", "NODE", "PHASE", "PROGRESS", "AGE");
    assertThat(table).contains("k1").contains(ns + "-src").contains(E2e.node());

    // Re-applying a changed spec is a patch: generation goes up by one. (The destination is
    // immutable: CrdValidationIT shows the server refusing that change.)
    assertThat(
            E2e.apply(
                manifest(ns, "k1", "dst")
                    .replace("paused: true", "paused: true\n    bandwidth: 2Mi")))
        .contains("configured");
    assertThat(
            kubectl(
                "-n",
                ns,
                "get",
                "vc",
                "k1",
                "-o",
                "jsonpath={.metadata.generation} {.spec.copy.bandwidth}"))
        .isEqualTo("2 2Mi");

    kubectl(
        "-n",
        ns,
        "patch",
        "vc",
        "k1",
        "--type",
        "merge",
        "-p",
        "{\"spec\":{\"copy\":{\"paused\":false,\"bandwidth\":\"1Mi\"}}}");
    kubectl(
        "-n",
        ns,
        "patch",
        "vc",
        "k1",
        "--type",
        "json",
        "-p",
        "[{\"op\":\"add\",\"path\":\"/spec/ttlSecondsAfterFinished\",\"value\":600}]");
    assertThat(
            kubectl(
                "-n",
                ns,
                "get",
                "vc",
                "k1",
                "-o",
                "jsonpath={.metadata.generation} {.spec.copy.bandwidth} {.spec.ttlSecondsAfterFinished}"))
        .isEqualTo("4 1Mi 600");

    // A strategic merge patch is refused for a custom resource, as the API server does.
    Tools.Result strategic =
        kubectlResult("-n", ns, "patch", "vc", "k1", "-p", "{\"spec\":{\"cutoverApproved\":true}}");
    assertThat(strategic.exitCode()).isNotZero();
    assertThat(strategic.stderr()).contains("strategic");

    // describe shows the spec, the status and the operator's events for this clone only.
    String described = kubectl("-n", ns, "describe", "vc", "k1");
    assertThat(described).contains("Name:         k1").contains("Node Name:").contains("Events:");
    E2e.await(
        "an event for k1 in describe",
        () -> kubectl("-n", ns, "describe", "vc", "k1"),
        d -> d.contains("AgentCreated") || d.contains("Normal"));

    assertThat(kubectl("-n", ns, "delete", "vc", "k1", "--wait=false")).contains("deleted");
    E2e.await(
        "k1 gone",
        () -> kubectlResult("-n", ns, "get", "vc", "k1").stderr(),
        e -> e.contains("NotFound") || e.contains("not found"));
  }

  @Test
  void statusSubresourceKeepsSpecAndGeneration() throws IOException {
    String ns = E2e.namespace("status");
    E2e.emptyDevice(ns + "-src", 1 << 20);
    E2e.emptyDevice(ns + "-dst", 1 << 20);
    E2e.apply(manifest(ns, "s1", "dst"));
    // Writing status through the main resource does nothing to status; /status changes only it.
    kubectl(
        "-n",
        ns,
        "patch",
        "vc",
        "s1",
        "--type",
        "merge",
        "-p",
        "{\"status\":{\"message\":\"from-main\"}}");
    assertThat(kubectl("-n", ns, "get", "vc", "s1", "-o", "jsonpath={.status.message}"))
        .isNotEqualTo("from-main");
    assertThat(kubectl("-n", ns, "get", "vc", "s1", "-o", "jsonpath={.metadata.generation}"))
        .isEqualTo("1");
  }
}
