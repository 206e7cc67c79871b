package io.volumeclone.helm;

import com.marcnuri.helm.Helm;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The chart under test and the manifests it renders. Rendering goes through helm-java (Helm's own
 * Go code in a shared library, no helm binary), so values.schema.json and every {@code fail} in the
 * templates apply exactly as in {@code helm install}.
 */
final class ChartFixture {

  static final String RELEASE = "vc";
  static final String NAMESPACE = "volume-clone-system";

  private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

  private ChartFixture() {}

  /** The repository root: the nearest directory upwards that holds helm/volume-clone. */
  static Path repositoryRoot() {
    Path dir = Path.of("").toAbsolutePath();
    for (Path d = dir; d != null; d = d.getParent()) {
      if (Files.isRegularFile(d.resolve("helm/volume-clone/Chart.yaml"))) {
        return d;
      }
    }
    throw new IllegalStateException("no helm/volume-clone/Chart.yaml above " + dir);
  }

  static Path chart() {
    return repositoryRoot().resolve("helm/volume-clone");
  }

  /** {@code helm template} with the chart's defaults plus the given values files. */
  static String template(Path... valuesFiles) {
    var command =
        new Helm(chart())
            .template()
            .withName(RELEASE)
            .withNamespace(NAMESPACE)
            .withKubeVersion("1.31.0");
    for (Path values : valuesFiles) {
      command = command.withValuesFile(values);
    }
    return command.call();
  }

  /**
   * What {@code helm install --dry-run} prints after installing: the release and NOTES.txt (client
   * only, no cluster).
   */
  static String notes(Path... valuesFiles) {
    var command =
        new Helm(chart())
            .install()
            .withName(RELEASE)
            .withNamespace(NAMESPACE)
            .withKubeVersion("1.31.0")
            .clientOnly()
            .dryRun();
    for (Path values : valuesFiles) {
      command = command.withValuesFile(values);
    }
    return command.call().getOutput();
  }

  /** A values file under src/test/resources/helm. */
  static Path valuesResource(String name) {
    Path path = repositoryRoot().resolve("e2e/src/test/resources/helm").resolve(name);
    if (!Files.isRegularFile(path)) {
      throw new IllegalStateException("missing test values file " + path);
    }
    return path;
  }

  /** Writes {@code yaml} to a values file in {@code dir}. */
  static Path valuesFile(Path dir, String yaml) {
    try {
      Path file = Files.createTempFile(dir, "values-", ".yaml");
      Files.writeString(file, yaml);
      return file;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The rendered manifests, each parsed by fabric8 into its typed model where it has one. */
  static Manifests render(Path... valuesFiles) {
    return Manifests.parse(template(valuesFiles));
  }

  /** A rendered release: its documents, typed. */
  record Manifests(String text, List<HasMetadata> resources) {

    static Manifests parse(String text) {
      List<HasMetadata> resources = new ArrayList<>();
      for (String document : text.split("(?m)^---\\s*$")) {
        if (document.lines().allMatch(l -> l.isBlank() || l.startsWith("#"))) {
          continue;
        }
        resources.add(SERIALIZATION.unmarshal(document));
      }
      return new Manifests(text, List.copyOf(resources));
    }

    <T extends HasMetadata> List<T> all(Class<T> type) {
      return resources.stream().filter(type::isInstance).map(type::cast).toList();
    }

    <T extends HasMetadata> Optional<T> find(Class<T> type, String name) {
      return all(type).stream().filter(r -> r.getMetadata().getName().equals(name)).findFirst();
    }

    <T extends HasMetadata> T get(Class<T> type, String name) {
      return find(type, name)
          .orElseThrow(
              () ->
                  new AssertionError(
                      "no "
                          + type.getSimpleName()
                          + " named "
                          + name
                          + " in the rendered chart; rendered: "
                          + resources.stream()
                              .map(r -> r.getKind() + "/" + r.getMetadata().getName())
                              .toList()));
    }

    <T extends HasMetadata> T only(Class<T> type) {
      List<T> all = all(type);
      if (all.size() != 1) {
        throw new AssertionError("expected one " + type.getSimpleName() + ", got " + all.size());
      }
      return all.get(0);
    }

    List<String> kinds() {
      return resources.stream().map(r -> r.getKind() + "/" + r.getMetadata().getName()).toList();
    }
  }
}
