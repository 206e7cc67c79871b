package io.volumeclone.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.volumeclone.api.v1alpha1.spec.CopySpec;
import io.volumeclone.engine.CloneOptions;
import io.volumeclone.engine.CopyDefaults;
import java.io.IOException;
import java.io.InputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The CRD's {@code spec.copy} defaults equal the engine's {@link CopyDefaults}, which the CLI uses
 * too. The API module cannot reference the engine, so the numbers are stated in both; this test, in
 * the one module that sees both, keeps them one set. It reads the CRD the generator wrote into the
 * API module's jar, the same text the checked-in CRD must equal.
 */
class CopyDefaultsAgreementTest {

  private static final String GENERATED_CRD = "META-INF/fabric8/volumeclones.volumeclone.io-v1.yml";

  private static JSONSchemaProps copy;

  @BeforeAll
  static void readTheGeneratedCrd() throws IOException {
    try (InputStream in = CopySpec.class.getClassLoader().getResourceAsStream(GENERATED_CRD)) {
      assertThat(in).as("%s on the class path (the crds jar)", GENERATED_CRD).isNotNull();
      CustomResourceDefinition crd =
          new KubernetesSerialization().unmarshal(in, CustomResourceDefinition.class);
      copy =
          crd.getSpec()
              .getVersions()
              .getFirst()
              .getSchema()
              .getOpenAPIV3Schema()
              .getProperties()
              .get("spec")
              .getProperties()
              .get("copy");
    }
  }

  @Test
  void theCrdDefaultsRegionsInFlightAndBatchToTheEngines() {
    assertThat(copy.getProperties().get("regionsInFlight").getDefault().asInt())
        .isEqualTo(CopyDefaults.REGIONS_IN_FLIGHT);
    assertThat(copy.getProperties().get("batchRegions").getDefault().asInt())
        .isEqualTo(CopyDefaults.BATCH_REGIONS);
  }

  @Test
  void anAbsentCopySpecMeansTheEnginesDefaults() {
    CopySpec absent = new CopySpec();
    CloneOptions engine = CloneOptions.builder("defaults").build();

    assertThat(absent.regionsInFlightOrDefault())
        .isEqualTo(engine.regionsInFlight())
        .isEqualTo(CopyDefaults.REGIONS_IN_FLIGHT);
    assertThat(absent.batchRegionsOrDefault())
        .isEqualTo(engine.batchRegions())
        .isEqualTo(CopyDefaults.BATCH_REGIONS);
  }
}
