package io.volumeclone.api.v1alpha1.spec;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.ValidationRule;

/** The small device that records which regions are copied, so a restart loses nothing. */
@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
    value = "(has(self.device) ? 1 : 0) + (has(self.persistentVolumeClaim) ? 1 : 0) == 1",
    message = "metadata must set exactly one of device or persistentVolumeClaim")
public class MetadataRef extends VolumeRef {

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

  @Override
  @JsonPropertyDescription(
      "A block device on the node, opened exclusively. An all-zero device is formatted; anything else must be valid volume-clone metadata for this clone.")
  public DeviceRef getDevice() {
    return super.getDevice();
  }

  @Override
  @JsonPropertyDescription(
      "A PersistentVolumeClaim (volumeMode: Block) in this namespace. An all-zero volume is formatted; anything else must be valid volume-clone metadata for this clone.")
  public PvcRef getPersistentVolumeClaim() {
    return super.getPersistentVolumeClaim();
  }

  @Override
  protected String role() {
    return "metadata";
  }
}
