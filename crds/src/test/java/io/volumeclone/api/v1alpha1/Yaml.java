package io.volumeclone.api.v1alpha1;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** YAML fixtures as Jackson trees. */
final class Yaml {

  static final ObjectMapper MAPPER = new ObjectMapper(new YAMLFactory());

  private Yaml() {}

  static ObjectNode parse(String yaml) {
    try {
      return (ObjectNode) MAPPER.readTree(yaml);
    } catch (IOException e) {
      throw new UncheckedIOException("bad YAML fixture:\n" + yaml, e);
    }
  }

  static ObjectNode read(Path file) {
    return parse(CrdFile.read(file));
  }

  /**
   * A VolumeClone named {@code test} in namespace {@code ns} with the given spec, written as YAML
   * lines without the {@code spec:} key (text blocks in tests read like the user's file).
   */
  static ObjectNode volumeClone(String specYaml) {
    String indented =
        specYaml.stripIndent().lines().map(l -> "  " + l).reduce("", (a, b) -> a + b + "\n");
    return parse(
        "apiVersion: volumeclone.io/v1alpha1\n"
            + "kind: VolumeClone\n"
            + "metadata: {name: test, namespace: ns}\n"
            + "spec:\n"
            + indented);
  }

  static List<Path> filesIn(Path dir) {
    try (Stream<Path> files = Files.list(dir)) {
      return files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + dir.toAbsolutePath(), e);
    }
  }

  static JsonNode at(JsonNode node, String pointer) {
    return node.at(pointer);
  }
}
