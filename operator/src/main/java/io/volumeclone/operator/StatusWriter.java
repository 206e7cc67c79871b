package io.volumeclone.operator;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.AgentRejection;
import io.volumeclone.api.v1alpha1.status.ConditionSet;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import java.time.Instant;
import java.util.List;
import java.util.Set;

/**
 * Writes the operator's part of a VolumeClone's status and nothing else.
 *
 * <p>Two writers share the status: the operator (phase, message, sourceSummary, destinationSummary,
 * nodeName, agentPod, observedGeneration, startTime, completionTime, rerunsWithoutCutover,
 * agentRejection, and the conditions Ready, Reconciling, Stalled) and the agent (progress, export,
 * metadataMode, and its own conditions). The operator writes by server-side apply to the status
 * subresource as field manager {@value #FIELD_MANAGER}, sending only its own fields; conditions are
 * a list-map keyed by type in the CRD, so the API server merges them per condition and the agent's
 * fields and conditions cannot be erased by this write (nor this writer's by the agent's). A field
 * the operator stops sending (a message that becomes null) is removed, because it owns it. Nothing
 * is written when the operator's fields already have the wanted values.
 */
public final class StatusWriter {

  /** The field manager the operator's status applies are recorded under. */
  public static final String FIELD_MANAGER = "volume-clone-operator";

  /** The condition types the operator owns. */
  public static final Set<String> OWNED_CONDITIONS =
      Set.of(ConditionTypes.READY, ConditionTypes.RECONCILING, ConditionTypes.STALLED);

  private static final PatchContext APPLY = applyAs(FIELD_MANAGER);

  /**
   * A forced server-side apply as {@code fieldManager}: force takes over fields another manager set
   * by mistake (kubectl edit, an older PUT writer).
   */
  static PatchContext applyAs(String fieldManager) {
    return new PatchContext.Builder()
        .withPatchType(PatchType.SERVER_SIDE_APPLY)
        .withFieldManager(fieldManager)
        .withForce(true)
        .build();
  }

  /**
   * The operator's wanted status fields for one clone. The counters ({@code rerunsWithoutCutover},
   * {@code agentRejection}) are sent with every write: an apply that left them out would remove
   * them, since this field manager owns them.
   */
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
      boolean finished,
      Integer rerunsWithoutCutover,
      AgentRejection agentRejection) {

    /** The same fields with these counters (zero reruns is written as none). */
    public Desired withCounters(int reruns, AgentRejection rejection) {
      return new Desired(
          phase,
          message,
          sourceSummary,
          destinationSummary,
          nodeName,
          agentPod,
          observedGeneration,
          conditions,
          started,
          finished,
          reruns == 0 ? null : reruns,
          rejection);
    }
  }

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
    status.setRerunsWithoutCutover(desired.rerunsWithoutCutover());
    status.setAgentRejection(desired.agentRejection());
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
   * before as the caller saw it, and whether anything was written.
   */
  public record Written(VolumeClone resource, VolumeCloneStatus before, boolean wrote) {}

  /**
   * Applies the wanted fields unless they are already there. The caller's copy (from the cache)
   * decides whether anything is to be written at all, so an unchanged clone costs no request; the
   * apply carries only the operator's fields, so a stale copy of the agent's cannot overwrite them.
   */
  public Written write(VolumeClone clone, Desired desired, Instant now) {
    VolumeCloneStatus before = clone.getStatus();
    VolumeCloneStatus next = apply(before, desired, now);
    if (same(owned(before), owned(next))) {
      return new Written(clone, before, false);
    }
    VolumeClone body = new VolumeClone();
    body.getMetadata().setNamespace(clone.getMetadata().getNamespace());
    body.getMetadata().setName(clone.getMetadata().getName());
    body.setStatus(owned(next));
    try {
      return new Written(client.resource(body).subresource("status").patch(APPLY), before, true);
    } catch (KubernetesClientException e) {
      if (e.getCode() == 404) {
        return new Written(null, before, false);
      }
      throw e;
    }
  }

  /** The operator's fields of {@code status} (null stays null), what its apply sends. */
  public static VolumeCloneStatus owned(VolumeCloneStatus status) {
    if (status == null) {
      return null;
    }
    VolumeCloneStatus owned = new VolumeCloneStatus();
    owned.setPhase(status.getPhase());
    owned.setMessage(status.getMessage());
    owned.setSourceSummary(status.getSourceSummary());
    owned.setDestinationSummary(status.getDestinationSummary());
    owned.setNodeName(status.getNodeName());
    owned.setAgentPod(status.getAgentPod());
    owned.setObservedGeneration(status.getObservedGeneration());
    owned.setStartTime(status.getStartTime());
    owned.setCompletionTime(status.getCompletionTime());
    owned.setRerunsWithoutCutover(status.getRerunsWithoutCutover());
    owned.setAgentRejection(status.getAgentRejection());
    owned.setConditions(status.conditionsOf(OWNED_CONDITIONS));
    return owned;
  }

  private boolean same(VolumeCloneStatus a, VolumeCloneStatus b) {
    if (a == null || b == null) {
      return a == b;
    }
    return serialization.asJson(a).equals(serialization.asJson(b));
  }
}
