package io.volumeclone.api.v1alpha1.status;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/** The clone volume (spec.volume) as the operator published it. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class VolumeStatus {

  @JsonPropertyDescription("The claim workloads mount, in the VolumeClone's namespace.")
  private String claimName;

  @JsonPropertyDescription("The PersistentVolume the operator created for the claim, once it has.")
  private String persistentVolumeName;

  @JsonPropertyDescription(
      "Device on the node the PersistentVolume names: the clone's kernel device"
          + " (/dev/mapper/volume-clone-<uid>) or, after cutover on a node without one, the"
          + " destination.")
  private String devicePath;

  @JsonPropertyDescription("Node the volume is on; the PersistentVolume's node affinity names it.")
  private String nodeName;

  @JsonPropertyDescription("Whether the claim is bound to the PersistentVolume.")
  private Boolean bound;

  @JsonInclude(JsonInclude.Include.NON_EMPTY)
  @JsonPropertyDescription("Pods (namespace/name) that use the claim; deletion waits for them.")
  private List<String> inUseBy = new ArrayList<>();

  @JsonPropertyDescription("Why the claim is not bound yet, or what to mount instead.")
  private String message;

  public VolumeStatus() {}

  public String getClaimName() {
    return claimName;
  }

  public void setClaimName(String claimName) {
    this.claimName = claimName;
  }

  public String getPersistentVolumeName() {
    return persistentVolumeName;
  }

  public void setPersistentVolumeName(String persistentVolumeName) {
    this.persistentVolumeName = persistentVolumeName;
  }

  public String getDevicePath() {
    return devicePath;
  }

  public void setDevicePath(String devicePath) {
    this.devicePath = devicePath;
  }

  public String getNodeName() {
    return nodeName;
  }

  public void setNodeName(String nodeName) {
    this.nodeName = nodeName;
  }

  public Boolean getBound() {
    return bound;
  }

  public void setBound(Boolean bound) {
    this.bound = bound;
  }

  public List<String> getInUseBy() {
    return inUseBy;
  }

  public void setInUseBy(List<String> inUseBy) {
    this.inUseBy = inUseBy;
  }

  public String getMessage() {
    return message;
  }

  public void setMessage(String message) {
    this.message = message;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof VolumeStatus other
        && Objects.equals(claimName, other.claimName)
        && Objects.equals(persistentVolumeName, other.persistentVolumeName)
        && Objects.equals(devicePath, other.devicePath)
        && Objects.equals(nodeName, other.nodeName)
        && Objects.equals(bound, other.bound)
        && Objects.equals(inUseBy, other.inUseBy)
        && Objects.equals(message, other.message);
  }

  @Override
  public int hashCode() {
    return Objects.hash(
        claimName, persistentVolumeName, devicePath, nodeName, bound, inUseBy, message);
  }

  @Override
  public String toString() {
    return "volume{pvc/"
        + claimName
        + ", pv="
        + persistentVolumeName
        + ", device="
        + devicePath
        + ", node="
        + nodeName
        + ", bound="
        + bound
        + (inUseBy == null || inUseBy.isEmpty() ? "" : ", inUseBy=" + inUseBy)
        + (message == null ? "" : ", " + message)
        + "}";
  }
}
