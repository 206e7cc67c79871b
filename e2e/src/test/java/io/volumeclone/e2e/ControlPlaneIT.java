package io.volumeclone.e2e;

import static io.volumeclone.e2e.E2e.kubectl;
import static io.volumeclone.e2e.E2e.kubectlResult;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.Pod;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.e2e.cluster.ControlPlane;
import io.volumeclone.e2e.cluster.HelmRelease;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * What a real control plane does that the old mock could not: {@code /version}, watches ({@code
 * kubectl get -w}), {@code kubectl logs} through the API server to the node, RBAC as the chart
 * grants it ({@code kubectl auth can-i} for the chart's ServiceAccounts), garbage collection of the
 * agent Pod through its ownerReference, and the kstatus reading of a clone's health.
 */
class ControlPlaneIT {

  private static final String AGENT_SA = "volume-clone-agent";
  private static final String OPERATOR_SA =
      "system:serviceaccount:" + HelmRelease.NAMESPACE + ":volume-clone-operator";

  @Test
  void kubectlVersionReportsTheServerBuiltFromSource() throws IOException {
    assumeTrue(E2e.onLocalCluster(), "the version is the local control plane's");
    JsonNode version = new ObjectMapper().readTree(kubectl("version", "-o", "json"));
    assertThat(version.path("serverVersion").path("gitVersion").asText())
        .isEqualTo(ControlPlane.KUBERNETES_VERSION);
    assertThat(version.path("clientVersion").path("gitVersion").asText())
        .isEqualTo(ControlPlane.KUBERNETES_VERSION);
  }

  @Test
  void theChartsServiceAccountsHaveWhatTheyNeedAndNoMore() {
    String ns = E2e.namespace("rbac");
    String agent = "system:serviceaccount:" + ns + ":" + AGENT_SA;
    assertThat(canI(ns, agent, "get", "volumeclones.volumeclone.io")).isTrue();
    assertThat(canI(ns, agent, "watch", "volumeclones.volumeclone.io")).isTrue();
    assertThat(canI(ns, agent, "patch", "volumeclones.volumeclone.io", "--subresource=status"))
        .isTrue();
    assertThat(canI(ns, agent, "update", "volumeclones.volumeclone.io", "--subresource=status"))
        .isFalse();
    assertThat(canI(ns, agent, "update", "volumeclones.volumeclone.io")).isFalse();
    assertThat(canI(ns, agent, "delete", "pods")).isFalse();
    assertThat(canI(ns, agent, "get", "secrets")).isFalse();
    assertThat(canI("default", "system:serviceaccount:" + ns + ":default", "get", "volumeclones"))
        .isFalse();
    assertThat(canI(ns, OPERATOR_SA, "create", "pods")).isTrue();
    assertThat(canI(ns, OPERATOR_SA, "patch", "volumeclones.volumeclone.io")).isTrue();
    assertThat(canI(ns, OPERATOR_SA, "get", "secrets")).isFalse();
  }

  private static boolean canI(String ns, String as, String verb, String resource, String... more) {
    List<String> args = Tools.list("auth", "can-i", verb, resource, "-n", ns, "--as", as);
    args.addAll(List.of(more));
    Tools.Result r = kubectlResult(args.toArray(String[]::new));
    assertThat(r.stdout().strip()).as("kubectl %s: %s", args, r.stderr()).isIn("yes", "no");
    return r.stdout().strip().equals("yes");
  }

  @Test
  void kubectlGetWatchStreamsTheClonesChanges() throws Exception {
    String ns = E2e.namespace("watch");
    Path source = E2e.randomDevice(ns + "-src", 2 << 20, 3);
    Path destination = E2e.emptyDevice(ns + "-dst", 2 << 20);
    Path out = Files.createTempFile("kubectl-watch", ".txt");
    ProcessBuilder pb =
        new ProcessBuilder(
            E2e.kubectlPath(),
            "-n",
            ns,
            "get",
            "vc",
            "-w",
            "-o",
            "custom-columns=NAME:.metadata.name,PHASE:.status.phase",
            "--no-headers");
    pb.environment().put("KUBECONFIG", E2e.kubeconfig());
    pb.redirectOutput(out.toFile());
    pb.redirectErrorStream(true);
    pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
    Process watch = pb.start();
    try {
      E2e.apply(Manifests.deviceClone(ns, "watched", source, destination, ""));
      E2e.awaitClone(ns, "watched", "Completed", c -> Clones.phase(c, Phase.Completed));
      // One watch shows the clone's phases as they happen, ending with Completed.
      String seen =
          E2e.await(
              "kubectl get -w to show Completed",
              () -> read(out),
              text -> text.contains("Completed"));
      assertThat(watch.isAlive()).as("the watch is still open; output:%n%s", seen).isTrue();
      assertThat(seen.lines().filter(l -> l.startsWith("watched")).count())
          .as("watch events for the clone:%n%s", seen)
          .isGreaterThanOrEqualTo(2);
    } finally {
      watch.destroy();
      watch.waitFor(10, TimeUnit.SECONDS);
      Files.deleteIfExists(out);
    }
  }

  private static String read(Path file) {
    try {
      return Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void kubectlLogsShowsTheAgentPodsLog() throws Exception {
    assumeTrue(E2e.onLocalCluster(), "compares with the node runner's log file");
    String ns = E2e.namespace("logs");
    Path source = E2e.randomDevice(ns + "-src", 1 << 20, 4);
    Path destination = E2e.emptyDevice(ns + "-dst", 1 << 20);
    E2e.apply(Manifests.deviceClone(ns, "logged", source, destination, ""));
    VolumeClone done =
        E2e.awaitClone(ns, "logged", "Completed", c -> Clones.phase(c, Phase.Completed));
    String pod = done.getStatus().getAgentPod();
    // The agent may still be logging (closing its export): the log only grows, so the last line
    // read first is in the whole log read after it.
    String tail = kubectl("-n", ns, "logs", pod, "--tail=1");
    assertThat(tail.strip().lines().count()).as("kubectl logs --tail=1: %s", tail).isEqualTo(1);
    String logs = kubectl("-n", ns, "logs", pod);
    assertThat(logs).as("kubectl logs %s", pod).contains(tail.strip()).contains("logged");
    assertThat(E2e.agentLog(ns, pod)).startsWith(logs.strip().lines().findFirst().orElseThrow());
  }

  /**
   * With the operator scaled to zero (its finalizer would otherwise delete the Pod itself), a
   * VolumeClone deleted with {@code --cascade=background} takes its agent Pod with it: the
   * controller manager's garbage collector follows the Pod's ownerReference.
   */
  @Test
  void theAgentPodIsGarbageCollectedWithItsVolumeClone() throws Exception {
    assumeTrue(E2e.onLocalCluster(), "scales the local cluster's operator");
    String ns = E2e.namespace("gc");
    Path source = E2e.randomDevice(ns + "-src", 8 << 20, 6);
    Path destination = E2e.emptyDevice(ns + "-dst", 8 << 20);
    E2e.apply(
        Manifests.deviceClone(ns, "owned", source, destination, "  copy:\n    bandwidth: 512Ki\n"));
    VolumeClone copying =
        E2e.awaitClone(
            ns,
            "owned",
            "an agent Pod",
            c -> Clones.phase(c, Phase.Copying) && c.getStatus().getAgentPod() != null);
    String podName = copying.getStatus().getAgentPod();
    Pod pod = E2e.await("the agent Pod", () -> E2e.pod(ns, podName), p -> true);
    assertThat(pod.getMetadata().getOwnerReferences())
        .singleElement()
        .satisfies(o -> assertThat(o.getUid()).isEqualTo(copying.getMetadata().getUid()));

    scaleOperator(0);
    try {
      kubectl("-n", ns, "delete", "vc", "owned", "--cascade=background", "--wait=false");
      // No operator to run its finalizer: the clone stays Terminating, its Pod runs on.
      kubectl(
          "-n",
          ns,
          "patch",
          "vc",
          "owned",
          "--type",
          "merge",
          "-p",
          "{\"metadata\":{\"finalizers\":null}}");
      E2e.await("VolumeClone owned gone", () -> E2e.clone(ns, "owned") == null, gone -> gone);
      E2e.await(
          "agent Pod " + podName + " garbage-collected",
          () -> E2e.pod(ns, podName) == null,
          gone -> gone);
    } finally {
      scaleOperator(1);
    }
  }

  private static void scaleOperator(int replicas) {
    kubectl(
        "-n",
        HelmRelease.NAMESPACE,
        "scale",
        "deployment",
        HelmRelease.NAME + "-operator",
        "--replicas=" + replicas);
    E2e.await(
        "operator Pods to be " + replicas,
        () ->
            E2e.client()
                .pods()
                .inNamespace(HelmRelease.NAMESPACE)
                .withLabel("app.kubernetes.io/component", "operator")
                .list()
                .getItems()
                .stream()
                .filter(
                    p ->
                        p.getMetadata().getDeletionTimestamp() == null
                            && p.getStatus() != null
                            && "Running".equals(p.getStatus().getPhase()))
                .count(),
        n -> n == replicas,
        Duration.ofSeconds(120));
  }

  /** kstatus (cli-utils, what Argo CD and Flux read) on {@code kubectl get -o json} of a clone. */
  @Test
  void kstatusReadsCurrentInProgressAndFailed() throws Exception {
    assumeTrue(E2e.onLocalCluster(), "uses the kstatus checker built with the local control plane");
    String ns = E2e.namespace("kstatus");
    Path source = E2e.randomDevice(ns + "-src", 8 << 20, 7);
    Path destination = E2e.emptyDevice(ns + "-dst", 8 << 20);
    E2e.apply(
        Manifests.deviceClone(ns, "health", source, destination, "  copy:\n    bandwidth: 1Mi\n"));
    E2e.awaitClone(ns, "health", "copying", c -> Clones.phase(c, Phase.Copying));
    assertThat(kstatus(ns, "health")).startsWith("VolumeClone/health InProgress");

    kubectl(
        "-n",
        ns,
        "patch",
        "vc",
        "health",
        "--type",
        "merge",
        "-p",
        "{\"spec\":{\"copy\":{\"bandwidth\":null}}}");
    E2e.awaitClone(ns, "health", "Completed", c -> Clones.phase(c, Phase.Completed));
    assertThat(
            E2e.await("kstatus Current", () -> kstatus(ns, "health"), s -> s.contains("Current")))
        .startsWith("VolumeClone/health Current");

    // A device path outside the allowed prefixes: the operator stalls the clone and says why.
    E2e.apply(
        Manifests.deviceClone(ns, "stalled", Path.of("/var/tmp/not-allowed-src"), destination, ""));
    E2e.awaitClone(ns, "stalled", "Stalled", c -> Clones.conditionTrue(c, "Stalled"));
    assertThat(kstatus(ns, "stalled")).startsWith("VolumeClone/stalled Failed");
  }

  private static String kstatus(String ns, String name) {
    String json = kubectl("-n", ns, "get", "vc", name, "-o", "json");
    try {
      Path input = Files.createTempFile("kstatus", ".json");
      Files.writeString(input, json);
      try {
        ProcessBuilder pb =
            new ProcessBuilder(E2e.local().controlPlane().tool("kstatus").toString())
                .redirectInput(input.toFile());
        Path output = Files.createTempFile("kstatus", ".out");
        pb.redirectOutput(output.toFile());
        pb.redirectErrorStream(true);
        Process p = pb.start();
        p.waitFor(30, TimeUnit.SECONDS);
        String text = Files.readString(output).strip();
        Files.deleteIfExists(output);
        assertThat(p.exitValue()).as("kstatus exit code for %s", text).isIn(0, 1);
        return text;
      } finally {
        Files.deleteIfExists(input);
      }
    } catch (IOException e) {
      throw new AssertionError(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }
}
