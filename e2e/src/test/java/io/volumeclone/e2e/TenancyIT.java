package io.volumeclone.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.e2e.cluster.HelmRelease;
import io.volumeclone.e2e.cluster.LocalCluster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * RBAC on a multi-tenant cluster, as the API server's authorizer decides it: namespace users get
 * VolumeClones through the built-in view and edit roles (the chart's aggregated ClusterRoles), and
 * an install with watchNamespaces and the chart's default (empty) device prefixes gives the
 * operator Pods and claims in the watched namespaces only and refuses every device path.
 */
class TenancyIT {

  private static final String VC = "volumeclones.volumeclone.io";

  @Test
  void namespaceUsersManageVolumeClonesThroughTheBuiltInEditAndViewRoles() throws IOException {
    String ns = E2e.namespace("tenant");
    String other = E2e.namespace("elsewhere");
    E2e.kubectl(
        "-n", ns, "create", "rolebinding", "alice-edit", "--clusterrole=edit", "--user=alice");
    E2e.kubectl("-n", ns, "create", "rolebinding", "bob-view", "--clusterrole=view", "--user=bob");

    // The controller manager's clusterrole-aggregation controller merges the chart's rules into
    // edit and view asynchronously.
    E2e.await(
        "alice (edit in " + ns + ") may create VolumeClones there",
        () -> canI(E2e::kubectlResult, ns, "alice", "create", VC),
        yes -> yes);
    for (String verb : List.of("get", "list", "watch", "update", "patch", "delete")) {
      assertThat(canI(E2e::kubectlResult, ns, "alice", verb, VC)).as("alice %s", verb).isTrue();
    }
    assertThat(canI(E2e::kubectlResult, ns, "alice", "patch", VC, "--subresource=status"))
        .as("status belongs to the operator and the agents")
        .isFalse();
    assertThat(canI(E2e::kubectlResult, other, "alice", "create", VC))
        .as("alice's RoleBinding reaches no other namespace")
        .isFalse();
    E2e.await(
        "bob (view in " + ns + ") may list VolumeClones there",
        () -> canI(E2e::kubectlResult, ns, "bob", "list", VC),
        yes -> yes);
    assertThat(canI(E2e::kubectlResult, ns, "bob", "get", VC)).isTrue();
    assertThat(canI(E2e::kubectlResult, ns, "bob", "watch", VC)).isTrue();
    assertThat(canI(E2e::kubectlResult, ns, "bob", "create", VC)).isFalse();
    assertThat(canI(E2e::kubectlResult, ns, "bob", "delete", VC)).isFalse();

    // Not just can-i: alice creates one, bob reads it and may not delete it.
    Path manifest = Files.createTempFile("volumeclone-tenant", ".yaml");
    Files.writeString(
        manifest,
        // Paths outside the allowed prefixes: refused at once, no agent starts for it.
        Manifests.deviceClone(
            ns, "mine", Path.of("/var/tmp/tenant-a"), Path.of("/var/tmp/tenant-b"), ""));
    try {
      E2e.kubectl("--as", "alice", "apply", "-f", manifest.toString());
    } finally {
      Files.delete(manifest);
    }
    assertThat(E2e.kubectl("--as", "bob", "-n", ns, "get", "vc", "mine", "-o", "name"))
        .contains("volumeclone.volumeclone.io/mine");
    Tools.Result refused = E2e.kubectlResult("--as", "bob", "-n", ns, "delete", "vc", "mine");
    assertThat(refused.exitCode()).isNotZero();
    assertThat(refused.stderr()).contains("forbidden");
    E2e.kubectl("--as", "alice", "-n", ns, "delete", "vc", "mine");
  }

  @Test
  void watchNamespacesGrantsTheOperatorThoseNamespacesOnlyAndNoDevicePathIsAllowedByDefault()
      throws Exception {
    assumeTrue(
        E2e.onLocalCluster(),
        "needs its own install of the chart (watchNamespaces, default device prefixes); a cluster"
            + " given by KUBECONFIG has one install already");
    Path work =
        Path.of(System.getProperty("volumeclone.e2e.work", "target/e2e-work"))
            .toAbsolutePath()
            .resolve("tenancy-" + ProcessHandle.current().pid());
    Map<String, Object> values = new HashMap<>();
    values.put("watchNamespaces", List.of("tenant-a"));
    values.put("allowedDevicePrefixes", null); // the chart's default
    try (LocalCluster cluster = LocalCluster.start(work, values)) {
      Kubectl kubectl = args -> kubectl(cluster, args);
      String operator = "system:serviceaccount:" + HelmRelease.NAMESPACE + ":volume-clone-operator";
      kubectl.run("create", "namespace", "tenant-b").orFail(List.of("create namespace"));

      assertThat(canI(kubectl, "tenant-a", operator, "list", "pods")).isTrue();
      assertThat(canI(kubectl, "tenant-a", operator, "create", "pods")).isTrue();
      assertThat(canI(kubectl, "tenant-a", operator, "patch", VC)).isTrue();
      assertThat(canI(kubectl, "tenant-a", operator, "get", "persistentvolumeclaims")).isTrue();
      assertThat(canI(kubectl, "tenant-b", operator, "list", "pods"))
          .as("no Pod permission outside the watched namespaces")
          .isFalse();
      assertThat(canI(kubectl, "tenant-b", operator, "get", "persistentvolumeclaims")).isFalse();
      assertThat(canI(kubectl, "tenant-b", operator, "list", VC)).isFalse();
      assertThat(canI(kubectl, "tenant-b", operator, "list", "pods", "--all-namespaces"))
          .as("nothing cluster-wide on Pods")
          .isFalse();
      assertThat(canI(kubectl, "default", operator, "get", "nodes")).isTrue();
      assertThat(canI(kubectl, "default", operator, "get", "persistentvolumes")).isTrue();

      // The operator works with only those grants: it reconciles the watched namespace's clone
      // (its informers there, its status write, its Event) and refuses the device path, since
      // the chart allows none by default.
      Path source = cluster.deviceDirectory().resolve("tenant-src");
      Path destination = cluster.deviceDirectory().resolve("tenant-dst");
      Files.write(source, new byte[1 << 20]);
      Files.write(destination, new byte[1 << 20]);
      Path manifest = work.resolve("tenant-a-clone.yaml");
      Files.writeString(
          manifest,
          Manifests.deviceClone("tenant-a", "dev", source, destination, "")
              + "---\n"
              + Manifests.deviceClone("tenant-b", "unwatched", source, destination, ""));
      kubectl.run("apply", "-f", manifest.toString()).orFail(List.of("apply", manifest.toString()));
      VolumeClone refused =
          E2e.await(
              "VolumeClone tenant-a/dev Stalled",
              () ->
                  cluster
                      .client()
                      .resources(VolumeClone.class)
                      .inNamespace("tenant-a")
                      .withName("dev")
                      .get(),
              c -> Clones.conditionTrue(c, ConditionTypes.STALLED));
      var stalled = refused.getStatus().condition(ConditionTypes.STALLED).orElseThrow();
      assertThat(stalled.getReason()).isEqualTo("DevicePathNotAllowed");
      assertThat(stalled.getMessage())
          .contains(source.toString())
          .contains("allows no host device paths (allowedDevicePrefixes is empty)");
      assertThat(refused.getStatus().getAgentPod()).isNull();
      assertThat(kubectl.run("-n", "tenant-a", "get", "events").stdout())
          .contains("DevicePathNotAllowed");
      assertThat(
              cluster
                  .client()
                  .resources(VolumeClone.class)
                  .inNamespace("tenant-b")
                  .withName("unwatched")
                  .get()
                  .getStatus())
          .as("the clone outside the watched namespaces is left alone")
          .isNull();
    }
  }

  /** kubectl against one cluster. */
  @FunctionalInterface
  private interface Kubectl {
    Tools.Result run(String... args);
  }

  private static Tools.Result kubectl(LocalCluster cluster, String... args) {
    List<String> command = new ArrayList<>();
    command.add(cluster.controlPlane().tool("kubectl").toString());
    command.addAll(List.of(args));
    return Tools.run(command, Map.of("KUBECONFIG", cluster.kubeconfig().toString()));
  }

  private static boolean canI(
      Kubectl kubectl, String ns, String as, String verb, String resource, String... more) {
    List<String> args = Tools.list("auth", "can-i", verb, resource, "-n", ns, "--as", as);
    args.addAll(List.of(more));
    Tools.Result r = kubectl.run(args.toArray(String[]::new));
    assertThat(r.stdout().strip()).as("kubectl %s: %s", args, r.stderr()).isIn("yes", "no");
    return r.stdout().strip().equals("yes");
  }
}
