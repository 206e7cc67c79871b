package io.volumeclone.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.LocalObjectReference;
import io.fabric8.kubernetes.api.model.Pod;
import io.volumeclone.api.v1alpha1.VolumeClone;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The agent Pod pulls the image the operator's settings name, with the Secrets they name. */
class AgentImageTest {

  private static final String DIGEST_PINNED =
      "registry.example.com:5000/storage/volume-clone@sha256:"
          + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

  private static Pod agentPodOf(Harness h) {
    h.cluster.node("n1");
    h.cluster.claim(Harness.NS, "src", "1Gi");
    h.cluster.claim(Harness.NS, "dst", "1Gi");
    VolumeClone clone = MockCluster.pvcClone(Harness.NS, "c", "src", "dst");
    clone.getSpec().setNodeName("n1");
    h.cluster.create(clone);
    h.reconcile("c");
    Pod pod = h.pod("c");
    assertThat(pod).as("agent Pod of VolumeClone c").isNotNull();
    return pod;
  }

  @Test
  void agentPodsPullTheConfiguredImageWithTheConfiguredSecrets() {
    try (Harness h =
        new Harness(
            Map.of(
                "agent.image", DIGEST_PINNED,
                "agent.imagePullPolicy", "Always",
                "agent.imagePullSecrets", "registry-example, registry-mirror"))) {
      Pod pod = agentPodOf(h);
      Container agent = pod.getSpec().getContainers().get(0);

      assertThat(agent.getImage()).isEqualTo(DIGEST_PINNED);
      assertThat(agent.getImagePullPolicy()).isEqualTo("Always");
      assertThat(pod.getSpec().getImagePullSecrets())
          .extracting(LocalObjectReference::getName)
          .containsExactly("registry-example", "registry-mirror");
    }
  }

  @Test
  void theMetadataCleanupPodPullsTheAgentImageWithTheSameSecrets() {
    VolumeClone clone = MockCluster.pvcClone(Harness.NS, "c", "src", "dst");
    clone.getMetadata().setUid("0b1c2d3e-0000-4000-8000-000000000001");
    Pod forget =
        new AgentPodFactory(
                OperatorOptions.of(
                    Map.of(
                        "agent.image",
                        DIGEST_PINNED,
                        "agent.imagePullSecrets",
                        "registry-example")))
            .forgetPod(clone, "n1");

    assertThat(forget.getSpec().getContainers().get(0).getImage()).isEqualTo(DIGEST_PINNED);
    assertThat(forget.getSpec().getImagePullSecrets())
        .extracting(LocalObjectReference::getName)
        .containsExactly("registry-example");
  }

  @Test
  void withoutSecretsConfiguredTheAgentPodNamesNone() {
    try (Harness h = new Harness()) {
      assertThat(agentPodOf(h).getSpec().getImagePullSecrets()).isEmpty();
    }
  }
}
