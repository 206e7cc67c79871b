package io.volumeclone.api.v1alpha1.status;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import java.util.Objects;

/**
 * How far the copy is. Written by the agent only. {@code percent} is a string (Kubernetes API
 * conventions avoid floats) with one decimal and no percent sign, e.g. {@code "42.5"}. The model
 * only holds the figures: the agent formats them with the engine's one status formatter ({@code
 * CloneStatus.percentText}, {@code rateText}), the same text the CLI shows.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class Progress {

  @JsonPropertyDescription("Number of regions in the clone.")
  private Long regionsTotal;

  @JsonPropertyDescription("Number of regions the destination holds (copied or overwritten).")
  private Long regionsCopied;

  @JsonPropertyDescription(
      "Number of copied regions recorded on the metadata device; they survive a crash.")
  private Long regionsCommitted;

  @JsonPropertyDescription("Bytes in the clone.")
  private Long bytesTotal;

  @JsonPropertyDescription("Bytes the destination holds.")
  private Long bytesCopied;

  @Pattern("^(100|[0-9]{1,2})\\.[0-9]$")
  @JsonPropertyDescription(
      "Share of the clone that is copied, in percent with one decimal, e.g. \"42.5\".")
  private String percent;

  @Pattern("^(100|[0-9]{1,2})\\.[0-9]%$")
  @JsonPropertyDescription(
      "percent as kubectl get shows it, with the percent sign, e.g. \"42.5%\".")
  private String percentText;

  @JsonPropertyDescription("Background copy rate over the last reporting interval.")
  private Long bytesPerSecond;

  @JsonPropertyDescription(
      "bytesPerSecond as kubectl get -o wide shows it, in binary units, e.g. \"120Mi/s\".")
  private String rateText;

  @JsonPropertyDescription(
      "When the copy is expected to finish at the current rate (RFC 3339), absent when"
          + " unknown.")
  private String estimatedCompletionTime;

  public Progress() {}

  public Long getRegionsTotal() {
    return regionsTotal;
  }

  public void setRegionsTotal(Long regionsTotal) {
    this.regionsTotal = regionsTotal;
  }

  public Long getRegionsCopied() {
    return regionsCopied;
  }

  public void setRegionsCopied(Long regionsCopied) {
    this.regionsCopied = regionsCopied;
  }

  public Long getRegionsCommitted() {
    return regionsCommitted;
  }

  public void setRegionsCommitted(Long regionsCommitted) {
    this.regionsCommitted = regionsCommitted;
  }

  public Long getBytesTotal() {
    return bytesTotal;
  }

  public void setBytesTotal(Long bytesTotal) {
    this.bytesTotal = bytesTotal;
  }

  public Long getBytesCopied() {
    return bytesCopied;
  }

  public void setBytesCopied(Long bytesCopied) {
    this.bytesCopied = bytesCopied;
  }

  public String getPercent() {
    return percent;
  }

  public void setPercent(String percent) {
    this.percent = percent;
  }

  public String getPercentText() {
    return percentText;
  }

  public void setPercentText(String percentText) {
    this.percentText = percentText;
  }

  public String getRateText() {
    return rateText;
  }

  public void setRateText(String rateText) {
    this.rateText = rateText;
  }

  public Long getBytesPerSecond() {
    return bytesPerSecond;
  }

  public void setBytesPerSecond(Long bytesPerSecond) {
    this.bytesPerSecond = bytesPerSecond;
  }

  public String getEstimatedCompletionTime() {
    return estimatedCompletionTime;
  }

  public void setEstimatedCompletionTime(String estimatedCompletionTime) {
    this.estimatedCompletionTime = estimatedCompletionTime;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Progress other
        && Objects.equals(regionsTotal, other.regionsTotal)
        && Objects.equals(regionsCopied, other.regionsCopied)
        && Objects.equals(regionsCommitted, other.regionsCommitted)
        && Objects.equals(bytesTotal, other.bytesTotal)
        && Objects.equals(bytesCopied, other.bytesCopied)
        && Objects.equals(percent, other.percent)
        && Objects.equals(percentText, other.percentText)
        && Objects.equals(bytesPerSecond, other.bytesPerSecond)
        && Objects.equals(rateText, other.rateText)
        && Objects.equals(estimatedCompletionTime, other.estimatedCompletionTime);
  }

  @Override
  public int hashCode() {
    return Objects.hash(
        regionsTotal,
        regionsCopied,
        regionsCommitted,
        bytesTotal,
        bytesCopied,
        percent,
        percentText,
        bytesPerSecond,
        rateText,
        estimatedCompletionTime);
  }

  @Override
  public String toString() {
    return "Progress{regions "
        + regionsCopied
        + "/"
        + regionsTotal
        + " (committed "
        + regionsCommitted
        + "), bytes "
        + bytesCopied
        + "/"
        + bytesTotal
        + ", "
        + percent
        + "%, "
        + bytesPerSecond
        + " B/s, eta "
        + estimatedCompletionTime
        + "}";
  }
}
