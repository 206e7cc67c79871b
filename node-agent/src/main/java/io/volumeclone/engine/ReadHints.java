package io.volumeclone.engine;

/**
 * Hot regions first (issue 17 item 5): user reads of uncopied regions tell the copier what to copy
 * next.
 *
 * <p>Design note. dm-clone lists as its first known issue that reads of unhydrated regions are not
 * used as hints, so a clone that is read hard in a few places serves those places from the slow
 * source until the sequential scan happens to reach them; EBS users warm restored volumes by hand
 * for the same reason. Here every user read that goes to the source records the first region it
 * read; the copier takes the newest hint before it looks at its scan cursor and copies a batch from
 * that region onwards, so the region read and its neighbours come next. The record is a ring of
 * {@link #CAPACITY} regions: a burst of reads over more places than that keeps the newest, and a
 * region already in it is not recorded twice, so one hot region read a thousand times does not
 * crowd out the others. The copier copies at most {@link Copier#HINTED_BATCHES_PER_SCAN} scan
 * batches' worth of hinted regions before one batch of its scan, so the scan always advances and
 * the copy ends. Whether hints are followed is a tuning knob ({@link CloneTuning#hotRegionsFirst});
 * they are recorded either way, which costs one short lock per read that already waits for the
 * source.
 */
final class ReadHints {

  /** Most hints kept; the oldest go first. */
  static final int CAPACITY = 64;

  private final long[] regions = new long[CAPACITY];
  private int newest = -1;
  private int size;
  private long recorded;

  /** A user read of the uncopied {@code region} went to the source. Never blocks on I/O. */
  synchronized void record(long region) {
    for (int i = 0, at = newest; i < size; i++, at = (at + CAPACITY - 1) % CAPACITY) {
      if (regions[at] == region) {
        return;
      }
    }
    newest = (newest + 1) % CAPACITY;
    regions[newest] = region;
    size = Math.min(size + 1, CAPACITY);
    recorded++;
  }

  /** The newest hint, removed, or -1 when there is none. */
  synchronized long takeNewest() {
    if (size == 0) {
      return -1;
    }
    long region = regions[newest];
    newest = (newest + CAPACITY - 1) % CAPACITY;
    size--;
    return region;
  }

  /** Hints kept now. */
  synchronized int size() {
    return size;
  }

  /**
   * Hints recorded since the clone was opened (a region recorded again after it was taken counts
   * again).
   */
  synchronized long recorded() {
    return recorded;
  }
}
