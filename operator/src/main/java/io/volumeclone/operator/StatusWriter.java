package io.volumeclone.operator;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.ConditionSet;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.StatusUpdates;
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
 * fields again on top of the fresh status ({@link StatusUpdates}, shared with the agent). Whatever
 * the agent wrote survives, and nothing is written when the operator's fields already have the
 * wanted values.
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
      List<ConditionSet.Wanted> conditions,
      boolean started,
      boolean finished) {}

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
    for (ConditionSet.Wanted c : desired.conditions()) {
      conditions.set(c, desired.observedGeneration());
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
    StatusUpdates.Outcome outcome =
        StatusUpdates.update(
            client,
            clone.getMetadata().getNamespace(),
            clone.getMetadata().getName(),
            current -> apply(current, desired, now));
    return new Written(
        outcome.resource(),
        outcome.resource() == null && outcome.before() == null
            ? clone.getStatus()
            : outcome.before(),
        outcome.wrote());
  }

  private boolean same(VolumeCloneStatus a, VolumeCloneStatus b) {
    return StatusUpdates.same(serialization, a, b);
  }
}
