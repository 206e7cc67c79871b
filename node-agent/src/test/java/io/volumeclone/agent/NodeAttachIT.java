package io.volumeclone.agent;

import static io.volumeclone.agent.AgentFixture.NAMESPACE;
import static io.volumeclone.agent.AgentFixture.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.CopySpec;
import io.volumeclone.api.v1alpha1.spec.CutoverMode;
import io.volumeclone.api.v1alpha1.spec.DestinationRef;
import io.volumeclone.api.v1alpha1.spec.SourceRef;
import io.volumeclone.api.v1alpha1.spec.VolumeCloneSpec;
import io.volumeclone.nbd.CommandRunner;
import io.volumeclone.nbd.ProcessCommandRunner;
import io.volumeclone.testing.HostRequirements;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The node-attach path for real: loop devices as source and destination, the export attached to a
 * {@code /dev/nbdN}, {@code /dev/mapper/volume-clone-<uid>} on top, and a manual cutover that
 * reloads the table onto the destination while the mapper device stays open. Runs only on a node
 * with the nbd kernel module and device-mapper (not in this project's CI containers).
 */
class NodeAttachIT {

  static final long MiB = 1L << 20;

  @TempDir Path dir;
  final List<String> loops = new ArrayList<>();
  final ProcessCommandRunner runner = new ProcessCommandRunner();

  @AfterEach
  void detachLoops() throws IOException {
    for (String loop : loops) {
      runner.run(List.of("losetup", "-d", loop));
    }
  }

  static void requireNode() {
    assumeTrue(
        Files.exists(Path.of("/dev/nbd0")),
        "skipped: the kernel has no nbd module (/dev/nbd0 is missing), so the export cannot be"
            + " attached as a kernel device here");
    assumeTrue(
        Files.exists(Path.of("/dev/mapper/control")),
        "skipped: the kernel has no device-mapper (/dev/mapper/control is missing)");
    HostRequirements.require("dmsetup", "dmsetup");
    HostRequirements.require("nbd-client", "nbd-client");
    HostRequirements.require("losetup", "mount");
  }

  String loop(Path file, boolean readOnly) throws IOException {
    List<String> command = new ArrayList<>(List.of("losetup", "--find", "--show"));
    if (readOnly) {
      command.add("--read-only");
    }
    command.add(file.toString());
    CommandRunner.Result r = runner.run(command);
    assertThat(r.ok()).as(r.output()).isTrue();
    loops.add(r.output().strip());
    return r.output().strip();
  }

  @Test
  void theMapperDeviceServesTheCloneAndStaysThroughCutover() throws Exception {
    requireNode();
    AgentFixture f = new AgentFixture(dir, "attached", 32 * MiB);
    String source = loop(f.source, true);
    String destination = loop(f.destination, false);
    ByteArrayOutputStream logs = new ByteArrayOutputStream();
    try (MockApi api = new MockApi()) {
      VolumeCloneSpec spec = new VolumeCloneSpec();
      spec.setNodeName("node-1");
      spec.setSource(SourceRef.device(source));
      spec.setDestination(DestinationRef.device(destination));
      spec.setCutover(CutoverMode.Manual);
      CopySpec copy = new CopySpec();
      copy.setPaused(true);
      spec.setCopy(copy);
      VolumeClone created = api.create(new VolumeClone(NAMESPACE, f.name, spec));
      Path mapper = Path.of("/dev/mapper/volume-clone-" + created.getMetadata().getUid());
      Agent agent =
          new Agent(
              f.settings(Duration.ofSeconds(1)),
              api.client,
              new AgentLog(
                  "db/attached",
                  AgentLog.Format.JSON,
                  new PrintStream(logs, true, StandardCharsets.UTF_8)),
              Agent.NodeEnvironment.host(),
              Clock.systemUTC());
      CompletableFuture<Integer> exit = AgentFixture.start(agent);
      await("the mapper device", Duration.ofSeconds(60), () -> Files.exists(mapper));

      // Paused: every byte read through the mapper device comes from the source via NBD.
      assertThat(Files.mismatch(mapper, f.source)).as(logs.toString()).isEqualTo(-1L);

      api.edit(
          NAMESPACE,
          f.name,
          vc -> {
            vc.getSpec().getCopy().setPaused(false);
            vc.getSpec().setCutoverApproved(true);
            return vc;
          });
      assertThat(exit.get(2, TimeUnit.MINUTES)).as(logs.toString()).isEqualTo(0);

      CommandRunner.Result table =
          runner.run(List.of("dmsetup", "table", mapper.getFileName().toString()));
      assertThat(table.output()).contains("linear").doesNotContain("nbd");
      assertThat(Files.mismatch(mapper, f.source)).isEqualTo(-1L);
      runner.run(List.of("dmsetup", "remove", mapper.getFileName().toString()));
    }
  }
}
