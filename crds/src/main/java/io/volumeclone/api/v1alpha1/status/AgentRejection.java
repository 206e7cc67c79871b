package io.volumeclone.api.v1alpha1.status;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.Objects;

/**
 * The last agent Pod a node's kubelet refused to admit, and the back-off before the next one. It
 * lives in the status, not in the operator's memory, so that a restarted operator neither forgets
 * the count (and starts a loop of Pods at the shortest wait) nor warns twice about the same Pod.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class AgentRejection {

  @JsonPropertyDescription("The uid of the rejected agent Pod.")
  private String podUid;

  @JsonPropertyDescription(
      "How many agent Pods in a row a node rejected; the wait before the next one doubles with"
          + " each.")
  private Integer count;

  @JsonPropertyDescription("When the next agent Pod may be created (RFC 3339).")
  private String retryAt;

  public AgentRejection() {}

  public AgentRejection(String podUid, int count, String retryAt) {
    this.podUid = podUid;
    this.count = count;
    this.retryAt = retryAt;
  }

  public String getPodUid() {
    return podUid;
  }

  public void setPodUid(String podUid) {
    this.podUid = podUid;
  }

  public Integer getCount() {
    return count;
  }

  public void setCount(Integer count) {
    this.count = count;
  }

  public String getRetryAt() {
    return retryAt;
  }

  public void setRetryAt(String retryAt) {
    this.retryAt = retryAt;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof AgentRejection other
        && Objects.equals(podUid, other.podUid)
        && Objects.equals(count, other.count)
        && Objects.equals(retryAt, other.retryAt);
  }

  @Override
  public int hashCode() {
    return Objects.hash(podUid, count, retryAt);
  }

  @Override
  public String toString() {
    return "agentRejection{pod=" + podUid + ", count=" + count + ", retryAt=" + retryAt + "}";
  }
}
