package io.volumeclone.agent;

import static io.volumeclone.agent.AgentFixture.NAMESPACE;
import static io.volumeclone.agent.AgentFixture.await;
import static io.volumeclone.agent.AgentFixture.conditionIs;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.Access;
import io.volumeclone.api.v1alpha1.spec.CopySpec;
import io.volumeclone.api.v1alpha1.spec.CutoverMode;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.Progress;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import io.volumeclone.engine.MetadataReport;
import io.volumeclone.engine.TestingForwardingBlockDevice;
import io.volumeclone.nbd.NbdBlockDevice;
import io.volumeclone.nbd.TestingCommandRunner;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The agent in-process against the mock API server in CRUD mode, on file-backed devices. */
class AgentTest {

  static final Duration INTERVAL = Duration.ofSeconds(1);
  static final Duration LIMIT = Duration.ofSeconds(60);
  static final long MiB = 1L << 20;

  @TempDir Path dir;
  MockApi api;
  ByteArrayOutputStream logs = new ByteArrayOutputStream();
  PrintStream logStream = new PrintStream(logs, true, StandardCharsets.UTF_8);

  @BeforeEach
  void api() throws Exception {
    api = new MockApi();
  }

  @AfterEach
  void close() {
    api.close();
  }

  String logText() {
    return logs.toString(StandardCharsets.UTF_8);
  }

  static CopySpec copy(Boolean paused, String bandwidth) {
    CopySpec c = new CopySpec();
    c.setPaused(paused);
    c.setBandwidth(bandwidth);
    return c;
  }

  VolumeClone get(AgentFixture f) {
    return api.get(NAMESPACE, f.name);
  }

  Progress progress(AgentFixture f) {
    VolumeClone vc = get(f);
    return vc == null || vc.getStatus() == null ? null : vc.getStatus().getProgress();
  }

  /** What the operator writes: its own fields and conditions, by re-read and replace. */
  void operatorWrites(AgentFixture f, Phase phase, String readyReason) {
    VolumeClone vc = get(f);
    VolumeCloneStatus s = vc.getStatus() == null ? new VolumeCloneStatus() : vc.getStatus();
    s.setPhase(phase);
    s.setNodeName("node-1");
    s.setAgentPod("volume-clone-" + f.name);
    s.setObservedGeneration(vc.getMetadata().getGeneration());
    List<Condition> conditions = new ArrayList<>(s.getConditions());
    conditions.removeIf(c -> c.getType().equals(ConditionTypes.READY));
    conditions.add(
        new ConditionBuilder()
            .withType(ConditionTypes.READY)
            .withStatus("False")
            .withReason(readyReason)
            .withMessage("operator says " + readyReason)
            .withLastTransitionTime("2026-01-01T00:00:00Z")
            .build());
    s.setConditions(conditions);
    vc.setStatus(s);
    api.client.resource(vc).updateStatus();
  }

  @Test
  void automaticCutoverCopiesEverythingExitsZeroAndKeepsTheOperatorsFields() throws Exception {
    AgentFixture f = new AgentFixture(dir, "auto", 32 * MiB);
    api.create(f.resource("64Ki", null));
    operatorWrites(f, Phase.Pending, "AgentStarting");

    int exit = AgentFixture.start(f.agent(api, INTERVAL, logStream)).get(2, TimeUnit.MINUTES);

    assertThat(exit).as(logText()).isEqualTo(0);
    f.assertDestinationEqualsSource();
    VolumeClone vc = get(f);
    VolumeCloneStatus s = vc.getStatus();
    assertThat(s.getProgress().getRegionsTotal()).isEqualTo(512);
    assertThat(s.getProgress().getRegionsCopied()).isEqualTo(512);
    assertThat(s.getProgress().getRegionsCommitted()).isEqualTo(512);
    assertThat(s.getProgress().getBytesCopied()).isEqualTo(32 * MiB);
    assertThat(s.getProgress().getPercent()).isEqualTo("100.0");
    assertThat(s.getMetadataMode()).isEqualTo("Write");
    assertThat(conditionIs(vc, ConditionTypes.CUT_OVER, "True", "CutOver")).isTrue();
    assertThat(conditionIs(vc, ConditionTypes.COPIED, "True", "AllRegionsCopied")).isTrue();
    assertThat(conditionIs(vc, ConditionTypes.DEGRADED, "False", "NoErrors")).isTrue();
    assertThat(s.condition(ConditionTypes.AVAILABLE).orElseThrow().getMessage())
        .contains(f.destination.toString());
    // the operator's fields survived every agent write
    assertThat(s.getPhase()).isEqualTo(Phase.Pending);
    assertThat(s.getNodeName()).isEqualTo("node-1");
    assertThat(s.getAgentPod()).isEqualTo("volume-clone-auto");
    assertThat(conditionIs(vc, ConditionTypes.READY, "False", "AgentStarting")).isTrue();
    MetadataReport md = f.inspectMetadata();
    assertThat(md.cutOver()).isTrue();
    assertThat(logText()).contains("\"event\":\"cut-over\"").contains("\"clone\":\"db/auto\"");
  }

  @Test
  void statusWritesRespectTheIntervalAndBothWritersFieldsSurvive() throws Exception {
    AgentFixture f = new AgentFixture(dir, "paced", 16 * MiB);
    // 16 MiB at 4 MiB/s: about four seconds of copying, four or so progress intervals
    api.create(f.resource("64Ki", copy(null, "4Mi")));
    Agent agent = f.agent(api, INTERVAL, logStream);
    long before = api.statusWrites();
    long started = System.nanoTime();
    CompletableFuture<Integer> exit = AgentFixture.start(agent);

    await("first progress", LIMIT, () -> progress(f) != null);
    operatorWrites(f, Phase.Copying, "Copying");
    int code = exit.get(2, TimeUnit.MINUTES);
    double seconds = (System.nanoTime() - started) / 1e9;

    assertThat(code).as(logText()).isEqualTo(0);
    long agentWrites = agent.statusWrites();
    long allWrites = api.statusWrites() - before;
    // the one operator write plus the agent's: nothing else writes the status
    assertThat(allWrites).isEqualTo(agentWrites + 1);
    // Progress at most once per interval; phase changes (start, export, copied, cut over) extra.
    long bound = (long) Math.ceil(seconds / INTERVAL.toSeconds()) + 6;
    assertThat(agentWrites).as("agent writes over %.1f s", seconds).isBetween(3L, bound);
    VolumeClone vc = get(f);
    assertThat(vc.getStatus().getPhase()).isEqualTo(Phase.Copying);
    assertThat(conditionIs(vc, ConditionTypes.READY, "False", "Copying")).isTrue();
    assertThat(conditionIs(vc, ConditionTypes.CUT_OVER, "True", "CutOver")).isTrue();
    assertThat(vc.getStatus().getProgress().getRegionsCopied()).isEqualTo(256);
    // every write was a PUT of the status subresource, never of the whole object
    assertThat(api.requests())
        .filteredOn(r -> r.startsWith("PUT ") || r.startsWith("PATCH "))
        .allMatch(r -> r.contains("/status"));
  }

  @Test
  void concurrentOperatorWritesAndAgentWritesNeverEraseEachOther() throws Exception {
    AgentFixture f = new AgentFixture(dir, "racing", 16 * MiB);
    api.create(f.resource("64Ki", copy(null, "8Mi")));
    Agent agent = f.agent(api, Duration.ofMillis(200), logStream);
    CompletableFuture<Integer> exit = AgentFixture.start(agent);
    int operatorWrites = 0;
    boolean agentSeen = false;
    while (!exit.isDone()) {
      VolumeCloneStatus s = get(f).getStatus();
      s = s == null ? new VolumeCloneStatus() : s;
      boolean agentFields =
          s.getProgress() != null && s.condition(ConditionTypes.AVAILABLE).isPresent();
      assertThat(agentFields || !agentSeen).as("the agent's fields, once written, stay").isTrue();
      agentSeen |= agentFields;
      if (operatorWrites > 0) {
        assertThat(s.getMessage()).as("the operator's field stays").startsWith("operator write ");
        assertThat(s.condition(ConditionTypes.READY))
            .as("the operator's condition stays")
            .isPresent();
      }
      operatorApplies("operator write " + (operatorWrites + 1), f);
      operatorWrites++;
    }

    assertThat(exit.get()).as(logText()).isEqualTo(0);
    VolumeClone vc = get(f);
    assertThat(vc.getStatus().getMessage()).isEqualTo("operator write " + operatorWrites);
    assertThat(vc.getStatus().getPhase()).isEqualTo(Phase.Copying);
    assertThat(conditionIs(vc, ConditionTypes.READY, "False", "OperatorSays")).isTrue();
    assertThat(conditionIs(vc, ConditionTypes.CUT_OVER, "True", "CutOver")).isTrue();
    assertThat(vc.getStatus().getProgress().getPercent()).isEqualTo("100.0");
    assertThat(operatorWrites).isGreaterThan(10);
  }

  /** Plays the operator's StatusWriter: applies message, phase and Ready as its field manager. */
  private void operatorApplies(String message, AgentFixture f) {
    VolumeClone body = new VolumeClone();
    body.getMetadata().setNamespace(NAMESPACE);
    body.getMetadata().setName(f.name);
    VolumeCloneStatus s = new VolumeCloneStatus();
    s.setMessage(message);
    s.setPhase(Phase.Copying);
    s.setConditions(
        List.of(
            new ConditionBuilder()
                .withType(ConditionTypes.READY)
                .withStatus("False")
                .withReason("OperatorSays")
                .withMessage(message)
                .withLastTransitionTime("2026-01-01T00:00:00Z")
                .build()));
    body.setStatus(s);
    api.client
        .resource(body)
        .subresource("status")
        .patch(
            new io.fabric8.kubernetes.client.dsl.base.PatchContext.Builder()
                .withPatchType(io.fabric8.kubernetes.client.dsl.base.PatchType.SERVER_SIDE_APPLY)
                .withFieldManager("volume-clone-operator")
                .withForce(true)
                .build());
  }

  @Test
  void pauseStopsTheCopyAndResumeContinuesIt() throws Exception {
    AgentFixture f = new AgentFixture(dir, "pausing", 16 * MiB);
    api.create(f.resource("64Ki", copy(null, "2Mi")));
    Agent agent = f.agent(api, INTERVAL, logStream);
    CompletableFuture<Integer> exit = AgentFixture.start(agent);
    await("some progress", LIMIT, () -> progress(f) != null && progress(f).getRegionsCopied() > 0);

    api.edit(
        NAMESPACE,
        f.name,
        vc -> {
          vc.getSpec().getCopy().setPaused(true);
          return vc;
        });

    await(
        "Copied=False reason Paused",
        LIMIT,
        () -> conditionIs(get(f), ConditionTypes.COPIED, "False", "Paused"));
    assertThat(agent.runningClone().status().paused()).isTrue();
    await("the agent follows its clone to PAUSED", LIMIT, () -> agent.state() == AgentState.PAUSED);
    // Settled: the rate since the pause is reported as 0 and everything copied is committed.
    await(
        "rate 0 and all copied regions committed",
        LIMIT,
        () -> {
          Progress p = progress(f);
          return p.getBytesPerSecond() == 0 && p.getRegionsCommitted().equals(p.getRegionsCopied());
        });
    Thread.sleep(INTERVAL.toMillis());
    long copiedWhilePaused = progress(f).getRegionsCopied();
    long writes = agent.statusWrites();
    // Two more reporting intervals: the copy must not move, so nothing is written either.
    Thread.sleep(2 * INTERVAL.toMillis());
    assertThat(agent.runningClone().status().regionsCopied()).isEqualTo(copiedWhilePaused);
    assertThat(copiedWhilePaused).isLessThan(256);
    assertThat(agent.statusWrites()).isEqualTo(writes);

    api.edit(
        NAMESPACE,
        f.name,
        vc -> {
          vc.getSpec().getCopy().setPaused(false);
          vc.getSpec().getCopy().setBandwidth(null);
          return vc;
        });

    await(
        "progress beyond the paused point",
        LIMIT,
        () -> progress(f) != null && progress(f).getRegionsCopied() > copiedWhilePaused);
    assertThat(exit.get(2, TimeUnit.MINUTES)).as(logText()).isEqualTo(0);
    assertThat(agent.state()).isEqualTo(AgentState.CUT_OVER);
    f.assertDestinationEqualsSource();
    assertThat(logText()).contains("\"event\":\"paused\"").contains("\"event\":\"resumed\"");
  }

  @Test
  void bandwidthRegionsInFlightAndBatchSizeChangeWhileRunning() throws Exception {
    AgentFixture f = new AgentFixture(dir, "tuning", 16 * MiB);
    api.create(f.resource("64Ki", copy(null, "1Mi")));
    Agent agent = f.agent(api, INTERVAL, logStream);
    CompletableFuture<Integer> exit = AgentFixture.start(agent);
    await("the clone runs", LIMIT, () -> agent.runningClone() != null);
    assertThat(agent.runningClone().tuning().bandwidth()).isEqualTo(MiB);

    api.edit(
        NAMESPACE,
        f.name,
        vc -> {
          vc.getSpec().getCopy().setBandwidth("3Mi");
          vc.getSpec().getCopy().setRegionsInFlight(2);
          vc.getSpec().getCopy().setBatchRegions(4);
          return vc;
        });
    // The three knobs arrive in one spec change and are applied one after the other: wait for all.
    await(
        "bandwidth 3Mi, 2 regions in flight and batches of 4 applied",
        LIMIT,
        () ->
            agent.runningClone().tuning().bandwidth() == 3 * MiB
                && agent.runningClone().tuning().regionsInFlight() == 2
                && agent.runningClone().tuning().batchRegions() == 4);
    assertThat(exit.isDone()).as("still copying at 3Mi/s").isFalse();

    api.edit(
        NAMESPACE,
        f.name,
        vc -> {
          vc.getSpec().getCopy().setBandwidth(null);
          return vc;
        });
    assertThat(exit.get(2, TimeUnit.MINUTES)).as(logText()).isEqualTo(0);
    f.assertDestinationEqualsSource();
  }

  @Test
  void manualCutoverWaitsForApproval() throws Exception {
    AgentFixture f = new AgentFixture(dir, "manual", 16 * MiB);
    VolumeClone resource = f.resource("64Ki", null);
    resource.getSpec().setCutover(CutoverMode.Manual);
    api.create(resource);
    Agent agent = f.agent(api, INTERVAL, logStream);
    CompletableFuture<Integer> exit = AgentFixture.start(agent);

    await(
        "CutOver=False AwaitingApproval",
        LIMIT,
        () -> conditionIs(get(f), ConditionTypes.CUT_OVER, "False", "AwaitingApproval"));
    VolumeClone waiting = get(f);
    assertThat(conditionIs(waiting, ConditionTypes.COPIED, "True", "AllRegionsCopied")).isTrue();
    assertThat(waiting.getStatus().getProgress().getRegionsCommitted()).isEqualTo(256);
    // copied, committed, and still waiting: the export keeps serving, the agent does not exit
    Thread.sleep(2 * INTERVAL.toMillis());
    assertThat(exit.isDone()).isFalse();
    assertThat(f.inspectMetadata().complete()).isTrue();
    assertThat(f.inspectMetadata().cutOver()).isFalse();

    api.edit(
        NAMESPACE,
        f.name,
        vc -> {
          vc.getSpec().setCutoverApproved(true);
          return vc;
        });

    assertThat(exit.get(1, TimeUnit.MINUTES)).as(logText()).isEqualTo(0);
    assertThat(conditionIs(get(f), ConditionTypes.CUT_OVER, "True", "CutOver")).isTrue();
    assertThat(f.inspectMetadata().cutOver()).isTrue();
    f.assertDestinationEqualsSource();
  }

  @Test
  void anIdentityChangeWhileRunningIsRefusedWithDegradedAndThePermanentExitCode() throws Exception {
    AgentFixture f = new AgentFixture(dir, "identity", 16 * MiB);
    api.create(f.resource("64Ki", copy(null, "1Mi")));
    Agent agent = f.agent(api, INTERVAL, logStream);
    CompletableFuture<Integer> exit = AgentFixture.start(agent);
    await("progress", LIMIT, () -> progress(f) != null);

    api.edit(
        NAMESPACE,
        f.name,
        vc -> {
          vc.getSpec().setRegionSize("128Ki");
          return vc;
        });

    assertThat(exit.get(1, TimeUnit.MINUTES)).isEqualTo(Agent.EXIT_PERMANENT);
    assertThat(agent.state()).isEqualTo(AgentState.FAILED);
    VolumeClone vc = get(f);
    assertThat(conditionIs(vc, ConditionTypes.DEGRADED, "True", "IdentityChanged")).isTrue();
    assertThat(vc.getStatus().condition(ConditionTypes.DEGRADED).orElseThrow().getMessage())
        .contains("spec.regionSize (64Ki -> 128Ki)")
        .contains(f.state.resolve("metadata").toString());
    assertThat(conditionIs(vc, ConditionTypes.AVAILABLE, "False", "AgentFailed")).isTrue();
    // what was copied is committed, not lost
    MetadataReport md = f.inspectMetadata();
    assertThat(md.committedCount()).isEqualTo(vc.getStatus().getProgress().getRegionsCommitted());
    assertThat(md.committedCount()).isEqualTo(vc.getStatus().getProgress().getRegionsCopied());
  }

  @Test
  void metadataOfAnotherGeometryIsRefusedAtStartAndLeftAlone() throws Exception {
    AgentFixture f = new AgentFixture(dir, "mismatch", 16 * MiB);
    api.create(f.resource("64Ki", copy(true, null)));
    Agent first = f.agent(api, INTERVAL, logStream);
    CompletableFuture<Integer> run = AgentFixture.start(first);
    await("first run reports", LIMIT, () -> progress(f) != null);
    first.stop();
    assertThat(run.get(1, TimeUnit.MINUTES)).isEqualTo(Agent.EXIT_STOPPED);
    byte[] metadataBefore = Files.readAllBytes(f.state.resolve("metadata"));

    api.client.resource(get(f)).delete();
    await("deleted", LIMIT, () -> get(f) == null);
    api.create(f.resource("128Ki", null));
    int exit = AgentFixture.start(f.agent(api, INTERVAL, logStream)).get(1, TimeUnit.MINUTES);

    assertThat(exit).isEqualTo(Agent.EXIT_PERMANENT);
    VolumeClone vc = get(f);
    assertThat(conditionIs(vc, ConditionTypes.DEGRADED, "True", "MetadataMismatch")).isTrue();
    assertThat(vc.getStatus().condition(ConditionTypes.DEGRADED).orElseThrow().getMessage())
        .contains(f.state.resolve("metadata").toString())
        .contains("Nothing was changed");
    assertThat(Files.readAllBytes(f.state.resolve("metadata"))).isEqualTo(metadataBefore);
  }

  @Test
  void stopCommitsClosesTheExportAndReportsWhatIsCommitted() throws Exception {
    AgentFixture f = new AgentFixture(dir, "stopping", 16 * MiB);
    api.create(f.resource("64Ki", copy(null, "2Mi")));
    Agent agent = f.agent(api, INTERVAL, logStream);
    CompletableFuture<Integer> exit = AgentFixture.start(agent);
    await("some progress", LIMIT, () -> progress(f) != null && progress(f).getRegionsCopied() > 8);
    assertThat(Files.exists(f.state.resolve("nbd.sock"))).isTrue();

    agent.stop();

    assertThat(exit.get(1, TimeUnit.MINUTES)).isEqualTo(Agent.EXIT_STOPPED);
    assertThat(agent.state()).isEqualTo(AgentState.STOPPED);
    VolumeClone vc = get(f);
    Progress p = vc.getStatus().getProgress();
    MetadataReport md = f.inspectMetadata();
    assertThat(p.getRegionsCommitted()).isEqualTo(p.getRegionsCopied());
    assertThat(md.committedCount()).isEqualTo(p.getRegionsCommitted());
    assertThat(md.committedCount()).isLessThan(256);
    assertThat(conditionIs(vc, ConditionTypes.AVAILABLE, "False", "AgentStopped")).isTrue();
    assertThat(vc.getStatus().getExport()).isNull();
    assertThat(Files.exists(f.state.resolve("nbd.sock"))).isFalse();
  }

  @Test
  void theExportServesTheCloneAndMetricsCountUserIoAndCommits() throws Exception {
    AgentFixture f = new AgentFixture(dir, "served", 16 * MiB);
    VolumeClone resource = f.resource("64Ki", copy(true, null));
    api.create(resource);
    int port;
    try (var socket = new java.net.ServerSocket(0)) {
      port = socket.getLocalPort();
    }
    AgentSettings s = f.settings(INTERVAL);
    Agent agent =
        new Agent(
            new AgentSettings(
                s.name(),
                s.namespace(),
                s.stateDirectory(),
                INTERVAL,
                port,
                s.pvcDeviceDirectory(),
                AgentLog.Format.JSON,
                0,
                null),
            api.client,
            new AgentLog("db/served", AgentLog.Format.JSON, logStream),
            new Agent.NodeEnvironment(new TestingCommandRunner(), dir.resolve("dev"), dir),
            java.time.Clock.systemUTC());
    CompletableFuture<Integer> exit = AgentFixture.start(agent);
    await(
        "Available=True",
        LIMIT,
        () -> conditionIs(get(f), ConditionTypes.AVAILABLE, "True", "ExportServing"));
    VolumeClone vc = get(f);
    String uri = vc.getStatus().getExport().getUri();
    assertThat(uri).isEqualTo("nbd+unix:///served?socket=" + f.state.resolve("nbd.sock"));
    assertThat(vc.getStatus().condition(ConditionTypes.AVAILABLE).orElseThrow().getMessage())
        .contains("export-only")
        .contains("nbd kernel module is not loaded");

    byte[] expected = new byte[1 << 20];
    ByteBuffer.wrap(Files.readAllBytes(f.source), 3 << 20, 1 << 20).get(expected);
    ByteBuffer got = ByteBuffer.allocate(1 << 20);
    try (NbdBlockDevice client = NbdBlockDevice.open(uri)) {
      client.read(3L << 20, got);
    }
    assertThat(got.array()).isEqualTo(expected);

    String metrics =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString())
            .body();
    assertThat(metrics)
        .contains("volume_clone_size_regions{namespace=\"db\",volumeclone=\"served\"} 256.0")
        .contains("volume_clone_paused{namespace=\"db\",volumeclone=\"served\"} 1.0")
        .contains(
            "volume_clone_metadata_mode{mode=\"Write\",namespace=\"db\",volumeclone=\"served\"} 1.0")
        .contains("volume_clone_copy_errors_total")
        .contains("volume_clone_metadata_commit_seconds_count");
    assertThat(metrics)
        .containsPattern(
            "volume_clone_user_io_seconds_count\\{namespace=\"db\",op=\"read\",outcome=\"ok\","
                + "volumeclone=\"served\"} [1-9]");

    api.edit(
        NAMESPACE,
        f.name,
        v -> {
          v.getSpec().getCopy().setPaused(false);
          return v;
        });
    assertThat(exit.get(2, TimeUnit.MINUTES)).as(logText()).isEqualTo(0);
    f.assertDestinationEqualsSource();
  }

  @Test
  void theNodeCutoverFlushesAndReleasesTheDestinationWhileSuspendedBeforeLoadingIt()
      throws Exception {
    AgentFixture f = new AgentFixture(dir, "flushed", 4 * MiB);
    Path dev = dir.resolve("dev");
    VolumeClone created = createImmediate(f);
    TestingCommandRunner runner = new TestingCommandRunner("nbd-client", "dmsetup");
    Agent agent =
        agentWithKernelAttach(
            f,
            runner,
            d ->
                new TestingForwardingBlockDevice(d) {
                  @Override
                  public void flush() throws java.io.IOException {
                    super.flush();
                    runner.note("flush destination");
                  }

                  @Override
                  public void close() throws java.io.IOException {
                    super.close();
                    runner.note("close destination");
                  }
                });

    CompletableFuture<Integer> exit = AgentFixture.start(agent);
    String mapper = "volume-clone-" + created.getMetadata().getUid();
    await(
        "the agent holds the device after the node cutover",
        LIMIT,
        () -> runner.commands().contains("nbd-client -d " + dev.resolve("nbd0")));
    agent.stop();
    assertThat(exit.get(2, TimeUnit.MINUTES)).as(logText()).isEqualTo(0);

    List<String> commands = runner.commands();
    int suspend = commands.indexOf("dmsetup suspend " + mapper);
    assertThat(suspend).as(String.join("\n", commands)).isPositive();
    int detach = commands.indexOf("nbd-client -d " + dev.resolve("nbd0"));
    // from the suspend to the NBD detach; the copy's flushes come before it, and closing the
    // destination flushes it once more
    List<String> cutover = commands.subList(suspend, detach + 1);
    assertThat(cutover)
        .containsSubsequence(
            "dmsetup suspend " + mapper,
            "flush destination",
            "close destination",
            "dmsetup load " + mapper + " --table 0 8192 linear " + f.destination + " 0",
            "dmsetup resume " + mapper,
            "dmsetup mknodes " + mapper,
            "nbd-client -d " + dev.resolve("nbd0"));
    assertThat(cutover.subList(0, cutover.indexOf("close destination")))
        .as("between the suspend and the release only flushes")
        .containsOnly("dmsetup suspend " + mapper, "flush destination");
    f.assertDestinationEqualsSource();
  }

  @Test
  void afterANodeCutoverTheAgentHoldsTheDeviceWithoutIoUntilStoppedThenRemovesIt()
      throws Exception {
    AgentFixture f = new AgentFixture(dir, "holder", 4 * MiB);
    Path dev = dir.resolve("dev");
    VolumeClone created = createImmediate(f);
    TestingCommandRunner runner = new TestingCommandRunner("nbd-client", "dmsetup");
    java.util.concurrent.atomic.AtomicLong destinationIo =
        new java.util.concurrent.atomic.AtomicLong();
    Agent agent =
        agentWithKernelAttach(
            f,
            runner,
            d ->
                new TestingForwardingBlockDevice(d) {
                  @Override
                  public void write(long offset, java.nio.ByteBuffer src)
                      throws java.io.IOException {
                    destinationIo.incrementAndGet();
                    super.write(offset, src);
                  }

                  @Override
                  public void flush() throws java.io.IOException {
                    destinationIo.incrementAndGet();
                    super.flush();
                  }
                });
    CompletableFuture<Integer> exit = AgentFixture.start(agent);
    String mapper = "volume-clone-" + created.getMetadata().getUid();
    await(
        "CutOver=True with the device moved onto the destination",
        LIMIT,
        () ->
            get(f).getStatus() != null
                && conditionIs(get(f), ConditionTypes.CUT_OVER, "True", "CutOver")
                && agent.state() == AgentState.CUT_OVER);
    long ioAtCutover = destinationIo.get();
    int commandsAtCutover = runner.commands().size();
    Thread.sleep(3 * INTERVAL.toMillis() + 500);

    assertThat(exit).as("still running: it holds %s; log:%n%s", mapper, logText()).isNotDone();
    assertThat(runner.commands())
        .hasSize(commandsAtCutover)
        .doesNotContain("dmsetup remove " + mapper);
    assertThat(destinationIo.get()).as("no I/O while holding").isEqualTo(ioAtCutover);
    assertThat(get(f).getStatus().getExport().getDevice())
        .as("the status still names the device the clone volume's PersistentVolume maps")
        .isEqualTo(dev.resolve("mapper").resolve(mapper).toString());
    assertThat(logText()).contains("\"event\":\"holding\"");

    agent.stop();
    assertThat(exit.get(1, TimeUnit.MINUTES)).as(logText()).isEqualTo(0);
    assertThat(runner.commands().subList(commandsAtCutover, runner.commands().size()))
        .containsExactly("dmsetup remove " + mapper, "dmsetup mknodes");
    f.assertDestinationEqualsSource();
  }

  private VolumeClone createImmediate(AgentFixture f) {
    VolumeClone resource = f.resource("64Ki", null);
    resource.getSpec().setAccess(Access.Immediate);
    return api.create(resource);
  }

  /**
   * The agent of {@code f} on a node whose {@code /dev} (with an nbd0) and {@code /sys/block} are
   * under the test's directory and whose nbd-client and dmsetup are {@code runner}'s.
   */
  private Agent agentWithKernelAttach(
      AgentFixture f,
      TestingCommandRunner runner,
      java.util.function.UnaryOperator<io.volumeclone.engine.BlockDevice> destination)
      throws java.io.IOException {
    Path dev = Files.createDirectories(dir.resolve("dev"));
    Files.createFile(dev.resolve("nbd0"));
    Files.createDirectories(dir.resolve("sys-block"));
    return new Agent(
        f.settings(INTERVAL),
        api.client,
        new AgentLog(NAMESPACE + "/" + f.name, AgentLog.Format.JSON, logStream),
        new Agent.NodeEnvironment(runner, dev, dir.resolve("sys-block")),
        java.time.Clock.systemUTC(),
        Agent.DeviceWrappers.destination(destination));
  }
}
