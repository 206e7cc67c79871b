package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.volumeclone.api.v1alpha1.VolumeClone;
import java.time.Instant;
import java.util.Optional;

/**
 * Reads the world around a started clone into one {@link Observation}, and nothing else: it decides
 * nothing and changes nothing.
 */
final class CloneObserver {

  private final KubernetesClient client;

  CloneObserver(KubernetesClient client) {
    this.client = client;
  }

  /**
   * The round's observation. {@code knownNode} is where the clone was placed or, once it runs, what
   * its status says; where the Pod is bound wins (where kube-scheduler put it, or spec.nodeName). A
   * Pod that Succeeded while the cached clone lacks CutOver=True is the one case where the cache's
   * lag matters (the agent's last report may not have reached it, and acting on the stale copy
   * would run the agent again), so the clone is then read from the API server.
   */
  Observation observe(VolumeClone clone, Pod pod, String knownNode, Instant now) {
    if (pod == null) {
      // The informer may simply not have seen our own create yet: ask the server.
      pod =
          client
              .pods()
              .inNamespace(clone.getMetadata().getNamespace())
              .withName(AgentPodFactory.podName(clone.getMetadata().getName()))
              .get();
    }
    String node = knownNode;
    if (pod != null && pod.getSpec() != null && pod.getSpec().getNodeName() != null) {
      node = pod.getSpec().getNodeName();
    }
    VolumeClone seen = clone;
    if (pod != null && AgentPodState.succeededWithoutCutover(clone, pod)) {
      VolumeClone fresh =
          client
              .resources(VolumeClone.class)
              .inNamespace(clone.getMetadata().getNamespace())
              .withName(clone.getMetadata().getName())
              .get();
      if (fresh != null) {
        seen = fresh;
      }
    }
    return new Observation(seen, pod, node, now);
  }

  /** The node's state in words, for a message about a Pod that did not finish there. */
  String nodeState(String nodeName) {
    Node node;
    try {
      node = client.nodes().withName(nodeName).get();
    } catch (KubernetesClientException e) {
      return "unknown (" + e.getMessage() + ")";
    }
    if (node == null) {
      return "gone (its Node object is deleted)";
    }
    var ready =
        node.getStatus() == null || node.getStatus().getConditions() == null
            ? Optional.<NodeCondition>empty()
            : node.getStatus().getConditions().stream()
                .filter(c -> "Ready".equals(c.getType()))
                .findFirst();
    if (ready.isEmpty()) {
      return "without a Ready condition";
    }
    NodeCondition c = ready.get();
    if ("True".equals(c.getStatus())) {
      return "Ready, yet its kubelet did not finish the Pod";
    }
    return "NotReady (Ready="
        + c.getStatus()
        + (c.getReason() == null ? "" : ", " + c.getReason())
        + (c.getLastTransitionTime() == null ? "" : ", since " + c.getLastTransitionTime())
        + ")";
  }

  /** The Pod of that name in the clone's namespace if the clone owns it, read from the server. */
  Pod ownedPod(VolumeClone clone, String name) {
    Pod pod = client.pods().inNamespace(clone.getMetadata().getNamespace()).withName(name).get();
    return pod != null && AgentPodState.ownedBy(pod, clone) ? pod : null;
  }
}
