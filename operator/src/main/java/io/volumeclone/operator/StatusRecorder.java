package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.Condition;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.ConditionSet;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import java.time.Instant;
import java.util.Optional;

/**
 * Records the operator's status ({@link StatusWriter}: only when it changed) and, when it did,
 * tells the user through Events: one per phase change (a Warning for Failed, naming the reason) and
 * a Warning for each new reason a clone is stuck.
 */
final class StatusRecorder {

  private final StatusWriter writer;
  private final EventRecorder events;

  StatusRecorder(StatusWriter writer, EventRecorder events) {
    this.writer = writer;
    this.events = events;
  }

  StatusWriter.Written record(VolumeClone clone, StatusWriter.Desired desired, Instant now) {
    StatusWriter.Written written = writer.write(clone, desired, now);
    if (!written.wrote()) {
      return written;
    }
    VolumeCloneStatus before = written.before();
    Phase priorPhase = before == null ? null : before.getPhase();
    if (priorPhase != desired.phase()) {
      if (desired.phase() == Phase.Failed) {
        String reason =
            desired.conditions().stream()
                .filter(c -> c.type().equals(ConditionTypes.STALLED))
                .map(ConditionSet.Wanted::reason)
                .findFirst()
                .orElse("AgentFailed");
        events.warning(clone, "Failed", reason + ": " + desired.message());
      } else {
        events.normal(clone, desired.phase().name(), desired.message());
      }
    }
    var stalled =
        desired.conditions().stream()
            .filter(c -> c.type().equals(ConditionTypes.STALLED) && c.status())
            .findFirst();
    if (stalled.isPresent() && desired.phase() != Phase.Failed) {
      var old =
          before == null ? Optional.<Condition>empty() : before.condition(ConditionTypes.STALLED);
      boolean same =
          old.isPresent()
              && ConditionTypes.TRUE.equals(old.get().getStatus())
              && stalled.get().reason().equals(old.get().getReason())
              && stalled.get().message().equals(old.get().getMessage());
      if (!same) {
        events.warning(clone, stalled.get().reason(), stalled.get().message());
      }
    }
    return written;
  }
}
