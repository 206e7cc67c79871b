package io.volumeclone.bench;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * DESIGN.md: the benchmarks measure the engine, the export and the CLI's process, not the agent:
 * they use no Kubernetes code, no agent and not the entry point. Moved here from node-agent's
 * DependencyArrowsTest with the benchmarks (issue 16 item 8), checked the same two ways: on the
 * compiled classes and on the sources' imports (javac inlines constants).
 */
class BenchmarkArrowsTest {

  private static final List<String> FORBIDDEN =
      List.of("io.fabric8", "io.javaoperatorsdk", "io.volumeclone.agent", "io.volumeclone.app");

  @Test
  void compiledBenchmarksUseNoAgentNorKubernetesCode() {
    JavaClasses classes =
        new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("io.volumeclone.bench");
    assertThat(classes).isNotEmpty();
    noClasses()
        .that()
        .resideInAPackage("io.volumeclone.bench..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(FORBIDDEN.stream().map(p -> p + "..").toArray(String[]::new))
        .because("DESIGN.md: benchmarks measure the engine and the export, not the agent")
        .check(classes);
  }

  @Test
  void benchmarkSourcesImportNoAgentNorKubernetesCode() throws IOException {
    List<String> imports;
    try (Stream<Path> files = Files.walk(Path.of("src/main/java/io/volumeclone/bench"))) {
      imports =
          files
              .filter(f -> f.toString().endsWith(".java"))
              .flatMap(f -> lines(f).stream().map(line -> f + ": " + line.strip()))
              .filter(line -> line.matches(".*: import (static )?[a-z].*"))
              .toList();
    }
    assertThat(imports).isNotEmpty();
    assertThat(imports)
        .noneMatch(
            line ->
                FORBIDDEN.stream()
                    .anyMatch(
                        p ->
                            line.matches(
                                ".*: import (static )?" + p.replace(".", "\\.") + "\\..*")));
  }

  private static List<String> lines(Path file) {
    try {
      return Files.readAllLines(file);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
