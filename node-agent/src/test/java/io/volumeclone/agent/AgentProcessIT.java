package io.volumeclone.agent;

import static io.volumeclone.agent.AgentFixture.NAMESPACE;
import static io.volumeclone.agent.AgentFixture.await;
import static io.volumeclone.agent.AgentFixture.conditionIs;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.CopySpec;
import io.volumeclone.api.v1alpha1.status.Progress;
import io.volumeclone.engine.MetadataReport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent as the Pod runs it: {@code volume-clone agent} in a child JVM, talking to the mock API
 * server through a kubeconfig, killed with SIGKILL and stopped with SIGTERM.
 */
class AgentProcessIT {

  static final Duration LIMIT = Duration.ofSeconds(90);
  static final long MiB = 1L << 20;
  static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path dir;
  MockApi api;
  int runs;

  @BeforeEach
  void api() throws Exception {
    api = new MockApi();
  }

  @AfterEach
  void close() {
    api.close();
  }

  Process startChild(AgentFixture f) throws IOException {
    runs++;
    String java = ProcessHandle.current().info().command().orElse("java");
    String classPath =
        System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    List<String> command =
        new ArrayList<>(
            List.of(
                java,
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "--enable-native-access=ALL-UNNAMED",
                "-cp",
                classPath,
                "io.volumeclone.app.VolumeCloneMain",
                "agent",
                "--name",
                f.name,
                "--namespace",
                NAMESPACE,
                "--log-format",
                "json"));
    ProcessBuilder pb =
        new ProcessBuilder(command)
            .redirectOutput(dir.resolve("child-" + runs + ".out").toFile())
            .redirectError(dir.resolve("child-" + runs + ".err").toFile());
    pb.environment().put("KUBECONFIG", api.kubeconfig(dir).toString());
    pb.environment().put("VOLUME_CLONE_STATE_DIRECTORY", f.state.toString());
    pb.environment().put("VOLUME_CLONE_REPORT_INTERVAL", "1s");
    return pb.start();
  }

  String childLog(int run) throws IOException {
    return Files.readString(dir.resolve("child-" + run + ".err"));
  }

  /** The child's JSON log line of {@code event}. */
  JsonNode event(int run, String event) throws IOException {
    for (String line : childLog(run).split("\n")) {
      if (line.startsWith("{") && line.contains("\"event\":\"" + event + "\"")) {
        return JSON.readTree(line);
      }
    }
    throw new AssertionError(
        "no " + event + " event in the log of run " + run + ":\n" + childLog(run));
  }

  Progress progress(AgentFixture f) {
    VolumeClone vc = api.get(NAMESPACE, f.name);
    return vc == null || vc.getStatus() == null ? null : vc.getStatus().getProgress();
  }

  static CopySpec bandwidth(String value) {
    CopySpec c = new CopySpec();
    c.setBandwidth(value);
    return c;
  }

  @Test
  void automaticCutoverInAChildExitsZeroWithEqualBytes() throws Exception {
    AgentFixture f = new AgentFixture(dir, "child-auto", 32 * MiB);
    api.create(f.resource("64Ki", null));

    Process child = startChild(f);

    assertThat(child.waitFor(LIMIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
    assertThat(child.exitValue()).as(childLog(1)).isEqualTo(0);
    f.assertDestinationEqualsSource();
    assertThat(conditionIs(api.get(NAMESPACE, f.name), ConditionTypes.CUT_OVER, "True", "CutOver"))
        .isTrue();
    assertThat(event(1, "cut-over").get("device").asText()).isEqualTo(f.destination.toString());
  }

  @Test
  void sigkillThenRestartResumesFromTheLastCommit() throws Exception {
    AgentFixture f = new AgentFixture(dir, "child-kill", 32 * MiB);
    api.create(f.resource("64Ki", bandwidth("4Mi")));
    Process first = startChild(f);
    await(
        "at least 64 committed regions",
        LIMIT,
        () -> progress(f) != null && progress(f).getRegionsCommitted() >= 64);

    first.destroyForcibly(); // SIGKILL
    assertThat(first.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(first.exitValue()).isEqualTo(128 + 9);
    MetadataReport afterKill = f.inspectMetadata();
    long committed = afterKill.committedCount();
    assertThat(committed).isBetween(64L, 511L);

    api.edit(
        NAMESPACE,
        f.name,
        vc -> {
          vc.getSpec().setCopy(null);
          return vc;
        });
    Process second = startChild(f);
    assertThat(second.waitFor(LIMIT.toSeconds(), TimeUnit.SECONDS)).isTrue();

    assertThat(second.exitValue()).as(childLog(2)).isEqualTo(0);
    f.assertDestinationEqualsSource();
    JsonNode resumed = event(2, "resumed");
    assertThat(resumed.get("message").asText())
        .startsWith("resumed from the metadata: " + committed + " of 512 regions");
    // The restart copied exactly the regions the last commit did not record: none twice.
    long copiedByRestart = event(2, "cut-over").get("copiedThisRunBytes").asLong();
    assertThat(copiedByRestart).isEqualTo((512 - committed) * 64 * 1024);
  }

  @Test
  void sigtermCommitsClosesTheExportAndExits() throws Exception {
    AgentFixture f = new AgentFixture(dir, "child-term", 16 * MiB);
    api.create(f.resource("64Ki", bandwidth("2Mi")));
    Process child = startChild(f);
    await(
        "progress and a serving export",
        LIMIT,
        () ->
            progress(f) != null
                && progress(f).getRegionsCopied() > 8
                && Files.exists(f.state.resolve("nbd.sock")));

    child.destroy(); // SIGTERM
    assertThat(child.waitFor(60, TimeUnit.SECONDS)).isTrue();

    assertThat(child.exitValue()).as(childLog(1)).isEqualTo(143);
    VolumeClone vc = api.get(NAMESPACE, f.name);
    Progress p = vc.getStatus().getProgress();
    MetadataReport md = f.inspectMetadata();
    assertThat(md.state()).isEqualTo(MetadataReport.State.VALID);
    assertThat(p.getRegionsCommitted()).isEqualTo(p.getRegionsCopied());
    assertThat(md.committedCount()).isEqualTo(p.getRegionsCommitted());
    assertThat(md.committedCount()).isBetween(9L, 255L);
    assertThat(conditionIs(vc, ConditionTypes.AVAILABLE, "False", "AgentStopped")).isTrue();
    assertThat(Files.exists(f.state.resolve("nbd.sock"))).isFalse();
    assertThat(event(1, "stopped").get("message").asText())
        .isEqualTo("stopped with " + md.committedCount() + " of 256 regions committed");
  }
}
