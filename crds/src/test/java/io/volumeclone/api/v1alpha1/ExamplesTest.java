package io.volumeclone.api.v1alpha1;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.volumeclone.api.v1alpha1.TestingCrdValidator.Violation;
import io.volumeclone.api.v1alpha1.spec.Access;
import io.volumeclone.api.v1alpha1.spec.CutoverMode;
import io.volumeclone.api.v1alpha1.status.Phase;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The user-facing examples in {@code crds/examples/} and the fixtures in {@code
 * src/test/resources/{valid,invalid}}: valid ones pass the CRD (schema and CEL) and round-trip
 * through the Java model; each invalid one is rejected with the message its {@code # expect:} line
 * names.
 */
class ExamplesTest {

  static final Path EXAMPLES = Path.of("examples");
  static final Path VALID = Path.of("src/test/resources/valid");
  static final Path INVALID = Path.of("src/test/resources/invalid");

  /** Quantity fields: YAML may give them as integers, the model keeps them as strings. */
  static final Set<String> QUANTITY_FIELDS =
      Set.of("regionSize", "sourceOffset", "destinationOffset", "size", "bandwidth");

  static final TestingCrdValidator VALIDATOR = new TestingCrdValidator(CrdFile.openApiSchema());
  static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

  static Stream<Path> validFiles() {
    return Stream.concat(Yaml.filesIn(EXAMPLES).stream(), Yaml.filesIn(VALID).stream());
  }

  static List<Path> invalidFiles() {
    return Yaml.filesIn(INVALID);
  }

  @Test
  void theUserFacingExamplesAreThere() {
    assertThat(Yaml.filesIn(EXAMPLES).stream().map(p -> p.getFileName().toString()))
        .contains("pvc-to-pvc.yaml", "device-clone.yaml", "nbd-source.yaml", "manual-cutover.yaml");
  }

  @ParameterizedTest
  @MethodSource("validFiles")
  void validFilePassesSchemaAndRules(Path file) {
    assertThat(VALIDATOR.validateCreate(Yaml.read(file))).as("%s", file).isEmpty();
  }

  @ParameterizedTest
  @MethodSource("validFiles")
  void validFileRoundTripsThroughTheModel(Path file) {
    ObjectNode written = Yaml.read(file);
    VolumeClone clone = SERIALIZATION.unmarshal(CrdFile.read(file), VolumeClone.class);
    JsonNode serialized = SERIALIZATION.convertValue(clone, JsonNode.class);
    assertThat(canonical(serialized))
        .as("%s serialized back", file)
        .isEqualTo(canonical(quantitiesAsText(written)));
  }

  @ParameterizedTest
  @MethodSource("invalidFiles")
  void invalidFileIsRejectedWithItsMessage(Path file) {
    String firstLine = CrdFile.read(file).lines().findFirst().orElse("");
    assertThat(firstLine)
        .as("%s must start with '# expect: field: message'", file)
        .startsWith("# expect: ");
    String expected = firstLine.substring("# expect: ".length());
    List<Violation> violations = VALIDATOR.validateCreate(Yaml.read(file));
    assertThat(violations).as("%s", file).isNotEmpty();
    assertThat(violations.stream().map(Violation::toString)).as("%s", file).contains(expected);
  }

  @Test
  void theIssueExampleReadsIntoTheModel() {
    VolumeClone clone =
        SERIALIZATION.unmarshal(
            CrdFile.read(EXAMPLES.resolve("device-clone.yaml")), VolumeClone.class);
    var spec = clone.getSpec();
    assertThat(clone.getMetadata().getName()).isEqualTo("restore-db");
    assertThat(clone.getMetadata().getNamespace()).isEqualTo("db");
    assertThat(spec.getNodeName()).isEqualTo("worker-1");
    assertThat(spec.getSource().getDevice().getPath()).isEqualTo("/dev/disk/by-id/backup-1");
    assertThat(spec.getSource().describe()).isEqualTo("/dev/disk/by-id/backup-1");
    assertThat(spec.getDestination().describe()).isEqualTo("pvc/db-data");
    assertThat(spec.getMetadata().getDevice().getPath()).isEqualTo("/dev/vg0/clone-meta");
    assertThat(spec.regionSizeBytes()).isEqualTo(65536);
    assertThat(spec.getRange().getSourceOffset()).isEqualTo("0");
    assertThat(spec.getRange().sourceOffsetBytes()).isZero();
    assertThat(spec.getRange().sizeBytes()).isEqualTo(100L << 30);
    assertThat(spec.getAccess()).isEqualTo(Access.Immediate);
    assertThat(spec.getCopy().bandwidthBytesPerSecond()).isEqualTo(200L << 20);
    assertThat(spec.getCopy().getRegionsInFlight()).isEqualTo(8);
    assertThat(spec.getCopy().getBatchRegions()).isEqualTo(16);
    assertThat(spec.getCutover()).isEqualTo(CutoverMode.Automatic);
    assertThat(spec.getTtlSecondsAfterFinished()).isEqualTo(3600L);
  }

  @Test
  void statusReadsIntoTheModel() {
    VolumeClone clone =
        SERIALIZATION.unmarshal(CrdFile.read(VALID.resolve("with-status.yaml")), VolumeClone.class);
    var status = clone.getStatus();
    assertThat(status.getPhase()).isEqualTo(Phase.Copying);
    assertThat(status.getProgress().getPercent()).isEqualTo("42.5");
    assertThat(status.getProgress().getBytesTotal()).isEqualTo(107374182400L);
    assertThat(status.isTrue(ConditionTypes.AVAILABLE)).isTrue();
    assertThat(status.isTrue(ConditionTypes.READY)).isFalse();
    assertThat(status.condition(ConditionTypes.DEGRADED)).isEmpty();
    assertThat(status.getConditions()).hasSize(3);
  }

  @Test
  void absentOptionalFieldsFallBackToTheCrdDefaults() {
    VolumeClone clone =
        SERIALIZATION.unmarshal(
            CrdFile.read(EXAMPLES.resolve("pvc-to-pvc.yaml")), VolumeClone.class);
    var spec = clone.getSpec();
    JsonNode defaults = CrdFile.openApiSchema().at("/properties/spec/properties");
    assertThat(spec.getRegionSize()).isNull();
    assertThat(spec.regionSizeBytes())
        .isEqualTo(io.volumeclone.api.Sizes.parse(defaults.at("/regionSize/default").asText()));
    assertThat(spec.accessOrDefault().name()).isEqualTo(defaults.at("/access/default").asText());
    assertThat(spec.cutoverOrDefault().name()).isEqualTo(defaults.at("/cutover/default").asText());
    assertThat(spec.discardPassdownOrDefault())
        .isEqualTo(defaults.at("/discardPassdown/default").asBoolean());
    assertThat(spec.cutoverApprovedOrDefault())
        .isEqualTo(defaults.at("/cutoverApproved/default").asBoolean());
    JsonNode copy = defaults.at("/copy/properties");
    var copySpec = spec.copyOrDefault();
    assertThat(copySpec.pausedOrDefault()).isEqualTo(copy.at("/paused/default").asBoolean());
    assertThat(copySpec.regionsInFlightOrDefault())
        .isEqualTo(copy.at("/regionsInFlight/default").asInt());
    assertThat(copySpec.batchRegionsOrDefault())
        .isEqualTo(copy.at("/batchRegions/default").asInt());
    assertThat(copySpec.copyOnReadOrDefault())
        .isEqualTo(copy.at("/copyOnRead/default").asBoolean());
    assertThat(copySpec.bandwidthBytesPerSecond()).isZero();
  }

  /** The tree re-read from its text, so that equal numbers have equal node types. */
  static JsonNode canonical(JsonNode node) {
    try {
      return Yaml.MAPPER.readTree(Yaml.MAPPER.writeValueAsString(node));
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** The tree with integer quantities written as their decimal text, as the model keeps them. */
  static JsonNode quantitiesAsText(JsonNode node) {
    JsonNode copy = node.deepCopy();
    convertQuantities(copy);
    return copy;
  }

  private static void convertQuantities(JsonNode node) {
    if (node.isObject()) {
      ObjectNode object = (ObjectNode) node;
      object
          .properties()
          .forEach(
              e -> {
                if (QUANTITY_FIELDS.contains(e.getKey()) && e.getValue().isIntegralNumber()) {
                  e.setValue(TextNode.valueOf(e.getValue().asText()));
                } else {
                  convertQuantities(e.getValue());
                }
              });
    } else if (node.isArray()) {
      node.forEach(ExamplesTest::convertQuantities);
    }
  }
}
