package io.volumeclone.api.v1alpha1;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceColumnDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Where the CRD lives and how the checked-in file is made from the generator's output.
 *
 * <p>The crd-generator-maven-plugin writes {@link #GENERATED} at process-classes. The checked-in
 * {@link #CHECKED_IN} is that file with two changes the generator cannot express: a header that
 * says how to refresh it, and the printer columns in the order {@code kubectl get} shows them (the
 * generator sorts them by JSON path, which would put AGE first).
 */
final class CrdFile {

  static final Path CHECKED_IN = Path.of("volumeclones.volumeclone.io-v1.yml");

  /** The Helm chart's copy (Helm installs CRDs only from the chart's own crds/ directory). */
  static final Path HELM_COPY = Path.of("../helm/volume-clone/crds").resolve(CHECKED_IN);

  static final Path GENERATED =
      Path.of("target/classes/META-INF/fabric8/volumeclones.volumeclone.io-v1.yml");

  /** The columns of {@code kubectl get vc -o wide}, in order (RATE, ETA, READY: wide only). */
  static final List<String> COLUMNS =
      List.of(
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

  static final String HEADER =
      """
      # The VolumeClone CRD (volumeclone.io/v1alpha1). GENERATED from the Java model in
      # crds/src/main/java by the fabric8 crd-generator; do not edit by hand.
      # Refresh after changing the model: ./mvnw -B -pl crds verify -Dcrd.update=true
      """;

  private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  private CrdFile() {}

  /** The checked-in file's text as it must be, derived from the generator's fresh output. */
  static String expectedText() {
    if (!Files.exists(GENERATED)) {
      throw new IllegalStateException(
          GENERATED.toAbsolutePath()
              + " does not exist: the crd-generator-maven-plugin did not run; build with"
              + " ./mvnw -pl crds verify");
    }
    CustomResourceDefinition crd =
        SERIALIZATION.unmarshal(read(GENERATED), CustomResourceDefinition.class);
    for (var version : crd.getSpec().getVersions()) {
      List<CustomResourceColumnDefinition> columns =
          new ArrayList<>(version.getAdditionalPrinterColumns());
      columns.sort(Comparator.comparingInt(c -> columnIndex(c.getName())));
      version.setAdditionalPrinterColumns(columns);
    }
    String yaml = SERIALIZATION.asYaml(crd);
    // one plain document: tools that split on "---" must not see an empty first document
    return HEADER + (yaml.startsWith("---\n") ? yaml.substring(4) : yaml);
  }

  private static int columnIndex(String name) {
    int index = COLUMNS.indexOf(name);
    if (index < 0) {
      throw new IllegalStateException(
          "printer column " + name + " is not in CrdFile.COLUMNS " + COLUMNS);
    }
    return index;
  }

  static String checkedInText() {
    return read(CHECKED_IN);
  }

  /** The checked-in CRD as a tree. */
  static JsonNode checkedIn() {
    try {
      return YAML.readTree(checkedInText());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The checked-in CRD's {@code openAPIV3Schema} of v1alpha1. */
  static JsonNode openApiSchema() {
    return checkedIn().at("/spec/versions/0/schema/openAPIV3Schema");
  }

  static String read(Path path) {
    try {
      return Files.readString(path);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + path.toAbsolutePath(), e);
    }
  }
}
