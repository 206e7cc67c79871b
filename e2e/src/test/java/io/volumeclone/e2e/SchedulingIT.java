package io.volumeclone.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Pod;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.e2e.cluster.LocalCluster;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Clones of PVCs only are placed by kube-scheduler, on the real control plane: the agent Pod is
 * created without a node, the scheduler's VolumeBinding finds the one node whose local volumes
 * match the WaitForFirstConsumer claims, binds them (the PV controller finishes the binding), and
 * the status records the node. A Pod the kubelet then rejects (its view of the node's CPU differs
 * from the scheduler's) is replaced after a back-off, with a condition saying why, never in a loop.
 */
class SchedulingIT {

  /** The node holding the local volumes; the scheduler has to find it by itself. */
  private static final String VOLUME_NODE = LocalCluster.NODES.get(1);

  private static final long SIZE = 8 << 20;

  private static final String LEGACY_CLAIM_FINALIZER = "volumeclone.io/in-use";

  @Test
  void waitForFirstConsumerClaimsBindWhenTheSchedulerPlacesTheAgentOnTheirVolumesNode()
      throws IOException {
    String ns = E2e.namespace("wffc");
    Path source = E2e.randomDevice(ns + "-src", SIZE, 41);
    E2e.emptyDevice(ns + "-dst", SIZE);
    E2e.apply(localClaims(ns));
    assertThat(claimPhase(ns, "src"))
        .as("WaitForFirstConsumer: no binding yet")
        .isEqualTo("Pending");
    // An earlier release put its own finalizer on the claims; the operator takes it off.
    E2e.client()
        .persistentVolumeClaims()
        .inNamespace(ns)
        .withName("src")
        .edit(
            claim -> {
              claim.getMetadata().getFinalizers().add(LEGACY_CLAIM_FINALIZER);
              return claim;
            });

    E2e.apply(pvcClone(ns, "placed"));
    VolumeClone done =
        E2e.await(
            "VolumeClone " + ns + "/placed Completed",
            () -> E2e.clone(ns, "placed"),
            c -> Clones.phase(c, Phase.Completed) || Clones.phase(c, Phase.Failed),
            Duration.ofSeconds(180));
    assertThat(done.getStatus().getPhase())
        .as(done.getStatus().getMessage())
        .isEqualTo(Phase.Completed);
    assertThat(done.getStatus().getNodeName()).isEqualTo(VOLUME_NODE);

    String podName = done.getStatus().getAgentPod();
    Pod pod = E2e.pod(ns, podName);
    assertThat(pod.getSpec().getNodeName()).isEqualTo(VOLUME_NODE);
    assertThat(pod.getSpec().getAffinity())
        .as("no node was given: nothing but the claims")
        .isNull();
    List<Event> scheduled =
        E2e.client().v1().events().inNamespace(ns).list().getItems().stream()
            .filter(e -> podName.equals(e.getInvolvedObject().getName()))
            .filter(e -> "Scheduled".equals(e.getReason()))
            .toList();
    assertThat(scheduled)
        .as("kube-scheduler bound the agent Pod")
        .anySatisfy(
            e ->
                assertThat(e.getMessage())
                    .contains(
                        "Successfully assigned " + ns + "/" + podName + " to " + VOLUME_NODE));
    assertThat(claimPhase(ns, "src")).isEqualTo("Bound");
    assertThat(claimPhase(ns, "dst")).isEqualTo("Bound");
    for (String claim : List.of("src", "dst")) {
      assertThat(
              E2e.client()
                  .persistentVolumeClaims()
                  .inNamespace(ns)
                  .withName(claim)
                  .get()
                  .getMetadata()
                  .getFinalizers())
          .as("claim " + claim + ": protected by Kubernetes' own finalizer, not the operator's")
          .contains("kubernetes.io/pvc-protection")
          .doesNotContain(LEGACY_CLAIM_FINALIZER);
    }
    assertThat(E2e.kubectl("-n", ns, "get", "vc", "placed")).contains(VOLUME_NODE);
    Clones.assertSameBytes(source, E2e.deviceDirectory().resolve(ns + "-dst"));

    if (E2e.onLocalCluster()) {
      // Deleting the completed clone removes its default metadata file on the node it ran on.
      Path metadata =
          E2e.local()
              .nodes()
              .nodeDirectory(VOLUME_NODE)
              .resolve("var/lib/volume-clone/" + ns + "/placed/metadata");
      assertThat(metadata).as("the default metadata on " + VOLUME_NODE).exists();
      E2e.kubectl("-n", ns, "delete", "vc", "placed", "--wait=false");
      E2e.await("VolumeClone placed gone", () -> E2e.clone(ns, "placed") == null, gone -> gone);
      assertThat(metadata).as("removed at deletion").doesNotExist();
      assertThat(metadata.getParent()).as("its empty state directory too").doesNotExist();
      assertThat(
              E2e.client().v1().events().inNamespace(ns).list().getItems().stream()
                  .filter(e -> "MetadataRemoved".equals(e.getReason()))
                  .map(Event::getMessage))
          .singleElement()
          .asString()
          .contains("/var/lib/volume-clone/" + ns + "/placed/metadata on node " + VOLUME_NODE);
      E2e.await(
          "the forget Pod removed",
          () -> E2e.pod(ns, "volume-clone-forget-placed") == null,
          gone -> gone);
    }
  }

  @Test
  void aPodTheKubeletRejectsIsReplacedAfterABackOffNeverInALoop() throws IOException {
    Assumptions.assumeTrue(
        E2e.onLocalCluster(),
        "needs the local node runner to hold CPU outside the scheduler's view");
    String ns = E2e.namespace("reject");
    E2e.randomDevice(ns + "-src", SIZE, 42);
    E2e.emptyDevice(ns + "-dst", SIZE);
    E2e.apply(localClaims(ns));
    // The kubelet of the volumes' node counts CPU the API does not show (system daemons).
    E2e.local().nodes().reserve(VOLUME_NODE, 2000, 0);
    try {
      E2e.apply(pvcClone(ns, "rejected"));
      VolumeClone rejected =
          E2e.awaitClone(
              ns,
              "rejected",
              "Reconciling reason AgentRejected",
              c ->
                  c.getStatus() != null
                      && c.getStatus()
                          .condition(ConditionTypes.RECONCILING)
                          .filter(r -> "AgentRejected".equals(r.getReason()))
                          .isPresent());
      assertThat(
              rejected.getStatus().condition(ConditionTypes.RECONCILING).orElseThrow().getMessage())
          .contains("node " + VOLUME_NODE + " rejected agent Pod")
          .contains("OutOfcpu")
          .contains("Node didn't have enough resource: cpu")
          .contains("a new agent Pod is created in");
      assertThat(rejected.getStatus().isTrue(ConditionTypes.STALLED)).isFalse();

      // Watch a 45 s window: with a 10 s back-off doubling, at most three Pods (0, 10, 30 s).
      Set<String> podUids = new LinkedHashSet<>();
      Instant end = Instant.now().plusSeconds(45);
      while (Instant.now().isBefore(end)) {
        Pod pod = E2e.pod(ns, rejected.getStatus().getAgentPod());
        if (pod != null) {
          podUids.add(pod.getMetadata().getUid());
        }
        VolumeClone now = E2e.clone(ns, "rejected");
        assertThat(now.getStatus().getPhase())
            .as("a rejection is no failure")
            .isEqualTo(Phase.Pending);
        E2e.sleep(Duration.ofMillis(200));
      }
      assertThat(podUids).as("agent Pods seen in 45 s").hasSizeBetween(2, 3);
      assertThat(
              E2e.client().v1().events().inNamespace(ns).list().getItems().stream()
                  .filter(e -> "AgentRejected".equals(e.getReason()))
                  .filter(e -> "Warning".equals(e.getType())))
          .isNotEmpty();
    } finally {
      E2e.local().nodes().reserve(VOLUME_NODE, 0, 0);
    }
    VolumeClone done =
        E2e.await(
            "VolumeClone " + ns + "/rejected Completed once the node has room",
            () -> E2e.clone(ns, "rejected"),
            c -> Clones.phase(c, Phase.Completed),
            Duration.ofSeconds(150));
    assertThat(done.getStatus().getNodeName()).isEqualTo(VOLUME_NODE);
  }

  private static String claimPhase(String ns, String claim) {
    var pvc = E2e.client().persistentVolumeClaims().inNamespace(ns).withName(claim).get();
    return pvc.getStatus() == null ? null : pvc.getStatus().getPhase();
  }

  /**
   * A WaitForFirstConsumer class and local volumes on {@link #VOLUME_NODE} only (the device files),
   * with a claim for each, as a cluster admin sets up local disks.
   */
  private static String localClaims(String ns) {
    StringBuilder yaml =
        new StringBuilder(
            """
            apiVersion: storage.k8s.io/v1
            kind: StorageClass
            metadata:
              name: %s-local
            provisioner: kubernetes.io/no-provisioner
            volumeBindingMode: WaitForFirstConsumer
            """
                .formatted(ns));
    for (String role : List.of("src", "dst")) {
      yaml.append(
          """
          ---
          apiVersion: v1
          kind: PersistentVolume
          metadata:
            name: %1$s-%2$s
          spec:
            capacity:
              storage: %3$d
            volumeMode: Block
            accessModes: [ReadWriteOnce]
            persistentVolumeReclaimPolicy: Retain
            storageClassName: %1$s-local
            local:
              path: %4$s
            nodeAffinity:
              required:
                nodeSelectorTerms:
                  - matchExpressions:
                      - key: kubernetes.io/hostname
                        operator: In
                        values: [%5$s]
          ---
          apiVersion: v1
          kind: PersistentVolumeClaim
          metadata:
            name: %2$s
            namespace: %1$s
          spec:
            volumeMode: Block
            accessModes: [ReadWriteOnce]
            storageClassName: %1$s-local
            resources:
              requests:
                storage: %3$d
          """
              .formatted(
                  ns, role, SIZE, E2e.deviceDirectory().resolve(ns + "-" + role), VOLUME_NODE));
    }
    return yaml.toString();
  }

  private static String pvcClone(String ns, String name) {
    return """
        apiVersion: volumeclone.io/v1alpha1
        kind: VolumeClone
        metadata:
          name: %s
          namespace: %s
        spec:
          source:
            persistentVolumeClaim:
              claimName: src
          destination:
            persistentVolumeClaim:
              claimName: dst
        """
        .formatted(name, ns);
  }
}
