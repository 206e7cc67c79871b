package io.volumeclone.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.volumeclone.operator.OperatorOptions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code helm template} with the chart's defaults. */
class DefaultValuesRenderTest {

  private static ChartFixture.Manifests manifests;

  @BeforeAll
  static void render() {
    manifests = ChartFixture.render();
  }

  @Test
  void rendersExactlyTheDefaultResources() {
    assertThat(manifests.kinds())
        .containsExactlyInAnyOrder(
            "ServiceAccount/vc-volume-clone-operator",
            "ConfigMap/vc-volume-clone-config",
            "ClusterRole/vc-volume-clone-operator",
            "ClusterRoleBinding/vc-volume-clone-operator",
            "ClusterRole/vc-volume-clone-operator-cluster",
            "ClusterRoleBinding/vc-volume-clone-operator-cluster",
            "ClusterRole/vc-volume-clone-view",
            "ClusterRole/vc-volume-clone-edit",
            "Role/vc-volume-clone-leader-election",
            "RoleBinding/vc-volume-clone-leader-election",
            "ClusterRole/vc-volume-clone-agent",
            "Namespace/volume-clones",
            "ServiceAccount/volume-clone-agent",
            "RoleBinding/vc-volume-clone-agent",
            "Deployment/vc-volume-clone-operator",
            "Service/vc-volume-clone-metrics");
    // Off by default: one replica needs no PDB; monitors need prometheus-operator's CRDs.
    assertThat(manifests.all(PodDisruptionBudget.class)).isEmpty();
    assertThat(manifests.text()).doesNotContain("ServiceMonitor").doesNotContain("PodMonitor");
  }

  @Test
  void operatorPodIsNonRootReadOnlyWithoutCapabilities() {
    Deployment deployment = manifests.only(Deployment.class);
    PodSpec pod = deployment.getSpec().getTemplate().getSpec();
    Container operator = pod.getContainers().get(0);

    assertThat(deployment.getMetadata().getNamespace()).isEqualTo(ChartFixture.NAMESPACE);
    assertThat(deployment.getSpec().getReplicas()).isEqualTo(1);
    assertThat(pod.getSecurityContext().getRunAsNonRoot()).isTrue();
    assertThat(pod.getSecurityContext().getRunAsUser()).isEqualTo(65532L);
    assertThat(pod.getSecurityContext().getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
    var security = operator.getSecurityContext();
    assertThat(security.getRunAsNonRoot()).isTrue();
    assertThat(security.getReadOnlyRootFilesystem()).isTrue();
    assertThat(security.getAllowPrivilegeEscalation()).isFalse();
    assertThat(security.getPrivileged()).isFalse();
    assertThat(security.getCapabilities().getDrop()).containsExactly("ALL");
    assertThat(security.getCapabilities().getAdd()).isNullOrEmpty();
    assertThat(security.getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
    // A read-only root needs a writable /tmp for the JVM.
    assertThat(operator.getVolumeMounts())
        .anySatisfy(m -> assertThat(m.getMountPath()).isEqualTo("/tmp"));
    assertThat(pod.getVolumes())
        .anySatisfy(v -> assertThat(v.getEmptyDir()).isNotNull())
        .noneSatisfy(v -> assertThat(v.getHostPath()).isNotNull());
    assertThat(pod.getHostNetwork()).isNull();
  }

  @Test
  void operatorHasResourcesProbesAndAMetricsService(@TempDir Path scratch) {
    Deployment deployment = manifests.only(Deployment.class);
    Container operator = deployment.getSpec().getTemplate().getSpec().getContainers().get(0);
    OperatorOptions options = OperatorConfig.of(manifests, scratch).options();

    assertThat(operator.getResources().getRequests()).containsKeys("cpu", "memory");
    assertThat(operator.getResources().getLimits()).containsKey("memory");
    assertThat(operator.getImage()).isEqualTo("ghcr.io/volume-clone/volume-clone-operator:0.1.0");
    // The container ports are the ports the operator is told to serve on.
    assertThat(operator.getPorts())
        .extracting(p -> p.getName() + ":" + p.getContainerPort() + "/" + p.getProtocol())
        .containsExactlyInAnyOrder(
            "health:" + options.get(OperatorOptions.HEALTH_PORT) + "/TCP",
            "metrics:" + options.get(OperatorOptions.METRICS_PORT) + "/TCP");
    assertThat(options.get(OperatorOptions.HEALTH_PORT)).isEqualTo(8081);
    assertThat(options.get(OperatorOptions.METRICS_PORT)).isEqualTo(8080);
    // Liveness must not fail while informers sync (that is readiness's business).
    assertThat(operator.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/healthz");
    assertThat(operator.getLivenessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("health");
    assertThat(operator.getLivenessProbe().getInitialDelaySeconds()).isEqualTo(15);
    assertThat(operator.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/readyz");
    assertThat(operator.getReadinessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("health");

    Service service = manifests.only(Service.class);
    assertThat(service.getMetadata().getNamespace()).isEqualTo(ChartFixture.NAMESPACE);
    assertThat(service.getSpec().getType()).isEqualTo("ClusterIP");
    assertThat(deployment.getSpec().getTemplate().getMetadata().getLabels())
        .containsAllEntriesOf(service.getSpec().getSelector());
    assertThat(service.getSpec().getPorts())
        .singleElement()
        .satisfies(
            p -> {
              assertThat(p.getName()).isEqualTo("metrics");
              assertThat(p.getPort()).isEqualTo(8080);
              assertThat(p.getTargetPort().getStrVal()).isEqualTo("metrics");
            });
  }

  @Test
  void leaderElectionIsOnWithARollingUpdateAndALeaseRole(@TempDir Path scratch) {
    Deployment deployment = manifests.only(Deployment.class);
    OperatorConfig config = OperatorConfig.of(manifests, scratch);

    assertThat(config.options().get(OperatorOptions.LEADER_ELECTION)).isTrue();
    assertThat(config.options().get(OperatorOptions.LEADER_ELECTION_NAMESPACE))
        .isEqualTo(ChartFixture.NAMESPACE);
    assertThat(deployment.getSpec().getStrategy().getType()).isEqualTo("RollingUpdate");
    assertThat(
            manifests
                .get(Role.class, "vc-volume-clone-leader-election")
                .getMetadata()
                .getNamespace())
        .isEqualTo(ChartFixture.NAMESPACE);
    assertThat(deployment.getSpec().getTemplate().getSpec().getContainers().get(0).getEnv())
        .anySatisfy(
            e -> {
              assertThat(e.getName()).isEqualTo("POD_NAME");
              assertThat(e.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("metadata.name");
            });
  }

  @Test
  void configCoversEveryOperatorSettingAndMatchesItsDefaults(@TempDir Path scratch) {
    OperatorConfig config = OperatorConfig.of(manifests, scratch);
    OperatorOptions defaults = OperatorOptions.defaults();

    // The chart spells out every setting, so values.yaml is the one place to read them.
    assertThat(config.flatKeys().keySet())
        .containsExactlyInAnyOrderElementsOf(
            OperatorOptions.all().stream().map(OperatorOptions.Option::key).toList());
    // The chart's defaults are the operator's defaults, except where the chart knows better:
    // the Lease namespace is the release's.
    for (OperatorOptions.Option<?> option : OperatorOptions.all()) {
      if (option == OperatorOptions.LEADER_ELECTION_NAMESPACE) {
        continue;
      }
      assertThat((Object) config.options().get(option))
          .as("operator setting %s from the chart's defaults", option.key())
          .isEqualTo(defaults.get(option));
    }
    assertThat(config.options().get(OperatorOptions.MAX_CLONES_PER_NODE)).isEqualTo(4);
    assertThat(config.options().get(OperatorOptions.AGENT_REPORT_INTERVAL))
        .isEqualTo(Duration.ofSeconds(5));
    assertThat(config.options().get(OperatorOptions.ALLOWED_DEVICE_PREFIXES))
        .as("device paths are opt-in per install; /dev/mapper/ never by default")
        .isEmpty();
    assertThat(config.options().get(OperatorOptions.AGENT_METRICS_PORT)).isEqualTo(9090);
    assertThat(config.options().get(OperatorOptions.AGENT_PRIVILEGED)).isFalse();
    assertThat(config.options().get(OperatorOptions.AGENT_KERNEL_ATTACH))
        .as("kernel attach (privileged agents for clone volumes) is opt-in")
        .isFalse();
  }

  @Test
  void deploymentRollsWhenTheConfigChanges() {
    String checksum =
        manifests
            .only(Deployment.class)
            .getSpec()
            .getTemplate()
            .getMetadata()
            .getAnnotations()
            .get("checksum/config");
    String other =
        ChartFixture.render(ChartFixture.valuesResource("values-full.yaml"))
            .only(Deployment.class)
            .getSpec()
            .getTemplate()
            .getMetadata()
            .getAnnotations()
            .get("checksum/config");

    assertThat(checksum).matches("[0-9a-f]{64}");
    assertThat(other).matches("[0-9a-f]{64}").isNotEqualTo(checksum);
  }

  @Test
  void agentNamespaceIsPrivilegedForPodSecurityAndHasTheAgentServiceAccount(@TempDir Path scratch) {
    Namespace namespace = manifests.get(Namespace.class, "volume-clones");
    OperatorConfig config = OperatorConfig.of(manifests, scratch);
    String agentAccount = config.options().get(OperatorOptions.AGENT_SERVICE_ACCOUNT);

    assertThat(namespace.getMetadata().getLabels())
        .containsEntry("pod-security.kubernetes.io/enforce", "privileged")
        .containsEntry("pod-security.kubernetes.io/enforce-version", "latest");
    assertThat(namespace.getMetadata().getAnnotations())
        .containsEntry("helm.sh/resource-policy", "keep");
    ServiceAccount account = manifests.get(ServiceAccount.class, agentAccount);
    assertThat(account.getMetadata().getNamespace()).isEqualTo("volume-clones");
  }

  @Test
  void notesTellHowToCreateAndWatchAFirstClone() {
    // helm template leaves NOTES.txt out; render it as the one template a values file can print.
    String notes = ChartFixture.notes();

    assertThat(notes)
        .contains("kind: VolumeClone")
        .contains("namespace: volume-clones")
        .contains("kubectl -n volume-clones get vc -w")
        .contains("--for=condition=Ready")
        .contains("GET /healthz and /readyz on port 8081")
        .contains("GET /metrics, Service vc-volume-clone-metrics port 8080")
        .doesNotContain("serves no /healthz");
  }

  @Test
  void notesSayWhenAClaimOfACloneVolumeIsBound() {
    assertThat(ChartFixture.notes())
        .contains("agent.kernelAttach is false, so a clone's claim is bound only after")
        .contains("NoKernelAttach")
        .contains("Pod Security privileged");
  }

  @Test
  void configMapIsInTheReleaseNamespace() {
    ConfigMap config = manifests.only(ConfigMap.class);
    assertThat(config.getMetadata().getNamespace()).isEqualTo(ChartFixture.NAMESPACE);
    assertThat(List.copyOf(config.getData().keySet())).containsExactly("config.yaml");
  }
}
