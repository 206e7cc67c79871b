package io.volumeclone.api.v1alpha1.spec;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import java.util.Objects;

/** A block device (or a regular file standing in for one) on the clone's node. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class DeviceRef {

  @Required
  @Pattern("^/.*")
  @Size(min = 2, max = 4096)
  @JsonPropertyDescription(
      "Absolute path of the block device on the node, e.g. /dev/disk/by-id/nvme-1. Which paths"
          + " are allowed is decided by the operator's configuration (Helm value"
          + " agent.allowedDevicePrefixes). A device reference requires spec.nodeName.")
  private String path;

  public DeviceRef() {}

  public DeviceRef(String path) {
    this.path = path;
  }

  public String getPath() {
    return path;
  }

  public void setPath(String path) {
    this.path = path;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof DeviceRef other && Objects.equals(path, other.path);
  }

  @Override
  public int hashCode() {
    return Objects.hashCode(path);
  }

  @Override
  public String toString() {
    return "device " + path;
  }
}
