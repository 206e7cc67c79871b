package io.volumeclone.api.v1alpha1.spec;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.Objects;

/**
 * The claim workloads mount while the clone copies: the operator creates it in the VolumeClone's
 * namespace, pre-bound to a PersistentVolume on the clone's kernel device (or, where the node has
 * none, on the destination once the clone is cut over).
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
    value = "!has(self.fsType) || !has(self.mode) || self.mode == 'Filesystem'",
    message =
        "volume.fsType is only for mode Filesystem: a Block volume is handed to the Pod as a raw"
            + " device")
public class CloneVolume {

  /** A DNS-1123 subdomain, as the API server requires of a claim's name ([.] avoids escapes). */
  static final String CLAIM_NAME_RULE =
      "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')";

  @Required
  @Size(min = 1, max = 253)
  @ValidationRule(
      value = CLAIM_NAME_RULE,
      message =
          "volume.claimName must be a DNS-1123 name: lower-case letters, digits, '-' and '.',"
              + " starting and ending with a letter or digit")
  @JsonPropertyDescription(
      "Name of the PersistentVolumeClaim the operator creates in the VolumeClone's namespace for"
          + " workloads to mount. It must not exist yet and must differ from the source,"
          + " destination and metadata claims.")
  private String claimName;

  @Default("Filesystem")
  @JsonPropertyDescription(
      "Filesystem (mounted with fsType; the source must already hold that filesystem) or Block"
          + " (a raw device in the Pod). Default Filesystem.")
  private VolumeMode mode;

  @Size(max = 32)
  @Pattern("^[a-z0-9]+$")
  @JsonPropertyDescription(
      "Filesystem type the kubelet mounts, e.g. ext4 or xfs. Only with mode Filesystem; the"
          + " source must already hold this filesystem. Default: the kubelet's (ext4).")
  private String fsType;

  public CloneVolume() {}

  public CloneVolume(String claimName, VolumeMode mode, String fsType) {
    this.claimName = claimName;
    this.mode = mode;
    this.fsType = fsType;
  }

  public String getClaimName() {
    return claimName;
  }

  public void setClaimName(String claimName) {
    this.claimName = claimName;
  }

  public VolumeMode getMode() {
    return mode;
  }

  public void setMode(VolumeMode mode) {
    this.mode = mode;
  }

  public String getFsType() {
    return fsType;
  }

  public void setFsType(String fsType) {
    this.fsType = fsType;
  }

  public VolumeMode modeOrDefault() {
    return mode == null ? VolumeMode.Filesystem : mode;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof CloneVolume other
        && Objects.equals(claimName, other.claimName)
        && mode == other.mode
        && Objects.equals(fsType, other.fsType);
  }

  @Override
  public int hashCode() {
    return Objects.hash(claimName, mode, fsType);
  }

  @Override
  public String toString() {
    return "volume{pvc/" + claimName + ", " + mode + (fsType == null ? "" : " " + fsType) + "}";
  }
}
