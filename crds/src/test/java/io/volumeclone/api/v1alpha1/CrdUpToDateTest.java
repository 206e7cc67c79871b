package io.volumeclone.api.v1alpha1;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;

/** The checked-in CRD is exactly what the model generates; {@code -Dcrd.update=true} refreshes. */
class CrdUpToDateTest {

  @Test
  void checkedInCrdMatchesTheModel() throws IOException {
    String expected = CrdFile.expectedText();
    if (Boolean.getBoolean("crd.update")) {
      Files.writeString(CrdFile.CHECKED_IN, expected);
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
}
