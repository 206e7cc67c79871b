package io.volumeclone.api.v1alpha1;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.volumeclone.api.v1alpha1.spec.Access;
import io.volumeclone.api.v1alpha1.spec.CutoverMode;
import io.volumeclone.api.v1alpha1.spec.VolumeMode;
import io.volumeclone.api.v1alpha1.status.Phase;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The parts of the checked-in CRD that users and tools see, other than the rules. */
class CrdShapeTest {

  static final JsonNode CRD = CrdFile.checkedIn();
  static final JsonNode VERSION = CRD.at("/spec/versions/0");
  static final JsonNode SCHEMA = CrdFile.openApiSchema();

  @Test
  void namesScopeAndVersion() {
    assertThat(CRD.at("/metadata/name").asText()).isEqualTo(VolumeClone.CRD_NAME);
    assertThat(CRD.at("/spec/group").asText()).isEqualTo("volumeclone.io");
    assertThat(CRD.at("/spec/scope").asText()).isEqualTo("Namespaced");
    JsonNode names = CRD.at("/spec/names");
    assertThat(names.get("kind").asText()).isEqualTo("VolumeClone");
    assertThat(names.get("plural").asText()).isEqualTo("volumeclones");
    assertThat(names.get("singular").asText()).isEqualTo("volumeclone");
    assertThat(texts(names.get("shortNames"))).containsExactly("vc");
    assertThat(texts(names.get("categories"))).contains("volumeclone", "storage");
    assertThat(CRD.at("/spec/versions")).hasSize(1);
    assertThat(VERSION.get("name").asText()).isEqualTo("v1alpha1");
    assertThat(VERSION.get("served").asBoolean()).isTrue();
    assertThat(VERSION.get("storage").asBoolean()).isTrue();
  }

  @Test
  void theFileLoadsWithFabric8AsOneCrd() throws java.io.IOException {
    var serialization = new io.fabric8.kubernetes.client.utils.KubernetesSerialization();
    try (var in = java.nio.file.Files.newInputStream(CrdFile.CHECKED_IN)) {
      Object loaded = serialization.unmarshal(in);
      assertThat(loaded)
          .isInstanceOf(
              io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition.class);
      var crd = (io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition) loaded;
      assertThat(crd.getMetadata().getName()).isEqualTo(VolumeClone.CRD_NAME);
    }
  }

  @Test
  void statusIsASubresource() {
    assertThat(VERSION.at("/subresources/status").isObject()).isTrue();
  }

  @Test
  void printerColumnsAreThoseOfKubectlGetInOrder() {
    List<String> names = new ArrayList<>();
    for (JsonNode column : VERSION.get("additionalPrinterColumns")) {
      names.add(column.get("name").asText());
      String path = column.get("jsonPath").asText();
      if (path.equals(".metadata.creationTimestamp")) {
        assertThat(column.get("type").asText()).isEqualTo("date");
      } else if (path.startsWith(".status.conditions[")) {
        assertThat(path).isEqualTo(".status.conditions[?(@.type==\"Ready\")].status");
      } else {
        assertThat(schemaAt(path))
            .as("column %s: %s must name a field of the schema", column.get("name"), path)
            .isNotNull();
      }
    }
    assertThat(names)
        .containsExactly(
            "SOURCE",
            "DESTINATION",
            "VOLUME",
            "NODE",
            "PHASE",
            "PROGRESS",
            "RATE",
            "ETA",
            "READY",
            "AGE");
    assertThat(VERSION.at("/additionalPrinterColumns/9/jsonPath").asText())
        .isEqualTo(".metadata.creationTimestamp");
  }

  @Test
  void plainGetShowsTheProgressWithItsSignAndWideAddsRateEtaAndReady() {
    List<String> plain = new ArrayList<>();
    List<String> wide = new ArrayList<>();
    for (JsonNode column : VERSION.get("additionalPrinterColumns")) {
      String name = column.get("name").asText();
      wide.add(name);
      if (column.path("priority").asInt(0) == 0) {
        plain.add(name);
      }
    }
    assertThat(plain)
        .containsExactly("SOURCE", "DESTINATION", "VOLUME", "NODE", "PHASE", "PROGRESS", "AGE");
    assertThat(wide).containsSubsequence("PROGRESS", "RATE", "ETA", "READY", "AGE");
    assertThat(VERSION.at("/additionalPrinterColumns/5/jsonPath").asText())
        .isEqualTo(".status.progress.percentText");
    assertThat(schemaAt(".status.progress.percentText").get("pattern").asText())
        .isEqualTo("^(100|[0-9]{1,2})\\.[0-9]%$");
  }

  @Test
  void enumsMatchTheJavaEnums() {
    assertThat(texts(SCHEMA.at("/properties/spec/properties/access/enum")))
        .containsExactlyInAnyOrderElementsOf(enumNames(Access.values()));
    assertThat(texts(SCHEMA.at("/properties/spec/properties/cutover/enum")))
        .containsExactlyInAnyOrderElementsOf(enumNames(CutoverMode.values()));
    assertThat(texts(SCHEMA.at("/properties/spec/properties/volume/properties/mode/enum")))
        .containsExactlyInAnyOrderElementsOf(enumNames(VolumeMode.values()));
    assertThat(texts(SCHEMA.at("/properties/status/properties/phase/enum")))
        .containsExactlyInAnyOrderElementsOf(enumNames(Phase.values()));
  }

  @Test
  void conditionsAreAListMapKeyedByType() {
    JsonNode conditions = SCHEMA.at("/properties/status/properties/conditions");
    assertThat(conditions.get("x-kubernetes-list-type").asText()).isEqualTo("map");
    assertThat(texts(conditions.get("x-kubernetes-list-map-keys"))).containsExactly("type");
    // a list-map key must be required (or defaulted) in every item
    assertThat(texts(conditions.at("/items/required"))).contains("type", "status");
    assertThat(texts(conditions.at("/items/properties/status/enum")))
        .containsExactly("True", "False", "Unknown");
  }

  @Test
  void specAndItsReferencesAreRequired() {
    assertThat(texts(SCHEMA.get("required"))).containsExactly("spec");
    assertThat(texts(SCHEMA.at("/properties/spec/required")))
        .containsExactlyInAnyOrder("source", "destination");
  }

  @Test
  void quantitiesTakeIntegersOrStrings() {
    for (String pointer :
        List.of(
            "/properties/spec/properties/regionSize",
            "/properties/spec/properties/range/properties/sourceOffset",
            "/properties/spec/properties/range/properties/destinationOffset",
            "/properties/spec/properties/range/properties/size",
            "/properties/spec/properties/copy/properties/bandwidth")) {
      JsonNode field = SCHEMA.at(pointer);
      assertThat(field.path("x-kubernetes-int-or-string").asBoolean()).as(pointer).isTrue();
      assertThat(field.has("pattern")).as(pointer).isTrue();
    }
  }

  @Test
  void everyFieldIsDocumented() {
    List<String> undocumented = new ArrayList<>();
    collectUndocumented(SCHEMA.at("/properties/spec"), "spec", undocumented);
    collectUndocumented(SCHEMA.at("/properties/status"), "status", undocumented);
    assertThat(undocumented).isEmpty();
  }

  private static void collectUndocumented(JsonNode schema, String path, List<String> out) {
    for (Map.Entry<String, JsonNode> property : schema.path("properties").properties()) {
      String childPath = path + "." + property.getKey();
      if (property.getValue().path("description").asText().isBlank()) {
        out.add(childPath);
      }
      collectUndocumented(property.getValue(), childPath, out);
    }
    if (schema.has("items")) {
      collectUndocumented(schema.get("items"), path + "[]", out);
    }
  }

  /** The schema node a simple JSON path like {@code .status.progress.percent} points at. */
  private static JsonNode schemaAt(String jsonPath) {
    JsonNode node = SCHEMA;
    for (String part : jsonPath.substring(1).split("\\.")) {
      node = node.path("properties").get(part);
      if (node == null) {
        return null;
      }
    }
    return node;
  }

  static List<String> texts(JsonNode array) {
    List<String> texts = new ArrayList<>();
    array.forEach(n -> texts.add(n.asText()));
    return texts;
  }

  private static List<String> enumNames(Enum<?>[] values) {
    return Arrays.stream(values).map(Enum::name).toList();
  }
}
