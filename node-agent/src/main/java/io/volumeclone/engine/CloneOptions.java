package io.volumeclone.engine;

import java.time.Duration;

/**
 * How a {@link Clone} behaves. Everything a user can tune; the copy settings can also be changed
 * while the clone runs through {@link Clone#tune}.
 *
 * @param name export name of the clone, used in messages
 * @param copyOnRead a read of an uncopied region also copies the region; the initial setting,
 *     switched while the clone runs with {@link Clone#tune}
 * @param discardPassdown discards are passed down to the destination
 * @param commitPeriod how often the metadata is committed when nothing else commits it
 * @param bandwidth copy bandwidth limit of this clone in bytes per second, 0 for unlimited
 * @param regionsInFlight most regions the background copier copies at once
 * @param batchRegions most contiguous regions one background copy covers
 * @param cutover automatic cutover when the copy completes, or manual after approval
 * @param noCopy do not copy in the background; only user I/O copies regions
 * @param startPaused the background copier starts paused (a clone created paused copies nothing
 *     until {@link Clone#tune} resumes it, not even a first batch)
 * @param maxCopyRetries copy errors tolerated before the clone reports itself degraded
 * @param retryBackoff wait after the first copy error; doubles with each further error in a row
 * @param hotRegionsFirst the copier copies regions near user reads of uncopied data before its scan
 *     reaches them ({@link ReadHints}); the initial setting, switched with {@link Clone#tune}
 */
public record CloneOptions(
    String name,
    boolean copyOnRead,
    boolean discardPassdown,
    Duration commitPeriod,
    long bandwidth,
    int regionsInFlight,
    int batchRegions,
    Cutover cutover,
    boolean noCopy,
    boolean startPaused,
    int maxCopyRetries,
    Duration retryBackoff,
    boolean hotRegionsFirst) {

  /** When the clone switches to a pass-through of the destination. */
  public enum Cutover {
    /** As soon as every region is copied and committed. */
    AUTO,
    /** After {@link Clone#approveCutover()}; until then the clone stays "copied". */
    MANUAL
  }

  public CloneOptions {
    if (name == null || name.isBlank()) {
      throw new IllegalArgumentException("clone name must not be empty");
    }
    if (commitPeriod == null || commitPeriod.isNegative() || commitPeriod.isZero()) {
      throw new IllegalArgumentException("commit period must be positive, got " + commitPeriod);
    }
    Copier.checkTuning(bandwidth, regionsInFlight, batchRegions);
    if (cutover == null) {
      throw new IllegalArgumentException("cutover mode must be auto or manual");
    }
    if (maxCopyRetries < 0) {
      throw new IllegalArgumentException("copy error budget must be >= 0, got " + maxCopyRetries);
    }
    if (retryBackoff == null || retryBackoff.isNegative() || retryBackoff.isZero()) {
      throw new IllegalArgumentException(
          "copy retry backoff must be positive, got " + retryBackoff);
    }
  }

  public static Builder builder(String name) {
    return new Builder(name);
  }

  /**
   * Defaults: no copy-on-read, hot regions first, discards passed down, 1 s commits, unlimited
   * bandwidth, and the regions in flight and batch size of {@link CopyDefaults}.
   */
  public static final class Builder {
    private String name;
    private boolean copyOnRead;
    private boolean discardPassdown = true;
    private Duration commitPeriod = Duration.ofSeconds(1);
    private long bandwidth;
    private int regionsInFlight = CopyDefaults.REGIONS_IN_FLIGHT;
    private int batchRegions = CopyDefaults.BATCH_REGIONS;
    private Cutover cutover = Cutover.AUTO;
    private boolean noCopy;
    private boolean startPaused;
    private int maxCopyRetries = 16;
    private Duration retryBackoff = Duration.ofMillis(50);
    private boolean hotRegionsFirst = true;

    private Builder(String name) {
      this.name = name;
    }

    public Builder name(String value) {
      name = value;
      return this;
    }

    public Builder copyOnRead(boolean value) {
      copyOnRead = value;
      return this;
    }

    public Builder discardPassdown(boolean value) {
      discardPassdown = value;
      return this;
    }

    public Builder commitPeriod(Duration value) {
      commitPeriod = value;
      return this;
    }

    public Builder bandwidth(long bytesPerSecond) {
      bandwidth = bytesPerSecond;
      return this;
    }

    public Builder regionsInFlight(int value) {
      regionsInFlight = value;
      return this;
    }

    public Builder batchRegions(int value) {
      batchRegions = value;
      return this;
    }

    public Builder cutover(Cutover value) {
      cutover = value;
      return this;
    }

    public Builder noCopy(boolean value) {
      noCopy = value;
      return this;
    }

    public Builder startPaused(boolean value) {
      startPaused = value;
      return this;
    }

    public Builder maxCopyRetries(int value) {
      maxCopyRetries = value;
      return this;
    }

    public Builder retryBackoff(Duration value) {
      retryBackoff = value;
      return this;
    }

    public Builder hotRegionsFirst(boolean value) {
      hotRegionsFirst = value;
      return this;
    }

    public CloneOptions build() {
      return new CloneOptions(
          name,
          copyOnRead,
          discardPassdown,
          commitPeriod,
          bandwidth,
          regionsInFlight,
          batchRegions,
          cutover,
          noCopy,
          startPaused,
          maxCopyRetries,
          retryBackoff,
          hotRegionsFirst);
    }
  }
}
