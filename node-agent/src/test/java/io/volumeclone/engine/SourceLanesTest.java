package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** How long the copier yields to user reads of the source. */
class SourceLanesTest {

  final SourceLanes lanes = new SourceLanes();

  /**
   * Nanoseconds until the copier's turn while overlapping user reads keep coming: besides the ones
   * the test holds, one more begins and completes every millisecond.
   */
  private long copierWaitWhileUserReadsKeepComing() throws Exception {
    long started = System.nanoTime();
    CompletableFuture<Long> turn =
        CompletableFuture.supplyAsync(
            () -> {
              lanes.awaitBackgroundTurn();
              return System.nanoTime();
            });
    while (!turn.isDone() && System.nanoTime() - started < TimeUnit.SECONDS.toNanos(30)) {
      lanes.userBegin();
      lanes.userEnd();
      Thread.sleep(1);
    }
    return turn.get(1, TimeUnit.SECONDS) - started;
  }

  @Test
  void aCopierPieceGoesAfterTheBoundWhileUserReadsKeepTheSourceBusy() throws Exception {
    lanes.userBegin();
    long waited = copierWaitWhileUserReadsKeepComing();
    assertThat(lanes.userReads()).as("a user read was at the source all along").isEqualTo(1);
    assertThat(waited).isGreaterThanOrEqualTo(SourceLanes.BACKGROUND_WAIT_PER_USER_READ_NANOS);
    lanes.backgroundDone();
    lanes.userEnd();
  }

  @Test
  void theMoreUserReadsAreAtTheSourceTheLongerTheCopierYields() throws Exception {
    int held = 8;
    for (int i = 0; i < held; i++) {
      lanes.userBegin();
    }
    long waited = copierWaitWhileUserReadsKeepComing();
    assertThat(waited)
        .isGreaterThanOrEqualTo(held * SourceLanes.BACKGROUND_WAIT_PER_USER_READ_NANOS);
    lanes.backgroundDone();
    for (int i = 0; i < held; i++) {
      lanes.userEnd();
    }
  }

  @Test
  void aUserReadThatDoesNotReturnHoldsTheCopier() throws Exception {
    lanes.userBegin();
    CompletableFuture<Void> turn = CompletableFuture.runAsync(lanes::awaitBackgroundTurn);
    Thread.sleep(
        TimeUnit.NANOSECONDS.toMillis(20 * SourceLanes.BACKGROUND_WAIT_PER_USER_READ_NANOS));

    assertThat(turn).as("no user read completed, so the copier still waits").isNotDone();
    assertThat(lanes.backgroundWaiting()).isEqualTo(1);
    lanes.userEnd();
    turn.get(30, TimeUnit.SECONDS);
    lanes.backgroundDone();
  }

  @Test
  void anIdleSourceGivesTheCopierItsTurnAtOnceForAWholePiece() throws Exception {
    assertThat(CompletableFuture.supplyAsync(lanes::awaitBackgroundTurn).get(30, TimeUnit.SECONDS))
        .isEqualTo(SourceLanes.BACKGROUND_PIECE);
    assertThat(lanes.backgroundWaiting()).isZero();
  }

  @Test
  void aPieceBesideManyUserReadsIsSmallerAndStaysAligned() {
    assertThat(SourceLanes.pieceBeside(0)).isEqualTo(SourceLanes.BACKGROUND_PIECE);
    assertThat(SourceLanes.pieceBeside(2)).isEqualTo(SourceLanes.BACKGROUND_PIECE);
    assertThat(SourceLanes.pieceBeside(8)).isEqualTo(SourceLanes.BACKGROUND_PIECE / 4);
    assertThat(SourceLanes.pieceBeside(7))
        .isEqualTo(SourceLanes.BACKGROUND_PIECE / 3 / (16 << 10) * (16 << 10));
    assertThat(SourceLanes.pieceBeside(32)).isEqualTo(SourceLanes.SMALLEST_PIECE_BESIDE_USERS);
    assertThat(SourceLanes.pieceBeside(1000)).isEqualTo(SourceLanes.SMALLEST_PIECE_BESIDE_USERS);
    for (int users = 0; users < 100; users++) {
      assertThat(SourceLanes.pieceBeside(users) % 4096).isZero();
    }
  }
}
