package io.volumeclone.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.testing.HostRequirements;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The whole life of a clone as a user sees it: kubectl apply; the export answers nbdinfo and takes
 * qemu-io writes while the copy runs; the agent is killed with SIGKILL mid-copy, started again by
 * the node, resumes from its metadata instead of starting over, completes and cuts over; the
 * destination then equals the source with the writes applied, byte for byte.
 */
class CloneLifecycleIT {

  private static final int SIZE = 32 << 20;

  @Test
  void copyWriteCrashResumeCutover() throws Exception {
    HostRequirements.require("nbdinfo", "libnbd-bin");
    HostRequirements.require("qemu-io", "qemu-utils");
    String ns = E2e.namespace("lifecycle");
    Path source = E2e.randomDevice(ns + "-src", SIZE, 42);
    Path destination = E2e.emptyDevice(ns + "-dst", SIZE);
    byte[] expected = Files.readAllBytes(source);

    E2e.apply(
        Manifests.deviceClone(ns, "life", source, destination, "  copy:\n    bandwidth: 2Mi\n"));

    VolumeClone copying =
        E2e.awaitClone(
            ns,
            "life",
            "phase Copying with an export",
            c -> Clones.phase(c, Phase.Copying) && Clones.exportUri(c) != null);
    String uri = Clones.exportUri(copying);

    // The export is usable while the copy runs.
    String size =
        Tools.run(List.of("/usr/bin/nbdinfo", "--size", uri), Map.of())
            .orFail(List.of("nbdinfo", uri))
            .stdout()
            .trim();
    assertThat(Long.parseLong(size)).isEqualTo(SIZE);

    // Writes during the copy: one near the end (not copied yet at 2 MiB/s), one unaligned across
    // a region boundary.
    qemuIo(uri, "write -P 0xab " + (SIZE - (1 << 20)) + " 65536");
    qemuIo(uri, "write -P 0xcd " + ((5 << 20) + 1000) + " 70000");
    qemuIo(uri, "flush");
    Arrays.fill(expected, SIZE - (1 << 20), SIZE - (1 << 20) + 65536, (byte) 0xab);
    Arrays.fill(expected, (5 << 20) + 1000, (5 << 20) + 1000 + 70000, (byte) 0xcd);
    // Reads through the export see them, and see source data where nothing was written.
    qemuIo(uri, "read -P 0xab " + (SIZE - (1 << 20)) + " 65536");
    qemuIo(uri, "read -P 0xcd " + ((5 << 20) + 1000) + " 70000");

    // SIGKILL the agent once something is committed but the copy is far from done.
    VolumeClone beforeKill =
        E2e.awaitClone(ns, "life", "some regions committed", c -> Clones.regionsCommitted(c) > 0);
    assertThat(beforeKill.getStatus().getPhase()).isEqualTo(Phase.Copying);
    long committedBeforeKill = Clones.regionsCommitted(beforeKill);
    String podName = beforeKill.getStatus().getAgentPod();
    E2e.killAgent(ns, podName);

    Pod restarted =
        E2e.await(
            "the node to restart the agent",
            () -> E2e.pod(ns, podName),
            p -> Clones.restarts(p) >= 1);
    assertThat(Clones.restarts(restarted)).isGreaterThanOrEqualTo(1);

    // Phase (the operator's) and CutOver (the agent's) come from two writers: wait for both.
    VolumeClone done =
        E2e.awaitClone(
            ns,
            "life",
            "phase Completed with Ready and CutOver",
            c ->
                Clones.phase(c, Phase.Completed)
                    && Clones.conditionTrue(c, ConditionTypes.READY)
                    && Clones.conditionTrue(c, ConditionTypes.CUT_OVER));
    assertThat(done.getStatus().isTrue(ConditionTypes.READY)).as("Ready").isTrue();
    assertThat(done.getStatus().isTrue(ConditionTypes.CUT_OVER)).as("CutOver").isTrue();
    assertThat(done.getStatus().getProgress().getPercent()).isEqualTo("100.0");

    // The second start resumed from the metadata: it found the committed regions copied.
    String log = E2e.agentLog(ns, podName);
    Matcher starts =
        Pattern.compile(
                "(?:started|resumed from the metadata): (\\d+) of (\\d+) regions already copied")
            .matcher(log);
    long lastAlreadyCopied = -1;
    int startCount = 0;
    while (starts.find()) {
      startCount++;
      lastAlreadyCopied = Long.parseLong(starts.group(1));
    }
    assertThat(startCount).as("agent starts in the log:\n" + log).isGreaterThanOrEqualTo(2);
    assertThat(lastAlreadyCopied)
        .as("regions found copied at restart")
        .isGreaterThanOrEqualTo(committedBeforeKill)
        .isPositive();

    Pod finished =
        E2e.await(
            "the agent Pod to succeed",
            () -> E2e.pod(ns, podName),
            p -> p == null || "Succeeded".equals(p.getStatus().getPhase()));
    if (finished != null) {
      assertThat(
              finished
                  .getStatus()
                  .getContainerStatuses()
                  .get(0)
                  .getState()
                  .getTerminated()
                  .getExitCode())
          .isZero();
    }

    Clones.assertSameBytes(
        expected,
        Files.readAllBytes(destination),
        "source plus writes and destination " + destination);
    assertThat(Files.readAllBytes(source))
        .as("the source is never written")
        .isEqualTo(sourceBytes(SIZE, 42));
  }

  private static byte[] sourceBytes(int size, long seed) {
    byte[] out = new byte[size];
    java.util.Random random = new java.util.Random(seed);
    byte[] chunk = new byte[1 << 20];
    for (int off = 0; off < size; off += chunk.length) {
      random.nextBytes(chunk);
      System.arraycopy(chunk, 0, out, off, Math.min(chunk.length, size - off));
    }
    return out;
  }

  static void qemuIo(String uri, String command) {
    Tools.Result r =
        Tools.run(List.of("/usr/bin/qemu-io", "-f", "raw", "-c", command, uri), Map.of());
    if (r.exitCode() != 0
        || r.stdout().contains("Pattern verification failed")
        || r.stdout().contains("failed")) {
      throw new AssertionError(
          "qemu-io -c '" + command + "' " + uri + " failed:\n" + r.stdout() + r.stderr());
    }
  }
}
