package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.volumeclone.engine.TestingRecordingBlockDevice.Event;
import java.io.IOException;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Torn and lost metadata writes. Each test records the writes and flushes of one metadata
 * operation, then rebuilds every image a power cut could leave: the durable state at the last flush
 * plus none, all, or only the last of the writes issued since, with the write in flight complete,
 * torn at a sector boundary, or torn into garbage. Every image must reopen as the previous or the
 * new committed transaction, bit for bit; and a commit made after reopening must itself survive the
 * next reopen (leftovers of the crashed commit must not come back).
 */
class DiskCloneMetadataCrashTest {

  private static final int BLOCK = DiskCloneMetadata.BLOCK_SIZE;
  private static final String NAME = "/dev/crash-metadata";

  /** 100,000 regions: four bitmap blocks, so commits write several blocks. */
  private static final CloneGeometry GEOMETRY =
      new CloneGeometry(0, 0, 100_000L * 4096, 4096, 100_000L * 4096, 100_000L * 4096);

  private record State(long transactionId, BitSet regions) {}

  private static TestingMemoryBlockDevice deviceWith(byte[] image) {
    return new TestingMemoryBlockDevice(NAME, image, false, 512);
  }

  private static BitSet regionsOf(CloneMetadata metadata) {
    BitSet set = new BitSet();
    for (long r = metadata.nextHydrated(0); r >= 0; r = metadata.nextHydrated(r + 1)) {
      set.set((int) r);
    }
    return set;
  }

  /** Every crash image of {@code events} applied on top of {@code base}, with a label. */
  private static Map<String, byte[]> crashImages(byte[] base, List<Event> events, long seed) {
    Map<String, byte[]> images = new LinkedHashMap<>();
    Random random = new Random(seed);
    for (int k = 0; k <= events.size(); k++) {
      int lastFlush = -1;
      for (int i = 0; i < k; i++) {
        if (events.get(i).isFlush()) {
          lastFlush = i;
        }
      }
      byte[] durable = base.clone();
      for (int i = 0; i <= lastFlush; i++) {
        apply(durable, events.get(i));
      }
      List<Event> pending = new ArrayList<>();
      for (int i = lastFlush + 1; i < k; i++) {
        pending.add(events.get(i));
      }
      Event inFlight = k < events.size() && !events.get(k).isFlush() ? events.get(k) : null;

      images.put("crash after " + k + ": none pending", durable.clone());
      byte[] all = durable.clone();
      pending.forEach(e -> apply(all, e));
      images.put("crash after " + k + ": all pending", all);
      if (!pending.isEmpty()) {
        byte[] onlyLast = durable.clone();
        apply(onlyLast, pending.get(pending.size() - 1));
        images.put("crash after " + k + ": only the last pending", onlyLast);
      }
      if (inFlight != null) {
        byte[] tornHalf = all.clone();
        applyTorn(tornHalf, inFlight, inFlight.data().length / 2, null);
        images.put("crash in " + k + ": torn at half", tornHalf);
        byte[] tornSector = all.clone();
        applyTorn(tornSector, inFlight, 512, null);
        images.put("crash in " + k + ": torn after one sector", tornSector);
        byte[] garbage = all.clone();
        applyTorn(garbage, inFlight, 1024, random);
        images.put("crash in " + k + ": torn into garbage", garbage);
        byte[] alone = durable.clone();
        applyTorn(alone, inFlight, inFlight.data().length - 512, null);
        images.put("crash in " + k + ": torn, reordered before pending", alone);
      }
    }
    return images;
  }

  private static void apply(byte[] image, Event event) {
    if (!event.isFlush()) {
      System.arraycopy(event.data(), 0, image, (int) event.offset(), event.data().length);
    }
  }

  private static void applyTorn(byte[] image, Event event, int keep, Random garbage) {
    System.arraycopy(event.data(), 0, image, (int) event.offset(), keep);
    if (garbage != null) {
      byte[] noise = new byte[event.data().length - keep];
      garbage.nextBytes(noise);
      System.arraycopy(noise, 0, image, (int) event.offset() + keep, noise.length);
    }
  }

  /**
   * Opens {@code image}, checks it is one of {@code allowed}, then commits one more region and
   * checks that a second reopen sees exactly that.
   */
  private static void checkRecovers(String label, byte[] image, State... allowed)
      throws IOException {
    TestingMemoryBlockDevice dev = deviceWith(image);
    State found;
    BitSet expectedAfter;
    try (DiskCloneMetadata metadata = DiskCloneMetadata.open(dev, GEOMETRY, false)) {
      found = new State(metadata.transactionId(), regionsOf(metadata));
      boolean ok = false;
      for (State state : allowed) {
        if (state.transactionId() == found.transactionId()) {
          assertThat(found.regions())
              .as(label + ": regions of tx " + found.transactionId())
              .isEqualTo(state.regions());
          ok = true;
        }
      }
      if (!ok) {
        fail(
            label
                + ": reopened at transaction "
                + found.transactionId()
                + ", allowed "
                + List.of(allowed));
      }
      assertThat(metadata.committedCount()).isEqualTo(found.regions().cardinality());
      // A further commit after recovery must itself be durable and must not revive leftovers.
      metadata.setHydrated(99_999, 1);
      metadata.setHydrated(33_000, 1);
      metadata.commit(() -> {});
      expectedAfter = (BitSet) found.regions().clone();
      expectedAfter.set(99_999);
      expectedAfter.set(33_000);
      assertThat(metadata.transactionId()).isGreaterThan(found.transactionId());
    }
    TestingMemoryBlockDevice second = deviceWith(dev.durableContents());
    try (DiskCloneMetadata again = DiskCloneMetadata.open(second, GEOMETRY, false)) {
      assertThat(regionsOf(again))
          .as(label + ": after a commit on the recovered device")
          .isEqualTo(expectedAfter);
      // One more commit that touches nothing else: stale copies would now win if not removed.
      again.setHydrated(0, 1);
      again.commit(() -> {});
      expectedAfter.set(0);
    }
    try (DiskCloneMetadata third =
        DiskCloneMetadata.open(deviceWith(second.durableContents()), GEOMETRY, false)) {
      assertThat(regionsOf(third))
          .as(label + ": two commits after recovery")
          .isEqualTo(expectedAfter);
    }
  }

  @Test
  void everyCrashDuringACommitRecoversTheOldOrTheNewTransaction() throws IOException {
    TestingMemoryBlockDevice memory =
        new TestingMemoryBlockDevice(NAME, (int) DiskCloneMetadata.requiredSize(GEOMETRY));
    TestingRecordingBlockDevice dev = new TestingRecordingBlockDevice(memory);
    DiskCloneMetadata metadata = DiskCloneMetadata.open(dev, GEOMETRY, false);
    int checked = 0;
    Random random = new Random(7);
    // Several commits in a row, so each block's two copies alternate and both hold real versions.
    for (int round = 1; round <= 4; round++) {
      BitSet before = regionsOf(metadata);
      long txBefore = metadata.transactionId();
      byte[] base = memory.durableContents();
      assertThat(base).isEqualTo(memory.contents());
      for (int i = 0; i < 5; i++) {
        long first = random.nextInt(99_000);
        metadata.setHydrated(first, 1 + random.nextInt(700));
      }
      metadata.setHydrated(round * 20_000L, 1); // moves through the blocks
      BitSet after = regionsOf(metadata);
      dev.clear();
      metadata.commit(() -> {});
      assertThat(metadata.transactionId()).isEqualTo(txBefore + 1);
      List<Event> events = dev.events();
      for (Map.Entry<String, byte[]> image : crashImages(base, events, round).entrySet()) {
        checkRecovers(
            "round " + round + ", " + image.getKey(),
            image.getValue(),
            new State(txBefore, before),
            new State(txBefore + 1, after));
        checked++;
      }
    }
    System.out.println("checked " + checked + " crash images of commits");
    assertThat(checked).isGreaterThan(50);
  }

  @Test
  void everyCrashDuringCompletionRecoversCompleteOrNot() throws IOException {
    TestingMemoryBlockDevice memory =
        new TestingMemoryBlockDevice(NAME, (int) DiskCloneMetadata.requiredSize(GEOMETRY));
    TestingRecordingBlockDevice dev = new TestingRecordingBlockDevice(memory);
    DiskCloneMetadata metadata = DiskCloneMetadata.open(dev, GEOMETRY, false);
    metadata.setHydrated(0, 99_000);
    metadata.commit(() -> {});
    byte[] base = memory.durableContents();
    metadata.setHydrated(99_000, 1_000);
    dev.clear();
    metadata.markComplete(() -> {});
    for (Map.Entry<String, byte[]> image : crashImages(base, dev.events(), 11).entrySet()) {
      try (DiskCloneMetadata reopened =
          DiskCloneMetadata.open(deviceWith(image.getValue()), GEOMETRY, false)) {
        if (reopened.isComplete()) {
          assertThat(reopened.nextUnhydrated(0)).as(image.getKey()).isEqualTo(-1);
          assertThat(reopened.transactionId()).isEqualTo(2);
        } else {
          assertThat(reopened.transactionId()).as(image.getKey()).isEqualTo(1);
          assertThat(reopened.committedCount()).isEqualTo(99_000);
          assertThat(reopened.nextUnhydrated(0)).isEqualTo(99_000);
        }
      }
    }
  }

  @Test
  void everyCrashDuringFormatOrForcedReformatLeavesAUsableDevice() throws IOException {
    // A fresh format: every crash image formats again (or is already formatted and empty).
    TestingMemoryBlockDevice memory =
        new TestingMemoryBlockDevice(NAME, (int) DiskCloneMetadata.requiredSize(GEOMETRY));
    TestingRecordingBlockDevice dev = new TestingRecordingBlockDevice(memory);
    byte[] empty = memory.durableContents();
    DiskCloneMetadata.open(dev, GEOMETRY, false);
    List<Event> formatEvents = dev.events();
    for (Map.Entry<String, byte[]> image : crashImages(empty, formatEvents, 5).entrySet()) {
      if (tornLabel(image.getKey(), formatEvents)) {
        refusedThenForced(image.getValue());
        continue;
      }
      checkRecovers("format, " + image.getKey(), image.getValue(), new State(0, new BitSet()));
    }

    // A forced reformat of an existing clone with the same geometry: either the old clone is
    // intact, or the device is empty; never a mixture.
    TestingMemoryBlockDevice old =
        new TestingMemoryBlockDevice(NAME, (int) DiskCloneMetadata.requiredSize(GEOMETRY));
    BitSet oldRegions;
    try (DiskCloneMetadata metadata = DiskCloneMetadata.open(old, GEOMETRY, false)) {
      metadata.setHydrated(5, 40_000);
      metadata.commit(() -> {});
      metadata.setHydrated(60_000, 10);
      metadata.commit(() -> {});
      oldRegions = regionsOf(metadata);
    }
    byte[] base = old.durableContents();
    TestingMemoryBlockDevice memory2 = deviceWith(base);
    TestingRecordingBlockDevice dev2 = new TestingRecordingBlockDevice(memory2);
    DiskCloneMetadata.open(dev2, GEOMETRY, true);
    List<Event> reformatEvents = dev2.events();
    for (Map.Entry<String, byte[]> image : crashImages(base, reformatEvents, 6).entrySet()) {
      if (tornLabel(image.getKey(), reformatEvents)) {
        refusedThenForced(image.getValue());
        continue;
      }
      checkRecovers(
          "forced reformat, " + image.getKey(),
          image.getValue(),
          new State(2, oldRegions),
          new State(0, new BitSet()));
    }
  }

  /**
   * True for the images where a write of block 0 was torn: the label of a format, or the zeroing of
   * the old label that a forced reformat starts with. Those may be refused (with a reason that
   * names the force option), never misread.
   */
  private static boolean tornLabel(String key, List<Event> events) {
    if (!key.startsWith("crash in ")) {
      return false;
    }
    int k = Integer.parseInt(key.substring("crash in ".length(), key.indexOf(':')));
    Event event = events.get(k);
    return event.offset() == 0 && key.contains("torn");
  }

  /** A torn label is refused with the reason, loses nothing more, and force reformats it. */
  private static void refusedThenForced(byte[] image) throws IOException {
    TestingMemoryBlockDevice dev = deviceWith(image);
    try {
      DiskCloneMetadata.open(dev, GEOMETRY, false).close();
      // A torn write that happened to keep the whole old or whole new label is fine too.
    } catch (MetadataMismatchException e) {
      assertThat(e).hasMessageContaining("force");
      assertThat(dev.contents()).isEqualTo(image);
      try (DiskCloneMetadata forced = DiskCloneMetadata.open(deviceWith(image), GEOMETRY, true)) {
        assertThat(forced.transactionId()).isZero();
        assertThat(forced.hydratedCount()).isZero();
      }
    }
  }
}
