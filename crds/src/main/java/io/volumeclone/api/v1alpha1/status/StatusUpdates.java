package io.volumeclone.api.v1alpha1.status;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.volumeclone.api.v1alpha1.VolumeClone;
import java.util.function.UnaryOperator;

/**
 * How both status writers (the operator and the agent) change a VolumeClone's status without
 * erasing the other's fields: read the object, apply the writer's change to the status it has now,
 * skip the write when nothing changes, and replace the status subresource with the resourceVersion
 * just read. A concurrent write by the other makes the API server refuse with 409 Conflict; the
 * change is then applied again on top of the fresh status.
 */
public final class StatusUpdates {

  /** Conflicts retried before giving up. */
  public static final int ATTEMPTS = 8;

  /**
   * What {@link #update} did: the clone as it now is (null when it is gone), the status it had just
   * before (the one replaced), and whether anything was written.
   */
  public record Outcome(VolumeClone resource, VolumeCloneStatus before, boolean wrote) {}

  private StatusUpdates() {}

  public static Outcome update(
      KubernetesClient client,
      String namespace,
      String name,
      UnaryOperator<VolumeCloneStatus> change) {
    KubernetesSerialization serialization = client.getKubernetesSerialization();
    for (int attempt = 1; ; attempt++) {
      VolumeClone target =
          client.resources(VolumeClone.class).inNamespace(namespace).withName(name).get();
      if (target == null) {
        return new Outcome(null, null, false);
      }
      VolumeCloneStatus before = target.getStatus();
      VolumeCloneStatus next = change.apply(before);
      if (same(serialization, before, next)) {
        return new Outcome(target, before, false);
      }
      target.setStatus(next);
      try {
        // PUT with the resourceVersion just read: a concurrent write makes it fail (409).
        return new Outcome(client.resource(target).updateStatus(), before, true);
      } catch (KubernetesClientException e) {
        if (e.getCode() == 404) {
          return new Outcome(null, before, false);
        }
        if (e.getCode() != 409 || attempt >= ATTEMPTS) {
          throw e;
        }
      }
    }
  }

  /** Whether two statuses serialize the same (null only equals null). */
  public static boolean same(
      KubernetesSerialization serialization, VolumeCloneStatus a, VolumeCloneStatus b) {
    if (a == null || b == null) {
      return a == b;
    }
    return serialization.asJson(a).equals(serialization.asJson(b));
  }
}
