package io.volumeclone.agent;

import static io.volumeclone.agent.AgentFixture.NAMESPACE;
import static io.volumeclone.agent.AgentFixture.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.volumeclone.api.v1alpha1.spec.CopySpec;
import io.volumeclone.contract.AgentPaths;
import io.volumeclone.nbd.TestingCommandRunner;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two in-process agents on one node state root share the node's copy budget: each runs at half of
 * it, a paused one gives its half back, an own limit below the share leaves the rest to the other.
 */
class AgentNodeShareTest {

  static final Duration INTERVAL = Duration.ofSeconds(1);
  static final Duration LIMIT = Duration.ofSeconds(60);
  static final long MiB = 1L << 20;
  static final long BUDGET = 2 * MiB;

  @TempDir Path dir;
  MockApi api;

  @BeforeEach
  void api() throws Exception {
    api = new MockApi();
  }

  @AfterEach
  void close() {
    api.close();
  }

  /** One agent on the shared node, with its own log. */
  final class Running {
    final AgentFixture fixture;
    final Agent agent;
    final ByteArrayOutputStream logs = new ByteArrayOutputStream();
    final CompletableFuture<Integer> exit;

    Running(String name) throws Exception {
      fixture = new AgentFixture(Files.createDirectories(dir.resolve(name)), name, 32 * MiB);
      CopySpec copy = new CopySpec();
      api.create(fixture.resource("64Ki", copy));
      AgentSettings s = fixture.settings(INTERVAL);
      agent =
          new Agent(
              new AgentSettings(
                  s.name(),
                  s.namespace(),
                  s.stateDirectory(),
                  INTERVAL,
                  0,
                  s.pvcDeviceDirectory(),
                  AgentLog.Format.JSON,
                  BUDGET,
                  dir.resolve("leases")),
              api.client,
              new AgentLog(
                  NAMESPACE + "/" + name,
                  AgentLog.Format.JSON,
                  new PrintStream(logs, true, StandardCharsets.UTF_8)),
              new Agent.NodeEnvironment(
                  new TestingCommandRunner(), dir.resolve("dev"), dir.resolve("sys-block")),
              Clock.systemUTC());
      exit = AgentFixture.start(agent);
      await("the clone of " + name + " runs", LIMIT, () -> agent.runningClone() != null);
    }

    long limit() {
      return agent.runningClone().tuning().bandwidth();
    }

    String log() {
      return logs.toString(StandardCharsets.UTF_8);
    }

    void edit(java.util.function.Consumer<CopySpec> change) {
      api.edit(
          NAMESPACE,
          fixture.name,
          vc -> {
            if (vc.getSpec().getCopy() == null) {
              vc.getSpec().setCopy(new CopySpec());
            }
            change.accept(vc.getSpec().getCopy());
            return vc;
          });
    }
  }

  @Test
  void twoAgentsShareTheNodeBudgetAndAPausedOneGivesItsShareBack() throws Exception {
    Running a = new Running("share-a");
    Running b = new Running("share-b");

    await(
        "both copiers at half the node budget",
        LIMIT,
        () -> a.limit() == BUDGET / 2 && b.limit() == BUDGET / 2);
    assertThat(a.agent.nodeShare().copyingClones()).isEqualTo(2);
    assertThat(Files.exists(dir.resolve("leases").resolve("db_share-a.lock"))).isTrue();
    assertThat(Files.exists(dir.resolve("leases").resolve("db_share-b.lock"))).isTrue();
    assertThat(a.agent.scrapeMetrics())
        .contains("volume_clone_copy_bandwidth_limit_bytes_per_second{")
        .containsPattern(
            "volume_clone_copy_bandwidth_limit_bytes_per_second\\{[^}]*} " + (BUDGET / 2) + "\\.0")
        .containsPattern("volume_clone_node_copying_clones\\{[^}]*} 2\\.0")
        .containsPattern(
            "volume_clone_node_bandwidth_bytes_per_second\\{[^}]*} " + BUDGET + "\\.0");
    assertThat(a.log())
        .contains("\"event\":\"bandwidth\"")
        .contains("\"bytesPerSecond\":" + BUDGET / 2 + ",\"copyingClones\":2");

    // Paused, b copies nothing and gives its lease back: a gets the whole budget.
    b.edit(c -> c.setPaused(true));
    await("a alone at the whole budget", LIMIT, () -> a.limit() == BUDGET);
    assertThat(Files.exists(dir.resolve("leases").resolve("db_share-b.lock"))).isFalse();
    assertThat(a.log()).contains("\"bytesPerSecond\":" + BUDGET + ",\"copyingClones\":1");

    // Resumed with an own limit below the equal share: b keeps its limit, a gets the rest.
    b.edit(
        c -> {
          c.setPaused(false);
          c.setBandwidth("256Ki");
        });
    await(
        "b at its own limit and a at the rest",
        LIMIT,
        () -> b.limit() == 256 * 1024 && a.limit() == BUDGET - 256 * 1024);
    assertThat(b.log()).contains("\"ownLimit\":" + 256 * 1024);

    a.agent.stop();
    b.agent.stop();
    assertThat(a.exit.get(1, TimeUnit.MINUTES)).isEqualTo(Agent.EXIT_STOPPED);
    assertThat(b.exit.get(1, TimeUnit.MINUTES)).isEqualTo(Agent.EXIT_STOPPED);
    try (var leases = Files.list(dir.resolve("leases"))) {
      assertThat(leases).as("stopped agents hold no lease").isEmpty();
    }
  }

  @Test
  void settingsReadTheNodeBudgetAndTheLeaseDirectoryFromTheEnvironment() {
    AgentSettings s =
        AgentSettings.resolve(
            "n",
            "ns",
            null,
            null,
            null,
            null,
            null,
            Map.of(
                AgentPaths.ENV_NODE_BANDWIDTH,
                "8Mi",
                AgentPaths.ENV_LEASE_DIRECTORY,
                "/node/leases"));
    assertThat(s.nodeBandwidth()).isEqualTo(8 * MiB);
    assertThat(s.leaseDirectory()).isEqualTo(Path.of("/node/leases"));

    AgentSettings defaults =
        AgentSettings.resolve("n", "ns", null, null, null, null, null, Map.of());
    assertThat(defaults.nodeBandwidth()).isZero();
    assertThat(defaults.leaseDirectory()).isEqualTo(Path.of("/var/lib/volume-clone/.copying"));

    assertThatThrownBy(
            () ->
                AgentSettings.resolve(
                    "n",
                    "ns",
                    null,
                    null,
                    null,
                    null,
                    null,
                    Map.of(AgentPaths.ENV_NODE_BANDWIDTH, "fast")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(AgentPaths.ENV_NODE_BANDWIDTH)
        .hasMessageContaining("fast");
  }
}
