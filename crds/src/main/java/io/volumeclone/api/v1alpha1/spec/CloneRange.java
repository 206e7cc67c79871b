package io.volumeclone.api.v1alpha1.spec;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.crd.generator.annotation.SchemaFrom;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Size;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.volumeclone.api.Sizes;
import java.util.Objects;

/**
 * An optional sub-range: copy {@code size} bytes from {@code sourceOffset} of the source to {@code
 * destinationOffset} of the destination. Values are quantities (see {@link Sizes}); the Java fields
 * hold them as written, a YAML integer arrives as its decimal string.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class CloneRange {

  @SchemaFrom(type = IntOrString.class)
  @Size(max = Sizes.MAX_QUANTITY_LENGTH)
  @Pattern(Sizes.QUANTITY_PATTERN)
  @JsonPropertyDescription(
      "Byte offset in the source where the range starts (a quantity such as 0, 1Gi or"
          + " 1073741824). Default 0.")
  private String sourceOffset;

  @SchemaFrom(type = IntOrString.class)
  @Size(max = Sizes.MAX_QUANTITY_LENGTH)
  @Pattern(Sizes.QUANTITY_PATTERN)
  @JsonPropertyDescription("Byte offset in the destination where the range is written. Default 0.")
  private String destinationOffset;

  @SchemaFrom(type = IntOrString.class)
  @Size(max = Sizes.MAX_QUANTITY_LENGTH)
  @Pattern(Sizes.QUANTITY_PATTERN)
  @JsonPropertyDescription(
      "Number of bytes to copy (a quantity such as 100Gi). Default: the rest of the source"
          + " after sourceOffset.")
  private String size;

  public CloneRange() {}

  public CloneRange(String sourceOffset, String destinationOffset, String size) {
    this.sourceOffset = sourceOffset;
    this.destinationOffset = destinationOffset;
    this.size = size;
  }

  public String getSourceOffset() {
    return sourceOffset;
  }

  public void setSourceOffset(String sourceOffset) {
    this.sourceOffset = sourceOffset;
  }

  public String getDestinationOffset() {
    return destinationOffset;
  }

  public void setDestinationOffset(String destinationOffset) {
    this.destinationOffset = destinationOffset;
  }

  public String getSize() {
    return size;
  }

  public void setSize(String size) {
    this.size = size;
  }

  /** {@link #getSourceOffset()} in bytes, 0 when absent. */
  public long sourceOffsetBytes() {
    return sourceOffset == null ? 0 : Sizes.parseQuantity(sourceOffset);
  }

  /** {@link #getDestinationOffset()} in bytes, 0 when absent. */
  public long destinationOffsetBytes() {
    return destinationOffset == null ? 0 : Sizes.parseQuantity(destinationOffset);
  }

  /** {@link #getSize()} in bytes, or -1 when absent (meaning: to the end of the source). */
  public long sizeBytes() {
    return size == null ? -1 : Sizes.parseQuantity(size);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof CloneRange other
        && Objects.equals(sourceOffset, other.sourceOffset)
        && Objects.equals(destinationOffset, other.destinationOffset)
        && Objects.equals(size, other.size);
  }

  @Override
  public int hashCode() {
    return Objects.hash(sourceOffset, destinationOffset, size);
  }

  @Override
  public String toString() {
    return "range[source+"
        + sourceOffset
        + " -> destination+"
        + destinationOffset
        + ", "
        + size
        + "]";
  }
}
