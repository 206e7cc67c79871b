package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The one place conditions are built. Starts from the conditions already on the object, sets some
 * by type, and keeps {@code lastTransitionTime} when a condition's status does not change, so that
 * an unchanged world produces an equal list (and therefore no write). Conditions of types this set
 * was not asked to touch (the agent's) are kept as they are, in their place.
 */
public final class ConditionSet {

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
  public ConditionSet set(
      String type, boolean status, String reason, String message, Long observedGeneration) {
    String statusText = status ? "True" : "False";
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

  public static Optional<Condition> find(List<Condition> conditions, String type) {
    if (conditions == null) {
      return Optional.empty();
    }
    return conditions.stream().filter(c -> type.equals(c.getType())).findFirst();
  }

  public static boolean isTrue(List<Condition> conditions, String type) {
    return find(conditions, type).map(c -> "True".equals(c.getStatus())).orElse(false);
  }

  /** Same type, status, reason, message, generation: the fields a reader acts on. */
  public static boolean sameMeaning(Condition a, Condition b) {
    return Objects.equals(a.getType(), b.getType())
        && Objects.equals(a.getStatus(), b.getStatus())
        && Objects.equals(a.getReason(), b.getReason())
        && Objects.equals(a.getMessage(), b.getMessage())
        && Objects.equals(a.getObservedGeneration(), b.getObservedGeneration());
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
