package io.volumeclone.api.v1alpha1.spec;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.Objects;

/** The small device that records which regions are copied, so a restart loses nothing. */
@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
    value = "(has(self.device) ? 1 : 0) + (has(self.persistentVolumeClaim) ? 1 : 0) == 1",
    message = "metadata must set exactly one of device or persistentVolumeClaim")
public class MetadataRef {

  @JsonPropertyDescription(
      "A block device on the node, opened exclusively. An all-zero device is formatted; anything else must be valid volume-clone metadata for this clone.")
  private DeviceRef device;

  @JsonPropertyDescription(
      "A PersistentVolumeClaim (volumeMode: Block) in this namespace. An all-zero volume is formatted; anything else must be valid volume-clone metadata for this clone.")
  private PvcRef persistentVolumeClaim;

  public MetadataRef() {}

  public static MetadataRef device(String path) {
    MetadataRef ref = new MetadataRef();
    ref.setDevice(new DeviceRef(path));
    return ref;
  }

  public static MetadataRef persistentVolumeClaim(String claimName) {
    MetadataRef ref = new MetadataRef();
    ref.setPersistentVolumeClaim(new PvcRef(claimName));
    return ref;
  }

  public DeviceRef getDevice() {
    return device;
  }

  public void setDevice(DeviceRef device) {
    this.device = device;
  }

  public PvcRef getPersistentVolumeClaim() {
    return persistentVolumeClaim;
  }

  public void setPersistentVolumeClaim(PvcRef persistentVolumeClaim) {
    this.persistentVolumeClaim = persistentVolumeClaim;
  }

  /** The one-line form: {@code pvc/NAME} or the device path; {@code "<none>"} when unset. */
  public String describe() {
    if (persistentVolumeClaim != null) {
      return persistentVolumeClaim.toString();
    }
    if (device != null) {
      return device.getPath();
    }
    return "<none>";
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof MetadataRef other
        && Objects.equals(device, other.device)
        && Objects.equals(persistentVolumeClaim, other.persistentVolumeClaim);
  }

  @Override
  public int hashCode() {
    return Objects.hash(device, persistentVolumeClaim);
  }

  @Override
  public String toString() {
    return "metadata " + describe();
  }
}
