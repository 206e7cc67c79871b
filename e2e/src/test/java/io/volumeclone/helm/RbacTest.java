package io.volumeclone.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.volumeclone.operator.OperatorOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The chart's Roles grant exactly what {@link DeclaredPermissions} says the code calls, never a
 * wildcard, and are bound to the accounts the operator and its agent Pods actually use.
 */
class RbacTest {

  record Rendering(String name, ChartFixture.Manifests manifests) {
    @Override
    public String toString() {
      return name;
    }
  }

  static Stream<Rendering> renderings() {
    return Stream.of(
        new Rendering("defaults", ChartFixture.render()),
        new Rendering(
            "values-full.yaml",
            ChartFixture.render(ChartFixture.valuesResource("values-full.yaml"))),
        new Rendering(
            "values-single-no-election.yaml",
            ChartFixture.render(ChartFixture.valuesResource("values-single-no-election.yaml"))));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("renderings")
  void operatorClusterRolesGrantWhatTheCodeCallsAndNothingElse(Rendering r) {
    ClusterRole namespaced = operatorClusterRole(r.manifests());
    ClusterRole clusterScoped = clusterRole(r.manifests(), "-operator-cluster");

    assertThat(grants(namespaced.getRules()))
        .as(
            "operator ClusterRole %s vs DeclaredPermissions.OPERATOR_NAMESPACED",
            namespaced.getMetadata().getName())
        .containsExactlyElementsOf(
            DeclaredPermissions.grants(DeclaredPermissions.OPERATOR_NAMESPACED));
    assertThat(grants(clusterScoped.getRules()))
        .as("operator ClusterRole %s vs OPERATOR_CLUSTER_SCOPED", clusterScoped.getMetadata())
        .containsExactlyElementsOf(
            DeclaredPermissions.grants(DeclaredPermissions.OPERATOR_CLUSTER_SCOPED));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("renderings")
  void agentClusterRoleGrantsWhatTheAgentCallsAndNothingElse(Rendering r) {
    ClusterRole role =
        r.manifests().all(ClusterRole.class).stream()
            .filter(c -> c.getMetadata().getName().endsWith("-agent"))
            .findFirst()
            .orElseThrow();

    assertThat(grants(role.getRules()))
        .containsExactlyElementsOf(DeclaredPermissions.grants(DeclaredPermissions.AGENT_RULES));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("renderings")
  void noRuleAnywhereUsesAWildcardOrTouchesSecrets(Rendering r) {
    List<PolicyRule> rules = new ArrayList<>();
    r.manifests().all(ClusterRole.class).forEach(c -> rules.addAll(c.getRules()));
    r.manifests().all(Role.class).forEach(c -> rules.addAll(c.getRules()));

    assertThat(rules).isNotEmpty();
    for (PolicyRule rule : rules) {
      assertThat(rule.getVerbs()).as("verbs of %s", rule).isNotEmpty().doesNotContain("*");
      assertThat(rule.getResources())
          .as("resources of %s", rule)
          .isNotEmpty()
          .doesNotContain("*")
          .doesNotContain(
              "secrets",
              "configmaps",
              "serviceaccounts/token",
              "roles",
              "clusterroles",
              "rolebindings",
              "clusterrolebindings");
      assertThat(rule.getApiGroups()).as("apiGroups of %s", rule).doesNotContain("*");
      assertThat(rule.getNonResourceURLs()).as("nonResourceURLs of %s", rule).isNullOrEmpty();
      assertThat(rule.getVerbs())
          .as("verbs of %s", rule)
          .doesNotContain("escalate", "bind", "impersonate");
    }
  }

  @Test
  void leaseRoleExistsOnlyWithLeaderElectionAndGrantsTheLeaseCalls() {
    ChartFixture.Manifests full =
        ChartFixture.render(ChartFixture.valuesResource("values-full.yaml"));
    ChartFixture.Manifests single =
        ChartFixture.render(ChartFixture.valuesResource("values-single-no-election.yaml"));

    Role lease = full.only(Role.class);
    assertThat(lease.getMetadata().getNamespace()).isEqualTo("storage-system");
    assertThat(grants(lease.getRules()))
        .containsExactlyElementsOf(
            DeclaredPermissions.grants(DeclaredPermissions.OPERATOR_LEADER_ELECTION));
    RoleBinding binding = full.get(RoleBinding.class, "clones-leader-election");
    assertThat(binding.getMetadata().getNamespace()).isEqualTo("storage-system");
    assertThat(binding.getSubjects())
        .singleElement()
        .satisfies(
            s -> {
              assertThat(s.getName()).isEqualTo("clone-operator");
              assertThat(s.getNamespace()).isEqualTo(ChartFixture.NAMESPACE);
            });

    assertThat(single.all(Role.class)).isEmpty();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("renderings")
  void operatorRolesAreBoundToTheDeploymentsServiceAccount(Rendering r, @TempDir Path scratch) {
    String account =
        r.manifests()
            .only(Deployment.class)
            .getSpec()
            .getTemplate()
            .getSpec()
            .getServiceAccountName();
    String namespaced = operatorClusterRole(r.manifests()).getMetadata().getName();
    String clusterScoped = clusterRole(r.manifests(), "-operator-cluster").getMetadata().getName();
    List<String> watched =
        OperatorConfig.of(r.manifests(), scratch).options().get(OperatorOptions.WATCH_NAMESPACES);
    List<ClusterRoleBinding> clusterBindings = r.manifests().all(ClusterRoleBinding.class);
    List<RoleBinding> namespaceBindings =
        r.manifests().all(RoleBinding.class).stream()
            .filter(b -> b.getRoleRef().getName().equals(namespaced))
            .toList();

    List<String> clusterWide = new ArrayList<>(List.of(clusterScoped));
    if (watched.isEmpty()) {
      clusterWide.add(namespaced);
      assertThat(namespaceBindings).isEmpty();
    } else {
      assertThat(namespaceBindings)
          .as("with watchNamespaces the namespaced rules hold in those namespaces only")
          .extracting(b -> b.getMetadata().getNamespace())
          .containsExactlyInAnyOrderElementsOf(watched);
    }
    assertThat(clusterBindings)
        .extracting(b -> b.getRoleRef().getName())
        .containsExactlyInAnyOrderElementsOf(clusterWide);
    List<io.fabric8.kubernetes.api.model.rbac.Subject> subjects = new ArrayList<>();
    clusterBindings.forEach(b -> subjects.addAll(b.getSubjects()));
    namespaceBindings.forEach(b -> subjects.addAll(b.getSubjects()));
    clusterBindings.forEach(b -> assertThat(b.getRoleRef().getKind()).isEqualTo("ClusterRole"));
    namespaceBindings.forEach(b -> assertThat(b.getRoleRef().getKind()).isEqualTo("ClusterRole"));
    assertThat(subjects)
        .hasSize(clusterBindings.size() + namespaceBindings.size())
        .allSatisfy(
            s -> {
              assertThat(s.getKind()).isEqualTo("ServiceAccount");
              assertThat(s.getName()).isEqualTo(account);
              assertThat(s.getNamespace()).isEqualTo(ChartFixture.NAMESPACE);
            });
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("renderings")
  void namespaceUsersGetVolumeClonesThroughTheBuiltInRoles(Rendering r) {
    ClusterRole view = clusterRole(r.manifests(), "-view");
    ClusterRole edit = clusterRole(r.manifests(), "-edit");

    assertThat(view.getMetadata().getLabels())
        .containsEntry("rbac.authorization.k8s.io/aggregate-to-view", "true")
        .containsEntry("rbac.authorization.k8s.io/aggregate-to-edit", "true")
        .containsEntry("rbac.authorization.k8s.io/aggregate-to-admin", "true");
    assertThat(grants(view.getRules()))
        .containsExactly(
            "volumeclone.io/volumeclones:get",
            "volumeclone.io/volumeclones:list",
            "volumeclone.io/volumeclones:watch");
    assertThat(edit.getMetadata().getLabels())
        .containsEntry("rbac.authorization.k8s.io/aggregate-to-edit", "true")
        .containsEntry("rbac.authorization.k8s.io/aggregate-to-admin", "true")
        .doesNotContainKey("rbac.authorization.k8s.io/aggregate-to-view");
    assertThat(grants(edit.getRules()))
        .as("users never write status: that is the operator's and the agents'")
        .containsExactly(
            "volumeclone.io/volumeclones:create",
            "volumeclone.io/volumeclones:delete",
            "volumeclone.io/volumeclones:deletecollection",
            "volumeclone.io/volumeclones:patch",
            "volumeclone.io/volumeclones:update");
  }

  @Test
  void aggregatedUserRolesCanBeLeftOut(@TempDir Path scratch) {
    ChartFixture.Manifests without =
        ChartFixture.render(
            ChartFixture.valuesFile(scratch, "rbac:\n  aggregateToDefaultRoles: false\n"));

    assertThat(without.all(ClusterRole.class))
        .extracting(c -> c.getMetadata().getName())
        .containsExactlyInAnyOrder(
            "vc-volume-clone-operator",
            "vc-volume-clone-operator-cluster",
            "vc-volume-clone-agent");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("renderings")
  void everyCloneNamespaceBindsTheAccountTheOperatorGivesAgentPods(
      Rendering r, @TempDir Path scratch) {
    String agentAccount =
        OperatorConfig.of(r.manifests(), scratch)
            .options()
            .get(OperatorOptions.AGENT_SERVICE_ACCOUNT);
    List<RoleBinding> agentBindings =
        r.manifests().all(RoleBinding.class).stream()
            .filter(b -> b.getRoleRef().getName().endsWith("-agent"))
            .toList();

    assertThat(agentBindings).isNotEmpty();
    for (RoleBinding binding : agentBindings) {
      String namespace = binding.getMetadata().getNamespace();
      assertThat(binding.getRoleRef().getKind()).isEqualTo("ClusterRole");
      assertThat(binding.getSubjects())
          .singleElement()
          .satisfies(
              s -> {
                assertThat(s.getName()).isEqualTo(agentAccount);
                assertThat(s.getNamespace()).isEqualTo(namespace);
              });
      assertThat(r.manifests().all(io.fabric8.kubernetes.api.model.ServiceAccount.class))
          .anySatisfy(
              sa -> {
                assertThat(sa.getMetadata().getName()).isEqualTo(agentAccount);
                assertThat(sa.getMetadata().getNamespace()).isEqualTo(namespace);
              });
    }
  }

  private static final Pattern CITED_CLASS =
      Pattern.compile("io\\.volumeclone\\.(operator|agent)\\.([A-Z]\\w*)");

  @Test
  void everyDeclaredRuleCitesCodeThatExists() {
    List<DeclaredPermissions.Rule> all = new ArrayList<>();
    all.addAll(DeclaredPermissions.OPERATOR_NAMESPACED);
    all.addAll(DeclaredPermissions.OPERATOR_CLUSTER_SCOPED);
    all.addAll(DeclaredPermissions.OPERATOR_LEADER_ELECTION);
    all.addAll(DeclaredPermissions.AGENT_RULES);
    Set<String> classes = new TreeSet<>();
    for (DeclaredPermissions.Rule rule : all) {
      assertThat(rule.neededBy()).as("who needs %s", rule.grants()).isNotEmpty();
      for (String citation : rule.neededBy()) {
        Matcher m = CITED_CLASS.matcher(citation);
        while (m.find()) {
          classes.add(m.group());
        }
      }
    }
    assertThat(classes)
        .contains("io.volumeclone.operator.StatusWriter", "io.volumeclone.agent.StatusReporter");
    ClassLoader loader = getClass().getClassLoader();
    for (String name : classes) {
      assertThat(loader.getResource(name.replace('.', '/') + ".class"))
          .as("class %s cited by DeclaredPermissions exists", name)
          .isNotNull();
    }
  }

  private static ClusterRole operatorClusterRole(ChartFixture.Manifests manifests) {
    return clusterRole(manifests, "-operator");
  }

  private static ClusterRole clusterRole(ChartFixture.Manifests manifests, String suffix) {
    return manifests.all(ClusterRole.class).stream()
        .filter(c -> c.getMetadata().getName().endsWith(suffix))
        .findFirst()
        .orElseThrow(
            () -> new AssertionError("no ClusterRole *" + suffix + " in " + manifests.kinds()));
  }

  /** group/resource:verb for every combination a rule list grants. */
  static Set<String> grants(List<PolicyRule> rules) {
    Set<String> out = new TreeSet<>();
    for (PolicyRule rule : rules) {
      for (String group : rule.getApiGroups()) {
        for (String resource : rule.getResources()) {
          for (String verb : rule.getVerbs()) {
            out.add(group + "/" + resource + ":" + verb);
          }
        }
      }
      assertThat(rule.getResourceNames()).isNullOrEmpty();
    }
    return out;
  }
}
