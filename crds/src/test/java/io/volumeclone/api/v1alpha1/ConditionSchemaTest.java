package io.volumeclone.api.v1alpha1;

import static io.volumeclone.api.v1alpha1.CrdRulesTest.VALIDATOR;
import static io.volumeclone.api.v1alpha1.CrdRulesTest.pvcClone;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.volumeclone.api.v1alpha1.TestingCrdValidator.Violation;
import io.volumeclone.api.v1alpha1.status.ConditionSet;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The CRD's conditions have {@code metav1.Condition}'s schema, and what {@link ConditionSet} builds
 * passes it.
 */
class ConditionSchemaTest {

  static final JsonNode ITEM =
      CrdFile.openApiSchema().at("/properties/status/properties/conditions/items");

  static final String VALID_CONDITION =
      """
      {"type": "Ready", "status": "False", "reason": "Copying", "message": "42.5% copied",
       "lastTransitionTime": "2026-11-21T02:00:05Z", "observedGeneration": 2}
      """;

  @Test
  void theUpstreamFieldsAreRequiredAndObservedGenerationIsOptional() {
    assertThat(CrdShapeTest.texts(ITEM.get("required")))
        .containsExactlyInAnyOrder("type", "status", "reason", "message", "lastTransitionTime");
  }

  @Test
  void theLimitsAreUpstreams() {
    JsonNode properties = ITEM.get("properties");
    assertThat(properties.at("/reason/pattern").asText())
        .isEqualTo(ConditionSet.REASON_PATTERN)
        .isEqualTo("^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$");
    assertThat(properties.at("/reason/minLength").asInt()).isEqualTo(1);
    assertThat(properties.at("/reason/maxLength").asInt())
        .isEqualTo(ConditionSet.REASON_MAX_LENGTH)
        .isEqualTo(1024);
    assertThat(properties.at("/message/maxLength").asInt())
        .isEqualTo(ConditionSet.MESSAGE_MAX_LENGTH)
        .isEqualTo(32768);
    assertThat(properties.at("/type/maxLength").asInt()).isEqualTo(316);
    assertThat(properties.at("/type/pattern").asText())
        .isEqualTo(
            "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                + "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$");
    assertThat(CrdShapeTest.texts(properties.at("/status/enum")))
        .containsExactly("True", "False", "Unknown");
    assertThat(properties.at("/lastTransitionTime/type").asText()).isEqualTo("string");
    assertThat(properties.at("/lastTransitionTime/format").asText()).isEqualTo("date-time");
    assertThat(properties.at("/observedGeneration/type").asText()).isEqualTo("integer");
    assertThat(properties.at("/observedGeneration/format").asText()).isEqualTo("int64");
    assertThat(properties.at("/observedGeneration/minimum").asInt()).isZero();
  }

  @Test
  void aValidConditionIsAccepted() {
    assertThat(validate(condition(c -> {}))).isEmpty();
  }

  @Test
  void anUnknownStatusWithoutObservedGenerationIsAccepted() {
    assertThat(
            validate(
                condition(
                    c -> {
                      c.put("status", "Unknown");
                      c.remove("observedGeneration");
                    })))
        .isEmpty();
  }

  @ParameterizedTest
  @ValueSource(strings = {"type", "status", "reason", "message", "lastTransitionTime"})
  void aConditionWithoutARequiredFieldIsRefused(String field) {
    assertThat(validate(condition(c -> c.remove(field))))
        .singleElement()
        .satisfies(
            v -> {
              assertThat(v.field()).isEqualTo("status.conditions[0]");
              assertThat(v.message()).contains(field);
            });
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "copying started", "1Copying", "Copying-Fast", "Copying:"})
  void aReasonOutsideThePatternIsRefused(String reason) {
    assertThat(validate(condition(c -> c.put("reason", reason))))
        .extracting(Violation::field)
        .containsOnly("status.conditions[0].reason");
  }

  @ParameterizedTest
  @ValueSource(strings = {"Copying", "A", "Node_Lost", "Failed:InvalidSpec,Retrying"})
  void reasonsThePatternAllowsAreAccepted(String reason) {
    assertThat(validate(condition(c -> c.put("reason", reason)))).isEmpty();
  }

  @Test
  void aReasonLongerThanUpstreamsLimitIsRefused() {
    assertThat(validate(condition(c -> c.put("reason", "R".repeat(1025)))))
        .extracting(Violation::field)
        .containsExactly("status.conditions[0].reason");
  }

  @Test
  void aTransitionTimeThatIsNoDateTimeIsRefused() {
    assertThat(validate(condition(c -> c.put("lastTransitionTime", "yesterday"))))
        .extracting(Violation::field)
        .containsExactly("status.conditions[0].lastTransitionTime");
  }

  @Test
  void anotherStatusThanTrueFalseUnknownIsRefused() {
    assertThat(validate(condition(c -> c.put("status", "Yes"))))
        .extracting(Violation::field)
        .containsExactly("status.conditions[0].status");
  }

  @Test
  void whatTheConditionSetBuildsPassesTheSchema() {
    List<Condition> built =
        new ConditionSet(null, Instant.parse("2026-11-21T02:00:05.250Z"))
            .set(ConditionTypes.READY, false, "Copying", "42.5% copied", 3L)
            .set(ConditionTypes.DEGRADED, true, "CopyErrors", "x".repeat(40_000), null)
            .toList();
    ObjectNode clone = pvcClone();
    clone
        .putObject("status")
        .set("conditions", new KubernetesSerialization().convertValue(built, JsonNode.class));

    assertThat(VALIDATOR.validateCreate(clone)).isEmpty();
  }

  private interface Edit {
    void apply(ObjectNode condition);
  }

  private static ObjectNode condition(Edit edit) {
    ObjectNode condition = Yaml.parse(VALID_CONDITION);
    edit.apply(condition);
    return condition;
  }

  private static List<Violation> validate(ObjectNode condition) {
    ObjectNode clone = pvcClone();
    clone.putObject("status").putArray("conditions").add(condition);
    return VALIDATOR.validateCreate(clone);
  }
}
