package io.volumeclone.agent;

import static io.volumeclone.agent.AgentFixture.NAMESPACE;
import static io.volumeclone.agent.AgentFixture.await;
import static io.volumeclone.agent.AgentFixture.conditionIs;
import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.CopySpec;
import io.volumeclone.api.v1alpha1.spec.MetadataRef;
import io.volumeclone.engine.MetadataReport;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The metadata is bound to its VolumeClone: a VolumeClone deleted and created again under the same
 * name never resumes the old one's metadata against its destination.
 */
class AgentIdentityTest {

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

  VolumeClone get(AgentFixture f) {
    return api.get(NAMESPACE, f.name);
  }

  void recreate(AgentFixture f, VolumeClone resource) throws Exception {
    api.client.resource(get(f)).delete();
    await("deleted", LIMIT, () -> get(f) == null);
    api.create(resource);
  }

  static void freshDestination(AgentFixture f) throws Exception {
    Files.delete(f.destination);
    try (FileChannel c =
        FileChannel.open(f.destination, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      c.write(ByteBuffer.allocate(1), f.size - 1);
    }
  }

  /** Slow from the start (a pause only lands once the agent applies the spec): still copying. */
  static CopySpec slow() {
    CopySpec c = new CopySpec();
    c.setBandwidth("1Mi");
    return c;
  }

  /** Runs until the first progress report, then stops: a clone deleted while it copies. */
  void runAndStop(AgentFixture f) throws Exception {
    Agent agent = f.agent(api, INTERVAL, logStream);
    CompletableFuture<Integer> run = AgentFixture.start(agent);
    await(
        "first run reports",
        LIMIT,
        () -> get(f).getStatus() != null && get(f).getStatus().getProgress() != null);
    agent.stop();
    assertThat(run.get(1, TimeUnit.MINUTES)).isEqualTo(Agent.EXIT_STOPPED);
  }

  @Test
  void aCloneRecreatedWithTheSameNameAndSizeCopiesAgainIntoItsFreshDestination() throws Exception {
    AgentFixture f = new AgentFixture(dir, "again", 8 * MiB);
    api.create(f.resource("64Ki", null));
    String firstUid = get(f).getMetadata().getUid();
    int first = AgentFixture.start(f.agent(api, INTERVAL, logStream)).get(2, TimeUnit.MINUTES);
    assertThat(first).as(logs.toString(StandardCharsets.UTF_8)).isZero();
    f.assertDestinationEqualsSource();

    recreate(f, f.resource("64Ki", null));
    String secondUid = get(f).getMetadata().getUid();
    assertThat(secondUid).isNotEqualTo(firstUid);
    freshDestination(f);
    int second = AgentFixture.start(f.agent(api, INTERVAL, logStream)).get(2, TimeUnit.MINUTES);

    assertThat(second).as(logs.toString(StandardCharsets.UTF_8)).isZero();
    // the old clone's "complete" must not stand for the new destination: it was copied again
    f.assertDestinationEqualsSource();
    MetadataReport md = f.inspectMetadata();
    assertThat(md.identity().owner()).contains(secondUid);
    assertThat(md.cutOver()).isTrue();
  }

  @Test
  void theDefaultMetadataOfACloneDeletedWhileCopyingIsRefusedNamingBoth() throws Exception {
    AgentFixture f = new AgentFixture(dir, "cancelled", 16 * MiB);
    api.create(f.resource("64Ki", slow()));
    String firstUid = get(f).getMetadata().getUid();
    runAndStop(f);
    byte[] before = Files.readAllBytes(f.state.resolve("metadata"));

    recreate(f, f.resource("64Ki", null));
    String secondUid = get(f).getMetadata().getUid();
    int exit = AgentFixture.start(f.agent(api, INTERVAL, logStream)).get(1, TimeUnit.MINUTES);

    assertThat(exit).isEqualTo(Agent.EXIT_PERMANENT);
    VolumeClone vc = get(f);
    assertThat(conditionIs(vc, ConditionTypes.DEGRADED, "True", "MetadataMismatch")).isTrue();
    assertThat(vc.getStatus().condition(ConditionTypes.DEGRADED).orElseThrow().getMessage())
        .contains(f.state.resolve("metadata").toString())
        .contains("uid " + firstUid)
        .contains("uid " + secondUid)
        .contains("Nothing was changed")
        .contains("remove " + f.state.resolve("metadata") + " on the clone's node");
    assertThat(Files.readAllBytes(f.state.resolve("metadata"))).isEqualTo(before);
  }

  @Test
  void aMetadataDeviceOfAnotherVolumeCloneIsAPermanentFailureNamingBoth() throws Exception {
    AgentFixture f = new AgentFixture(dir, "shared", 16 * MiB);
    Path metadata = dir.resolve("metadata.img");
    Files.write(metadata, new byte[0]);
    try (FileChannel c = FileChannel.open(metadata, StandardOpenOption.WRITE)) {
      c.write(ByteBuffer.allocate(1), (1 << 20) - 1);
    }
    VolumeClone resource = f.resource("64Ki", slow());
    resource.getSpec().setMetadata(MetadataRef.device(metadata.toString()));
    api.create(resource);
    String firstUid = get(f).getMetadata().getUid();
    runAndStop(f);
    byte[] before = Files.readAllBytes(metadata);

    VolumeClone again = f.resource("64Ki", null);
    again.getSpec().setMetadata(MetadataRef.device(metadata.toString()));
    recreate(f, again);
    String secondUid = get(f).getMetadata().getUid();
    int exit = AgentFixture.start(f.agent(api, INTERVAL, logStream)).get(1, TimeUnit.MINUTES);

    assertThat(exit).isEqualTo(Agent.EXIT_PERMANENT);
    VolumeClone vc = get(f);
    assertThat(conditionIs(vc, ConditionTypes.DEGRADED, "True", "MetadataMismatch")).isTrue();
    assertThat(vc.getStatus().condition(ConditionTypes.DEGRADED).orElseThrow().getMessage())
        .contains(metadata.toString())
        .contains("VolumeClone db/shared uid " + firstUid)
        .contains("VolumeClone db/shared uid " + secondUid)
        .contains(f.destination.toRealPath().toString());
    assertThat(Files.readAllBytes(metadata)).isEqualTo(before);
  }
}
