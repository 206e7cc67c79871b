package io.volumeclone.api;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * DESIGN.md: {@code crds} is the model and the generated CRD only, with no client calls, and it
 * depends on nothing else of volume-clone ({@code operator -> crds}, {@code agent -> crds}).
 */
class DependencyArrowsTest {

  /**
   * What the model needs from fabric8's client artifact: the custom resource base class and its
   * JSON serialization (the status merge patch). Neither talks to an API server.
   */
  private static final Set<String> MODEL_PARTS_OF_THE_CLIENT =
      Set.of(
          "io.fabric8.kubernetes.client.CustomResource",
          "io.fabric8.kubernetes.client.utils.KubernetesSerialization");

  private static final JavaClasses MAIN_CLASSES =
      new ClassFileImporter()
          .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
          .importPackages("io.volumeclone.api");

  @Test
  void theModelMakesNoClientCalls() {
    noClasses()
        .should()
        .dependOnClassesThat(
            JavaClass.Predicates.resideInAPackage("io.fabric8.kubernetes.client..")
                .and(
                    DescribedPredicate.describe(
                        "not " + MODEL_PARTS_OF_THE_CLIENT,
                        c -> !MODEL_PARTS_OF_THE_CLIENT.contains(c.getName()))))
        .because("DESIGN.md: crds is the model and the generated CRD only (no client calls)")
        .check(MAIN_CLASSES);
  }

  @Test
  void theModelDependsOnNoOtherModule() {
    noClasses()
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(
            "io.volumeclone.engine..",
            "io.volumeclone.nbd..",
            "io.volumeclone.cli..",
            "io.volumeclone.agent..",
            "io.volumeclone.bench..",
            "io.volumeclone.app..",
            "io.volumeclone.operator..",
            "io.javaoperatorsdk..")
        .because("DESIGN.md: operator -> crds and agent -> crds, never the other way")
        .check(MAIN_CLASSES);
  }
}
