package io.volumeclone.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Several shares in one JVM on one lease directory stand for several agents on one node; every test
 * rebalances explicitly, so nothing depends on timing.
 */
class NodeBandwidthShareTest {

  private static final long MI = 1024 * 1024;
  private static final long BUDGET = 8 * MI;

  @TempDir Path stateRoot;

  private final List<NodeBandwidthShare> shares = new ArrayList<>();

  @AfterEach
  void closeAll() {
    shares.forEach(NodeBandwidthShare::close);
  }

  /** Records every limit it is told. */
  static final class Recorder implements NodeBandwidthShare.Listener {
    final List<Long> limits = new ArrayList<>();
    final List<Integer> clones = new ArrayList<>();
    final List<String> failures = new ArrayList<>();

    @Override
    public void limitChanged(long bytesPerSecond, int copyingClones) {
      limits.add(bytesPerSecond);
      clones.add(copyingClones);
    }

    @Override
    public void failed(String message) {
      failures.add(message);
    }
  }

  private Path leases() {
    return stateRoot.resolve(NodeBandwidthShare.LEASE_DIRECTORY);
  }

  /**
   * What a killed agent leaves: its lease file as it was, with nobody holding the lock (the kernel
   * dropped it). NodeBandwidthShareIT kills a real process for the same.
   */
  private void crash(NodeBandwidthShare share, String name) throws IOException {
    Path lease = leases().resolve("ns_" + name + NodeBandwidthShare.LEASE_SUFFIX);
    String left = Files.readString(lease);
    share.close();
    Files.writeString(lease, left);
  }

  private NodeBandwidthShare share(String name, long budget, long demand, Recorder recorder) {
    NodeBandwidthShare s = new NodeBandwidthShare(leases(), "ns", name, budget, demand, recorder);
    shares.add(s);
    return s;
  }

  private NodeBandwidthShare share(String name) {
    return share(name, BUDGET, 0, new Recorder());
  }

  private static void rebalanceAll(NodeBandwidthShare... all) {
    for (NodeBandwidthShare s : all) {
      s.rebalance();
    }
  }

  @Test
  void twoCopyingClonesGetHalfTheBudgetEachAndThreeAThird() {
    NodeBandwidthShare a = share("a");
    NodeBandwidthShare b = share("b");
    a.setCopying(true);
    assertThat(a.limit()).isEqualTo(BUDGET);
    assertThat(a.copyingClones()).isEqualTo(1);

    b.setCopying(true);
    rebalanceAll(a, b);
    assertThat(a.limit()).isEqualTo(BUDGET / 2);
    assertThat(b.limit()).isEqualTo(BUDGET / 2);
    assertThat(a.copyingClones()).isEqualTo(2);
    assertThat(b.copyingClones()).isEqualTo(2);
    assertThat(Files.exists(leases().resolve("ns_a.lock"))).isTrue();
    assertThat(Files.exists(leases().resolve("ns_b.lock"))).isTrue();

    NodeBandwidthShare c = share("c");
    c.setCopying(true);
    rebalanceAll(a, b, c);
    for (NodeBandwidthShare s : List.of(a, b, c)) {
      assertThat(s.limit()).isEqualTo(BUDGET / 3);
      assertThat(s.copyingClones()).isEqualTo(3);
    }
  }

  @Test
  void aCloneThatStopsCopyingGivesItsShareBackAndRemovesItsLease() {
    Recorder recordA = new Recorder();
    NodeBandwidthShare a = share("a", BUDGET, 0, recordA);
    NodeBandwidthShare b = share("b");
    a.setCopying(true);
    b.setCopying(true);
    rebalanceAll(a, b);
    assertThat(a.limit()).isEqualTo(BUDGET / 2);

    b.setCopying(false); // paused or copied
    assertThat(b.holdsLease()).isFalse();
    assertThat(Files.exists(leases().resolve("ns_b.lock"))).isFalse();
    a.rebalance();
    assertThat(a.limit()).isEqualTo(BUDGET);
    assertThat(a.copyingClones()).isEqualTo(1);
    assertThat(recordA.limits).containsExactly(BUDGET, BUDGET / 2, BUDGET);
    assertThat(recordA.clones).containsExactly(1, 2, 1);

    // not copying, b is told what it would get on joining
    b.rebalance();
    assertThat(b.limit()).isEqualTo(BUDGET / 2);
    assertThat(b.copyingClones()).isEqualTo(1);

    b.setCopying(true); // resumed
    a.rebalance();
    assertThat(a.limit()).isEqualTo(BUDGET / 2);
    assertThat(b.limit()).isEqualTo(BUDGET / 2);
  }

  @Test
  void aCrashedHoldersLeaseIsIgnoredAndDeleted() throws Exception {
    NodeBandwidthShare a = share("a");
    NodeBandwidthShare b = share("b");
    a.setCopying(true);
    b.setCopying(true);
    rebalanceAll(a, b);
    assertThat(a.limit()).isEqualTo(BUDGET / 2);

    crash(b, "b");
    Path stale = leases().resolve("ns_b.lock");
    assertThat(Files.exists(stale)).isTrue();

    a.rebalance();
    assertThat(a.limit()).isEqualTo(BUDGET);
    assertThat(a.copyingClones()).isEqualTo(1);
    assertThat(Files.exists(stale)).as("stale lease deleted").isFalse();
  }

  @Test
  void aLeftoverFileNobodyLocksDoesNotCount() throws Exception {
    Files.createDirectories(leases());
    Files.writeString(leases().resolve("ns_gone.lock"), "pid=0000000001 token=x bandwidth=0\n");
    NodeBandwidthShare a = share("a");
    a.setCopying(true);
    assertThat(a.limit()).isEqualTo(BUDGET);
    assertThat(Files.exists(leases().resolve("ns_gone.lock"))).isFalse();
  }

  @Test
  void aRestartedAgentOfTheSameCloneTakesItsLeaseAgain() throws Exception {
    NodeBandwidthShare first = share("a");
    NodeBandwidthShare other = share("b");
    first.setCopying(true);
    other.setCopying(true);
    crash(first, "a");

    NodeBandwidthShare second = share("a");
    second.setCopying(true);
    assertThat(second.holdsLease()).isTrue();
    other.rebalance();
    assertThat(other.limit()).isEqualTo(BUDGET / 2);
    assertThat(second.limit()).isEqualTo(BUDGET / 2);
  }

  @Test
  void ownLimitsBelowTheEqualShareLeaveTheRestToTheOthers() {
    NodeBandwidthShare slow = share("slow", BUDGET, MI, new Recorder());
    NodeBandwidthShare fast = share("fast");
    slow.setCopying(true);
    fast.setCopying(true);
    rebalanceAll(slow, fast);
    assertThat(slow.limit()).isEqualTo(MI);
    assertThat(fast.limit()).isEqualTo(BUDGET - MI);

    // an own limit above the equal share is capped at the share
    slow.setDemand(6 * MI);
    fast.rebalance();
    assertThat(slow.limit()).isEqualTo(BUDGET / 2);
    assertThat(fast.limit()).isEqualTo(BUDGET / 2);

    // the demand travels through the lease file
    assertThat(leases().resolve("ns_slow.lock"))
        .content()
        .contains("bandwidth=0000000000006291456");
  }

  @Test
  void withoutABudgetTheOwnLimitAppliesAndNoFileIsTouched() {
    Recorder recorder = new Recorder();
    NodeBandwidthShare a = share("a", 0, 3 * MI, recorder);
    a.setCopying(true);
    assertThat(a.limit()).isEqualTo(3 * MI);
    a.setDemand(0);
    assertThat(a.limit()).isZero();
    assertThat(recorder.limits).containsExactly(3 * MI, 0L);
    assertThat(Files.exists(leases())).isFalse();
  }

  @Test
  void theListenerHearsOnlyChanges() {
    Recorder recorder = new Recorder();
    NodeBandwidthShare a = share("a", BUDGET, 0, recorder);
    a.setCopying(true);
    a.rebalance();
    a.rebalance();
    assertThat(recorder.limits).containsExactly(BUDGET);
    assertThat(recorder.failures).isEmpty();
  }

  @Test
  void closeGivesTheLeaseBack() {
    NodeBandwidthShare a = share("a");
    a.setCopying(true);
    assertThat(Files.exists(a.leaseFile())).isTrue();
    a.close();
    assertThat(Files.exists(a.leaseFile())).isFalse();
    assertThat(a.holdsLease()).isFalse();
  }

  @Test
  void maxMinFairShares() {
    assertThat(NodeBandwidthShare.limitFor(900, 0, List.of(0L, 0L, 0L))).isEqualTo(300);
    assertThat(NodeBandwidthShare.limitFor(900, 100, List.of(100L, 0L, 0L))).isEqualTo(100);
    assertThat(NodeBandwidthShare.limitFor(900, 0, List.of(100L, 0L, 0L))).isEqualTo(400);
    assertThat(NodeBandwidthShare.limitFor(900, 0, List.of(100L, 200L, 0L))).isEqualTo(600);
    // every clone limited below its share: each gets its own limit
    assertThat(NodeBandwidthShare.limitFor(900, 200, List.of(100L, 200L))).isEqualTo(200);
    // own limits that use the whole budget exactly (the demo: 8Mi clone, 8Mi node budget)
    assertThat(NodeBandwidthShare.limitFor(8 << 20, 8 << 20, List.of(8L << 20))).isEqualTo(8 << 20);
    assertThat(NodeBandwidthShare.limitFor(900, 300, List.of(300L, 600L))).isEqualTo(300);
    assertThat(NodeBandwidthShare.limitFor(900, 600, List.of(300L, 600L))).isEqualTo(600);
    // never 0, which would mean unlimited
    assertThat(NodeBandwidthShare.limitFor(2, 0, List.of(0L, 0L, 0L))).isEqualTo(1);
  }

  @Test
  void aNegativeBudgetOrLimitIsRefused() {
    assertThatThrownBy(() -> share("a", -1, 0, new Recorder()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("node bandwidth budget");
    assertThatThrownBy(() -> share("a").setDemand(-5))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("bandwidth must be >= 0");
  }
}
