package io.volumeclone.api.v1alpha1.spec;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.crd.generator.annotation.SchemaFrom;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Size;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.volumeclone.api.Sizes;
import java.util.Objects;

/**
 * Tuning of the background copy. Every field may change while the clone runs (dm-clone's messages,
 * as spec fields); the agent applies changes without restarting. When {@code spec.copy} is absent
 * the agent uses the same defaults ({@code DEFAULT_*}).
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class CopySpec {

  /**
   * The engine's defaults ({@code io.volumeclone.engine.CopyDefaults}, which says why these
   * values), stated here because the API module knows nothing of the engine; a node-agent test
   * fails when the generated CRD's defaults and the engine's differ.
   */
  public static final int DEFAULT_REGIONS_IN_FLIGHT = 256;

  public static final int DEFAULT_BATCH_REGIONS = 64;

  private static final String DEFAULT_REGIONS_IN_FLIGHT_TEXT = "" + DEFAULT_REGIONS_IN_FLIGHT;
  private static final String DEFAULT_BATCH_REGIONS_TEXT = "" + DEFAULT_BATCH_REGIONS;

  @Default("false")
  @JsonPropertyDescription(
      "Pause the background copy. Reads and writes of consumers keep working; regions they"
          + " touch are still copied on demand.")
  private Boolean paused;

  @SchemaFrom(type = IntOrString.class)
  @Size(max = Sizes.MAX_QUANTITY_LENGTH)
  @Pattern(Sizes.QUANTITY_PATTERN)
  @JsonPropertyDescription(
      "Upper limit of the background copy in bytes per second, a quantity such as 200Mi."
          + " Absent means unlimited.")
  private String bandwidth;

  @Default(DEFAULT_REGIONS_IN_FLIGHT_TEXT)
  @Min(1)
  @Max(1024)
  @JsonPropertyDescription("How many regions may be copied at the same time (1..1024).")
  private Integer regionsInFlight;

  @Default(DEFAULT_BATCH_REGIONS_TEXT)
  @Min(1)
  @Max(65536)
  @JsonPropertyDescription(
      "How many contiguous uncopied regions one copy operation may cover (1..65536).")
  private Integer batchRegions;

  @Default("false")
  @JsonPropertyDescription(
      "Also copy a region when a consumer reads it from the source, so it is read only once.")
  private Boolean copyOnRead;

  @Default("true")
  @JsonPropertyDescription(
      "Copy the regions near a consumer's reads of uncopied data before the sequential scan reaches"
          + " them, so a hot working set comes from the destination soon; at least a quarter of"
          + " the copy still follows the scan.")
  private Boolean hotRegionsFirst;

  public CopySpec() {}

  public Boolean getPaused() {
    return paused;
  }

  public void setPaused(Boolean paused) {
    this.paused = paused;
  }

  public String getBandwidth() {
    return bandwidth;
  }

  public void setBandwidth(String bandwidth) {
    this.bandwidth = bandwidth;
  }

  public Integer getRegionsInFlight() {
    return regionsInFlight;
  }

  public void setRegionsInFlight(Integer regionsInFlight) {
    this.regionsInFlight = regionsInFlight;
  }

  public Integer getBatchRegions() {
    return batchRegions;
  }

  public void setBatchRegions(Integer batchRegions) {
    this.batchRegions = batchRegions;
  }

  public Boolean getCopyOnRead() {
    return copyOnRead;
  }

  public void setCopyOnRead(Boolean copyOnRead) {
    this.copyOnRead = copyOnRead;
  }

  public Boolean getHotRegionsFirst() {
    return hotRegionsFirst;
  }

  public void setHotRegionsFirst(Boolean hotRegionsFirst) {
    this.hotRegionsFirst = hotRegionsFirst;
  }

  /** Whether the copy is paused, false when unset. */
  public boolean pausedOrDefault() {
    return paused != null && paused;
  }

  /** The bandwidth limit in bytes per second, or 0 for unlimited. */
  public long bandwidthBytesPerSecond() {
    return bandwidth == null ? 0 : Sizes.parseQuantity(bandwidth);
  }

  public int regionsInFlightOrDefault() {
    return regionsInFlight == null ? DEFAULT_REGIONS_IN_FLIGHT : regionsInFlight;
  }

  public int batchRegionsOrDefault() {
    return batchRegions == null ? DEFAULT_BATCH_REGIONS : batchRegions;
  }

  public boolean copyOnReadOrDefault() {
    return copyOnRead != null && copyOnRead;
  }

  /** Whether hot regions come first, true when unset. */
  public boolean hotRegionsFirstOrDefault() {
    return hotRegionsFirst == null || hotRegionsFirst;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof CopySpec other
        && Objects.equals(paused, other.paused)
        && Objects.equals(bandwidth, other.bandwidth)
        && Objects.equals(regionsInFlight, other.regionsInFlight)
        && Objects.equals(batchRegions, other.batchRegions)
        && Objects.equals(copyOnRead, other.copyOnRead)
        && Objects.equals(hotRegionsFirst, other.hotRegionsFirst);
  }

  @Override
  public int hashCode() {
    return Objects.hash(
        paused, bandwidth, regionsInFlight, batchRegions, copyOnRead, hotRegionsFirst);
  }

  @Override
  public String toString() {
    return "CopySpec{paused="
        + paused
        + ", bandwidth="
        + bandwidth
        + ", regionsInFlight="
        + regionsInFlight
        + ", batchRegions="
        + batchRegions
        + ", copyOnRead="
        + copyOnRead
        + ", hotRegionsFirst="
        + hotRegionsFirst
        + "}";
  }
}
