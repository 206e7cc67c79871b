package io.volumeclone.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class SizesTest {

  @ParameterizedTest(name = "{0} = {1}")
  @CsvSource({
    // plain bytes
    "0, 0",
    "512, 512",
    "65536, 65536",
    "9223372036854775807, 9223372036854775807",
    // Kubernetes binary suffixes
    "64Ki, 65536",
    "1Mi, 1048576",
    "10Gi, 10737418240",
    "1Ti, 1099511627776",
    "1Pi, 1125899906842624",
    "7Ei, 8070450532247928832",
    // dedupv1: upper-case K M G T P E are powers of two too
    "64K, 65536",
    "1M, 1048576",
    "1G, 1073741824",
    "2T, 2199023255552",
    "1P, 1125899906842624",
    "1E, 1152921504606846976",
    // Kubernetes decimal forms that are whole bytes
    "1k, 1000",
    "1e3, 1000",
    "1E6, 1000000",
    "2e+9, 2000000000",
    "1.5Gi, 1610612736",
    "0.5Ki, 512",
    ".5Ki, 512",
    "1., 1",
    "+1Gi, 1073741824",
    "1.5e3, 1500"
  })
  void acceptedForms(String value, long bytes) {
    assertThat(Sizes.parse(value)).isEqualTo(bytes);
  }

  @ParameterizedTest(name = "\"{0}\" because {1}")
  @CsvSource(
      delimiter = '|',
      value = {
        "-1 | cannot be negative",
        "-64Ki | cannot be negative",
        "1.3Ki | not a whole number of bytes",
        "0.5 | not a whole number of bytes",
        "1e-3 | not a whole number of bytes",
        "64KB | without the trailing B (64K)",
        "64KiB | without the trailing B (64Ki)",
        "100m | milli (m) makes no sense for bytes",
        "1g | unknown form",
        "abc | unknown form",
        "1x | unknown form",
        "Ki | unknown form",
        "1.5.5 | unknown form",
        "8Ei | larger than the largest supported size",
        "9223372036854775808 | larger than the largest supported size",
        "99999999999999999999999Ti | larger than the largest supported size",
        "1e31 | exponent is out of range",
        "1e99999999999 | exponent is out of range"
      })
  void rejectedFormsQuoteTheValueAndSayWhy(String value, String reason) {
    assertThatThrownBy(() -> Sizes.parse(value))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("invalid size \"" + value + "\": ")
        .hasMessageContaining(reason);
  }

  @ParameterizedTest
  @ValueSource(strings = {"", " 64Ki", "64Ki ", "64 Ki"})
  void emptyAndWhiteSpaceAreRejected(String value) {
    assertThatThrownBy(() -> Sizes.parse(value))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("invalid size \"" + value + "\": ");
  }

  @Test
  void missingValueIsRejected() {
    assertThatThrownBy(() -> Sizes.parse(null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("size is missing");
  }

  @ParameterizedTest
  @ValueSource(strings = {"64Ki", "10Gi", "64K", "1.5Gi", "1e6", "1k", "+1Gi", "65536"})
  void theCliPatternAcceptsWhatParseAccepts(String value) {
    assertThat(value).matches(Sizes.CLI_PATTERN);
    assertThat(Sizes.parse(value)).isPositive();
  }

  @ParameterizedTest
  @ValueSource(strings = {"64Ki", "10Gi", "100G", "1.5Gi", "1e6", "1k", "+1Gi", "65536", "1000m"})
  void theCrdPatternAcceptsWhatParseQuantityAccepts(String value) {
    assertThat(value).matches(Sizes.QUANTITY_PATTERN);
    assertThat(Sizes.parseQuantity(value)).isPositive();
  }

  @ParameterizedTest
  @ValueSource(strings = {"-1", "64KB", "64K", "1g", "abc", ""})
  void theCrdPatternRejectsMalformedValues(String value) {
    assertThat(value).doesNotMatch(Sizes.QUANTITY_PATTERN);
  }

  // --- Kubernetes quantities with Kubernetes' meaning (the CRD, operator and agent) ---

  @ParameterizedTest(name = "{0} = {1}")
  @CsvSource({
    "0, 0",
    "65536, 65536",
    "64Ki, 65536",
    "1Mi, 1048576",
    "10Gi, 10737418240",
    "1Ti, 1099511627776",
    "1Pi, 1125899906842624",
    "7Ei, 8070450532247928832",
    // decimal suffixes are powers of ten, as resource.Quantity reads them
    "1k, 1000",
    "1M, 1000000",
    "100G, 100000000000",
    "2T, 2000000000000",
    "1P, 1000000000000000",
    "1E, 1000000000000000000",
    "1000m, 1",
    "5000m, 5",
    // exponent forms
    "1e3, 1000",
    "1E6, 1000000",
    "2e+9, 2000000000",
    "1.5e3, 1500",
    "1.5Gi, 1610612736",
    "1.5G, 1500000000",
    ".5Ki, 512",
    "+1Gi, 1073741824"
  })
  void quantitiesMeanWhatKubernetesSays(String value, long bytes) {
    assertThat(Sizes.parseQuantity(value)).isEqualTo(bytes);
  }

  @Test
  void theSameTextDiffersBetweenTheCliAndKubernetes() {
    assertThat(Sizes.parse("1G")).isEqualTo(1L << 30);
    assertThat(Sizes.parseQuantity("1G")).isEqualTo(1_000_000_000L);
    assertThat(Sizes.parse("1Gi")).isEqualTo(Sizes.parseQuantity("1Gi"));
  }

  @ParameterizedTest(name = "\"{0}\" because {1}")
  @CsvSource(
      delimiter = '|',
      value = {
        "64K | K is not a Kubernetes quantity suffix: write 64Ki (64 x 1024 bytes) or 64k",
        "-1G | cannot be negative",
        "1500m | not a whole number of bytes (1.500)",
        "1m | not a whole number of bytes",
        "1.3Ki | not a whole number of bytes",
        "100GB | without the trailing B (100G)",
        "1g | unknown form; expected a Kubernetes quantity",
        "10E | larger than the largest supported size",
        "1e31 | exponent is out of range",
        "'' | it is empty"
      })
  void badQuantitiesAreRefusedQuotingTheValueAndTheReason(String value, String reason) {
    assertThatThrownBy(() -> Sizes.parseQuantity(value))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("\"" + value + "\"")
        .hasMessageContaining(reason);
  }

  /**
   * Whole numbers with a whole suffix take a long-arithmetic path (start time, issue 19); it must
   * agree with exact arithmetic for both rules, up to and across the long range's edge.
   */
  @Test
  void wholeNumbersWithEverySuffixAgreeWithExactArithmetic() {
    java.util.Map<String, java.math.BigInteger> cli = new java.util.LinkedHashMap<>();
    java.util.Map<String, java.math.BigInteger> kubernetes = new java.util.LinkedHashMap<>();
    java.math.BigInteger two = java.math.BigInteger.TWO;
    java.math.BigInteger ten = java.math.BigInteger.TEN;
    String[] binary = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    String[] upper = {"K", "M", "G", "T", "P", "E"};
    for (int i = 0; i < 6; i++) {
      cli.put(binary[i], two.pow(10 * (i + 1)));
      kubernetes.put(binary[i], two.pow(10 * (i + 1)));
      cli.put(upper[i], two.pow(10 * (i + 1)));
      if (i > 0) {
        kubernetes.put(upper[i], ten.pow(3 * (i + 1)));
      }
    }
    cli.put("", java.math.BigInteger.ONE);
    kubernetes.put("", java.math.BigInteger.ONE);
    cli.put("k", ten.pow(3));
    kubernetes.put("k", ten.pow(3));
    java.math.BigInteger max = java.math.BigInteger.valueOf(Long.MAX_VALUE);
    String[] numbers = {"0", "1", "7", "8", "9", "1023", "1024", "9223", "999999999999999999"};
    for (boolean k8s : new boolean[] {false, true}) {
      for (var suffix : (k8s ? kubernetes : cli).entrySet()) {
        for (String number : numbers) {
          String value = number + suffix.getKey();
          java.math.BigInteger expected =
              new java.math.BigInteger(number).multiply(suffix.getValue());
          if (expected.compareTo(max) > 0) {
            assertThatThrownBy(() -> parse(value, k8s))
                .as(value)
                .hasMessageContaining("larger than the largest supported size");
          } else {
            assertThat(parse(value, k8s)).as(value).isEqualTo(expected.longValueExact());
          }
        }
      }
    }
  }

  private static long parse(String value, boolean kubernetes) {
    return kubernetes ? Sizes.parseQuantity(value) : Sizes.parse(value);
  }
}
