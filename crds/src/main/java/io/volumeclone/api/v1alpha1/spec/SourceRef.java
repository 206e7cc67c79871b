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
public class SourceRef extends VolumeRef {

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

  @Override
  @JsonPropertyDescription(
      "A block device on the node. The source is opened read-only and never written.")
  public DeviceRef getDevice() {
    return super.getDevice();
  }

  @Override
  @JsonPropertyDescription(
      "A PersistentVolumeClaim (volumeMode: Block) in this namespace. It is opened read-only.")
  public PvcRef getPersistentVolumeClaim() {
    return super.getPersistentVolumeClaim();
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
  @Override
  public String describe() {
    if (nbd != null && getDevice() == null && getPersistentVolumeClaim() == null) {
      return nbd.getUri();
    }
    return super.describe();
  }

  @Override
  protected String role() {
    return "source";
  }

  @Override
  public boolean equals(Object o) {
    return super.equals(o) && Objects.equals(nbd, ((SourceRef) o).nbd);
  }

  @Override
  public int hashCode() {
    return 31 * super.hashCode() + Objects.hashCode(nbd);
  }
}
