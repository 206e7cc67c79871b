package io.volumeclone.api.v1alpha1.spec;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.Objects;

/**
 * Where the data goes: exactly one of a device or a PVC. Usable while copying (access: Immediate).
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
    value = "(has(self.device) ? 1 : 0) + (has(self.persistentVolumeClaim) ? 1 : 0) == 1",
    message = "destination must set exactly one of device or persistentVolumeClaim")
public class DestinationRef {

  @JsonPropertyDescription("A block device on the node, opened exclusively (O_EXCL) for writing.")
  private DeviceRef device;

  @JsonPropertyDescription(
      "A PersistentVolumeClaim (volumeMode: Block) in this namespace, at least as large as the copied range.")
  private PvcRef persistentVolumeClaim;

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
    return o instanceof DestinationRef other
        && Objects.equals(device, other.device)
        && Objects.equals(persistentVolumeClaim, other.persistentVolumeClaim);
  }

  @Override
  public int hashCode() {
    return Objects.hash(device, persistentVolumeClaim);
  }

  @Override
  public String toString() {
    return "destination " + describe();
  }
}
