package io.volumeclone.api.v1alpha1.status;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The one place conditions are built, by both status writers (the operator and the agent). Starts
 * from the conditions already on the object, sets some by type, and keeps {@code
 * lastTransitionTime} when a condition's status does not change, so that an unchanged world
 * produces an equal list (and therefore no write). Conditions of types this set was not asked to
 * touch (the other writer's) are kept as they are, in their place.
 *
 * <p>Every condition it builds is valid {@code metav1.Condition}: the CRD states the upstream
 * schema (reason pattern and lengths, required message and transition time), so a writer's bad
 * condition would be refused by the API server with its whole status write; {@link Wanted} refuses
 * it here, where the writer's tests see it.
 */
public final class ConditionSet {

  /** {@code metav1.Condition}'s reason pattern: CamelCase, also {@code _ , :} inside. */
  public static final String REASON_PATTERN = "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$";

  /** {@code metav1.Condition}'s limit on the reason. */
  public static final int REASON_MAX_LENGTH = 1024;

  /** {@code metav1.Condition}'s limit on the message. */
  public static final int MESSAGE_MAX_LENGTH = 32768;

  private static final Pattern REASON = Pattern.compile(REASON_PATTERN);

  /**
   * A condition as a writer wants it; the set adds the generation and the transition time. The
   * reason must match {@link #REASON_PATTERN}, the message must say something; a message past
   * {@link #MESSAGE_MAX_LENGTH} (a long error text) is cut there rather than lose the write.
   */
  public record Wanted(String type, boolean status, String reason, String message) {
    public Wanted {
      if (type == null || type.isBlank()) {
        throw new IllegalArgumentException("a condition needs a type");
      }
      if (reason == null
          || reason.length() > REASON_MAX_LENGTH
          || !REASON.matcher(reason).matches()) {
        throw new IllegalArgumentException(
            "condition "
                + type
                + ": reason '"
                + reason
                + "' is not a metav1.Condition reason (CamelCase, "
                + REASON_PATTERN
                + ", at most "
                + REASON_MAX_LENGTH
                + " characters)");
      }
      if (message == null || message.isBlank()) {
        throw new IllegalArgumentException(
            "condition " + type + " (" + reason + "): the message must say what happened");
      }
      if (message.length() > MESSAGE_MAX_LENGTH) {
        message = message.substring(0, MESSAGE_MAX_LENGTH - 3) + "...";
      }
    }
  }

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
    return set(new Wanted(type, status, reason, message), observedGeneration);
  }

  /** Sets one condition; the transition time moves only when the status does. */
  public ConditionSet set(Wanted wanted, Long observedGeneration) {
    String statusText = wanted.status() ? ConditionTypes.TRUE : ConditionTypes.FALSE;
    for (int i = 0; i < conditions.size(); i++) {
      Condition old = conditions.get(i);
      if (wanted.type().equals(old.getType())) {
        String transition =
            statusText.equals(old.getStatus()) && old.getLastTransitionTime() != null
                ? old.getLastTransitionTime()
                : now;
        conditions.set(i, build(wanted, statusText, observedGeneration, transition));
        return this;
      }
    }
    conditions.add(build(wanted, statusText, observedGeneration, now));
    return this;
  }

  public List<Condition> toList() {
    return List.copyOf(conditions);
  }

  private static Condition build(Wanted wanted, String status, Long generation, String transition) {
    return new ConditionBuilder()
        .withType(wanted.type())
        .withStatus(status)
        .withReason(wanted.reason())
        .withMessage(wanted.message())
        .withObservedGeneration(generation)
        .withLastTransitionTime(transition)
        .build();
  }
}
