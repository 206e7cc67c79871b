package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class TokenBucketTest {

  private static final long KiB = 1024;

  @Test
  void aTakeBeyondTheBurstIsDebtSleptOffAtTheRate() {
    TokenBucket bucket = new TokenBucket(64 * KiB);
    long waitNanos = bucket.take(640 * KiB);
    // 640 KiB at 64 KiB/s, less the burst (a tenth of a second) that may have refilled meanwhile
    assertThat(Duration.ofNanos(waitNanos))
        .isBetween(Duration.ofMillis(9_800), Duration.ofSeconds(10));
  }

  @Test
  void raisingTheRateEndsTheSleepOfATakerInDebtAtTheOldRate() throws Exception {
    TokenBucket bucket = new TokenBucket(64 * KiB);
    CompletableFuture<Void> acquired =
        CompletableFuture.runAsync(
            () -> {
              try {
                bucket.acquire(2048 * KiB); // 32 s of debt at 64 KiB/s
              } catch (InterruptedException e) {
                throw new IllegalStateException(e);
              }
            });
    Thread.sleep(300);
    assertThat(acquired).as("sleeping off its debt").isNotDone();

    bucket.setRate(4096 * KiB);

    acquired.get(5, TimeUnit.SECONDS);
    assertThat(bucket.take(100 * KiB)).as("the new rate starts from an empty bucket").isPositive();
  }

  @Test
  void liftingTheLimitEndsTheSleepToo() throws Exception {
    TokenBucket bucket = new TokenBucket(64 * KiB);
    CompletableFuture<Void> acquired =
        CompletableFuture.runAsync(
            () -> {
              try {
                bucket.acquire(2048 * KiB);
              } catch (InterruptedException e) {
                throw new IllegalStateException(e);
              }
            });
    Thread.sleep(300);
    bucket.setRate(0);
    acquired.get(5, TimeUnit.SECONDS);
    assertThat(bucket.take(1 << 30)).as("unlimited").isZero();
  }
}
