package io.volumeclone.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code helm lint --strict} and the chart's copy of the CRD. */
class ChartLintTest {

  private static final String CRD_FILE = "volumeclones.volumeclone.io-v1.yml";

  @Test
  void lintStrictIsClean() {
    LintResult result = new Helm(ChartFixture.chart()).lint().strict().call();

    assertThat(result.getMessages())
        .as("helm lint --strict messages for %s", ChartFixture.chart())
        .noneMatch(m -> m.contains("[WARNING]") || m.contains("[ERROR]"));
    assertThat(result.isFailed())
        .as("helm lint --strict failed: %s", result.getMessages())
        .isFalse();
  }

  @Test
  void lintStrictFailsOnABrokenChart(@TempDir Path broken) throws IOException {
    // The lint call must be able to fail: a copy of the chart with a template that does not parse.
    copy(ChartFixture.chart(), broken);
    Files.writeString(broken.resolve("templates/broken.yaml"), "kind: {{ .Values.nothing.here }\n");

    LintResult result = new Helm(broken).lint().strict().call();

    assertThat(result.isFailed()).isTrue();
    assertThat(String.join("\n", result.getMessages())).contains("broken.yaml");
  }

  @Test
  void chartCarriesTheCheckedInCrdByteForByte() throws IOException {
    Path root = ChartFixture.repositoryRoot();
    Path original = root.resolve("crds").resolve(CRD_FILE);
    Path copy = ChartFixture.chart().resolve("crds").resolve(CRD_FILE);

    assertThat(Files.readAllBytes(copy))
        .as(
            "helm/volume-clone/crds/%s differs from crds/%s; refresh the chart's copy with:"
                + " cp crds/%s helm/volume-clone/crds/",
            CRD_FILE, CRD_FILE, CRD_FILE)
        .isEqualTo(Files.readAllBytes(original));
    try (Stream<Path> files = Files.list(ChartFixture.chart().resolve("crds"))) {
      assertThat(files.map(p -> p.getFileName().toString()).toList())
          .as("the chart's crds/ holds only the VolumeClone CRD")
          .containsExactly(CRD_FILE);
    }
  }

  @Test
  void everyValueIsDocumented() throws IOException {
    // Every setting has a comment right above it, or sits in a block that has one.
    List<String> lines = Files.readAllLines(ChartFixture.chart().resolve("values.yaml"));
    int settings = 0;
    for (int i = 0; i < lines.size(); i++) {
      if (!lines.get(i).matches("^[\\s-]*[A-Za-z][\\w.-]*:\\s*\\S.*$")) {
        continue; // blank, comment, list item, or a key whose value is the block below
      }
      settings++;
      assertThat(documented(lines, i))
          .as("values.yaml line %d has no comment above it or its block: %s", i + 1, lines.get(i))
          .isTrue();
    }
    assertThat(settings).as("settings found in values.yaml").isGreaterThan(40);
  }

  private static boolean documented(List<String> lines, int index) {
    if (index > 0 && lines.get(index - 1).stripLeading().startsWith("#")) {
      return true;
    }
    int indent = indent(lines.get(index));
    for (int j = index - 1; j >= 0; j--) {
      String line = lines.get(j);
      if (line.isBlank() || line.stripLeading().startsWith("#")) {
        continue;
      }
      if (indent(line) < indent) {
        return documented(lines, j);
      }
    }
    return false;
  }

  /** Leading spaces and list dashes: " - name: x" is as deep as the keys of that item. */
  private static int indent(String line) {
    int n = 0;
    while (n < line.length() && (line.charAt(n) == ' ' || line.charAt(n) == '-')) {
      n++;
    }
    return n;
  }

  private static void copy(Path from, Path to) throws IOException {
    try (Stream<Path> paths = Files.walk(from)) {
      for (Path source : paths.toList()) {
        Path target = to.resolve(from.relativize(source).toString());
        if (Files.isDirectory(source)) {
          Files.createDirectories(target);
        } else {
          Files.copy(source, target);
        }
      }
    }
    assertThat(Arrays.asList(to.toFile().list())).contains("Chart.yaml");
  }
}
