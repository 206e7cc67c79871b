package io.volumeclone.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Pod;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.e2e.cluster.HelmRelease;
import io.volumeclone.e2e.cluster.LocalCluster;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Deleting a VolumeClone whose node is lost: the agent Pod cannot terminate (no kubelet answers),
 * yet the deletion completes after the agent's grace period plus {@code agent.deletionTimeout} (the
 * local cluster sets 15 s and 10 s), with a Warning event naming the Pod, its node and the devices
 * and metadata it may still hold. The Pod is left Terminating, not force-deleted: only someone who
 * knows the node is down may do that; when the node returns its kubelet finishes it.
 */
class NodeLossIT {

  @Test
  void deletingACloneOnALostNodeCompletesAndSaysWhatWasLeftBehind() throws Exception {
    Assumptions.assumeTrue(E2e.onLocalCluster(), "needs the local node runner to lose a node");
    String operatorNode =
        E2e.client()
            .pods()
            .inNamespace(HelmRelease.NAMESPACE)
            .withLabel("app.kubernetes.io/component", "operator")
            .list()
            .getItems()
            .stream()
            .map(p -> p.getSpec().getNodeName())
            .filter(n -> n != null)
            .findFirst()
            .orElseThrow();
    String victim =
        LocalCluster.NODES.stream().filter(n -> !n.equals(operatorNode)).findFirst().orElseThrow();

    String ns = E2e.namespace("nodeloss");
    Path source = E2e.randomDevice(ns + "-src", 32 << 20, 7);
    Path destination = E2e.emptyDevice(ns + "-dst", 32 << 20);
    E2e.apply(
        Manifests.deviceClone(ns, "stranded", source, destination, "  copy:\n    bandwidth: 1Mi\n")
            .replace("nodeName: " + E2e.node(), "nodeName: " + victim));
    VolumeClone copying =
        E2e.awaitClone(
            ns,
            "stranded",
            "copying on " + victim,
            c -> Clones.phase(c, Phase.Copying) && Clones.regionsCommitted(c) > 0);
    assertThat(copying.getStatus().getNodeName()).isEqualTo(victim);
    String podName = copying.getStatus().getAgentPod();

    E2e.local().nodes().loseNode(victim);
    try {
      E2e.kubectl("-n", ns, "delete", "vc", "stranded", "--wait=false");
      E2e.await(
          "VolumeClone stranded gone although its node is lost",
          () -> E2e.clone(ns, "stranded") == null,
          gone -> gone,
          Duration.ofSeconds(120));

      Pod left = E2e.pod(ns, podName);
      assertThat(left).as("the agent Pod is left behind, not force-deleted").isNotNull();
      assertThat(left.getMetadata().getDeletionTimestamp()).isNotNull();
      List<Event> warnings =
          E2e.client().v1().events().inNamespace(ns).list().getItems().stream()
              .filter(e -> "AgentLeftBehind".equals(e.getReason()))
              .toList();
      assertThat(warnings)
          .singleElement()
          .satisfies(
              e -> {
                assertThat(e.getType()).isEqualTo("Warning");
                assertThat(e.getMessage())
                    .contains("agent Pod " + podName)
                    .contains("node " + victim + " is NotReady (Ready=Unknown")
                    .contains("source device " + source)
                    .contains("destination device " + destination)
                    .contains("metadata file /var/lib/volume-clone/" + ns + "/stranded/metadata")
                    .contains("delete pod " + podName + " --force --grace-period=0");
              });
      assertThat(
              E2e.client().v1().events().inNamespace(ns).list().getItems().stream()
                  .filter(e -> "Released".equals(e.getReason())))
          .as("no claim of a clean release")
          .isEmpty();
    } finally {
      E2e.local().nodes().recoverNode(victim);
    }
    E2e.await(
        "the returned node's kubelet finishes Pod " + podName,
        () -> E2e.pod(ns, podName) == null,
        gone -> gone);
  }
}
