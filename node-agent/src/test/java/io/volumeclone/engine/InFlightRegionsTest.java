package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class InFlightRegionsTest {

  static final int R = 4096;

  static TestingMemoryCloneMetadata metadata(int regions) {
    return new TestingMemoryCloneMetadata(
        new CloneGeometry(0, 0, (long) regions * R, R, (long) regions * R, (long) regions * R));
  }

  @Test
  void aRunStopsAtAnotherOwnerAndAtACopiedRegion() throws Exception {
    TestingMemoryCloneMetadata metadata = metadata(1000);
    InFlightRegions inFlight = new InFlightRegions();
    assertThat(inFlight.claimRun(10, 20, metadata)).isEqualTo(10);
    assertThat(inFlight.claimRun(0, 100, metadata)).as("stops before [10, 20)").isEqualTo(10);
    assertThat(inFlight.claimRun(15, 100, metadata)).as("15 is owned").isZero();
    metadata.setHydrated(150, 1);
    metadata.setHydrated(300, 1);
    assertThat(inFlight.claimRun(100, 1000, metadata)).as("stops at copied 150").isEqualTo(50);
    assertThat(inFlight.claimRun(300, 301, metadata)).as("300 is copied").isZero();
    assertThat(inFlight.claimRun(290, 295, metadata)).isEqualTo(5);
    assertThat(inFlight.isInFlight(149)).isTrue();
    assertThat(inFlight.isInFlight(150)).isFalse();
    assertThat(inFlight.isInFlight(300)).isFalse();
    assertThat(inFlight.size()).isEqualTo(4);

    inFlight.release(10, 10);
    assertThat(inFlight.isInFlight(15)).isFalse();
    assertThat(inFlight.claimRun(15, 100, metadata)).as("up to the claim at 100").isEqualTo(85);
  }

  @Test
  void waitersWakeWhenTheWholeClaimIsReleased() throws Exception {
    TestingMemoryCloneMetadata metadata = metadata(1 << 20);
    InFlightRegions inFlight = new InFlightRegions();
    assertThat(inFlight.claimRun(0, 1 << 20, metadata)).isEqualTo(1 << 20);
    CompletableFuture<Void> waiter = CompletableFuture.runAsync(() -> inFlight.awaitOwner(777_777));
    Thread.sleep(50);
    assertThat(waiter).isNotDone();
    inFlight.release(0, 1 << 20);
    waiter.get(10, TimeUnit.SECONDS);
    assertThat(inFlight.size()).isZero();
    inFlight.awaitOwner(777_777); // no owner: returns at once
  }

  @Test
  void aRunTakenFromTheCopierStaysClaimedAfterTheCopierReleasesAndIsSkippedByIt() throws Exception {
    TestingMemoryCloneMetadata metadata = metadata(100);
    InFlightRegions inFlight = new InFlightRegions();
    assertThat(inFlight.claimRun(0, 10, metadata)).isEqualTo(10);
    assertThat(inFlight.takeOver(2, 4, metadata)).as("a user claim gives nothing up").isNull();
    inFlight.release(0, 10);

    assertThat(inFlight.claimBackgroundRun(0, 10, metadata)).isEqualTo(10);
    InFlightRegions.Claim taken = inFlight.takeOver(2, 4, metadata);
    assertThat(taken).isNotNull();
    assertThat(taken.count()).isEqualTo(2);
    assertThat(inFlight.takeOver(3, 5, metadata)).as("3 is held by the first taker").isNull();
    CompletableFuture<Void> waiter = CompletableFuture.runAsync(() -> inFlight.awaitOwner(3));
    assertThat(inFlight.startWriting(0)).containsExactly(new long[] {2, 4});
    assertThat(inFlight.takeOver(6, 8, metadata)).as("the copier is writing").isNull();

    inFlight.release(0, 10);
    assertThat(inFlight.isInFlight(3)).as("still the user's").isTrue();
    assertThat(inFlight.isInFlight(5)).isFalse();
    assertThat(waiter).isNotDone();
    inFlight.releaseTakenOver(taken);
    waiter.get(10, TimeUnit.SECONDS);
    assertThat(inFlight.size()).isZero();
  }
}
