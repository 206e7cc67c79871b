package io.volumeclone.engine;

import java.util.UUID;

/**
 * What {@link DiskCloneMetadata#inspect} finds on a metadata device, without knowing the clone's
 * geometry: what {@code volume-clone status} prints. Fields that the state leaves unknown are null
 * (objects) or 0/false (numbers, flags).
 *
 * @param device the device's name
 * @param state whether the device is unformatted, valid, or refused
 * @param problem why the device is {@link State#INVALID}, else null
 * @param formatVersion the on-disk format version (0 when unknown)
 * @param uuid the clone's UUID, chosen at format time
 * @param geometry the clone's geometry as recorded at format time
 * @param transactionId the last committed transaction
 * @param committedCount regions recorded copied by that transaction
 * @param complete every region is copied and that was committed
 * @param cutOver consumers were moved to the destination
 * @param deviceSize bytes on the metadata device
 * @param requiredSize bytes the recorded geometry needs on the metadata device
 * @param identity whose clone the committed transaction says it is; null when it records none
 */
public record MetadataReport(
    String device,
    State state,
    String problem,
    int formatVersion,
    UUID uuid,
    CloneGeometry geometry,
    long transactionId,
    long committedCount,
    boolean complete,
    boolean cutOver,
    long deviceSize,
    long requiredSize,
    CloneIdentity identity) {

  /** A device whose first block is all zeroes: a clone opened on it formats it. */
  public static MetadataReport unformatted(String device, long deviceSize) {
    return new MetadataReport(
        device, State.UNFORMATTED, null, 0, null, null, 0, 0, false, false, deviceSize, 0, null);
  }

  /** A device that is not metadata at all (no label that parses): the problem says why. */
  public static MetadataReport invalid(String device, String problem, long deviceSize) {
    return new MetadataReport(
        device, State.INVALID, problem, 0, null, null, 0, 0, false, false, deviceSize, 0, null);
  }

  /** Validity of a metadata device. */
  public enum State {
    /** The first block is all zeroes: a clone opened on it formats it. */
    UNFORMATTED,
    /** Label and a commit slot validate. */
    VALID,
    /** Something is wrong; see {@link #problem()}. A clone refuses to open it without force. */
    INVALID
  }

  /** Regions of the clone (0 when the geometry is unknown). */
  public long regionCount() {
    return geometry == null ? 0 : geometry.regionCount();
  }

  /** Committed progress from 0 to 100 (0 when the geometry is unknown). */
  public double percentCopied() {
    long total = regionCount();
    return total == 0 ? 0 : 100.0 * committedCount / total;
  }

  /**
   * Bytes recorded copied, counting whole regions: exact unless the partial last region is among
   * them, then an overestimate by less than one region.
   */
  public long bytesCopied() {
    if (geometry == null) {
      return 0;
    }
    return Math.min(geometry.size(), committedCount * (long) geometry.regionSize());
  }
}
