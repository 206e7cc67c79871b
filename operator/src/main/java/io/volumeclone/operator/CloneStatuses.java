package io.volumeclone.operator;

import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.ConditionSet;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import java.util.List;

/**
 * The one builder of the operator's part of a status: a phase, one kstatus state with its reason
 * and message, and the summaries every status carries. Pure; {@link StatusWriter} writes the
 * result.
 */
final class CloneStatuses {

  /** kstatus's three states of a resource, as its Ready, Reconciling and Stalled conditions. */
  enum Kstatus {
    /** Reconciling: the clone is on its way (waiting or copying). */
    IN_PROGRESS,
    /** Ready: complete and cut over. */
    CURRENT,
    /** Stalled: refused or failed; the message says what to change. */
    STALLED
  }

  private CloneStatuses() {}

  /**
   * The operator's fields for {@code clone}. A status naming an agent Pod has started (startTime is
   * set once); a finished phase sets completionTime once.
   */
  static StatusWriter.Desired of(
      VolumeClone clone,
      Phase phase,
      Kstatus state,
      String reason,
      String message,
      String node,
      String podName) {
    var spec = clone.getSpec();
    return new StatusWriter.Desired(
        phase,
        message,
        spec == null || spec.getSource() == null ? null : spec.getSource().describe(),
        spec == null || spec.getDestination() == null ? null : spec.getDestination().describe(),
        node,
        podName,
        clone.getMetadata().getGeneration(),
        kstatus(state, reason, message),
        podName != null,
        phase.isFinished(),
        null,
        null);
  }

  /** A clone the validator refused: it stays Pending until the user changes what it names. */
  static StatusWriter.Desired refused(VolumeClone clone, Validator.Verdict.Refused refused) {
    return of(
        clone, Phase.Pending, Kstatus.STALLED, refused.reason(), refused.message(), null, null);
  }

  /** A clone waiting to start (a claim to bind, a slot on its node): that clears by itself. */
  static StatusWriter.Desired waiting(
      VolumeClone clone, String node, String reason, String message) {
    return of(clone, Phase.Pending, Kstatus.IN_PROGRESS, reason, message, node, null);
  }

  /**
   * A reconcile that threw: the phase and placement stay as recorded, Reconciling names the error,
   * and the counters are kept.
   */
  static StatusWriter.Desired reconcileError(VolumeClone clone, Exception e) {
    String message =
        "the operator could not reconcile this clone ("
            + e.getClass().getSimpleName()
            + (e.getMessage() == null ? "" : ": " + e.getMessage().strip())
            + "); it tries again with a back-off";
    return asRecorded(clone, Kstatus.IN_PROGRESS, "ReconcileError", message);
  }

  /**
   * A deletion that waits for the user (Pods still use the clone volume): Stalled names them; the
   * phase, placement and counters stay as recorded.
   */
  static StatusWriter.Desired deletionRefused(VolumeClone clone, String reason, String message) {
    return asRecorded(clone, Kstatus.STALLED, reason, message);
  }

  /** New conditions over the phase, placement and counters the status already records. */
  private static StatusWriter.Desired asRecorded(
      VolumeClone clone, Kstatus state, String reason, String message) {
    VolumeCloneStatus status =
        clone.getStatus() == null ? new VolumeCloneStatus() : clone.getStatus();
    Phase phase = status.getPhase() == null ? Phase.Pending : status.getPhase();
    return of(clone, phase, state, reason, message, status.getNodeName(), status.getAgentPod())
        .withCounters(
            status.getRerunsWithoutCutover() == null ? 0 : status.getRerunsWithoutCutover(),
            status.getAgentRejection());
  }

  /** A clone on its way: Pending, Copying or Copied, Reconciling=True. */
  static StatusWriter.Desired progressing(
      VolumeClone clone, Phase phase, String reason, String message, String node, String podName) {
    return of(clone, phase, Kstatus.IN_PROGRESS, reason, message, node, podName);
  }

  static StatusWriter.Desired completed(VolumeClone clone, String node, String podName) {
    return of(
        clone,
        Phase.Completed,
        Kstatus.CURRENT,
        "Completed",
        "every region is copied and the clone is cut over",
        node,
        podName);
  }

  static StatusWriter.Desired failed(
      VolumeClone clone, String node, String podName, String reason, String message) {
    return of(clone, Phase.Failed, Kstatus.STALLED, reason, message, node, podName);
  }

  /**
   * The operator's three conditions for one kstatus state, with one reason and message: exactly one
   * of Ready, Reconciling and Stalled is True.
   */
  static List<ConditionSet.Wanted> kstatus(Kstatus state, String reason, String message) {
    return List.of(
        new ConditionSet.Wanted(ConditionTypes.READY, state == Kstatus.CURRENT, reason, message),
        new ConditionSet.Wanted(
            ConditionTypes.RECONCILING, state == Kstatus.IN_PROGRESS, reason, message),
        new ConditionSet.Wanted(
            ConditionTypes.STALLED,
            state == Kstatus.STALLED,
            reason,
            state == Kstatus.IN_PROGRESS ? "not stuck: " + message : message));
  }
}
