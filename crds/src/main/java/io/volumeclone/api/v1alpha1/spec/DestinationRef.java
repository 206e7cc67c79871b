package io.volumeclone.api.v1alpha1.spec;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.ValidationRule;

/**
 * Where the data goes: exactly one of a device or a PVC. Usable while copying (access: Immediate).
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
    value = "(has(self.device) ? 1 : 0) + (has(self.persistentVolumeClaim) ? 1 : 0) == 1",
    message = "destination must set exactly one of device or persistentVolumeClaim")
public class DestinationRef extends VolumeRef {

  public DestinationRef() {}

  public static DestinationRef device(String path) {
    DestinationRef ref = new DestinationRef();
    ref.setDevice(new DeviceRef(path));
    return ref;
  }

  public static DestinationRef persistentVolumeClaim(String claimName) {
    DestinationRef ref = new DestinationRef();
    ref.setPersistentVolumeClaim(new PvcRef(claimName));
    return ref;
  }

  @Override
  @JsonPropertyDescription("A block device on the node, opened exclusively (O_EXCL) for writing.")
  public DeviceRef getDevice() {
    return super.getDevice();
  }

  @Override
  @JsonPropertyDescription(
      "A PersistentVolumeClaim (volumeMode: Block) in this namespace, at least as large as the copied range.")
  public PvcRef getPersistentVolumeClaim() {
    return super.getPersistentVolumeClaim();
  }

  @Override
  protected String role() {
    return "destination";
  }
}
