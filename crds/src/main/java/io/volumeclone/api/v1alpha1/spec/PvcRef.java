package io.volumeclone.api.v1alpha1.spec;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import java.util.Objects;

/** A PersistentVolumeClaim in the VolumeClone's own namespace, used in Block volume mode. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class PvcRef {

  @Required
  @Size(min = 1, max = 253)
  @Pattern("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
  @JsonPropertyDescription(
      "Name of a PersistentVolumeClaim in the VolumeClone's namespace. The claim must use"
          + " volumeMode: Block.")
  private String claimName;

  public PvcRef() {}

  public PvcRef(String claimName) {
    this.claimName = claimName;
  }

  public String getClaimName() {
    return claimName;
  }

  public void setClaimName(String claimName) {
    this.claimName = claimName;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof PvcRef other && Objects.equals(claimName, other.claimName);
  }

  @Override
  public int hashCode() {
    return Objects.hashCode(claimName);
  }

  @Override
  public String toString() {
    return "pvc/" + claimName;
  }
}
