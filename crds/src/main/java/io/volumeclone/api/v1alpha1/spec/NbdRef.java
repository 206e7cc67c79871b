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

  /** The URIs the CRD admits: nbd://HOST[:PORT][/EXPORT] or nbd+unix:///[EXPORT]?socket=PATH. */
  public static final String URI_PATTERN =
      "^(nbd://[^/?#]+(/[^?#]*)?|nbd\\+unix:///[^?#]*\\?socket=[^&#]+)$";

  @Required
  @Size(min = 7, max = 4096)
  // What the agent's NBD client takes: a host for TCP, the socket for a Unix socket, no TLS
  // (nbds) and no other parameters. The agent refuses anything else as a permanent InvalidSpec.
  @Pattern(URI_PATTERN)
  @JsonPropertyDescription(
      "NBD URI of the source export: nbd://host[:port]/export for TCP or"
          + " nbd+unix:///export?socket=PATH for a Unix socket on the node (see the NBD URI"
          + " specification). TLS (nbds://) is not supported.")
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
