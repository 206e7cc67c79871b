package io.volumeclone.api.v1alpha1.spec;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import java.util.Objects;

/** A remote, read-only source served over the NBD protocol. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class NbdRef {

  @Required
  @Size(min = 7, max = 4096)
  @Pattern("^nbd(\\+unix|s|s\\+unix)?://.*")
  @JsonPropertyDescription(
      "NBD URI of the source export: nbd://host[:port]/export for TCP or"
          + " nbd+unix:///export?socket=PATH for a Unix socket on the node (see the NBD URI"
          + " specification).")
  private String uri;

  public NbdRef() {}

  public NbdRef(String uri) {
    this.uri = uri;
  }

  public String getUri() {
    return uri;
  }

  public void setUri(String uri) {
    this.uri = uri;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof NbdRef other && Objects.equals(uri, other.uri);
  }

  @Override
  public int hashCode() {
    return Objects.hashCode(uri);
  }

  @Override
  public String toString() {
    return uri;
  }
}
