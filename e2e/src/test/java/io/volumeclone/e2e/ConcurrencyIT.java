package io.volumeclone.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.contract.AgentPaths;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Several clones on one node: two clones without their own limit share the node's copy budget (each
 * runs at half of it while both copy, and one alone gets all of it) and both complete; a second
 * clone of a destination that is in use is held back with a condition naming the clone that holds
 * it, and starts once that one is done.
 */
class ConcurrencyIT {

  /** One "bandwidth" line of an agent's log: the limit it set and the clones copying then. */
  record Limit(long bytesPerSecond, int copyingClones) {}

  /**
   * The fields of the agent's "bandwidth" event, as text ({@code k=v, }) or JSON ({@code "k":v,}).
   */
  private static final Pattern LIMIT_LINE =
      Pattern.compile("bytesPerSecond\"?[=:](\\d+)\"?, ?\"?copyingClones\"?[=:](\\d+)");

  /** Every copy limit the agent has logged, in order. */
  static List<Limit> limits(String log) {
    List<Limit> out = new ArrayList<>();
    Matcher m = LIMIT_LINE.matcher(log);
    while (m.find()) {
      out.add(new Limit(Long.parseLong(m.group(1)), Integer.parseInt(m.group(2))));
    }
    return out;
  }

  /** The node budget the operator hands the agent Pod (VOLUME_CLONE_NODE_BANDWIDTH), 0 = none. */
  static long nodeBudget(Pod pod) {
    for (EnvVar e : pod.getSpec().getContainers().get(0).getEnv()) {
      if (e.getName().equals(AgentPaths.ENV_NODE_BANDWIDTH) && e.getValue() != null) {
        return Long.parseLong(e.getValue());
      }
    }
    return 0;
  }

  @Test
  void twoClonesOnOneNodeShareTheNodeBandwidthAndBothComplete() throws Exception {
    String ns = E2e.namespace("pair");
    int size = 32 << 20;
    Path srcA = E2e.randomDevice(ns + "-a-src", size, 11);
    Path dstA = E2e.emptyDevice(ns + "-a-dst", size);
    Path srcB = E2e.randomDevice(ns + "-b-src", size, 12);
    Path dstB = E2e.emptyDevice(ns + "-b-dst", size);
    // No own limit: only the node budget holds them. Paused, so that both start copying together.
    String paused = "  copy:\n    paused: true\n";
    E2e.apply(
        Manifests.deviceClone(ns, "a", srcA, dstA, paused)
            + "---\n"
            + Manifests.deviceClone(ns, "b", srcB, dstB, paused));
    String[] pods = new String[2];
    for (int i = 0; i < 2; i++) {
      String name = i == 0 ? "a" : "b";
      VolumeClone c =
          E2e.awaitClone(
              ns,
              name,
              "an agent Pod",
              vc -> vc.getStatus() != null && vc.getStatus().getAgentPod() != null);
      pods[i] = c.getStatus().getAgentPod();
      String pod = pods[i];
      E2e.await(
          "agent " + pod + " started (its log says how many regions are copied)",
          () -> E2e.agentLog(ns, pod),
          log -> log.contains("regions already copied"));
    }
    long budget = nodeBudget(E2e.pod(ns, pods[0]));
    // The local cluster always sets a node budget; a real cluster may run without one.
    String noBudget =
        "agent.nodeBandwidth in the operator's settings (VOLUME_CLONE_NODE_BANDWIDTH is 0 in the"
            + " agent Pod, so nothing is shared)";
    if (E2e.onLocalCluster()) {
      assertThat(budget).as(noBudget).isPositive();
    }
    Assumptions.assumeTrue(budget > 0, "skipped: needs " + noBudget);

    for (String name : new String[] {"a", "b"}) {
      E2e.kubectl(
          "-n",
          ns,
          "patch",
          "vc",
          name,
          "--type",
          "merge",
          "-p",
          "{\"spec\":{\"copy\":{\"paused\":false}}}");
    }
    // While both copy, each agent runs at half the node budget.
    Limit half = new Limit(budget / 2, 2);
    for (String pod : pods) {
      E2e.await(
          "agent " + pod + " limited to half the node budget (" + half + ")",
          () -> limits(E2e.agentLog(ns, pod)),
          l -> l.contains(half));
    }
    // b paused gives its share back: a alone gets the whole budget.
    E2e.kubectl(
        "-n",
        ns,
        "patch",
        "vc",
        "b",
        "--type",
        "merge",
        "-p",
        "{\"spec\":{\"copy\":{\"paused\":true}}}");
    Limit whole = new Limit(budget, 1);
    E2e.await(
        "agent " + pods[0] + " given the whole node budget after b paused (" + whole + ")",
        () -> limits(E2e.agentLog(ns, pods[0])),
        l -> l.lastIndexOf(whole) > l.indexOf(half));

    E2e.kubectl(
        "-n",
        ns,
        "patch",
        "vc",
        "b",
        "--type",
        "merge",
        "-p",
        "{\"spec\":{\"copy\":{\"paused\":false}}}");
    E2e.awaitClone(ns, "a", "phase Completed", c -> Clones.phase(c, Phase.Completed));
    E2e.awaitClone(ns, "b", "phase Completed", c -> Clones.phase(c, Phase.Completed));
    Clones.assertSameBytes(srcA, dstA);
    Clones.assertSameBytes(srcB, dstB);
  }

  @Test
  void secondCloneOfADestinationInUseWaitsWithACondition() throws Exception {
    String ns = E2e.namespace("conflict");
    int size = 8 << 20;
    Path src1 = E2e.randomDevice(ns + "-src1", size, 21);
    Path src2 = E2e.randomDevice(ns + "-src2", size, 22);
    Path dst = E2e.emptyDevice(ns + "-dst", size);
    E2e.apply(Manifests.deviceClone(ns, "first", src1, dst, "  copy:\n    bandwidth: 1Mi\n"));
    E2e.awaitClone(ns, "first", "phase Copying", c -> Clones.phase(c, Phase.Copying));

    E2e.apply(Manifests.deviceClone(ns, "second", src2, dst, ""));
    VolumeClone held =
        E2e.awaitClone(
            ns,
            "second",
            "a DestinationInUse condition",
            c -> Clones.hasReason(c, "DestinationInUse"));
    assertThat(held.getStatus().getPhase()).isIn(null, Phase.Pending);
    assertThat(held.getStatus().getConditions())
        .filteredOn(c -> "DestinationInUse".equals(c.getReason()))
        .allSatisfy(c -> assertThat(c.getMessage()).contains("first"));
    assertThat(held.getStatus().getAgentPod()).as("no agent for the held clone").isNull();

    // Once the first finishes, the second runs and overwrites the destination with its source.
    E2e.kubectl(
        "-n",
        ns,
        "patch",
        "vc",
        "first",
        "--type",
        "merge",
        "-p",
        "{\"spec\":{\"copy\":{\"bandwidth\":\"64Mi\"}}}");
    E2e.awaitClone(ns, "first", "phase Completed", c -> Clones.phase(c, Phase.Completed));
    E2e.awaitClone(ns, "second", "phase Completed", c -> Clones.phase(c, Phase.Completed));
    Clones.assertSameBytes(src2, dst);
  }
}
