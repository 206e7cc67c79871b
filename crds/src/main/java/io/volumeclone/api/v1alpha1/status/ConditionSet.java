package io.volumeclone.api.v1alpha1.status;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;

/**
 * The one place conditions are built, by both status writers (the operator and the agent). Starts
 * from the conditions already on the object, sets some by type, and keeps {@code
 * lastTransitionTime} when a condition's status does not change, so that an unchanged world
 * produces an equal list (and therefore no write). Conditions of types this set was not asked to
 * touch (the other writer's) are kept as they are, in their place.
 */
public final class ConditionSet {

  /** A condition as a writer wants it; the set adds the generation and the transition time. */
  public record Wanted(String type, boolean status, String reason, String message) {}

  private final List<Condition> conditions;
  private final String now;

  public ConditionSet(List<Condition> existing, Instant now) {
    this.conditions = new ArrayList<>();
    if (existing != null) {
      for (Condition c : existing) {
        conditions.add(new ConditionBuilder(c).build());
      }
    }
    this.now = now.truncatedTo(ChronoUnit.SECONDS).toString();
  }

  /** Sets one condition; the transition time moves only when the status does. */
  public ConditionSet set(Wanted wanted, Long observedGeneration) {
    return set(
        wanted.type(), wanted.status(), wanted.reason(), wanted.message(), observedGeneration);
  }

  /** Sets one condition; the transition time moves only when the status does. */
  public ConditionSet set(
      String type, boolean status, String reason, String message, Long observedGeneration) {
    String statusText = status ? ConditionTypes.TRUE : ConditionTypes.FALSE;
    for (int i = 0; i < conditions.size(); i++) {
      Condition old = conditions.get(i);
      if (type.equals(old.getType())) {
        String transition =
            statusText.equals(old.getStatus()) && old.getLastTransitionTime() != null
                ? old.getLastTransitionTime()
                : now;
        conditions.set(i, build(type, statusText, reason, message, observedGeneration, transition));
        return this;
      }
    }
    conditions.add(build(type, statusText, reason, message, observedGeneration, now));
    return this;
  }

  public List<Condition> toList() {
    return List.copyOf(conditions);
  }

  private static Condition build(
      String type,
      String status,
      String reason,
      String message,
      Long generation,
      String transition) {
    return new ConditionBuilder()
        .withType(type)
        .withStatus(status)
        .withReason(reason)
        .withMessage(message)
        .withObservedGeneration(generation)
        .withLastTransitionTime(transition)
        .build();
  }
}
