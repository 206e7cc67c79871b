package io.volumeclone.api.v1alpha1.status;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.Objects;

/** Where consumers reach the clone while it runs. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class ExportStatus {

  @JsonPropertyDescription(
      "NBD URI of the clone's export on its node, e.g."
          + " nbd+unix:///restore-db?socket=/var/lib/volume-clone/db/restore-db/nbd.sock.")
  private String uri;

  @JsonPropertyDescription(
      "Kernel block device that presents the clone on the node, when there is one (e.g."
          + " /dev/mapper/volume-clone-<uid>).")
  private String device;

  public ExportStatus() {}

  public ExportStatus(String uri, String device) {
    this.uri = uri;
    this.device = device;
  }

  public String getUri() {
    return uri;
  }

  public void setUri(String uri) {
    this.uri = uri;
  }

  public String getDevice() {
    return device;
  }

  public void setDevice(String device) {
    this.device = device;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ExportStatus other
        && Objects.equals(uri, other.uri)
        && Objects.equals(device, other.device);
  }

  @Override
  public int hashCode() {
    return Objects.hash(uri, device);
  }

  @Override
  public String toString() {
    return "export{uri=" + uri + ", device=" + device + "}";
  }
}
