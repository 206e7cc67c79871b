package io.volumeclone.engine;

/**
 * A change to the knobs of a running clone, applied by {@link Clone#tune} (dm-clone's messages):
 * every field that is null stays as it is. {@link Clone#tuning()} returns the current values, all
 * set.
 *
 * @param paused background copying paused (true) or running (false); pausing commits
 * @param bandwidth copy bandwidth limit in bytes per second, 0 for unlimited
 * @param regionsInFlight most regions the background copier copies at once (>= 1)
 * @param batchRegions most contiguous regions one background copy covers (>= 1)
 * @param copyOnRead reads of uncopied regions also copy them
 * @param hotRegionsFirst the copier copies regions near user reads of uncopied data first
 */
public record CloneTuning(
    Boolean paused,
    Long bandwidth,
    Integer regionsInFlight,
    Integer batchRegions,
    Boolean copyOnRead,
    Boolean hotRegionsFirst) {

  /** Changes nothing. */
  public static final CloneTuning NONE = new CloneTuning(null, null, null, null, null, null);

  /** Refuses values the copier cannot take, before anything is changed. */
  public CloneTuning {
    Copier.checkTuning(
        bandwidth == null ? 0 : bandwidth,
        regionsInFlight == null ? 1 : regionsInFlight,
        batchRegions == null ? 1 : batchRegions);
  }

  public CloneTuning withPaused(boolean value) {
    return new CloneTuning(
        value, bandwidth, regionsInFlight, batchRegions, copyOnRead, hotRegionsFirst);
  }

  public CloneTuning withBandwidth(long bytesPerSecond) {
    return new CloneTuning(
        paused, bytesPerSecond, regionsInFlight, batchRegions, copyOnRead, hotRegionsFirst);
  }

  public CloneTuning withRegionsInFlight(int value) {
    return new CloneTuning(paused, bandwidth, value, batchRegions, copyOnRead, hotRegionsFirst);
  }

  public CloneTuning withBatchRegions(int value) {
    return new CloneTuning(paused, bandwidth, regionsInFlight, value, copyOnRead, hotRegionsFirst);
  }

  public CloneTuning withCopyOnRead(boolean value) {
    return new CloneTuning(
        paused, bandwidth, regionsInFlight, batchRegions, value, hotRegionsFirst);
  }

  public CloneTuning withHotRegionsFirst(boolean value) {
    return new CloneTuning(paused, bandwidth, regionsInFlight, batchRegions, copyOnRead, value);
  }

  /** Whether this change sets nothing. */
  public boolean isEmpty() {
    return equals(NONE);
  }
}
