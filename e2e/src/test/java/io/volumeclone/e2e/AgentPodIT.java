package io.volumeclone.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.volumeclone.api.v1alpha1.VolumeClone;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * kubectl apply of a VolumeClone makes the operator create the agent Pod on the clone's node, and
 * the node starts it: the Pod leaves Pending with a container status.
 */
class AgentPodIT {

  @Test
  void appliedCloneGetsAnAgentPodThatTheNodeRuns() throws IOException {
    String ns = E2e.namespace("agentpod");
    var src = E2e.randomDevice(ns + "-src", 4 << 20, 1);
    var dst = E2e.emptyDevice(ns + "-dst", 4 << 20);
    E2e.apply(
        """
        apiVersion: volumeclone.io/v1alpha1
        kind: VolumeClone
        metadata:
          name: first
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
            bandwidth: 1Mi
        """
            .formatted(ns, E2e.node(), src, dst));

    VolumeClone clone =
        E2e.awaitClone(
            ns,
            "first",
            "status.agentPod",
            c -> c.getStatus() != null && c.getStatus().getAgentPod() != null);
    String podName = clone.getStatus().getAgentPod();
    Pod pod = E2e.pod(ns, podName);
    assertThat(pod.getSpec().getNodeName()).isEqualTo(E2e.node());
    Container agent = pod.getSpec().getContainers().get(0);
    assertThat(agent.getArgs()).containsSubsequence("agent", "--name", "first", "--namespace", ns);
    assertThat(pod.getMetadata().getOwnerReferences())
        .anySatisfy(o -> assertThat(o.getName()).isEqualTo("first"));

    Pod started =
        E2e.await(
            "a container status on Pod " + podName,
            () -> E2e.pod(ns, podName),
            p ->
                p.getStatus() != null
                    && p.getStatus().getContainerStatuses() != null
                    && !p.getStatus().getContainerStatuses().isEmpty());
    assertThat(started.getStatus().getPhase()).isIn("Running", "Succeeded", "Failed");
    assertThat(E2e.kubectl("-n", ns, "get", "pods", "-o", "wide"))
        .contains(podName)
        .contains(E2e.node());

    E2e.kubectl("-n", ns, "delete", "vc", "first", "--wait=false");
    E2e.await(
        "agent Pod " + podName + " gone after the clone is deleted",
        () -> E2e.pod(ns, podName) == null,
        gone -> gone);
  }
}
