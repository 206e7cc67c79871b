package io.volumeclone.api.v1alpha1.spec;

/** How workloads use the clone volume, as a PersistentVolume's volumeMode. */
public enum VolumeMode {
  /** Mounted: the clone holds a filesystem of {@code fsType} (the source already holds it). */
  Filesystem,
  /** Handed to the Pod as a raw block device (volumeDevices). */
  Block
}
