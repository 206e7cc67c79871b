package io.volumeclone.api.v1alpha1;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;

/**
 * The checked-in CRD, and the Helm chart's copy of it, are exactly what the model generates; {@code
 * -Dcrd.update=true} refreshes both.
 */
class CrdUpToDateTest {

  @Test
  void checkedInCrdMatchesTheModel() throws IOException {
    String expected = CrdFile.expectedText();
    if (Boolean.getBoolean("crd.update")) {
      Files.writeString(CrdFile.CHECKED_IN, expected);
      // both copies at once, so the chart's cannot drift from the model
      Files.writeString(CrdFile.HELM_COPY, expected);
    }
    if (!Files.exists(CrdFile.CHECKED_IN)) {
      fail(
          "crds/"
              + CrdFile.CHECKED_IN
              + " is missing. Create it with: ./mvnw -B -pl crds verify -Dcrd.update=true");
    }
    assertThat(CrdFile.checkedInText())
        .as(
            "crds/%s is stale: the Java model changed but the checked-in CRD did not."
                + " Refresh it with: ./mvnw -B -pl crds verify -Dcrd.update=true"
                + " (then review and commit the diff)",
            CrdFile.CHECKED_IN)
        .isEqualTo(expected);
  }

  @Test
  void theHelmChartsCopyIsTheCheckedInCrd() {
    assertThat(CrdFile.read(CrdFile.HELM_COPY))
        .as(
            "%s differs from crds/%s. Refresh both with: ./mvnw -B -pl crds verify"
                + " -Dcrd.update=true",
            CrdFile.HELM_COPY.normalize(), CrdFile.CHECKED_IN)
        .isEqualTo(CrdFile.checkedInText());
  }
}
