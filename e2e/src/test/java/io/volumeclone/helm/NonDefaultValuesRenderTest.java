package io.volumeclone.helm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.operator.AgentPodFactory;
import io.volumeclone.operator.OperatorOptions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every non-default branch: values-full.yaml and values-single-no-election.yaml. */
class NonDefaultValuesRenderTest {

  private static ChartFixture.Manifests full;
  private static ChartFixture.Manifests single;

  @BeforeAll
  static void render() {
    full = ChartFixture.render(ChartFixture.valuesResource("values-full.yaml"));
    single = ChartFixture.render(ChartFixture.valuesResource("values-single-no-election.yaml"));
  }

  private static PodSpec pod(ChartFixture.Manifests m) {
    return m.only(Deployment.class).getSpec().getTemplate().getSpec();
  }

  private static Container operator(ChartFixture.Manifests m) {
    return pod(m).getContainers().get(0);
  }

  @Test
  void threeReplicasForceLeaderElectionAndGetADisruptionBudgetAndSpreading(@TempDir Path scratch) {
    Deployment deployment = full.only(Deployment.class);
    OperatorConfig config = OperatorConfig.of(full, scratch);
    PodDisruptionBudget pdb = full.only(PodDisruptionBudget.class);

    assertThat(deployment.getSpec().getReplicas()).isEqualTo(3);
    // values-full.yaml says leaderElection.enabled: false; three replicas must override it.
    assertThat(config.options().get(OperatorOptions.LEADER_ELECTION)).isTrue();
    assertThat(config.options().get(OperatorOptions.LEADER_ELECTION_LEASE_NAME))
        .isEqualTo("clones-leader");
    assertThat(config.options().get(OperatorOptions.LEADER_ELECTION_NAMESPACE))
        .isEqualTo("storage-system");
    assertThat(deployment.getSpec().getStrategy().getType()).isEqualTo("RollingUpdate");
    assertThat(pdb.getSpec().getMinAvailable().getIntVal()).isEqualTo(2);
    assertThat(pdb.getSpec().getSelector().getMatchLabels())
        .isEqualTo(deployment.getSpec().getSelector().getMatchLabels());
    assertThat(deployment.getSpec().getTemplate().getMetadata().getLabels())
        .containsAllEntriesOf(pdb.getSpec().getSelector().getMatchLabels());
    var antiAffinity =
        pod(full)
            .getAffinity()
            .getPodAntiAffinity()
            .getPreferredDuringSchedulingIgnoredDuringExecution();
    assertThat(antiAffinity)
        .singleElement()
        .satisfies(
            t ->
                assertThat(t.getPodAffinityTerm().getTopologyKey())
                    .isEqualTo("kubernetes.io/hostname"));
  }

  @Test
  void oneReplicaWithoutLeaderElectionRecreatesInsteadOfRolling(@TempDir Path scratch) {
    OperatorConfig config = OperatorConfig.of(single, scratch);

    assertThat(config.options().get(OperatorOptions.LEADER_ELECTION)).isFalse();
    assertThat(single.only(Deployment.class).getSpec().getStrategy().getType())
        .isEqualTo("Recreate");
    assertThat(single.all(PodDisruptionBudget.class)).isEmpty();
    assertThat(pod(single).getAffinity()).isNull();
  }

  @Test
  void healthAndMetricsOffMeanNoEndpointNoProbesAndNoService(@TempDir Path scratch) {
    OperatorOptions options = OperatorConfig.of(single, scratch).options();
    Container operator = operator(single);

    // Port 0 tells the operator to open no endpoint at all.
    assertThat(options.get(OperatorOptions.HEALTH_PORT)).isZero();
    assertThat(options.get(OperatorOptions.METRICS_PORT)).isZero();
    assertThat(operator.getLivenessProbe()).isNull();
    assertThat(operator.getReadinessProbe()).isNull();
    assertThat(operator.getPorts()).isNullOrEmpty();
    assertThat(single.all(Service.class)).isEmpty();
    assertThat(ChartFixture.notes(ChartFixture.valuesResource("values-single-no-election.yaml")))
        .contains("operator.health.enabled is false")
        .doesNotContain("GET /metrics");
  }

  @Test
  void operatorSettingsFlowIntoTheConfigTheOperatorReads(@TempDir Path scratch) {
    OperatorOptions options = OperatorConfig.of(full, scratch).options();

    assertThat(options.get(OperatorOptions.AGENT_IMAGE))
        .isEqualTo("registry.example.com:5000/storage/volume-clone:0.2.0-rc1");
    assertThat(options.get(OperatorOptions.AGENT_IMAGE_PULL_POLICY)).isEqualTo("Always");
    assertThat(options.get(OperatorOptions.AGENT_IMAGE_PULL_SECRETS))
        .containsExactly("registry-example", "registry-mirror");
    assertThat(options.get(OperatorOptions.AGENT_SERVICE_ACCOUNT)).isEqualTo("clone-agent");
    assertThat(options.get(OperatorOptions.AGENT_PRIVILEGED)).isTrue();
    assertThat(options.get(OperatorOptions.AGENT_KERNEL_ATTACH)).isTrue();
    assertThat(options.get(OperatorOptions.AGENT_CPU_REQUEST)).isEqualTo("200m");
    assertThat(options.get(OperatorOptions.AGENT_MEMORY_REQUEST)).isEqualTo("256Mi");
    assertThat(options.get(OperatorOptions.AGENT_CPU_LIMIT)).isEqualTo("2");
    assertThat(options.get(OperatorOptions.AGENT_MEMORY_LIMIT)).isEqualTo("1Gi");
    assertThat(options.get(OperatorOptions.AGENT_STOP_GRACE_PERIOD))
        .isEqualTo(Duration.ofMinutes(2));
    assertThat(options.get(OperatorOptions.AGENT_REPORT_INTERVAL))
        .isEqualTo(Duration.ofMillis(750));
    assertThat(options.get(OperatorOptions.AGENT_STATE_DIRECTORY)).isEqualTo("/srv/volume-clone");
    assertThat(options.get(OperatorOptions.AGENT_NODE_BANDWIDTH)).isEqualTo(400L << 20);
    assertThat(options.get(OperatorOptions.AGENT_METRICS_PORT)).isEqualTo(9400);
    assertThat(options.get(OperatorOptions.ALLOWED_DEVICE_PREFIXES))
        .containsExactly(
            "/dev/disk/by-id/", "/dev/disk/by-path/", "/var/lib/volume-clone-demo/devices/");
    assertThat(options.get(OperatorOptions.MAX_CLONES_PER_NODE)).isEqualTo(9);
    assertThat(options.get(OperatorOptions.WATCH_NAMESPACES))
        .containsExactly("databases", "analytics");
    assertThat(options.get(OperatorOptions.RECHECK_INTERVAL)).isEqualTo(Duration.ofMinutes(2));
  }

  @Test
  void emptyPrefixListMeansNoHostDevices(@TempDir Path scratch) {
    assertThat(
            OperatorConfig.of(single, scratch)
                .options()
                .get(OperatorOptions.ALLOWED_DEVICE_PREFIXES))
        .isEmpty();
  }

  @Test
  void agentMetricsPortZeroSwitchesTheAgentsEndpointOff(@TempDir Path scratch) {
    assertThat(OperatorConfig.of(single, scratch).options().get(OperatorOptions.AGENT_METRICS_PORT))
        .isZero();
    assertThat(single.text()).doesNotContain("PodMonitor");
  }

  @Test
  void podMonitorSelectsTheAgentPodsTheOperatorBuildsInEveryCloneNamespace(@TempDir Path scratch) {
    GenericKubernetesResource monitor = generic(full, "PodMonitor");
    OperatorOptions options = OperatorConfig.of(full, scratch).options();
    VolumeClone clone = new VolumeClone();
    clone.getMetadata().setName("c");
    clone.getMetadata().setNamespace("databases");
    clone.getMetadata().setUid("0000");
    Pod agent =
        new AgentPodFactory(options).build(new AgentPodFactory.Plan(clone, "n1", List.of()));

    assertThat(monitor.getApiVersion()).isEqualTo("monitoring.coreos.com/v1");
    assertThat(monitor.getMetadata().getName()).isEqualTo("clones-agent");
    assertThat(monitor.getMetadata().getLabels()).containsEntry("release", "prometheus");
    @SuppressWarnings("unchecked")
    Map<String, String> selected =
        (Map<String, String>) monitor.get("spec", "selector", "matchLabels");
    assertThat(agent.getMetadata().getLabels())
        .as("the PodMonitor selects the labels AgentPodFactory puts on agent Pods")
        .containsAllEntriesOf(selected);
    assertThat(selected).containsEntry("app.kubernetes.io/component", "agent");
    assertThat((Object) monitor.get("spec", "namespaceSelector", "matchNames"))
        .isEqualTo(List.of("databases", "analytics"));
    assertThat(monitor.get("spec", "podMetricsEndpoints", 0, "port").toString())
        .isEqualTo(AgentPodFactory.METRICS_PORT_NAME);
    assertThat(monitor.get("spec", "podMetricsEndpoints", 0, "path").toString())
        .isEqualTo("/metrics");
    assertThat(monitor.get("spec", "podMetricsEndpoints", 0, "interval").toString())
        .isEqualTo("20s");
    assertThat(agent.getSpec().getContainers().get(0).getPorts())
        .singleElement()
        .satisfies(
            p -> {
              assertThat(p.getName()).isEqualTo(AgentPodFactory.METRICS_PORT_NAME);
              assertThat(p.getContainerPort()).isEqualTo(9400);
            });
    assertThat(agent.getMetadata().getAnnotations()).containsEntry("prometheus.io/port", "9400");
  }

  @Test
  void podMonitorWithoutAnAgentMetricsPortFailsNamingBothValues(@TempDir Path scratch) {
    Path values =
        ChartFixture.valuesFile(
            scratch, "agent:\n  metrics:\n    port: 0\n    podMonitor:\n      enabled: true\n");
    assertThatThrownBy(() -> ChartFixture.render(values))
        .hasMessageContaining("agent.metrics.podMonitor.enabled needs agent.metrics.port > 0");
  }

  @Test
  void operatorPodTakesResourcesPlacementImageAndProbes(@TempDir Path scratch) {
    PodSpec pod = pod(full);
    Container operator = operator(full);

    assertThat(operator.getImage())
        .isEqualTo(
            "registry.example.com/storage/volume-clone-operator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    assertThat(operator.getImagePullPolicy()).isEqualTo("Always");
    assertThat(pod.getImagePullSecrets())
        .singleElement()
        .satisfies(s -> assertThat(s.getName()).isEqualTo("registry-example"));
    assertThat(operator.getResources().getRequests())
        .isEqualTo(Map.of("cpu", new Quantity("250m"), "memory", new Quantity("384Mi")));
    assertThat(operator.getResources().getLimits())
        .isEqualTo(Map.of("cpu", new Quantity("1"), "memory", new Quantity("768Mi")));
    assertThat(pod.getNodeSelector()).containsEntry("node-role.kubernetes.io/control-plane", "");
    assertThat(pod.getTolerations())
        .singleElement()
        .satisfies(
            t -> {
              assertThat(t.getKey()).isEqualTo("node-role.kubernetes.io/control-plane");
              assertThat(t.getOperator()).isEqualTo("Exists");
              assertThat(t.getEffect()).isEqualTo("NoSchedule");
            });
    assertThat(pod.getPriorityClassName()).isEqualTo("system-cluster-critical");
    assertThat(pod.getServiceAccountName()).isEqualTo("clone-operator");
    var template = full.only(Deployment.class).getSpec().getTemplate().getMetadata();
    assertThat(template.getAnnotations()).containsEntry("example.com/scrape", "false");
    assertThat(template.getLabels())
        .containsEntry("tier", "infra")
        .containsEntry("team", "storage");
    assertThat(operator.getEnv())
        .anySatisfy(
            e -> {
              assertThat(e.getName()).isEqualTo("JAVA_TOOL_OPTIONS");
              assertThat(e.getValue())
                  .isEqualTo(
                      "-XX:MaxRAMPercentage=60 -Dorg.slf4j.simpleLogger.defaultLogLevel=debug");
            });
    // health.enabled: the probes use the documented endpoints and the health port.
    assertThat(operator.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/healthz");
    assertThat(operator.getLivenessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("health");
    assertThat(operator.getLivenessProbe().getPeriodSeconds()).isEqualTo(7);
    assertThat(operator.getLivenessProbe().getInitialDelaySeconds()).isEqualTo(20);
    assertThat(operator.getLivenessProbe().getFailureThreshold()).isEqualTo(5);
    assertThat(operator.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/readyz");
    OperatorOptions options = OperatorConfig.of(full, scratch).options();
    assertThat(options.get(OperatorOptions.HEALTH_PORT)).isEqualTo(8081);
    assertThat(options.get(OperatorOptions.METRICS_PORT)).isEqualTo(9090);
    assertThat(operator.getPorts())
        .extracting(p -> p.getName() + ":" + p.getContainerPort())
        .containsExactlyInAnyOrder("metrics:9090", "health:8081");
    // The security context does not loosen with any of these values.
    assertThat(operator.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
    assertThat(operator.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
  }

  @Test
  void metricsServiceAndServiceMonitorSelectTheOperator() {
    Service service = full.only(Service.class);
    Map<String, String> podLabels =
        full.only(Deployment.class).getSpec().getTemplate().getMetadata().getLabels();
    GenericKubernetesResource monitor = generic(full, "ServiceMonitor");

    assertThat(service.getMetadata().getName()).isEqualTo("clones-metrics");
    assertThat(podLabels).containsAllEntriesOf(service.getSpec().getSelector());
    assertThat(service.getSpec().getPorts())
        .singleElement()
        .satisfies(
            p -> {
              assertThat(p.getPort()).isEqualTo(9090);
              assertThat(p.getTargetPort().getStrVal()).isEqualTo("metrics");
            });
    assertThat(service.getMetadata().getAnnotations()).containsEntry("example.com/metrics", "yes");
    assertThat(monitor.getApiVersion()).isEqualTo("monitoring.coreos.com/v1");
    assertThat(monitor.getMetadata().getLabels()).containsEntry("release", "prometheus");
    @SuppressWarnings("unchecked")
    Map<String, String> selected =
        (Map<String, String>)
            ((Map<String, Object>)
                    ((Map<String, Object>) monitor.getAdditionalProperties().get("spec"))
                        .get("selector"))
                .get("matchLabels");
    assertThat(service.getMetadata().getLabels()).containsAllEntriesOf(selected);
    assertThat(monitor.get("spec", "endpoints", 0, "port").toString()).isEqualTo("metrics");
    assertThat(monitor.get("spec", "endpoints", 0, "interval").toString()).isEqualTo("15s");
  }

  @Test
  void cloneNamespacesAreCreatedOnlyWhenAskedAndAlwaysGetTheAgentAccount() {
    List<String> namespaces =
        full.all(Namespace.class).stream().map(n -> n.getMetadata().getName()).toList();
    List<String> agentAccounts =
        full.all(ServiceAccount.class).stream()
            .filter(sa -> sa.getMetadata().getName().equals("clone-agent"))
            .map(sa -> sa.getMetadata().getNamespace())
            .toList();

    assertThat(namespaces).containsExactly("analytics");
    assertThat(full.get(Namespace.class, "analytics").getMetadata().getLabels())
        .containsEntry("pod-security.kubernetes.io/enforce", "privileged")
        .containsEntry("pod-security.kubernetes.io/enforce-version", "v1.31");
    assertThat(agentAccounts).containsExactlyInAnyOrder("databases", "analytics");
    // Existing operator account: nothing created for the operator, the Pod uses the given name.
    assertThat(single.all(ServiceAccount.class))
        .extracting(sa -> sa.getMetadata().getNamespace() + "/" + sa.getMetadata().getName())
        .containsExactly("team-a/volume-clone-agent");
    assertThat(single.all(Namespace.class)).isEmpty();
    assertThat(pod(single).getServiceAccountName()).isEqualTo("preexisting-operator");
  }

  @Test
  void notesSayThatKernelAttachRunsVolumeAgentsPrivileged() {
    assertThat(ChartFixture.notes(ChartFixture.valuesResource("values-full.yaml")))
        .contains("agent Pods of clones that publish a volume run privileged")
        .contains("their namespaces need Pod Security privileged")
        .doesNotContain("NoKernelAttach");
  }

  @Test
  void notesTellHowToLabelAnExistingCloneNamespace() {
    String notes =
        ChartFixture.notes(ChartFixture.valuesResource("values-single-no-election.yaml"));

    assertThat(notes)
        .contains("kubectl label namespace team-a pod-security.kubernetes.io/enforce=privileged")
        .contains("kubectl -n team-a get vc -w")
        .contains("leader election off");
  }

  @Test
  void fullnameOverrideNamesEverything() {
    assertThat(full.kinds())
        .contains(
            "Deployment/clones-operator",
            "ConfigMap/clones-config",
            "ClusterRole/clones-operator",
            "ClusterRole/clones-agent",
            "PodDisruptionBudget/clones-operator",
            "Service/clones-metrics");
  }

  private static GenericKubernetesResource generic(ChartFixture.Manifests manifests, String kind) {
    return manifests.all(GenericKubernetesResource.class).stream()
        .filter(r -> r.getKind().equals(kind))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no " + kind + " in " + manifests.kinds()));
  }
}
