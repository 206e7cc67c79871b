package io.volumeclone.agent;

import static io.volumeclone.agent.AgentFixture.NAMESPACE;
import static io.volumeclone.agent.AgentFixture.await;
import static io.volumeclone.agent.AgentFixture.conditionIs;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.Access;
import io.volumeclone.api.v1alpha1.spec.CopySpec;
import io.volumeclone.api.v1alpha1.spec.CutoverMode;
import io.volumeclone.api.v1alpha1.spec.DestinationRef;
import io.volumeclone.api.v1alpha1.spec.SourceRef;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import io.volumeclone.contract.AgentFailures;
import io.volumeclone.nbd.TestingCommandRunner;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Permanent and transient failures as the operator sees them (the Degraded condition and the exit
 * code), and copy-on-read switched while the clone runs. In-process against the mock API server.
 */
class AgentFailureTest {

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

  static CopySpec paused() {
    CopySpec c = new CopySpec();
    c.setPaused(true);
    return c;
  }

  int runToEnd(AgentFixture f) throws Exception {
    return AgentFixture.start(f.agent(api, INTERVAL, logStream)).get(1, TimeUnit.MINUTES);
  }

  @Test
  void aDestinationTooSmallIsPermanentDegradedWithTheReasonAndExitThree() throws Exception {
    AgentFixture f = new AgentFixture(dir, "small", 4 * MiB);
    Path small = dir.resolve("small.img");
    try (FileChannel c =
        FileChannel.open(small, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      c.write(ByteBuffer.allocate(1), MiB - 1);
    }
    VolumeClone resource = f.resource("64Ki", null);
    resource.getSpec().setDestination(DestinationRef.device(small.toString()));
    api.create(resource);

    int exit = runToEnd(f);

    assertThat(exit).as(logText()).isEqualTo(Agent.EXIT_PERMANENT).isEqualTo(3);
    VolumeClone vc = api.get(NAMESPACE, f.name);
    var degraded = vc.getStatus().condition(ConditionTypes.DEGRADED).orElseThrow();
    assertThat(degraded.getStatus()).isEqualTo("True");
    assertThat(degraded.getReason()).isEqualTo(AgentFailures.INVALID_GEOMETRY);
    assertThat(AgentFailures.permanent(degraded.getReason())).isTrue();
    assertThat(degraded.getMessage()).contains(small.toString()).contains("too small");
    assertThat(conditionIs(vc, ConditionTypes.AVAILABLE, "False", "AgentFailed")).isTrue();
    assertThat(Files.readAllBytes(small)).containsOnly((byte) 0);
    assertThat(logText()).contains("\"permanent\":true");
  }

  @Test
  void aMissingDeviceIsTransientExitOneAndTheNextRunSucceeds() throws Exception {
    AgentFixture f = new AgentFixture(dir, "late", 2 * MiB);
    Path moved = dir.resolve("destination.later");
    Files.move(f.destination, moved);
    api.create(f.resource("64Ki", null));

    int first = runToEnd(f);

    assertThat(first).as(logText()).isEqualTo(Agent.EXIT_FAILED);
    VolumeClone vc = api.get(NAMESPACE, f.name);
    var degraded = vc.getStatus().condition(ConditionTypes.DEGRADED).orElseThrow();
    assertThat(degraded.getReason()).isEqualTo("DeviceUnavailable");
    assertThat(AgentFailures.permanent(degraded.getReason())).isFalse();
    assertThat(degraded.getMessage()).contains(f.destination.toString());

    // The device appears; the kubelet's restart (here: a new run) copies and cuts over.
    Files.move(moved, f.destination);
    assertThat(runToEnd(f)).as(logText()).isEqualTo(Agent.EXIT_CUT_OVER);
    vc = api.get(NAMESPACE, f.name);
    assertThat(conditionIs(vc, ConditionTypes.DEGRADED, "False", "NoErrors")).isTrue();
    assertThat(conditionIs(vc, ConditionTypes.CUT_OVER, "True", "CutOver")).isTrue();
    f.assertDestinationEqualsSource();
  }

  @Test
  void aRunAfterARecordedPermanentFailureOpensNothingAndExitsThree() throws Exception {
    AgentFixture f = new AgentFixture(dir, "again", 2 * MiB);
    api.create(f.resource("64Ki", null));
    // What an earlier run reported before the kubelet restarted the container.
    VolumeClone vc = api.get(NAMESPACE, f.name);
    VolumeCloneStatus s = new VolumeCloneStatus();
    s.setConditions(
        List.of(
            new ConditionBuilder()
                .withType(ConditionTypes.DEGRADED)
                .withStatus("True")
                .withReason(AgentFailures.IDENTITY_CHANGED)
                .withMessage("spec.regionSize (64Ki -> 128Ki) changed while the clone runs")
                .withLastTransitionTime("2026-01-01T00:00:00Z")
                .build()));
    vc.setStatus(s);
    api.client.resource(vc).updateStatus();

    int exit = runToEnd(f);

    assertThat(exit).as(logText()).isEqualTo(Agent.EXIT_PERMANENT);
    assertThat(logText()).contains("an earlier run failed permanently (IdentityChanged");
    assertThat(Files.exists(f.state.resolve("metadata"))).as("no metadata created").isFalse();
    assertThat(Files.readAllBytes(f.destination)).containsOnly((byte) 0);
    // The earlier report stands as it was.
    assertThat(api.get(NAMESPACE, f.name).getStatus().getConditions())
        .singleElement()
        .satisfies(c -> assertThat(c.getReason()).isEqualTo(AgentFailures.IDENTITY_CHANGED));
  }

  @Test
  void copyOnReadChangesWhileTheCloneRuns() throws Exception {
    AgentFixture f = new AgentFixture(dir, "cor", 4 * MiB);
    CopySpec copy = paused();
    copy.setBatchRegions(16);
    copy.setRegionsInFlight(8);
    api.create(f.resource("64Ki", copy));
    Agent agent = f.agent(api, INTERVAL, logStream);
    CompletableFuture<Integer> exit = AgentFixture.start(agent);
    await("the clone runs", LIMIT, () -> agent.runningClone() != null);
    var clone = agent.runningClone();
    assertThat(clone.copyOnRead()).isFalse();
    // Paused from the start: the copier never starts a batch (it used to start one before the
    // spec's pause was applied, which copied up to a batch behind the test's back).
    await(
        "the paused copier settled",
        LIMIT,
        () -> {
          var st = clone.status();
          return st.paused() && st.regionsCopied() == st.regionsCommitted();
        });
    long base = clone.status().regionsCopied();
    assertThat(base).as("regions copied by a clone created paused").isZero();
    long last = f.size - 64 * 1024;

    // Off: a read of an uncopied region is served from the source and copies nothing.
    clone.read(last, ByteBuffer.allocate(4096));
    assertThat(clone.status().regionsCopied()).isEqualTo(base);

    api.edit(
        NAMESPACE,
        f.name,
        vc -> {
          vc.getSpec().getCopy().setCopyOnRead(true);
          return vc;
        });
    await("copy-on-read on", LIMIT, clone::copyOnRead);
    clone.read(last, ByteBuffer.allocate(4096));
    assertThat(clone.status().regionsCopied()).as("the region read was copied").isEqualTo(base + 1);

    api.edit(
        NAMESPACE,
        f.name,
        vc -> {
          vc.getSpec().getCopy().setCopyOnRead(false);
          return vc;
        });
    await("copy-on-read off", LIMIT, () -> !clone.copyOnRead());
    clone.read(last - 64 * 1024, ByteBuffer.allocate(4096));
    assertThat(clone.status().regionsCopied()).isEqualTo(base + 1);
    assertThat(logText()).contains("\"event\":\"copy-on-read\"");

    agent.stop();
    assertThat(exit.get(1, TimeUnit.MINUTES)).isEqualTo(Agent.EXIT_STOPPED);
  }

  @Test
  void hotRegionsFirstFollowsTheSpecWhileTheCloneRuns() throws Exception {
    AgentFixture f = new AgentFixture(dir, "hot", 4 * MiB);
    CopySpec copy = paused();
    copy.setHotRegionsFirst(false);
    api.create(f.resource("64Ki", copy));
    Agent agent = f.agent(api, INTERVAL, logStream);
    CompletableFuture<Integer> exit = AgentFixture.start(agent);
    await("the clone runs", LIMIT, () -> agent.runningClone() != null);
    var clone = agent.runningClone();
    assertThat(clone.tuning().hotRegionsFirst()).as("opened as the spec says").isFalse();

    api.edit(
        NAMESPACE,
        f.name,
        vc -> {
          vc.getSpec().getCopy().setHotRegionsFirst(null); // unset: the default, on
          return vc;
        });
    await("hot regions first on", LIMIT, () -> clone.tuning().hotRegionsFirst());
    assertThat(logText()).contains("\"event\":\"hot-regions-first\"");

    agent.stop();
    assertThat(exit.get(1, TimeUnit.MINUTES)).isEqualTo(Agent.EXIT_STOPPED);
  }

  /** Real metadata whose commits fail, once armed, as a failing metadata device's would. */
  static io.volumeclone.engine.CloneMetadata failingCommits(
      io.volumeclone.engine.CloneMetadata delegate,
      java.util.concurrent.atomic.AtomicBoolean armed) {
    return new io.volumeclone.engine.ForwardingCloneMetadata(delegate) {
      @Override
      public void commit(IoAction flushDestination) throws java.io.IOException {
        if (armed.get()) {
          java.io.IOException e =
              new java.io.IOException("metadata write at offset 40960 failed (testing)");
          delegate.abort("write bitmap block", e);
          throw e;
        }
        super.commit(flushDestination);
      }
    };
  }

  @Test
  void aReadOnlyMetadataKeepsTheExportServingAndDegradedSaysWhyUntilStopped() throws Exception {
    AgentFixture f = new AgentFixture(dir, "readonly", 16 * MiB);
    CopySpec slow = new CopySpec();
    slow.setBandwidth("1Mi");
    api.create(f.resource("64Ki", slow));
    java.util.concurrent.atomic.AtomicBoolean armed =
        new java.util.concurrent.atomic.AtomicBoolean();
    Agent agent =
        f.agent(
            api, INTERVAL, logStream, Agent.DeviceWrappers.metadata(m -> failingCommits(m, armed)));
    CompletableFuture<Integer> exit = AgentFixture.start(agent);
    await(
        "Available=True",
        LIMIT,
        () ->
            conditionIs(
                api.get(NAMESPACE, f.name), ConditionTypes.AVAILABLE, "True", "ExportServing"));
    armed.set(true);
    await(
        "Degraded=True MetadataReadOnly",
        LIMIT,
        () ->
            conditionIs(
                api.get(NAMESPACE, f.name), ConditionTypes.DEGRADED, "True", "MetadataReadOnly"));
    VolumeClone vc = api.get(NAMESPACE, f.name);
    assertThat(vc.getStatus().condition(ConditionTypes.DEGRADED).orElseThrow().getMessage())
        .contains("metadata write at offset 40960 failed (testing)");
    assertThat(vc.getStatus().getMetadataMode())
        .isEqualTo(VolumeCloneStatus.METADATA_MODE_READ_ONLY);

    Thread.sleep(3000);
    assertThat(exit.isDone()).as(logText()).isFalse();
    assertThat(
            conditionIs(
                api.get(NAMESPACE, f.name), ConditionTypes.AVAILABLE, "True", "ExportServing"))
        .isTrue();
    byte[] expected = new byte[1 << 20];
    ByteBuffer.wrap(Files.readAllBytes(f.source), 9 << 20, 1 << 20).get(expected);
    ByteBuffer got = ByteBuffer.allocate(1 << 20);
    try (io.volumeclone.nbd.NbdBlockDevice client =
        io.volumeclone.nbd.NbdBlockDevice.open(vc.getStatus().getExport().getUri())) {
      client.read(9L << 20, got);
    }
    assertThat(got.array()).isEqualTo(expected);

    agent.stop();
    assertThat(exit.get(1, TimeUnit.MINUTES)).as(logText()).isEqualTo(Agent.EXIT_STOPPED);
  }

  @Test
  void aFailedManualCutoverIsATransientFailureNotAStop() throws Exception {
    AgentFixture f = new AgentFixture(dir, "nocut", 4 * MiB);
    VolumeClone resource = f.resource("64Ki", null);
    resource.getSpec().setCutover(CutoverMode.Manual);
    api.create(resource);
    Agent agent =
        f.agent(
            api,
            INTERVAL,
            logStream,
            Agent.DeviceWrappers.metadata(TestingFailingCutoverMetadata::new));
    CompletableFuture<Integer> exit = AgentFixture.start(agent);
    await(
        "CutOver=False AwaitingApproval",
        LIMIT,
        () ->
            conditionIs(
                api.get(NAMESPACE, f.name), ConditionTypes.CUT_OVER, "False", "AwaitingApproval"));

    api.edit(
        NAMESPACE,
        f.name,
        vc -> {
          vc.getSpec().setCutoverApproved(true);
          return vc;
        });

    assertThat(exit.get(1, TimeUnit.MINUTES)).as(logText()).isEqualTo(Agent.EXIT_FAILED);
    VolumeClone vc = api.get(NAMESPACE, f.name);
    var degraded = vc.getStatus().condition(ConditionTypes.DEGRADED).orElseThrow();
    assertThat(degraded.getStatus()).isEqualTo("True");
    assertThat(degraded.getReason()).isEqualTo("CutoverFailed");
    assertThat(AgentFailures.permanent(degraded.getReason())).isFalse();
    assertThat(degraded.getMessage())
        .contains(f.destination.toString())
        .contains(TestingFailingCutoverMetadata.ERROR);
    assertThat(conditionIs(vc, ConditionTypes.AVAILABLE, "False", "AgentStopped")).isFalse();
    assertThat(logText()).doesNotContain("stop requested");
    assertThat(f.inspectMetadata().complete()).isTrue();
    assertThat(f.inspectMetadata().cutOver()).isFalse();
  }

  @Test
  void anErrorAfterTheNodeAttachDetachesTheKernelDevices() throws Exception {
    AgentFixture f = new AgentFixture(dir, "attached", 4 * MiB);
    Path dev = Files.createDirectories(dir.resolve("dev"));
    Files.createFile(dev.resolve("nbd0"));
    Files.createDirectories(dir.resolve("sys-block"));
    VolumeClone resource = f.resource("64Ki", paused());
    resource.getSpec().setAccess(Access.Immediate);
    VolumeClone created = api.create(resource);
    TestingCommandRunner runner = new TestingCommandRunner("nbd-client", "dmsetup");
    Agent agent =
        new Agent(
            f.settings(INTERVAL),
            api.client,
            new AgentLog(NAMESPACE + "/" + f.name, AgentLog.Format.JSON, logStream),
            new Agent.NodeEnvironment(runner, dev, dir.resolve("sys-block")),
            Clock.systemUTC());
    // the agent's watch of its VolumeClone cannot start: the run fails after the attach
    api.dispatcher.refuseLists(true);

    int exit = AgentFixture.start(agent).get(1, TimeUnit.MINUTES);

    assertThat(exit).as(logText()).isEqualTo(Agent.EXIT_FAILED);
    String mapper = "volume-clone-" + created.getMetadata().getUid();
    assertThat(runner.commands())
        .as(logText())
        .containsExactly(
            "nbd-client -unix " + f.state.resolve("nbd.sock") + " " + dev.resolve("nbd0"),
            "dmsetup create " + mapper + " --table 0 8192 linear " + dev.resolve("nbd0") + " 0",
            "dmsetup mknodes " + mapper,
            "dmsetup remove " + mapper,
            "dmsetup mknodes",
            "nbd-client -d " + dev.resolve("nbd0"));
  }

  @Test
  void anNbdUriTheClientCannotTakeIsAPermanentInvalidSpec() throws Exception {
    AgentFixture f = new AgentFixture(dir, "tls", 2 * MiB);
    VolumeClone resource = f.resource("64Ki", null);
    // an API server without the CRD's pattern (or a CRD from before it) let this through
    resource.getSpec().setSource(SourceRef.nbd("nbds://backup/db"));
    api.create(resource);

    int exit = runToEnd(f);

    assertThat(exit).as(logText()).isEqualTo(Agent.EXIT_PERMANENT);
    var degraded =
        api.get(NAMESPACE, f.name).getStatus().condition(ConditionTypes.DEGRADED).orElseThrow();
    assertThat(degraded.getReason()).isEqualTo(AgentFailures.INVALID_SPEC);
    assertThat(degraded.getMessage())
        .contains("spec.source.nbd.uri")
        .contains("nbds://backup/db")
        .contains("TLS");
    assertThat(Files.readAllBytes(f.destination)).containsOnly((byte) 0);
  }
}
