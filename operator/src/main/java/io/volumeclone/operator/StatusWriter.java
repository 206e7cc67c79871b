package io.volumeclone.operator;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import java.time.Instant;
import java.util.List;

/**
 * Writes the operator's part of a VolumeClone's status and nothing else.
 *
 * <p>Two writers share the status: the operator (phase, message, sourceSummary, destinationSummary,
 * nodeName, agentPod, observedGeneration, startTime, completionTime, and the conditions Ready,
 * Reconciling, Stalled) and the agent (progress, export, metadataMode, and its own conditions). A
 * JSON merge patch would replace the whole {@code conditions} list and erase the other writer's
 * entries, and the mock server (like any non-SSA path) has no list-map merge; so this writer
 * re-reads and replaces the status subresource with the object's {@code resourceVersion}: the API
 * server refuses the write with 409 if the agent wrote in between, and the writer then applies its
 * fields again on top of the fresh status. Whatever the agent wrote survives, and nothing is
 * written when the operator's fields already have the wanted values.
 */
public final class StatusWriter {

  /** The operator's wanted status fields for one clone. */
  public record Desired(
      Phase phase,
      String message,
      String sourceSummary,
      String destinationSummary,
      String nodeName,
      String agentPod,
      Long observedGeneration,
      List<OperatorCondition> conditions,
      boolean started,
      boolean finished) {}

  /** One of the operator's conditions. */
  public record OperatorCondition(String type, boolean status, String reason, String message) {}

  private static final int ATTEMPTS = 8;

  private final KubernetesClient client;
  private final KubernetesSerialization serialization;

  public StatusWriter(KubernetesClient client) {
    this.client = client;
    this.serialization = client.getKubernetesSerialization();
  }

  /** The status {@code current} would have with the operator's fields set as wanted. */
  public VolumeCloneStatus apply(VolumeCloneStatus current, Desired desired, Instant now) {
    VolumeCloneStatus status =
        current == null ? new VolumeCloneStatus() : serialization.clone(current);
    status.setPhase(desired.phase());
    status.setMessage(desired.message());
    status.setSourceSummary(desired.sourceSummary());
    status.setDestinationSummary(desired.destinationSummary());
    status.setNodeName(desired.nodeName());
    status.setAgentPod(desired.agentPod());
    status.setObservedGeneration(desired.observedGeneration());
    ConditionSet conditions = new ConditionSet(status.getConditions(), now);
    for (OperatorCondition c : desired.conditions()) {
      conditions.set(c.type(), c.status(), c.reason(), c.message(), desired.observedGeneration());
    }
    status.setConditions(conditions.toList());
    String time = now.truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString();
    if (desired.started() && status.getStartTime() == null) {
      status.setStartTime(time);
    }
    if (desired.finished() && status.getCompletionTime() == null) {
      status.setCompletionTime(time);
    }
    return status;
  }

  public boolean changes(VolumeClone clone, Desired desired, Instant now) {
    VolumeCloneStatus next = apply(clone.getStatus(), desired, now);
    return !same(clone.getStatus(), next);
  }

  /**
   * The outcome of {@link #write}: the clone as it now is (null when it is gone), the status it had
   * just before (the one actually replaced, which may be newer than the caller's copy), and whether
   * anything was written.
   */
  public record Written(VolumeClone resource, VolumeCloneStatus before, boolean wrote) {}

  /**
   * Writes the wanted fields unless they are already there. The caller's copy (from the cache)
   * decides whether anything is to be written at all, so an unchanged clone costs no request; a
   * write starts from a fresh read, so the agent's latest fields are the ones carried along.
   */
  public Written write(VolumeClone clone, Desired desired, Instant now) {
    if (same(clone.getStatus(), apply(clone.getStatus(), desired, now))) {
      return new Written(clone, clone.getStatus(), false);
    }
    for (int attempt = 1; ; attempt++) {
      VolumeClone target =
          client
              .resources(VolumeClone.class)
              .inNamespace(clone.getMetadata().getNamespace())
              .withName(clone.getMetadata().getName())
              .get();
      if (target == null) {
        return new Written(null, clone.getStatus(), false);
      }
      VolumeCloneStatus before = target.getStatus();
      VolumeCloneStatus next = apply(before, desired, now);
      if (same(before, next)) {
        return new Written(target, before, false);
      }
      target.setStatus(next);
      try {
        // PUT with the resourceVersion just read: a concurrent agent write makes it fail (409).
        return new Written(client.resource(target).updateStatus(), before, true);
      } catch (KubernetesClientException e) {
        if (e.getCode() == 404) {
          return new Written(null, before, false);
        }
        if (e.getCode() != 409 || attempt >= ATTEMPTS) {
          throw e;
        }
      }
    }
  }

  private boolean same(VolumeCloneStatus a, VolumeCloneStatus b) {
    if (a == null || b == null) {
      return a == b;
    }
    return serialization.asJson(a).equals(serialization.asJson(b));
  }
}
