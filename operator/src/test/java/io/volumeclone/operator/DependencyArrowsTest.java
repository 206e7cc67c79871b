package io.volumeclone.operator;

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
 * DESIGN.md: {@code operator -> crds}. The operator never uses node-agent code (engine, export,
 * CLI, agent); it talks to agents only through the VolumeClone's status and the agent Pod.
 *
 * <p>Checked on the classes and on the sources' imports: javac inlines constants, so a class that
 * only reads another module's constant leaves no trace in its class file.
 */
class DependencyArrowsTest {

  private static final JavaClasses OPERATOR_CLASSES =
      new ClassFileImporter()
          .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
          .importPackages("io.volumeclone.operator");

  @Test
  void theOperatorUsesNoNodeAgentCode() {
    noClasses()
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(
            "io.volumeclone.engine..",
            "io.volumeclone.nbd..",
            "io.volumeclone.cli..",
            "io.volumeclone.agent..",
            "io.volumeclone.bench..",
            "io.volumeclone.app..")
        .because("DESIGN.md: operator -> crds (and the agent contract) only")
        .check(OPERATOR_CLASSES);
  }

  @Test
  void theOperatorsSourcesImportOnlyTheModelOfVolumeClone() throws IOException {
    List<String> imports;
    try (Stream<Path> files = Files.walk(Path.of("src/main/java"))) {
      imports =
          files
              .filter(f -> f.toString().endsWith(".java"))
              .flatMap(f -> lines(f).stream().map(line -> f + ": " + line.strip()))
              .filter(line -> line.matches(".*: import (static )?io\\.volumeclone\\..*"))
              .toList();
    }

    assertThat(imports).isNotEmpty();
    assertThat(imports)
        .allMatch(
            line ->
                line.matches(
                    ".*: import (static )?io\\.volumeclone\\.(api|contract|operator)\\..*"),
            "imports only io.volumeclone.api, io.volumeclone.contract (the agent contract) and"
                + " io.volumeclone.operator");
  }

  private static List<String> lines(Path file) {
    try {
      return Files.readAllLines(file);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
