package io.volumeclone.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.CopySpec;
import io.volumeclone.api.v1alpha1.spec.DestinationRef;
import io.volumeclone.api.v1alpha1.spec.SourceRef;
import io.volumeclone.api.v1alpha1.spec.VolumeCloneSpec;
import io.volumeclone.engine.DiskCloneMetadata;
import io.volumeclone.engine.FileBlockDevice;
import io.volumeclone.engine.MetadataReport;
import io.volumeclone.nbd.TestingCommandRunner;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;

/** File-backed devices for one clone, its VolumeClone, and an in-process agent on them. */
final class AgentFixture {

  static final String NAMESPACE = "db";

  final Path dir;
  final Path source;
  final Path destination;
  final Path state;
  final String name;
  final long size;

  AgentFixture(Path dir, String name, long size) throws IOException {
    this.dir = dir;
    this.name = name;
    this.size = size;
    this.source = dir.resolve("source.img");
    this.destination = dir.resolve("destination.img");
    this.state = dir.resolve("state");
    writeSource(source, size, name.hashCode());
    try (FileChannel c =
        FileChannel.open(destination, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      c.truncate(size);
      c.write(ByteBuffer.allocate(1), size - 1);
    }
  }

  /** Random data in every other MiB, zeroes (a hole) in the rest: real work and sparse parts. */
  static void writeSource(Path path, long size, long seed) throws IOException {
    Random random = new Random(seed);
    byte[] chunk = new byte[1 << 20];
    try (FileChannel c =
        FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      for (long at = 0; at < size; at += chunk.length) {
        if ((at >> 20) % 2 == 0) {
          random.nextBytes(chunk);
          c.write(ByteBuffer.wrap(chunk, 0, (int) Math.min(chunk.length, size - at)), at);
        }
      }
      c.truncate(size);
      if (c.size() < size) {
        c.write(ByteBuffer.allocate(1), size - 1);
      }
    }
  }

  VolumeClone resource(String regionSize, CopySpec copy) {
    VolumeCloneSpec spec = new VolumeCloneSpec();
    spec.setNodeName("node-1");
    spec.setSource(SourceRef.device(source.toString()));
    spec.setDestination(DestinationRef.device(destination.toString()));
    spec.setRegionSize(regionSize);
    spec.setCopy(copy);
    return new VolumeClone(NAMESPACE, name, spec);
  }

  AgentSettings settings(Duration interval) {
    return new AgentSettings(
        name, NAMESPACE, state, interval, 0, dir.resolve("pvc"), AgentLog.Format.JSON, 0, null);
  }

  /** An agent on a node without nbd and device-mapper. */
  Agent agent(MockApi api, Duration interval, PrintStream logs) {
    return agent(api, interval, logs, Agent.DeviceWrappers.NONE);
  }

  Agent agent(MockApi api, Duration interval, PrintStream logs, Agent.DeviceWrappers wrappers) {
    return new Agent(
        settings(interval),
        api.client,
        new AgentLog(NAMESPACE + "/" + name, AgentLog.Format.JSON, logs),
        new Agent.NodeEnvironment(
            new TestingCommandRunner(), dir.resolve("dev"), dir.resolve("sys-block")),
        Clock.systemUTC(),
        wrappers);
  }

  static CompletableFuture<Integer> start(Agent agent) {
    CompletableFuture<Integer> exit = new CompletableFuture<>();
    Thread t =
        new Thread(
            () -> {
              try {
                exit.complete(agent.run());
              } catch (Throwable e) {
                exit.completeExceptionally(e);
              }
            },
            "agent-under-test");
    t.setDaemon(true);
    t.start();
    return exit;
  }

  MetadataReport inspectMetadata() throws IOException {
    try (FileBlockDevice device = FileBlockDevice.openReadOnly(state.resolve("metadata"))) {
      return DiskCloneMetadata.inspect(device);
    }
  }

  void assertDestinationEqualsSource() throws IOException {
    assertThat(Files.size(destination)).isEqualTo(Files.size(source));
    long mismatch = Files.mismatch(source, destination);
    assertThat(mismatch).as("first differing byte of source and destination").isEqualTo(-1L);
  }

  /** Polls {@code condition} every 50 ms until it holds; fails after {@code limit}. */
  static void await(String what, Duration limit, BooleanSupplier condition)
      throws InterruptedException {
    long deadline = System.nanoTime() + limit.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out after " + limit + " waiting for " + what);
      }
      Thread.sleep(50);
    }
  }

  static boolean conditionIs(VolumeClone vc, String type, String status, String reason) {
    return vc != null
        && vc.getStatus() != null
        && vc.getStatus()
            .condition(type)
            .map(
                c ->
                    status.equals(c.getStatus())
                        && (reason == null || reason.equals(c.getReason())))
            .orElse(false);
  }

  static byte[] bytes(Path p) throws IOException {
    return Files.readAllBytes(p);
  }

  static boolean same(byte[] a, byte[] b) {
    return Arrays.equals(a, b);
  }
}
