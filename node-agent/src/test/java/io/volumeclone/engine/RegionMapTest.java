package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

class RegionMapTest {

  @Test
  void setAndQuerySingleRegionsAndRanges() {
    RegionMap map = new RegionMap(1000, 4);
    assertThat(map.cardinality()).isZero();
    assertThat(map.isSet(0)).isFalse();

    assertThat(map.set(5, 1)).isEqualTo(1);
    assertThat(map.isSet(5)).isTrue();
    assertThat(map.isSet(4)).isFalse();
    assertThat(map.isSet(6)).isFalse();

    // A range crossing two word boundaries, overlapping the bit already set.
    assertThat(map.set(3, 200)).isEqualTo(199);
    assertThat(map.cardinality()).isEqualTo(200);
    assertThat(map.allSet(3, 200)).isTrue();
    assertThat(map.allSet(2, 2)).isFalse();
    assertThat(map.allSet(3, 201)).isFalse();
    assertThat(map.allSet(500, 0)).isTrue();

    // Setting again adds nothing: bits only go 0 -> 1.
    assertThat(map.set(3, 200)).isZero();
    assertThat(map.cardinality()).isEqualTo(200);
  }

  @Test
  void nextSetAndNextClearScanWordsAndStopAtTheLastRegion() {
    RegionMap map = new RegionMap(200, 1);
    assertThat(map.nextSet(0)).isEqualTo(-1);
    assertThat(map.nextClear(0)).isZero();
    assertThat(map.nextClear(199)).isEqualTo(199);
    assertThat(map.nextClear(200)).isEqualTo(-1);

    map.set(130, 3);
    assertThat(map.nextSet(0)).isEqualTo(130);
    assertThat(map.nextSet(131)).isEqualTo(131);
    assertThat(map.nextSet(133)).isEqualTo(-1);
    assertThat(map.nextClear(130)).isEqualTo(133);

    map.set(0, 200);
    assertThat(map.nextClear(0)).isEqualTo(-1);
    // Bits past the last region (200..255 of the last word) are never reported.
    assertThat(map.nextSet(199)).isEqualTo(199);
    assertThat(map.cardinality()).isEqualTo(200);
  }

  @Test
  void outOfRangeIsRefused() {
    RegionMap map = new RegionMap(100, 1);
    assertThatThrownBy(() -> map.isSet(100)).isInstanceOf(IndexOutOfBoundsException.class);
    assertThatThrownBy(() -> map.set(99, 2))
        .isInstanceOf(IndexOutOfBoundsException.class)
        .hasMessageContaining("[99, 101)");
    assertThatThrownBy(() -> map.set(-1, 1)).isInstanceOf(IndexOutOfBoundsException.class);
    assertThatThrownBy(() -> map.nextSet(-1)).isInstanceOf(IndexOutOfBoundsException.class);
  }

  @Test
  void matchesAReferenceBitSetUnderRandomOperations() {
    Random random = new Random(42);
    int regions = 10_007;
    RegionMap map = new RegionMap(regions, 3);
    BitSet reference = new BitSet(regions);
    for (int step = 0; step < 2_000; step++) {
      int first = random.nextInt(regions);
      int count = random.nextInt(Math.min(300, regions - first) + 1);
      long newly = map.set(first, count);
      int before = reference.cardinality();
      reference.set(first, first + count);
      assertThat(newly).isEqualTo(reference.cardinality() - before);
      int probe = random.nextInt(regions);
      int expectedSet = reference.nextSetBit(probe);
      int expectedClear = reference.nextClearBit(probe);
      assertThat(map.nextSet(probe)).isEqualTo(expectedSet);
      assertThat(map.nextClear(probe)).isEqualTo(expectedClear >= regions ? -1 : expectedClear);
      assertThat(map.isSet(probe)).isEqualTo(reference.get(probe));
    }
    assertThat(map.cardinality()).isEqualTo(reference.cardinality());
  }

  @Test
  void dirtyBlocksAreTheBlocksChangedSinceTheLastTake() {
    // 4 words per block = 256 regions per block.
    RegionMap map = new RegionMap(2048, 4);
    assertThat(map.blockCount()).isEqualTo(8);
    assertThat(map.hasDirty()).isFalse();

    map.set(0, 1);
    map.set(300, 1);
    map.set(1000, 600); // blocks 3..6
    assertThat(map.takeDirty()).containsExactly(0, 1, 3, 4, 5, 6);
    assertThat(map.hasDirty()).isFalse();
    assertThat(map.takeDirty()).isEmpty();

    // Re-setting a set bit changes nothing, so it dirties nothing.
    map.set(300, 1);
    assertThat(map.hasDirty()).isFalse();
    map.set(2047, 1);
    assertThat(map.isDirty(7)).isTrue();
    assertThat(map.takeDirty()).containsExactly(7);
  }

  @Test
  void copyAndLoadBlocksRoundTripAndMaskBitsPastTheEnd() {
    RegionMap map = new RegionMap(300, 2); // 5 words, blocks of 2 words: 3 blocks, the last short
    assertThat(map.blockWords(2)).isEqualTo(1);
    map.set(128, 10);
    long[] words = new long[2];
    map.copyBlock(1, words);
    assertThat(words[0]).isEqualTo(0x3FFL);

    RegionMap other = new RegionMap(300, 2);
    assertThat(other.loadBlock(1, words)).isEqualTo(10);
    assertThat(other.cardinality()).isEqualTo(10);
    assertThat(other.nextSet(0)).isEqualTo(128);

    // The last word holds regions 256..299; garbage above bit 43 is dropped on load.
    assertThat(other.loadBlock(2, new long[] {-1L, -1L})).isEqualTo(44);
    assertThat(other.cardinality()).isEqualTo(54);
    assertThat(other.nextClear(256)).isEqualTo(-1);

    // Loading is the one way bits go back to zero, and the count follows.
    other.loadBlock(1, new long[2]);
    assertThat(other.cardinality()).isEqualTo(44);
    assertThat(other.isSet(128)).isFalse();
  }

  @Test
  void concurrentMarkersLoseNothingAndCommitSnapshotsMissNothing() throws Exception {
    int regions = 1 << 16;
    RegionMap map = new RegionMap(regions, 8);
    int threads = 4;
    CountDownLatch start = new CountDownLatch(1);
    List<Thread> workers = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      int offset = t;
      Thread worker =
          new Thread(
              () -> {
                try {
                  start.await();
                } catch (InterruptedException e) {
                  return;
                }
                // Interleaved regions: every word is shared by all threads.
                for (int r = offset; r < regions; r += threads) {
                  map.set(r, 1);
                }
              });
      workers.add(worker);
      worker.start();
    }
    // A "committer" takes dirty sets concurrently and applies them to a second map, as the
    // metadata layer copies dirty blocks to disk; at the end, one last take must catch up.
    RegionMap committed = new RegionMap(regions, 8);
    AtomicBoolean done = new AtomicBoolean();
    long[] buffer = new long[8];
    start.countDown();
    while (!done.get()) {
      for (int block : map.takeDirty()) {
        map.copyBlock(block, buffer);
        committed.loadBlock(block, buffer);
      }
      done.set(workers.stream().noneMatch(Thread::isAlive));
    }
    for (Thread worker : workers) {
      worker.join();
    }
    for (int block : map.takeDirty()) {
      map.copyBlock(block, buffer);
      committed.loadBlock(block, buffer);
    }
    assertThat(map.cardinality()).isEqualTo(regions);
    assertThat(map.nextClear(0)).isEqualTo(-1);
    assertThat(committed.cardinality()).isEqualTo(regions);
  }

  @Test
  void worksBeyondTwoToThe31Regions() {
    long regions = (1L << 31) + 100; // 256 MiB of bits
    RegionMap map = new RegionMap(regions, 504);
    long last = regions - 1;
    map.set(last - 1, 2);
    assertThat(map.isSet(last)).isTrue();
    assertThat(map.nextSet(0)).isEqualTo(last - 1);
    assertThat(map.nextClear(last - 1)).isEqualTo(-1);
    assertThat(map.blockOf(last)).isEqualTo(map.blockCount() - 1);
    assertThat(map.memoryBytes()).isLessThan(regions / 8 + regions / 8 / 64 + 4096);
  }
}
