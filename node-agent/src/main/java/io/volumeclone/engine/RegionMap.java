package io.volumeclone.engine;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.LongAdder;

/**
 * The in-memory map of copied regions, plus the set of bitmap blocks changed since the last commit
 * (dm-clone's region map and dirty map).
 *
 * <p>Design note. One bit per region in a {@code long[]}; bits are set with an atomic {@code
 * getAndBitwiseOr} on the word, so marking never takes a lock and never blocks on a commit, and
 * readers use acquire loads so a region marked by one thread is seen as copied by any thread that
 * learns about the mark through other synchronisation. Bits only go 0 -> 1; the one exception is
 * {@link #loadBlock}, which the metadata layer uses to (re)load what is on disk while no one marks.
 *
 * <p>The words are grouped into blocks of {@link #wordsPerBlock()} words, one per metadata bitmap
 * block. A second bitmap, one bit per block, records the blocks changed since the last {@link
 * #takeDirty}: a mark sets the region bit first and the block's dirty bit second, and taking the
 * dirty set clears dirty bits before copying words, so a mark racing with a commit is either in
 * this commit's snapshot or stays dirty for the next one, never lost.
 *
 * <p>Scanning ({@link #nextSet}, {@link #nextClear}) looks at a word at a time with {@link
 * Long#numberOfTrailingZeros}. Memory is {@code regionCount / 8} bytes plus {@code 1/64} of that
 * for the dirty map: 2^28 regions (16 TiB of 64 KiB regions) take 32 MiB.
 */
public final class RegionMap {

  private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);

  private final long regionCount;
  private final int wordsPerBlock;
  private final long[] words;
  private final long[] dirty;
  private final int blockCount;
  private final LongAdder setCount = new LongAdder();

  /**
   * @param regionCount number of regions (bits); at most {@code 2^31 - 1} words, i.e. about 2^37
   * @param wordsPerBlock how many 64-bit words one bitmap block of the metadata device holds
   */
  public RegionMap(long regionCount, int wordsPerBlock) {
    if (regionCount < 0) {
      throw new IllegalArgumentException("negative region count " + regionCount);
    }
    if (wordsPerBlock <= 0) {
      throw new IllegalArgumentException("words per block must be positive: " + wordsPerBlock);
    }
    long wordCount = (regionCount + 63) >>> 6;
    if (wordCount > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException(
          "a region map holds at most " + ((long) (Integer.MAX_VALUE - 8) << 6) + " regions");
    }
    this.regionCount = regionCount;
    this.wordsPerBlock = wordsPerBlock;
    this.words = new long[(int) wordCount];
    this.blockCount = (int) ((wordCount + wordsPerBlock - 1) / wordsPerBlock);
    this.dirty = new long[(blockCount + 63) >>> 6];
  }

  public long regionCount() {
    return regionCount;
  }

  public int wordsPerBlock() {
    return wordsPerBlock;
  }

  /** Number of bitmap blocks covering the map. */
  public int blockCount() {
    return blockCount;
  }

  /** The bitmap block holding {@code region}'s bit. */
  public int blockOf(long region) {
    return (int) ((region >>> 6) / wordsPerBlock);
  }

  /** Bytes of heap the map holds. */
  public long memoryBytes() {
    return 8L * words.length + 8L * dirty.length;
  }

  /** Regions set (copied). */
  public long cardinality() {
    return setCount.sum();
  }

  private void checkRegion(long region) {
    if (region < 0 || region >= regionCount) {
      throw new IndexOutOfBoundsException(
          "region " + region + " outside the map's " + regionCount + " regions");
    }
  }

  private void checkRange(long first, long count) {
    if (first < 0 || count < 0 || first > regionCount || count > regionCount - first) {
      throw new IndexOutOfBoundsException(
          "regions ["
              + first
              + ", "
              + (first + count)
              + ") outside the map's "
              + regionCount
              + " regions");
    }
  }

  private long word(int index) {
    return (long) WORDS.getAcquire(words, index);
  }

  public boolean isSet(long region) {
    checkRegion(region);
    return (word((int) (region >>> 6)) & (1L << region)) != 0;
  }

  /** True when every region of {@code [first, first + count)} is set (true for count 0). */
  public boolean allSet(long first, long count) {
    checkRange(first, count);
    if (count == 0) {
      return true;
    }
    long clear = nextClear(first);
    return clear < 0 || clear >= first + count;
  }

  /**
   * Sets the regions {@code [first, first + count)}.
   *
   * @return how many of them were not set before
   */
  public long set(long first, long count) {
    checkRange(first, count);
    long newlySet = 0;
    long end = first + count;
    long region = first;
    while (region < end) {
      int index = (int) (region >>> 6);
      int bit = (int) (region & 63);
      int bits = (int) Math.min(64 - bit, end - region);
      long mask = bits == 64 ? -1L : ((1L << bits) - 1) << bit;
      long before = (long) WORDS.getAndBitwiseOr(words, index, mask);
      long added = mask & ~before;
      if (added != 0) {
        newlySet += Long.bitCount(added);
        markDirty(index / wordsPerBlock);
      }
      region += bits;
    }
    if (newlySet != 0) {
      setCount.add(newlySet);
    }
    return newlySet;
  }

  /** The first set region at or after {@code from}, or -1 when there is none. */
  public long nextSet(long from) {
    return next(from, false);
  }

  /** The first clear region at or after {@code from}, or -1 when there is none. */
  public long nextClear(long from) {
    return next(from, true);
  }

  private long next(long from, boolean clear) {
    if (from < 0) {
      throw new IndexOutOfBoundsException("negative region " + from);
    }
    if (from >= regionCount) {
      return -1;
    }
    int index = (int) (from >>> 6);
    long word = clear ? ~word(index) : word(index);
    word &= -1L << (from & 63);
    while (true) {
      if (word != 0) {
        long region = ((long) index << 6) + Long.numberOfTrailingZeros(word);
        return region < regionCount ? region : -1;
      }
      if (++index >= words.length) {
        return -1;
      }
      word = clear ? ~word(index) : word(index);
    }
  }

  /**
   * Always the atomic OR, never a read first that skips it when the bit looks set: the mark's word
   * update and this read would be a store followed by a load of another variable, which the Java
   * memory model may reorder (only volatile accesses are totally ordered, and an acquire load is
   * not one), so the read could see the dirty bit of a commit that has already taken it and copied
   * the block without this mark. The atomic OR is ordered with {@link #takeDirty}'s getAndSet.
   */
  private void markDirty(int block) {
    WORDS.getAndBitwiseOr(dirty, block >>> 6, 1L << block);
  }

  private static long word(long[] array, int index) {
    return (long) WORDS.getAcquire(array, index);
  }

  /** True when some block changed since the last {@link #takeDirty}. */
  public boolean hasDirty() {
    for (int i = 0; i < dirty.length; i++) {
      if (word(dirty, i) != 0) {
        return true;
      }
    }
    return false;
  }

  public boolean isDirty(int block) {
    return (word(dirty, block >>> 6) & (1L << block)) != 0;
  }

  /**
   * Atomically takes and clears the dirty set: the blocks changed since the last call, ascending.
   * Copy each block's words with {@link #copyBlock} after this call, not before.
   */
  public int[] takeDirty() {
    int count = 0;
    long[] taken = new long[dirty.length];
    for (int i = 0; i < dirty.length; i++) {
      if (word(dirty, i) != 0) {
        taken[i] = (long) WORDS.getAndSet(dirty, i, 0L);
        count += Long.bitCount(taken[i]);
      }
    }
    int[] blocks = new int[count];
    int n = 0;
    for (int i = 0; i < taken.length; i++) {
      long word = taken[i];
      while (word != 0) {
        blocks[n++] = (i << 6) + Long.numberOfTrailingZeros(word);
        word &= word - 1;
      }
    }
    return blocks;
  }

  /** Marks blocks dirty again, for a commit that gave up on them but stays in WRITE mode. */
  public void redirty(int[] blocks) {
    for (int block : blocks) {
      markDirty(block);
    }
  }

  /** First word index of {@code block}. */
  private int firstWord(int block) {
    if (block < 0 || block >= blockCount) {
      throw new IndexOutOfBoundsException(
          "bitmap block " + block + " outside the map's " + blockCount + " blocks");
    }
    return block * wordsPerBlock;
  }

  /** Number of words in {@code block} (the last block may be short). */
  public int blockWords(int block) {
    int first = firstWord(block);
    return Math.min(wordsPerBlock, words.length - first);
  }

  /**
   * Copies {@code block}'s words into {@code dst} (at least {@link #blockWords} long); words past
   * the end of the map are zero.
   */
  public void copyBlock(int block, long[] dst) {
    int first = firstWord(block);
    int n = blockWords(block);
    for (int i = 0; i < n; i++) {
      dst[i] = word(first + i);
    }
    for (int i = n; i < dst.length; i++) {
      dst[i] = 0;
    }
  }

  /**
   * Replaces {@code block}'s words with {@code src} (bits past the last region are dropped) and
   * adjusts the count. The only way bits go back to 0: used to load the bitmap from the metadata
   * device while nothing marks regions.
   *
   * @return the number of set bits the block now holds
   */
  public long loadBlock(int block, long[] src) {
    int first = firstWord(block);
    int n = blockWords(block);
    long delta = 0;
    long bits = 0;
    for (int i = 0; i < n; i++) {
      int index = first + i;
      long value = src[i];
      if (index == words.length - 1 && (regionCount & 63) != 0) {
        value &= (1L << (regionCount & 63)) - 1;
      }
      long old = (long) WORDS.getAndSet(words, index, value);
      delta += Long.bitCount(value) - Long.bitCount(old);
      bits += Long.bitCount(value);
    }
    setCount.add(delta);
    return bits;
  }
}
