package io.volumeclone.engine;

/**
 * A snapshot of a clone's progress, as the CLI, the agent and the export report it.
 *
 * @param name the clone's name
 * @param state where the clone is in its life
 * @param regionSize bytes per region
 * @param regionsTotal regions in the clone range
 * @param regionsCopied regions whose data is on the destination (committed or not)
 * @param regionsCommitted regions recorded as copied by the last metadata commit
 * @param bytesTotal bytes in the clone range
 * @param bytesCopied bytes of the copied regions
 * @param metadataMode WRITE, READ_ONLY or FAIL (WRITE after cutover: the metadata is closed)
 * @param paused background copying is paused
 * @param degraded copy errors went past the error budget
 * @param copyErrors copy errors seen by the background copier
 * @param lastError the last copy or commit error, or null
 * @param bytesPerSecond recent background copy rate
 */
public record CloneStatus(
    String name,
    State state,
    int regionSize,
    long regionsTotal,
    long regionsCopied,
    long regionsCommitted,
    long bytesTotal,
    long bytesCopied,
    CloneMetadata.Mode metadataMode,
    boolean paused,
    boolean degraded,
    long copyErrors,
    String lastError,
    long bytesPerSecond) {

  /**
   * The clone's life: copying, then copied (complete, maybe waiting for approval), then cut over.
   */
  public enum State {
    COPYING,
    COPIED,
    CUT_OVER,
    CLOSED
  }

  public double percent() {
    return regionsTotal == 0 ? 100.0 : 100.0 * regionsCopied / regionsTotal;
  }

  /** Seconds until the copy completes at the current rate, or -1 when unknown. */
  public long etaSeconds() {
    if (bytesPerSecond <= 0) {
      return bytesCopied >= bytesTotal ? 0 : -1;
    }
    return (bytesTotal - bytesCopied + bytesPerSecond - 1) / bytesPerSecond;
  }
}
