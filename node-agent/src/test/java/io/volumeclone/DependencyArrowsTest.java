package io.volumeclone;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * DESIGN.md's dependency arrows inside node-agent: {@code agent -> crds, engine, nbd}, {@code nbd
 * -> engine}, {@code cli -> engine, nbd}; the engine knows nothing of Kubernetes, NBD or the CLI.
 * The entry point {@code io.volumeclone.app} is the one package that sees both the CLI and the
 * agent. The benchmarks ({@code io.volumeclone.bench}) live in their own module, outside the
 * production jar; nothing here may use them, and their own arrow is checked there (benchmarks'
 * BenchmarkArrowsTest).
 *
 * <p>Each arrow is checked twice, because neither check alone sees every dependency: on the
 * compiled classes (ArchUnit; catches fully qualified uses without an import) and on the sources'
 * import lines (javac inlines constants, so an engine class that only reads a constant of the API
 * module leaves no trace in its class file).
 */
class DependencyArrowsTest {

  private static final Path MAIN_SOURCES = Path.of("src/main/java");

  private static final List<String> KUBERNETES = List.of("io.fabric8", "io.javaoperatorsdk");

  /**
   * The CLI's one remaining use of the API module, named so no new one slips in: parsing sizes by
   * the CLI's rule ({@code Sizes.parse}). It prints figures with the engine's status formatter
   * ({@code CloneStatus}) and uses none of the CRD model (#16 item 8).
   */
  private static final Set<String> CLI_API_EXCEPTIONS = Set.of("io.volumeclone.api.Sizes");

  /** What uses the export and the engine: neither of them may use any of it. */
  private static final List<String> ABOVE_THE_EXPORT =
      with(
          KUBERNETES,
          "io.volumeclone.api",
          "io.volumeclone.contract",
          "io.volumeclone.cli",
          "io.volumeclone.agent",
          "io.volumeclone.bench",
          "io.volumeclone.app",
          "picocli");

  /** What each package of node-agent must not use, and why. */
  private static final List<Arrow> ARROWS =
      List.of(
          new Arrow(
              "io.volumeclone.engine",
              "the engine knows nothing of Kubernetes, NBD or the CLI",
              Set.of(),
              with(ABOVE_THE_EXPORT, "io.volumeclone.nbd")),
          new Arrow("io.volumeclone.nbd", "nbd -> engine only", Set.of(), ABOVE_THE_EXPORT),
          new Arrow(
              "io.volumeclone.cli",
              "cli -> engine, nbd: the CLI runs the engine without Kubernetes",
              CLI_API_EXCEPTIONS,
              with(
                  KUBERNETES,
                  "io.volumeclone.api",
                  "io.volumeclone.agent",
                  "io.volumeclone.bench",
                  "io.volumeclone.app")),
          new Arrow(
              "io.volumeclone.agent",
              "agent -> crds, engine, nbd",
              Set.of(),
              List.of("io.volumeclone.cli", "io.volumeclone.bench", "io.volumeclone.app")));

  private static final JavaClasses MAIN_CLASSES =
      new ClassFileImporter()
          .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
          .importPackages("io.volumeclone");

  @Test
  void compiledClassesFollowTheArrows() {
    for (Arrow arrow : ARROWS) {
      DescribedPredicate<JavaClass> forbidden =
          JavaClass.Predicates.resideInAnyPackage(
                  arrow.forbidden().stream().map(p -> p + "..").toArray(String[]::new))
              .and(
                  DescribedPredicate.describe(
                      "not a named exception", c -> !arrow.allows(c.getName())));
      noClasses()
          .that()
          .resideInAPackage(arrow.from() + "..")
          .should()
          .dependOnClassesThat(forbidden)
          .because("DESIGN.md: " + arrow.why())
          .check(MAIN_CLASSES);
    }
  }

  @Test
  void sourceImportsFollowTheArrows() {
    List<String> violations = new ArrayList<>();
    for (Arrow arrow : ARROWS) {
      Path dir = MAIN_SOURCES.resolve(arrow.from().replace('.', '/'));
      assertThat(dir).as("sources of %s", arrow.from()).isDirectory();
      try (Stream<Path> files = Files.walk(dir)) {
        files
            .filter(f -> f.toString().endsWith(".java"))
            .forEach(f -> violations.addAll(arrow.violationsIn(f, read(f))));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    assertThat(violations).as("imports that break DESIGN.md's arrows").isEmpty();
  }

  @Test
  void theImportCheckNamesTheFileTheLineAndTheArrow() {
    Arrow engine = ARROWS.getFirst();
    String source =
        """
        package io.volumeclone.engine;

        import java.util.List;
        import io.volumeclone.api.CopyDefaults;
        import static io.volumeclone.nbd.NbdProtocol.NBD_OK;
        """;

    assertThat(engine.violationsIn(Path.of("Engine.java"), source))
        .containsExactly(
            "Engine.java:4 imports io.volumeclone.api.CopyDefaults (DESIGN.md: the engine knows"
                + " nothing of Kubernetes, NBD or the CLI)",
            "Engine.java:5 imports io.volumeclone.nbd.NbdProtocol.NBD_OK (DESIGN.md: the engine"
                + " knows nothing of Kubernetes, NBD or the CLI)");
  }

  @Test
  void theCliMayUseOnlyTheNamedApiClasses() {
    Arrow cli = ARROWS.get(2);
    String source =
        """
        import io.volumeclone.api.Sizes;
        import io.volumeclone.api.v1alpha1.VolumeClone;
        """;

    assertThat(cli.violationsIn(Path.of("Cli.java"), source))
        .containsExactly(
            "Cli.java:2 imports io.volumeclone.api.v1alpha1.VolumeClone (DESIGN.md: cli -> engine,"
                + " nbd: the CLI runs the engine without Kubernetes)");
  }

  private static List<String> with(List<String> some, String... more) {
    return Stream.concat(some.stream(), Stream.of(more)).toList();
  }

  private static String read(Path file) {
    try {
      return Files.readString(file);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  /**
   * Classes in {@code from} must not use any of {@code forbidden} (packages, with subpackages),
   * except the named classes in {@code exceptions}.
   */
  private record Arrow(String from, String why, Set<String> exceptions, List<String> forbidden) {

    /** Whether a class, or a member named by an import, is one of the named exceptions. */
    boolean allows(String name) {
      return exceptions.stream()
          .anyMatch(e -> name.equals(e) || name.startsWith(e + ".") || name.startsWith(e + "$"));
    }

    /** The forbidden import lines of one source file, each named by file and line. */
    List<String> violationsIn(Path file, String source) {
      List<String> violations = new ArrayList<>();
      String[] lines = source.split("\n", -1);
      for (int i = 0; i < lines.length; i++) {
        String line = lines[i].strip();
        if (!line.startsWith("import ")) {
          continue;
        }
        String imported =
            line.substring("import ".length())
                .replaceFirst("^static\\s+", "")
                .replace(";", "")
                .strip();
        if (forbidden.stream().anyMatch(p -> imported.startsWith(p + ".")) && !allows(imported)) {
          violations.add(
              file + ":" + (i + 1) + " imports " + imported + " (DESIGN.md: " + why + ")");
        }
      }
      return violations;
    }
  }
}
