package io.volumeclone.agent;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two processes on one lease directory, as two agents on one node: the kernel's file locks carry
 * the lease across processes, a child's share follows ours, and a child killed with SIGKILL stops
 * counting at our next rebalance.
 */
class NodeBandwidthShareIT {

  private static final long MI = 1024 * 1024;
  private static final long BUDGET = 8 * MI;

  @TempDir Path dir;

  private Process child;

  @AfterEach
  void killChild() {
    if (child != null) {
      child.destroyForcibly();
    }
  }

  /** The child: holds a copying share and prints every limit it is given. */
  public static final class Holder {
    public static void main(String[] args) throws Exception {
      NodeBandwidthShare share =
          new NodeBandwidthShare(
              Path.of(args[0]),
              "ns",
              args[1],
              Long.parseLong(args[2]),
              Long.parseLong(args[3]),
              new NodeBandwidthShare.Listener() {
                @Override
                public void limitChanged(long bytesPerSecond, int copyingClones) {
                  System.out.println("limit=" + bytesPerSecond + " clones=" + copyingClones);
                  System.out.flush();
                }

                @Override
                public void failed(String message) {
                  System.out.println("failed: " + message);
                  System.out.flush();
                }
              });
      share.setCopying(true);
      share.start();
      Thread.sleep(Long.MAX_VALUE);
    }
  }

  private Process startChild(String name, long demand) throws IOException {
    String java = ProcessHandle.current().info().command().orElse("java");
    String classPath =
        System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    return new ProcessBuilder(
            List.of(
                java,
                "-Xmx64m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-cp",
                classPath,
                Holder.class.getName(),
                dir.resolve(NodeBandwidthShare.LEASE_DIRECTORY).toString(),
                name,
                Long.toString(BUDGET),
                Long.toString(demand)))
        .redirectErrorStream(true)
        .redirectOutput(dir.resolve(name + ".out").toFile())
        .start();
  }

  /** Waits (up to a minute, for a slow machine) until the child has printed {@code line}. */
  private void awaitChildLine(String name, String line) throws Exception {
    Path out = dir.resolve(name + ".out");
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
    while (System.nanoTime() < deadline) {
      if (Files.exists(out) && Files.readAllLines(out).contains(line)) {
        return;
      }
      if (!child.isAlive()) {
        break;
      }
      Thread.sleep(50);
    }
    throw new AssertionError(
        "the child never printed '"
            + line
            + "'; its output:\n"
            + (Files.exists(out) ? Files.readString(out) : "<none>"));
  }

  @Test
  void aLeaseHeldByAnotherProcessCountsUntilThatProcessIsKilled() throws Exception {
    child = startChild("other", 0);
    awaitChildLine("other", "limit=" + BUDGET + " clones=1");

    NodeBandwidthShareTest.Recorder recorder = new NodeBandwidthShareTest.Recorder();
    try (NodeBandwidthShare ours =
        new NodeBandwidthShare(
            dir.resolve(NodeBandwidthShare.LEASE_DIRECTORY), "ns", "ours", BUDGET, 0, recorder)) {
      ours.setCopying(true);
      assertThat(ours.limit()).isEqualTo(BUDGET / 2);
      assertThat(ours.copyingClones()).isEqualTo(2);
      // the child sees us at its next rebalance
      awaitChildLine("other", "limit=" + BUDGET / 2 + " clones=2");

      Path childLease = dir.resolve(NodeBandwidthShare.LEASE_DIRECTORY).resolve("ns_other.lock");
      assertThat(childLease).exists();
      child.destroyForcibly(); // SIGKILL: the kernel drops the child's lock
      assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();

      ours.rebalance();
      assertThat(ours.limit()).isEqualTo(BUDGET);
      assertThat(ours.copyingClones()).isEqualTo(1);
      assertThat(childLease).as("the killed child's lease is deleted as stale").doesNotExist();
      assertThat(recorder.limits).containsExactly(BUDGET / 2, BUDGET);
      assertThat(recorder.failures).isEmpty();
    }
  }

  @Test
  void anotherProcesssOwnLimitReachesUsThroughItsLease() throws Exception {
    child = startChild("slow", MI);
    awaitChildLine("slow", "limit=" + MI + " clones=1");
    try (NodeBandwidthShare ours =
        new NodeBandwidthShare(
            dir.resolve(NodeBandwidthShare.LEASE_DIRECTORY),
            "ns",
            "fast",
            BUDGET,
            0,
            new NodeBandwidthShareTest.Recorder())) {
      ours.setCopying(true);
      assertThat(ours.limit()).isEqualTo(BUDGET - MI);
      awaitChildLine("slow", "limit=" + MI + " clones=2");
    }
  }
}
