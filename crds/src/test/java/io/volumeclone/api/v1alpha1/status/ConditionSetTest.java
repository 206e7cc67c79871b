package io.volumeclone.api.v1alpha1.status;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The condition merge both status writers use. */
class ConditionSetTest {

  static final Instant T0 = Instant.parse("2026-01-01T00:00:00.700Z");
  static final Instant T1 = Instant.parse("2026-01-01T00:05:00Z");

  static Condition condition(String type, String status, String reason, String time) {
    return new ConditionBuilder()
        .withType(type)
        .withStatus(status)
        .withReason(reason)
        .withMessage("m")
        .withObservedGeneration(1L)
        .withLastTransitionTime(time)
        .build();
  }

  @Test
  void aNewConditionTakesNowInWholeSeconds() {
    List<Condition> list =
        new ConditionSet(null, T0)
            .set(new ConditionSet.Wanted("Ready", true, "R", "m"), 1L)
            .toList();
    assertThat(list).containsExactly(condition("Ready", "True", "R", "2026-01-01T00:00:00Z"));
  }

  @Test
  void theTransitionTimeMovesOnlyWhenTheStatusDoes() {
    List<Condition> existing =
        List.of(
            condition("Copied", "False", "Copying", "2025-12-31T00:00:00Z"),
            condition("Ready", "False", "NotYet", "2025-12-31T00:00:00Z"));
    List<Condition> next =
        new ConditionSet(existing, T1)
            .set("Ready", false, "StillNot", "m", 1L)
            .set("Copied", true, "AllRegionsCopied", "m", 1L)
            .toList();
    assertThat(next)
        .containsExactly(
            condition("Copied", "True", "AllRegionsCopied", "2026-01-01T00:05:00Z"),
            condition("Ready", "False", "StillNot", "2025-12-31T00:00:00Z"));
  }

  @Test
  void theOtherWritersConditionsStayAsTheyAreInTheirPlace() {
    Condition agents = condition("Degraded", "False", "NoErrors", "2025-12-31T00:00:00Z");
    List<Condition> existing =
        List.of(agents, condition("Ready", "False", "NotYet", "2025-12-31T00:00:00Z"));
    List<Condition> unchanged =
        new ConditionSet(existing, T1).set("Ready", false, "NotYet", "m", 1L).toList();
    assertThat(unchanged).isEqualTo(existing);
  }

  @Test
  void isTrueReadsTheStatusText() {
    VolumeCloneStatus s = new VolumeCloneStatus();
    s.setConditions(
        new ConditionSet(null, T0)
            .set("Ready", true, "R", "m", 1L)
            .set("Stalled", false, "S", "m", 1L)
            .toList());
    assertThat(s.isTrue("Ready")).isTrue();
    assertThat(s.isTrue("Stalled")).isFalse();
    assertThat(s.isTrue("Copied")).isFalse();
  }

  @Test
  void aReasonTheApiServerWouldRefuseIsRefusedNamingTheCondition() {
    assertThatThrownBy(() -> new ConditionSet.Wanted("Degraded", true, "copy errors", "m"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("condition Degraded")
        .hasMessageContaining("'copy errors'")
        .hasMessageContaining(ConditionSet.REASON_PATTERN);
    assertThatThrownBy(() -> new ConditionSet(null, T0).set("Ready", true, null, "m", 1L))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("condition Ready");
  }

  @Test
  void aConditionMustSaySomething() {
    for (String empty : new String[] {null, "", "  "}) {
      assertThatThrownBy(() -> new ConditionSet.Wanted("Degraded", true, "AgentError", empty))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("condition Degraded (AgentError): the message must say what happened");
    }
  }

  @Test
  void aMessagePastUpstreamsLimitIsCutThere() {
    String message =
        new ConditionSet.Wanted("Degraded", true, "CopyErrors", "e".repeat(40_000)).message();
    assertThat(message).hasSize(ConditionSet.MESSAGE_MAX_LENGTH).endsWith("e...");
  }
}
