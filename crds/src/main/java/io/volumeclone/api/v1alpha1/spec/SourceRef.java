package io.volumeclone.api.v1alpha1.spec;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.Objects;

/** Where the data comes from: exactly one of a device, a PVC or an NBD export. Never written. */
@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
    value =
        "(has(self.device) ? 1 : 0) + (has(self.persistentVolumeClaim) ? 1 : 0)"
            + " + (has(self.nbd) ? 1 : 0) == 1",
    message = "source must set exactly one of device, persistentVolumeClaim or nbd")
public class SourceRef {

  @JsonPropertyDescription(
      "A block device on the node. The source is opened read-only and never written.")
  private DeviceRef device;

  @JsonPropertyDescription(
      "A PersistentVolumeClaim (volumeMode: Block) in this namespace. It is opened read-only.")
  private PvcRef persistentVolumeClaim;

  @JsonPropertyDescription("An NBD export to read from, e.g. a remote backup server.")
  private NbdRef nbd;

  public SourceRef() {}

  public static SourceRef device(String path) {
    SourceRef ref = new SourceRef();
    ref.setDevice(new DeviceRef(path));
    return ref;
  }

  public static SourceRef persistentVolumeClaim(String claimName) {
    SourceRef ref = new SourceRef();
    ref.setPersistentVolumeClaim(new PvcRef(claimName));
    return ref;
  }

  public static SourceRef nbd(String uri) {
    SourceRef ref = new SourceRef();
    ref.setNbd(new NbdRef(uri));
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

  public NbdRef getNbd() {
    return nbd;
  }

  public void setNbd(NbdRef nbd) {
    this.nbd = nbd;
  }

  /**
   * The one-line form shown in {@code kubectl get vc} (status.sourceSummary): {@code pvc/NAME}, the
   * device path, or the NBD URI; {@code "<none>"} when nothing is set.
   */
  public String describe() {
    if (persistentVolumeClaim != null) {
      return persistentVolumeClaim.toString();
    }
    if (device != null) {
      return device.getPath();
    }
    if (nbd != null) {
      return nbd.getUri();
    }
    return "<none>";
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof SourceRef other
        && Objects.equals(device, other.device)
        && Objects.equals(persistentVolumeClaim, other.persistentVolumeClaim)
        && Objects.equals(nbd, other.nbd);
  }

  @Override
  public int hashCode() {
    return Objects.hash(device, persistentVolumeClaim, nbd);
  }

  @Override
  public String toString() {
    return "source " + describe();
  }
}
