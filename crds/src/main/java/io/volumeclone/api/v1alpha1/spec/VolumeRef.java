package io.volumeclone.api.v1alpha1.spec;

import java.util.Objects;

/**
 * A clone's volume on the node: a device path or a PersistentVolumeClaim. The source, the
 * destination and the metadata device are each one of these (the source may also be an NBD export);
 * what differs between them is how they are opened, which each subclass says in the descriptions of
 * its getters, and the CRD rule that exactly one kind is set.
 */
public abstract class VolumeRef {

  private DeviceRef device;

  private PvcRef persistentVolumeClaim;

  protected VolumeRef() {}

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

  /**
   * What this volume is to the clone, as logs and messages name it: source, destination, metadata.
   */
  protected abstract String role();

  @Override
  public boolean equals(Object o) {
    return o != null
        && o.getClass() == getClass()
        && Objects.equals(device, ((VolumeRef) o).device)
        && Objects.equals(persistentVolumeClaim, ((VolumeRef) o).persistentVolumeClaim);
  }

  @Override
  public int hashCode() {
    return Objects.hash(getClass(), device, persistentVolumeClaim);
  }

  @Override
  public String toString() {
    return role() + " " + describe();
  }
}
