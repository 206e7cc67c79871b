package io.volumeclone.engine;

/**
 * The shape of a clone: which byte range of the source is copied to which offset of the
 * destination, and in what unit. Stored in the metadata superblock; a metadata device whose
 * geometry differs from the clone being opened is refused.
 *
 * @param sourceOffset first byte of the source that is copied
 * @param destinationOffset where that byte lands on the destination
 * @param size bytes copied (the last region may be partial)
 * @param regionSize the copy unit: a power of two from 4 KiB to 1 GiB
 * @param sourceSize size of the whole source device when the clone was formatted
 * @param destinationSize size of the whole destination device when the clone was formatted
 */
public record CloneGeometry(
    long sourceOffset,
    long destinationOffset,
    long size,
    int regionSize,
    long sourceSize,
    long destinationSize) {

  public static final int MIN_REGION_SIZE = 4096;
  public static final int MAX_REGION_SIZE = 1 << 30;

  public CloneGeometry {
    if (regionSize < MIN_REGION_SIZE
        || regionSize > MAX_REGION_SIZE
        || Integer.bitCount(regionSize) != 1) {
      throw new IllegalArgumentException(
          "region size " + regionSize + " is not a power of two from 4 KiB to 1 GiB");
    }
    if (sourceOffset < 0 || destinationOffset < 0 || size <= 0) {
      throw new IllegalArgumentException(
          "clone range must have non-negative offsets and a positive size, got source offset "
              + sourceOffset
              + ", destination offset "
              + destinationOffset
              + ", size "
              + size);
    }
    if (sourceOffset + size > sourceSize) {
      throw new IllegalArgumentException(
          "clone range ends at source byte "
              + (sourceOffset + size)
              + " but the source has only "
              + sourceSize
              + " bytes");
    }
    if (destinationOffset + size > destinationSize) {
      throw new IllegalArgumentException(
          "destination too small: the clone needs "
              + (destinationOffset + size)
              + " bytes but the destination has "
              + destinationSize);
    }
  }

  public long regionCount() {
    return (size + regionSize - 1) / regionSize;
  }

  /** Offset of {@code region} within the clone (add an offset to address a device). */
  public long regionStart(long region) {
    return region * regionSize;
  }

  /** Length of {@code region}: the region size except possibly for the last one. */
  public int regionLength(long region) {
    return (int) Math.min(regionSize, size - region * regionSize);
  }

  public long regionOf(long cloneOffset) {
    return cloneOffset / regionSize;
  }
}
