package io.volumeclone.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.DestinationRef;
import io.volumeclone.api.v1alpha1.spec.MetadataRef;
import io.volumeclone.api.v1alpha1.spec.SourceRef;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.Progress;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The reconciler called directly against the mock server: Pod, placement, queue, finalizers, TTL.
 */
class LifecycleTest {

  private final Harness h =
      new Harness(
          Map.of(
              "agent.privileged",
              "true",
              "maxClonesPerNode",
              "2",
              "allowedDevicePrefixes",
              Harness.TEST_DEVICE_PREFIXES));

  @AfterEach
  void close() {
    h.close();
  }

  private void pvcClone(String name, String source, String destination, String node) {
    pvcClone(h, name, source, destination, node);
  }

  private static void pvcClone(
      Harness on, String name, String source, String destination, String node) {
    on.cluster.claim(Harness.NS, source, "1Gi");
    on.cluster.claim(Harness.NS, destination, "1Gi");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, name, source, destination);
    c.getSpec().setNodeName(node);
    on.cluster.create(c);
  }

  private static Condition condition(String type, String status) {
    return new ConditionBuilder()
        .withType(type)
        .withStatus(status)
        .withReason("Agent")
        .withMessage("from the agent")
        .withLastTransitionTime("2026-01-01T00:00:00Z")
        .build();
  }

  @Test
  void theAgentPodHasTheDocumentedShape() {
    h.cluster.node("n1");
    pvcClone("c", "src", "dst", "n1");
    h.cluster.claim(Harness.NS, "meta", "64Mi");
    h.reconcile("c");
    VolumeClone clone = h.clone("c");
    Pod pod = h.pod("c");

    assertThat(pod.getMetadata().getOwnerReferences())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.getUid()).isEqualTo(clone.getMetadata().getUid());
              assertThat(o.getKind()).isEqualTo("VolumeClone");
              assertThat(o.getApiVersion()).isEqualTo("volumeclone.io/v1alpha1");
              assertThat(o.getController()).isTrue();
            });
    assertThat(pod.getSpec().getNodeName()).as("claims only: kube-scheduler places it").isNull();
    assertThat(
            pod.getSpec()
                .getAffinity()
                .getNodeAffinity()
                .getRequiredDuringSchedulingIgnoredDuringExecution()
                .getNodeSelectorTerms())
        .singleElement()
        .satisfies(t -> assertThat(t.getMatchFields().get(0).getValues()).containsExactly("n1"));
    assertThat(pod.getSpec().getServiceAccountName()).isEqualTo("volume-clone-agent");
    Container agent = pod.getSpec().getContainers().get(0);
    assertThat(agent.getImage()).isEqualTo("ghcr.io/volume-clone/volume-clone:0.1.0");
    assertThat(agent.getCommand()).containsExactly("volume-clone");
    assertThat(agent.getArgs())
        .containsExactly("agent", "--name", "c", "--namespace", "db", "--metrics-port", "9090");
    assertThat(agent.getVolumeDevices())
        .extracting(d -> d.getName() + "=" + d.getDevicePath())
        .containsExactly(
            "source=/dev/volume-clone/source", "destination=/dev/volume-clone/destination");
    assertThat(pod.getSpec().getVolumes())
        .filteredOn(v -> v.getPersistentVolumeClaim() != null)
        .extracting(v -> v.getName() + "=" + v.getPersistentVolumeClaim().getClaimName())
        .containsExactly("source=src", "destination=dst");
    Volume state =
        pod.getSpec().getVolumes().stream()
            .filter(v -> v.getName().equals("state"))
            .findFirst()
            .orElseThrow();
    assertThat(state.getHostPath().getPath()).isEqualTo("/var/lib/volume-clone/db/c");
    assertThat(state.getHostPath().getType()).isEqualTo("DirectoryOrCreate");
    Volume leases =
        pod.getSpec().getVolumes().stream()
            .filter(v -> v.getName().equals("leases"))
            .findFirst()
            .orElseThrow();
    assertThat(leases.getHostPath().getPath()).isEqualTo("/var/lib/volume-clone/.copying");
    assertThat(leases.getHostPath().getType()).isEqualTo("DirectoryOrCreate");
    assertThat(agent.getPorts())
        .as("NBD is served on a Unix socket; the one TCP port is the metrics endpoint")
        .singleElement()
        .satisfies(
            p -> {
              assertThat(p.getName()).isEqualTo("metrics");
              assertThat(p.getContainerPort()).isEqualTo(9090);
              assertThat(p.getProtocol()).isEqualTo("TCP");
            });
    assertThat(pod.getMetadata().getAnnotations())
        .containsEntry("prometheus.io/scrape", "true")
        .containsEntry("prometheus.io/port", "9090")
        .containsEntry("prometheus.io/path", "/metrics");
    var security = agent.getSecurityContext();
    assertThat(security.getPrivileged()).isFalse();
    assertThat(security.getAllowPrivilegeEscalation()).isFalse();
    assertThat(security.getCapabilities().getDrop()).containsExactly("ALL");
    assertThat(security.getCapabilities().getAdd()).isNullOrEmpty();
    assertThat(security.getReadOnlyRootFilesystem()).isTrue();
    assertThat(agent.getEnv())
        .anySatisfy(
            e ->
                assertThat(e.getName() + "=" + e.getValue())
                    .isEqualTo("VOLUME_CLONE_REPORT_INTERVAL=5s"));
    assertThat(agent.getEnv())
        .extracting(e -> e.getName() + "=" + e.getValue())
        .contains(
            "VOLUME_CLONE_LEASE_DIRECTORY=/var/lib/volume-clone/.copying",
            "VOLUME_CLONE_NODE_BANDWIDTH=0");
    assertThat(agent.getVolumeMounts())
        .extracting(m -> m.getName() + "=" + m.getMountPath())
        .contains("state=/var/lib/volume-clone/db/c", "leases=/var/lib/volume-clone/.copying");
    assertThat(agent.getResources().getRequests()).containsKeys("cpu", "memory");

    var status = h.status("c");
    assertThat(status.getNodeName()).isEqualTo("n1");
    assertThat(status.getAgentPod()).isEqualTo("volume-clone-c");
    assertThat(status.getPhase()).isEqualTo(Phase.Pending);
    assertThat(status.getSourceSummary()).isEqualTo("pvc/src");
    assertThat(status.getObservedGeneration()).isEqualTo(clone.getMetadata().getGeneration());
    assertThat(status.condition(ConditionTypes.RECONCILING).orElseThrow().getStatus())
        .isEqualTo("True");
  }

  @Test
  void metricsPortZeroDeclaresNoPortAndNoScrapeAnnotations() {
    try (Harness off = new Harness(Map.of("agent.metrics.port", "0"))) {
      off.cluster.node("n1");
      pvcClone(off, "c", "src", "dst", "n1");
      off.reconcile("c");
      Pod pod = off.pod("c");
      Container agent = pod.getSpec().getContainers().get(0);
      assertThat(agent.getPorts()).isNullOrEmpty();
      assertThat(agent.getArgs()).doesNotContain("--metrics-port");
      assertThat(pod.getMetadata().getAnnotations()).doesNotContainKey("prometheus.io/scrape");
    }
  }

  @Test
  void hostDevicesAreHostPathsAndMakeThePodPrivileged() {
    h.cluster.node("n1");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "x", "y");
    c.getSpec().setSource(SourceRef.device("/dev/disk/by-id/backup"));
    c.getSpec().setDestination(DestinationRef.device("/dev/mapper/fast"));
    c.getSpec().setMetadata(MetadataRef.device("/dev/mapper/meta"));
    c.getSpec().setNodeName("n1");
    h.cluster.create(c);
    h.reconcile("c");
    Pod pod = h.pod("c");
    assertThat(pod.getSpec().getVolumes())
        .filteredOn(v -> v.getHostPath() != null && "BlockDevice".equals(v.getHostPath().getType()))
        .extracting(v -> v.getHostPath().getPath())
        .containsExactly("/dev/disk/by-id/backup", "/dev/mapper/fast", "/dev/mapper/meta");
    Container agent = pod.getSpec().getContainers().get(0);
    assertThat(agent.getVolumeMounts())
        .extracting(m -> m.getMountPath())
        .contains(
            "/dev/disk/by-id/backup",
            "/dev/mapper/fast",
            "/dev/mapper/meta",
            "/var/lib/volume-clone/db/c");
    assertThat(agent.getVolumeDevices()).isEmpty();
    assertThat(agent.getSecurityContext().getPrivileged()).isTrue();
  }

  @Test
  void aCloneWithADevicePathFollowsALocalVolumesNode() {
    h.cluster.node("n1");
    h.cluster.node("n7");
    h.cluster.claim(Harness.NS, "dst", "1Gi", "Block", "n7");
    VolumeClone c = MockCluster.pvcClone(Harness.NS, "c", "x", "dst");
    c.getSpec().setSource(SourceRef.device("/dev/disk/by-id/backup"));
    h.cluster.create(c);
    h.reconcile("c");
    assertThat(h.pod("c").getSpec().getNodeName()).isEqualTo("n7");
    assertThat(h.status("c").getNodeName()).isEqualTo("n7");
  }

  @Test
  void aCloneOfClaimsOnALocalVolumeIsLeftToTheScheduler() {
    h.cluster.node("n1");
    h.cluster.node("n7");
    h.cluster.claim(Harness.NS, "src", "1Gi");
    h.cluster.claim(Harness.NS, "dst", "1Gi", "Block", "n7");
    h.cluster.create(MockCluster.pvcClone(Harness.NS, "c", "src", "dst"));
    h.reconcile("c");
    assertThat(h.pod("c").getSpec().getNodeName())
        .as("kube-scheduler reads the volume's node affinity itself")
        .isNull();
    assertThat(h.pod("c").getSpec().getAffinity()).isNull();
  }

  @Test
  void phaseFollowsTheAgentAndEveryChangeIsAnEvent() {
    h.cluster.node("n1");
    pvcClone("c", "src", "dst", "n1");
    h.reconcile("c");
    assertThat(h.status("c").getPhase()).isEqualTo(Phase.Pending);
    h.podPhase("c", "Running", null);
    h.reconcile("c");
    assertThat(h.status("c").getPhase()).isEqualTo(Phase.Copying);
    h.agentWrites("c", s -> s.getConditions().add(condition(ConditionTypes.COPIED, "True")));
    h.reconcile("c");
    assertThat(h.status("c").getPhase()).isEqualTo(Phase.Copied);
    h.agentWrites("c", s -> s.getConditions().add(condition(ConditionTypes.CUT_OVER, "True")));
    h.reconcile("c");
    var status = h.status("c");
    assertThat(status.getPhase()).isEqualTo(Phase.Completed);
    assertThat(status.isTrue(ConditionTypes.READY)).isTrue();
    assertThat(status.isTrue(ConditionTypes.RECONCILING)).isFalse();
    assertThat(status.getCompletionTime()).isNotNull();
    assertThat(h.eventReasons("c"))
        .contains("Pending", "AgentCreated", "Copying", "Copied", "Completed");
  }

  @Test
  void aFailedAgentFailsTheCloneWithAWarning() {
    h.cluster.node("n1");
    pvcClone("c", "src", "dst", "n1");
    h.reconcile("c");
    h.podPhase("c", "Failed", "DeadlineExceeded");
    h.reconcile("c");
    var status = h.status("c");
    assertThat(status.getPhase()).isEqualTo(Phase.Failed);
    Condition stalled = status.condition(ConditionTypes.STALLED).orElseThrow();
    assertThat(stalled.getStatus()).isEqualTo("True");
    assertThat(stalled.getMessage()).contains("agent Pod volume-clone-c failed: DeadlineExceeded");
    assertThat(h.events("c"))
        .anySatisfy(e -> assertThat(e.getType() + " " + e.getReason()).isEqualTo("Warning Failed"));
  }

  @Test
  void aPodThatDisappearsIsRecreatedButNotAfterCompletion() {
    h.cluster.node("n1");
    pvcClone("c", "src", "dst", "n1");
    h.reconcile("c");
    String firstUid = h.pod("c").getMetadata().getUid();
    h.cluster.client.pods().resource(h.pod("c")).delete();
    assertThat(h.pod("c")).isNull();
    h.reconcile("c");
    assertThat(h.pod("c")).isNotNull();
    assertThat(h.pod("c").getMetadata().getUid()).isNotEqualTo(firstUid);
    assertThat(h.eventReasons("c")).contains("AgentRecreated");

    h.agentWrites("c", s -> s.getConditions().add(condition(ConditionTypes.CUT_OVER, "True")));
    h.reconcile("c");
    h.cluster.client.pods().resource(h.pod("c")).delete();
    h.reconcile("c");
    assertThat(h.pod("c")).as("left alone after completion").isNull();
    assertThat(h.status("c").getPhase()).isEqualTo(Phase.Completed);
  }

  @Test
  void anEvictedPodIsReplaced() {
    h.cluster.node("n1");
    pvcClone("c", "src", "dst", "n1");
    h.reconcile("c");
    h.podPhase("c", "Failed", "Evicted");
    h.reconcile("c");
    assertThat(h.pod("c")).isNull();
    assertThat(h.status("c").getPhase()).isNotEqualTo(Phase.Failed);
    h.reconcile("c");
    assertThat(h.pod("c")).isNotNull();
  }

  @Test
  void aPodTheKubeletRejectsIsReplacedAfterABackOffThatDoubles() {
    h.cluster.node("n1");
    pvcClone("c", "src", "dst", "n1");
    h.reconcile("c");
    String firstUid = h.pod("c").getMetadata().getUid();
    h.podPhase("c", "Failed", "OutOfcpu");

    var control = h.reconcile("c");
    assertThat(h.pod("c")).as("kept for people to see during the back-off").isNotNull();
    assertThat(control.getScheduleDelay()).contains(Duration.ofSeconds(10).toMillis());
    assertThat(h.status("c").getPhase()).isEqualTo(Phase.Pending);
    assertThat(h.status("c").isTrue(ConditionTypes.STALLED)).isFalse();
    Condition reconciling = h.status("c").condition(ConditionTypes.RECONCILING).orElseThrow();
    assertThat(reconciling.getReason()).isEqualTo("AgentRejected");
    assertThat(reconciling.getMessage())
        .contains("node n1 rejected agent Pod " + AgentPodFactory.podName("c") + ": OutOfcpu")
        .contains("a new agent Pod is created in 10s")
        .contains("rejection 1");

    h.clock.advance(Duration.ofSeconds(5));
    h.reconcile("c");
    assertThat(h.pod("c").getMetadata().getUid())
        .as("no new Pod before the back-off")
        .isEqualTo(firstUid);

    h.clock.advance(Duration.ofSeconds(5));
    h.reconcile("c");
    assertThat(h.pod("c")).as("the rejected Pod goes once the back-off ends").isNull();
    h.reconcile("c");
    assertThat(h.pod("c").getMetadata().getUid()).isNotEqualTo(firstUid);

    h.podPhase("c", "Failed", "OutOfmemory");
    control = h.reconcile("c");
    assertThat(control.getScheduleDelay()).contains(Duration.ofSeconds(20).toMillis());
    assertThat(h.status("c").condition(ConditionTypes.RECONCILING).orElseThrow().getMessage())
        .contains("OutOfmemory")
        .contains("in 20s")
        .contains("rejection 2");
    assertThat(h.events("c"))
        .filteredOn(e -> "AgentRejected".equals(e.getReason()))
        .as("one Warning per rejected Pod")
        .hasSize(2)
        .allMatch(e -> "Warning".equals(e.getType()));
    assertThat(h.status("c").getPhase()).isNotEqualTo(Phase.Failed);
  }

  @Test
  void clonesQueuePerNodeAndStartInCreationOrder() {
    h.cluster.node("n1");
    for (int i = 0; i < 4; i++) {
      pvcClone("c" + i, "s" + i, "d" + i, "n1");
      h.clock.advance(Duration.ofSeconds(1));
    }
    // Reconcile newest first: creation order, not reconcile order, decides.
    for (int i = 3; i >= 0; i--) {
      h.reconcile("c" + i);
    }
    // The mock server stamps creation times to the second; ties break on name, c0 < c1 < ...
    List<String> started = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      if (h.pod("c" + i) != null) {
        started.add("c" + i);
      }
    }
    assertThat(started).hasSize(2);
    // c3 and c2 were reconciled first but must wait for the older c0, c1 unless those took slots.
    Condition queued = h.status("c3").condition(ConditionTypes.RECONCILING).orElseThrow();
    assertThat(queued.getReason()).isEqualTo("Queued");
    assertThat(queued.getMessage()).startsWith("node n1 already runs");
    assertThat(h.status("c3").getPhase()).isEqualTo(Phase.Pending);

    // Finish one running clone: the oldest queued clone takes the slot.
    String done = started.get(0);
    h.agentWrites(done, s -> s.getConditions().add(condition(ConditionTypes.CUT_OVER, "True")));
    h.reconcile(done);
    List<String> waiting = new ArrayList<>(List.of("c0", "c1", "c2", "c3"));
    waiting.removeAll(started);
    for (int i = waiting.size() - 1; i >= 0; i--) {
      h.reconcile(waiting.get(i));
    }
    assertThat(h.pod(waiting.get(0))).as("oldest waiting clone starts").isNotNull();
    assertThat(h.pod(waiting.get(1))).as("the next keeps waiting").isNull();
  }

  @Test
  void queueOrderIsCreationOrderWhenAllAreWaiting() {
    h.cluster.node("n1");
    pvcClone("a", "sa", "da", "n1");
    pvcClone("b", "sb", "db", "n1");
    h.reconcile("a");
    h.reconcile("b");
    pvcClone("z", "sz", "dz", "n1");
    pvcClone("y", "sy", "dy", "n1");
    h.reconcile("z");
    h.reconcile("y");
    // z and y wait; y sorts before z only by name when created in the same second.
    Condition zc = h.status("z").condition(ConditionTypes.RECONCILING).orElseThrow();
    Condition yc = h.status("y").condition(ConditionTypes.RECONCILING).orElseThrow();
    assertThat(zc.getReason()).isEqualTo("Queued");
    assertThat(yc.getReason()).isEqualTo("Queued");
    boolean zFirst = Admission.CREATION_ORDER.compare(h.clone("z"), h.clone("y")) < 0;
    assertThat((zFirst ? zc : yc).getMessage()).endsWith("this clone is next");
    assertThat((zFirst ? yc : zc).getMessage())
        .endsWith("1 queued clone(s) were created before this one");
  }

  @Test
  void aSecondCloneOfTheSameDestinationWaitsNamingTheHolder() {
    h.cluster.node("n1");
    pvcClone("first", "s1", "shared", "n1");
    h.cluster.claim(Harness.NS, "s2", "1Gi");
    VolumeClone second = MockCluster.pvcClone(Harness.NS, "second", "s2", "shared");
    second.getSpec().setNodeName("n1");
    h.reconcile("first");
    h.cluster.create(second);
    h.reconcile("second");
    Condition waiting = h.status("second").condition(ConditionTypes.RECONCILING).orElseThrow();
    assertThat(waiting.getReason()).isEqualTo("DestinationInUse");
    assertThat(waiting.getMessage())
        .isEqualTo(
            "the destination, PVC shared, is in use by VolumeClone db/first (as its destination);"
                + " this clone starts when that one completes or is deleted");
    assertThat(h.pod("second")).isNull();
  }

  @Test
  void aSharedMetadataDeviceWaitsToo() {
    h.cluster.node("n1");
    for (String n : List.of("one", "two")) {
      VolumeClone c = MockCluster.pvcClone(Harness.NS, n, "x", "y");
      c.getSpec().setSource(SourceRef.device("/dev/disk/by-id/src-" + n));
      c.getSpec().setDestination(DestinationRef.device("/dev/disk/by-id/dst-" + n));
      c.getSpec().setMetadata(MetadataRef.device("/dev/mapper/meta"));
      c.getSpec().setNodeName("n1");
      h.cluster.create(c);
      h.reconcile(n);
    }
    Condition waiting = h.status("two").condition(ConditionTypes.RECONCILING).orElseThrow();
    assertThat(waiting.getReason()).isEqualTo("MetadataInUse");
    assertThat(waiting.getMessage()).contains("VolumeClone db/one");
  }

  private List<String> claimFinalizers(String claim) {
    List<String> finalizers =
        h.cluster
            .client
            .persistentVolumeClaims()
            .inNamespace("db")
            .withName(claim)
            .get()
            .getMetadata()
            .getFinalizers();
    return finalizers == null ? List.of() : finalizers;
  }

  private void addClaimFinalizers(String claim, String... finalizers) {
    var pvc = h.cluster.client.persistentVolumeClaims().inNamespace("db").withName(claim).get();
    pvc.getMetadata().setFinalizers(new ArrayList<>(List.of(finalizers)));
    h.cluster.client.resource(pvc).update();
  }

  @Test
  void claimsGetNoFinalizerOfTheOperators() {
    h.cluster.node("n1");
    pvcClone("c", "src", "dst", "n1");
    h.reconcile("c");
    assertThat(h.pod("c")).isNotNull();
    assertThat(claimFinalizers("src")).doesNotContain(LegacyClaimFinalizer.FINALIZER);
    assertThat(claimFinalizers("dst")).doesNotContain(LegacyClaimFinalizer.FINALIZER);
  }

  @Test
  void theRejectionBackOffSurvivesAnOperatorRestart() {
    h.cluster.node("n1");
    pvcClone("c", "src", "dst", "n1");
    h.reconcile("c");
    String firstUid = h.pod("c").getMetadata().getUid();
    h.podPhase("c", "Failed", "OutOfcpu");
    h.reconcile("c");
    assertThat(h.status("c").getAgentRejection().getCount()).isEqualTo(1);
    assertThat(h.status("c").getAgentRejection().getPodUid()).isEqualTo(firstUid);

    // A new operator process, with nothing in memory, 5 s into the 10 s back-off.
    h.clock.advance(Duration.ofSeconds(5));
    VolumeCloneReconciler fresh =
        new VolumeCloneReconciler(
            h.cluster.client,
            OperatorOptions.of(
                Map.of(
                    "agent.privileged",
                    "true",
                    "allowedDevicePrefixes",
                    Harness.TEST_DEVICE_PREFIXES)),
            h.clock);
    VolumeClone clone = h.clone("c");
    var control = fresh.reconcile(clone, new TestingContext(h.cluster.client, clone));
    assertThat(control.getScheduleDelay())
        .as("the rest of the back-off, not a new one")
        .contains(Duration.ofSeconds(5).toMillis());
    assertThat(h.pod("c").getMetadata().getUid()).isEqualTo(firstUid);
    assertThat(h.events("c"))
        .filteredOn(e -> "AgentRejected".equals(e.getReason()))
        .as("no second Warning about the same Pod")
        .hasSize(1);

    h.clock.advance(Duration.ofSeconds(5));
    clone = h.clone("c");
    fresh.reconcile(clone, new TestingContext(h.cluster.client, clone));
    assertThat(h.pod("c")).isNull();
    clone = h.clone("c");
    fresh.reconcile(clone, new TestingContext(h.cluster.client, clone));
    h.podPhase("c", "Failed", "OutOfmemory");
    clone = h.clone("c");
    control = fresh.reconcile(clone, new TestingContext(h.cluster.client, clone));
    assertThat(control.getScheduleDelay())
        .as("the count went on: the second rejection waits twice as long")
        .contains(Duration.ofSeconds(20).toMillis());

    h.podPhase("c", "Running", null);
    clone = h.clone("c");
    fresh.reconcile(clone, new TestingContext(h.cluster.client, clone));
    assertThat(h.status("c").getAgentRejection()).as("a Pod that runs ends the streak").isNull();
  }

  @Test
  void aReconcileThatThrowsIsReportedInTheStatusWithThePhaseKept() {
    h.cluster.node("n1");
    pvcClone("c", "src", "dst", "n1");
    h.reconcile("c");
    h.podPhase("c", "Running", null);
    h.reconcile("c");
    assertThat(h.status("c").getPhase()).isEqualTo(Phase.Copying);

    VolumeClone clone = h.clone("c");
    var control =
        h.reconciler.updateErrorStatus(
            clone,
            new TestingContext(h.cluster.client, clone),
            new KubernetesClientException("the API server refused the write"));

    assertThat(control.getResource()).as("written by the operator's own apply").isEmpty();
    assertThat(control.isNoRetry()).as("JOSDK still retries").isFalse();
    assertThat(h.status("c").getPhase()).isEqualTo(Phase.Copying);
    Condition reconciling = h.status("c").condition(ConditionTypes.RECONCILING).orElseThrow();
    assertThat(reconciling.getStatus()).isEqualTo("True");
    assertThat(reconciling.getReason()).isEqualTo("ReconcileError");
    assertThat(reconciling.getMessage())
        .contains("KubernetesClientException")
        .contains("the API server refused the write");
    assertThat(h.status("c").isTrue(ConditionTypes.STALLED)).isFalse();

    h.reconcile("c");
    assertThat(h.status("c").condition(ConditionTypes.RECONCILING).orElseThrow().getReason())
        .as("the next good round says what is going on again")
        .isEqualTo("Copying");
  }

  @Test
  void aFinishedClonesStatusIsNotTouchedByAReconcileError() {
    h.cluster.node("n1");
    pvcClone("c", "src", "dst", "n1");
    h.reconcile("c");
    h.agentWrites("c", s -> s.getConditions().add(condition(ConditionTypes.CUT_OVER, "True")));
    h.reconcile("c");
    assertThat(h.status("c").getPhase()).isEqualTo(Phase.Completed);
    var before = h.status("c");

    VolumeClone clone = h.clone("c");
    h.reconciler.updateErrorStatus(
        clone, new TestingContext(h.cluster.client, clone), new IllegalStateException("boom"));

    assertThat(h.status("c")).isEqualTo(before);
  }

  @Test
  void theFinalizerOfAnEarlierReleaseIsRemovedOnceAndOthersAreKept() {
    h.cluster.node("n1");
    pvcClone("c", "src", "dst", "n1");
    h.reconcile("c");
    // As an earlier release left them, with someone else's finalizer after ours.
    addClaimFinalizers("src", LegacyClaimFinalizer.FINALIZER, "example.com/keep");
    addClaimFinalizers("dst", LegacyClaimFinalizer.FINALIZER);
    // The upgraded operator: a new process, which has not looked at this clone's claims yet.
    VolumeCloneReconciler fresh =
        new VolumeCloneReconciler(h.cluster.client, OperatorOptions.of(Map.of()), h.clock);
    VolumeClone clone = h.clone("c");
    fresh.reconcile(clone, new TestingContext(h.cluster.client, clone));
    assertThat(claimFinalizers("src")).containsExactly("example.com/keep");
    assertThat(claimFinalizers("dst")).isEmpty();

    h.cluster.requests();
    clone = h.clone("c");
    fresh.reconcile(clone, new TestingContext(h.cluster.client, clone));
    fresh.reconcile(clone, new TestingContext(h.cluster.client, clone));
    assertThat(h.cluster.requests())
        .as("a running clone's later reconciles")
        .noneMatch(r -> r.contains("/persistentvolumeclaims"));
  }

  @Test
  void anAgentPodStuckTerminatingIsLeftBehindAfterTheDeletionTimeoutWithAWarning() {
    h.cluster.node("n1");
    pvcClone("c", "src", "dst", "n1");
    h.reconcile("c");
    VolumeClone clone = h.clone("c");
    clone.getMetadata().setFinalizers(List.of(VolumeCloneReconciler.FINALIZER));
    h.cluster.client.resource(clone).update();
    // A kubelet that is gone never finishes the Pod: it stays Terminating.
    Pod pod = h.pod("c");
    pod.getMetadata().setFinalizers(List.of("test/lost-kubelet"));
    h.cluster.client.resource(pod).update();
    h.cluster.client.resource(h.clone("c")).delete();

    assertThat(h.cleanup("c").isRemoveFinalizer()).isFalse();
    String deletion = h.pod("c").getMetadata().getDeletionTimestamp();
    assertThat(deletion).as("agent asked to stop").isNotNull();
    Instant deadline = Instant.parse(deletion).plus(Duration.ofMinutes(5));
    h.clock.advance(Duration.between(h.clock.instant(), deadline).minusSeconds(1));
    assertThat(h.cleanup("c").isRemoveFinalizer())
        .as("a second before agent.deletionTimeout (5m) has passed")
        .isFalse();
    assertThat(h.eventReasons("c")).doesNotContain("AgentLeftBehind");

    h.clock.advance(Duration.ofSeconds(2));
    assertThat(h.cleanup("c").isRemoveFinalizer()).as("past the timeout").isTrue();
    String warning =
        h.events("c").stream()
            .filter(e -> "AgentLeftBehind".equals(e.getReason()))
            .map(Event::getMessage)
            .findFirst()
            .orElseThrow();
    assertThat(warning)
        .contains("agent Pod " + AgentPodFactory.podName("c"))
        .contains("node n1 is ")
        .contains("source PVC src")
        .contains("destination PVC dst")
        .contains("metadata file /var/lib/volume-clone/db/c/metadata")
        .contains("delete pod " + AgentPodFactory.podName("c") + " --force --grace-period=0");
    assertThat(h.events("c"))
        .filteredOn(e -> "AgentLeftBehind".equals(e.getReason()))
        .allMatch(e -> "Warning".equals(e.getType()));
    assertThat(h.pod("c")).as("the Pod is left, not force-deleted").isNotNull();
  }

  @Test
  void deletingStopsTheAgentFirstThenReleases() {
    h.cluster.node("n1");
    pvcClone("c", "src", "dst", "n1");
    h.reconcile("c");
    // The clone carries JOSDK's finalizer; the Pod one that keeps it "terminating" for a while,
    // as a kubelet does during the grace period.
    VolumeClone clone = h.clone("c");
    clone.getMetadata().setFinalizers(List.of(VolumeCloneReconciler.FINALIZER));
    h.cluster.client.resource(clone).update();
    Pod pod = h.pod("c");
    pod.getMetadata().setFinalizers(List.of("test/kubelet"));
    h.cluster.client.resource(pod).update();
    h.cluster.client.resource(h.clone("c")).delete();
    assertThat(h.clone("c").getMetadata().getDeletionTimestamp()).isNotNull();

    var first = h.cleanup("c");
    assertThat(first.isRemoveFinalizer()).as("not released while the agent runs").isFalse();
    assertThat(h.pod("c").getMetadata().getDeletionTimestamp())
        .as("agent asked to stop")
        .isNotNull();

    Pod stopping = h.pod("c");
    stopping.getMetadata().setFinalizers(List.of());
    h.cluster.client.resource(stopping).update();
    assertThat(h.pod("c")).isNull();

    var second = h.cleanup("c");
    assertThat(second.isRemoveFinalizer()).isTrue();
    assertThat(h.eventReasons("c")).contains("Stopping", "Released");
  }

  private Pod forgetPod(String name) {
    return h.cluster
        .client
        .pods()
        .inNamespace(Harness.NS)
        .withName(AgentPodFactory.forgetPodName(name))
        .get();
  }

  /** A completed clone with the default metadata, deleted: its agent Pod is gone already. */
  private void completedAndDeleted(String name) {
    h.cluster.node("n1");
    pvcClone(name, "src", "dst", "n1");
    h.reconcile(name);
    h.agentWrites(name, s -> s.getConditions().add(condition(ConditionTypes.CUT_OVER, "True")));
    h.reconcile(name);
    assertThat(h.status(name).getPhase()).isEqualTo(Phase.Completed);
    deleteWithOurFinalizer(name);
    assertThat(h.cleanup(name).isRemoveFinalizer()).as("the agent Pod goes first").isFalse();
    assertThat(h.pod(name)).isNull();
  }

  @Test
  void deletingACompletedCloneRemovesItsDefaultMetadataFileOnItsNode() {
    completedAndDeleted("c");
    assertThat(h.cleanup("c").isRemoveFinalizer()).as("waits for the forget Pod").isFalse();
    Pod forget = forgetPod("c");
    assertThat(forget.getSpec().getNodeName()).isEqualTo("n1");
    assertThat(forget.getSpec().getRestartPolicy()).isEqualTo("Never");
    assertThat(forget.getSpec().getAutomountServiceAccountToken()).isFalse();
    Container container = forget.getSpec().getContainers().get(0);
    assertThat(container.getArgs())
        .containsExactly(
            "forget",
            "--metadata",
            "/var/lib/volume-clone/db/c/metadata",
            "--uid",
            h.clone("c").getMetadata().getUid());
    assertThat(forget.getSpec().getVolumes())
        .filteredOn(v -> v.getHostPath() != null)
        .singleElement()
        .satisfies(
            v -> assertThat(v.getHostPath().getPath()).isEqualTo("/var/lib/volume-clone/db/c"));
    assertThat(container.getVolumeDevices()).isNullOrEmpty();
    assertThat(container.getSecurityContext().getPrivileged()).isFalse();

    forget.setStatus(
        new io.fabric8.kubernetes.api.model.PodStatusBuilder().withPhase("Succeeded").build());
    h.cluster.client.resource(forget).updateStatus();
    assertThat(h.cleanup("c").isRemoveFinalizer()).isTrue();
    assertThat(h.eventReasons("c")).contains("RemovingMetadata", "MetadataRemoved");
    assertThat(forgetPod("c")).as("the forget Pod is removed").isNull();
  }

  @Test
  void aFailedForgetPodLeavesTheFileWithAWarningAndTheDeletionCompletes() {
    completedAndDeleted("c");
    h.cleanup("c");
    Pod forget = forgetPod("c");
    forget.setStatus(
        new io.fabric8.kubernetes.api.model.PodStatusBuilder()
            .withPhase("Failed")
            .withMessage("metadata /var/lib/volume-clone/db/c/metadata is kept: not cut over")
            .build());
    h.cluster.client.resource(forget).updateStatus();
    assertThat(h.cleanup("c").isRemoveFinalizer()).isTrue();
    assertThat(h.events("c"))
        .filteredOn(e -> "MetadataLeftBehind".equals(e.getReason()))
        .singleElement()
        .satisfies(
            e -> {
              assertThat(e.getType()).isEqualTo("Warning");
              assertThat(e.getMessage())
                  .contains("could not remove the default metadata file")
                  .contains("on node n1")
                  .contains("not cut over");
            });
  }

  @Test
  void aCloneThatDidNotCompleteKeepsItsMetadataForAResume() {
    h.cluster.node("n1");
    pvcClone("c", "src", "dst", "n1");
    h.reconcile("c");
    deleteWithOurFinalizer("c");
    h.cleanup("c");
    assertThat(h.cleanup("c").isRemoveFinalizer()).isTrue();
    assertThat(forgetPod("c")).isNull();
  }

  /** Deletes the clone as JOSDK would find it: with the operator's finalizer, so it lingers. */
  private void deleteWithOurFinalizer(String name) {
    VolumeClone clone = h.clone(name);
    clone.getMetadata().setFinalizers(List.of(VolumeCloneReconciler.FINALIZER));
    h.cluster.client.resource(clone).update();
    h.cluster.client.resource(h.clone(name)).delete();
  }

  @Test
  void finishedClonesAreDeletedAfterTheirTtl() {
    h.cluster.node("n1");
    pvcClone("c", "src", "dst", "n1");
    VolumeClone clone = h.clone("c");
    clone.getSpec().setTtlSecondsAfterFinished(600L);
    h.cluster.client.resource(clone).update();
    h.reconcile("c");
    h.agentWrites("c", s -> s.getConditions().add(condition(ConditionTypes.CUT_OVER, "True")));
    var control = h.reconcile("c");
    assertThat(control.getScheduleDelay()).contains(Duration.ofSeconds(600).toMillis());
    h.clock.advance(Duration.ofSeconds(599));
    assertThat(h.reconcile("c").getScheduleDelay()).contains(Duration.ofSeconds(1).toMillis());
    assertThat(h.clone("c")).isNotNull();
    h.clock.advance(Duration.ofSeconds(1));
    h.reconcile("c");
    assertThat(h.clone("c")).isNull();
  }

  @Test
  void aSecondReconcileOfAnUnchangedCloneWritesNothing() {
    h.cluster.node("n1");
    pvcClone("c", "src", "dst", "n1");
    h.reconcile("c");
    h.podPhase("c", "Running", null);
    h.reconcile("c");
    h.cluster.requests();
    h.clock.advance(Duration.ofMinutes(5));
    h.reconcile("c");
    assertThat(h.cluster.writes()).isEmpty();
  }

  @Test
  void concurrentStatusWritesOfOperatorAndAgentBothSurvive() throws Exception {
    h.cluster.node("n1");
    pvcClone("c", "src", "dst", "n1");
    h.reconcile("c");
    h.podPhase("c", "Running", null);
    VolumeClone stale = h.clone("c"); // what the operator's cache holds
    h.agentWrites(
        "c",
        s -> {
          Progress p = new Progress();
          p.setRegionsCopied(7L);
          s.setProgress(p);
          s.getConditions().add(condition(ConditionTypes.AVAILABLE, "True"));
        });
    // The operator reconciles with its stale copy; its write conflicts and is redone on top.
    h.cluster.requests();
    h.reconciler.reconcile(stale, new TestingContext(h.cluster.client, stale));
    var status = h.status("c");
    assertThat(status.getPhase()).isEqualTo(Phase.Copying);
    assertThat(status.getProgress().getRegionsCopied()).isEqualTo(7L);
    assertThat(status.isTrue(ConditionTypes.AVAILABLE)).isTrue();
    assertThat(status.isTrue(ConditionTypes.RECONCILING)).isTrue();

    // And the agent writing after the operator keeps the operator's fields.
    h.agentWrites("c", s -> s.getProgress().setRegionsCopied(9L));
    status = h.status("c");
    assertThat(status.getPhase()).isEqualTo(Phase.Copying);
    assertThat(status.getAgentPod()).isEqualTo("volume-clone-c");
  }
}
