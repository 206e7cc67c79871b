package io.volumeclone.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.volumeclone.e2e.cluster.ControlPlane;
import io.volumeclone.e2e.cluster.HelmRelease;
import io.volumeclone.testing.Guest;
import io.volumeclone.testing.HostRequirements;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's run command, as a user runs it: the demo jar in its own JVM must finish with exit 0,
 * having read a file through the export mid-copy, run a workload Pod on the clone's claim (bound at
 * cutover on this kernel without nbd, placed on the clone's node by kube-scheduler, reading the
 * source's bytes), verified the destination and had the deletion wait for the workload. The
 * scenario ITs use the same parts, but only this test runs the demo's own settings (its bandwidth,
 * its node budget, its device layout).
 */
class DemoIT {

  @TempDir Path dir;

  @Test
  void theDemoRunsToCompletionAndVerifiesTheDestination() throws Exception {
    assumeTrue(
        E2e.onLocalCluster(), "the demo starts its own local cluster; KUBECONFIG points elsewhere");
    HostRequirements.require("mkfs.ext4", "e2fsprogs");
    HostRequirements.require("nbdcopy", "libnbd-bin");
    String text = runDemo(Duration.ofMinutes(3));
    assertThat(text)
        .contains("kube-apiserver " + ControlPlane.KUBERNETES_VERSION)
        .contains("read from the clone while it was still copying")
        .contains("comparison of source and destination: equal")
        .contains("e2fsck -n -f destination: clean")
        .contains("Available=False NoKernelAttach")
        .contains("Pod default/reader: Pending, not scheduled")
        .contains("claim demo-data Bound (kube-controller-manager)")
        .contains("Pod default/reader: Running on node-1 (placed by kube-scheduler)")
        .contains("= the source's SHA-256: the workload sees the source's data")
        .contains(
            "Stalled=True VolumeInUse: clone volume demo-data is in use by Pod default/reader")
        .contains("its claim are gone; the destination keeps the data");
  }

  /** {@code ./demo --guest}: the same flow with the clone's node in the Linux guest. */
  @Test
  void theGuestDemoMountsTheMapperDeviceAndKeepsEveryWriteThroughTheCutover() throws Exception {
    assumeTrue(
        E2e.onLocalCluster(), "the demo starts its own local cluster; KUBECONFIG points elsewhere");
    Guest.require();
    HostRequirements.require("debugfs", "e2fsprogs");
    String text = runDemo(Duration.ofMinutes(12), "--guest");
    assertThat(text)
        .contains("node guest-1 registered by the node runner inside the guest")
        .containsPattern(
            "the agent attached the clone as /dev/mapper/volume-clone-[0-9a-f-]+ on guest-1")
        .containsPattern(
            "local /dev/mapper/volume-clone-[0-9a-f-]+, Filesystem ext4, bound to claim demo-data")
        .contains("Pod default/writer Running on guest-1 (placed by kube-scheduler), Copying")
        .contains("| consumer: read ")
        .contains("read in the guest through the clone's mapper device.")
        .contains("cut over with the workload writing")
        .contains("dmsetup ls in the guest after the agent stopped: No devices found")
        .contains("e2fsck -n -f destination: clean")
        .contains("/etc/motd on the destination: the source's")
        .contains("writes the workload reported is there: yes");
  }

  /** Runs the demo jar as ./demo does and returns its output, having asserted exit 0. */
  private String runDemo(Duration limit, String... options) throws Exception {
    Path jar = Path.of("target", "volume-clone-demo.jar").toAbsolutePath();
    assertThat(jar).as("the package phase builds the demo jar").exists();
    Path output = dir.resolve("demo.out");
    List<String> command =
        new java.util.ArrayList<>(
            List.of(
                ProcessHandle.current().info().command().orElse("java"),
                "--enable-native-access=ALL-UNNAMED",
                "-jar",
                jar.toString()));
    command.addAll(List.of(options));
    ProcessBuilder pb =
        new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile());
    pb.environment().put("PATH", "/usr/bin:/usr/sbin:/bin:/sbin:" + System.getenv("PATH"));
    pb.environment().put("TMPDIR", dir.toString());
    // What ./demo exports: the control plane build.sh made and the chart of this checkout.
    pb.environment().put("VOLUME_CLONE_CONTROL_PLANE_BIN", ControlPlane.binDirectory().toString());
    pb.environment().put("VOLUME_CLONE_CHART", HelmRelease.chartDirectory().toString());
    Process demo = pb.start();
    boolean finished = demo.waitFor(limit.toSeconds(), TimeUnit.SECONDS);
    if (!finished) {
      demo.descendants().forEach(ProcessHandle::destroyForcibly);
      demo.destroyForcibly();
    }
    String text = Files.readString(output, StandardCharsets.UTF_8);
    assertThat(finished).as("the demo finishes; output:%n%s", text).isTrue();
    assertThat(demo.exitValue()).as("demo exit code; output:%n%s", text).isZero();
    return text;
  }
}
