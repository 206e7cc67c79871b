package io.volumeclone.api.v1alpha1;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.volumeclone.api.v1alpha1.spec.DestinationRef;
import io.volumeclone.api.v1alpha1.spec.MetadataRef;
import io.volumeclone.api.v1alpha1.spec.SourceRef;
import io.volumeclone.api.v1alpha1.spec.VolumeCloneSpec;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import java.util.HashSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The helpers the operator, agent and CLI rely on. */
class ModelTest {

  static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

  @Test
  void aNewVolumeCloneSerializesWithItsApiVersionAndKind() {
    VolumeCloneSpec spec = new VolumeCloneSpec();
    spec.setSource(SourceRef.persistentVolumeClaim("src"));
    spec.setDestination(DestinationRef.persistentVolumeClaim("dst"));
    VolumeClone clone = new VolumeClone("ns", "copy", spec);
    clone.setStatus(new VolumeCloneStatus());

    JsonNode json = SERIALIZATION.convertValue(clone, JsonNode.class);
    assertThat(json.get("apiVersion").asText()).isEqualTo("volumeclone.io/v1alpha1");
    assertThat(json.get("kind").asText()).isEqualTo("VolumeClone");
    assertThat(json.at("/metadata/namespace").asText()).isEqualTo("ns");
    assertThat(json.at("/metadata/name").asText()).isEqualTo("copy");
    // unset fields stay absent, so the API server's defaults apply and patches do not clear them
    assertThat(json.get("spec").properties()).hasSize(2);
    assertThat(json.get("status").isEmpty()).isTrue();

    // and it is valid as it stands
    TestingCrdValidator validator = new TestingCrdValidator(CrdFile.openApiSchema());
    assertThat(validator.validateCreate(json)).isEmpty();
  }

  @Test
  void referencesDescribeThemselvesForThePrinterColumns() {
    assertThat(SourceRef.persistentVolumeClaim("db").describe()).isEqualTo("pvc/db");
    assertThat(SourceRef.device("/dev/sdb").describe()).isEqualTo("/dev/sdb");
    assertThat(SourceRef.nbd("nbd://backup/db").describe()).isEqualTo("nbd://backup/db");
    assertThat(new SourceRef().describe()).isEqualTo("<none>");
    assertThat(DestinationRef.persistentVolumeClaim("db").describe()).isEqualTo("pvc/db");
    assertThat(DestinationRef.device("/dev/sdc").describe()).isEqualTo("/dev/sdc");
    assertThat(MetadataRef.device("/dev/meta").describe()).isEqualTo("/dev/meta");
  }

  @Test
  void referencesCompareByValue() {
    assertThat(SourceRef.device("/dev/sdb")).isEqualTo(SourceRef.device("/dev/sdb"));
    assertThat(SourceRef.device("/dev/sdb")).isNotEqualTo(SourceRef.device("/dev/sdc"));
    assertThat(SourceRef.device("/dev/sdb").hashCode())
        .isEqualTo(SourceRef.device("/dev/sdb").hashCode());
  }

  @ParameterizedTest(name = "{0} of {1} = {2}")
  @CsvSource({
    "0, 1000, 0.0",
    "425, 1000, 42.5",
    "1, 3, 33.3",
    "2, 3, 66.6",
    "999999, 1000000, 99.9",
    "10, 10, 100.0",
    "0, 0, 100.0"
  })
  void thePercentTheAgentWritesMatchesTheSchema(long copied, long total, String percent) {
    // The agent's formatter (engine CloneStatus.percentOf) is held to these cases by PercentTest.
    String pattern =
        CrdFile.openApiSchema()
            .at("/properties/status/properties/progress/properties/percent/pattern")
            .asText();
    assertThat(percent).matches(pattern);
  }

  @Test
  void conditionsAreFoundByType() {
    VolumeCloneStatus status = new VolumeCloneStatus();
    assertThat(status.condition(ConditionTypes.READY)).isEmpty();
    status
        .getConditions()
        .add(new ConditionBuilder().withType(ConditionTypes.COPIED).withStatus("True").build());
    status
        .getConditions()
        .add(new ConditionBuilder().withType(ConditionTypes.DEGRADED).withStatus("False").build());
    assertThat(status.isTrue(ConditionTypes.COPIED)).isTrue();
    assertThat(status.isTrue(ConditionTypes.DEGRADED)).isFalse();
    assertThat(status.isTrue(ConditionTypes.READY)).isFalse();
  }

  @Test
  void conditionTypesAreTheDesignsSeven() {
    assertThat(ConditionTypes.ALL)
        .containsExactly(
            "Ready", "Reconciling", "Stalled", "Available", "Copied", "CutOver", "Degraded");
    assertThat(new HashSet<>(ConditionTypes.ALL)).hasSize(7);
  }

  @Test
  void onlyCompletedAndFailedAreFinished() {
    assertThat(Phase.Completed.isFinished()).isTrue();
    assertThat(Phase.Failed.isFinished()).isTrue();
    assertThat(Phase.Pending.isFinished()).isFalse();
    assertThat(Phase.Copying.isFinished()).isFalse();
    assertThat(Phase.Copied.isFinished()).isFalse();
  }
}
