package io.volumeclone.api;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.regex.Matcher;

/**
 * Byte sizes as users write them, by two rules.
 *
 * <p>{@link #parseQuantity}: a Kubernetes quantity with Kubernetes' meaning, for everything the
 * CRD, the operator and the agent read (a VolumeClone's sizes, the chart's values). {@code Ki Mi Gi
 * Ti Pi Ei} are 2^10 .. 2^60, {@code k M G T P E} are 10^3 .. 10^18, {@code m} is a thousandth, a
 * decimal exponent ({@code 1e6}, {@code 2E9}) a power of ten, as {@code resource.Quantity} reads
 * them, so {@code 100G} is the 10^11 bytes of a 100G PersistentVolume. The result must be a whole
 * number of bytes ({@code 1500m} is not, {@code 1000m} is 1). {@code K} is no Kubernetes suffix and
 * is refused with a hint.
 *
 * <p>{@link #parse}: the CLI's rule, Kubernetes quantities plus dedupv1's upper-case suffixes,
 * which mean powers of two. Where the two conventions collide, dedupv1 wins: {@code K M G T P E}
 * are 2^10 .. 2^60 (Kubernetes reads {@code M G T P E} as powers of ten), so {@code 64K} = {@code
 * 64Ki} = 65536 and {@code 1G} = {@code 1Gi}. Lower-case {@code k} keeps its Kubernetes meaning,
 * 1000, and a decimal exponent ({@code 1e6}, {@code 2E9}) is a power of ten; {@code E} alone is the
 * exbi suffix. Milli ({@code m}) is rejected: bytes do not come in thousandths. A fraction is
 * accepted when the result is a whole number of bytes ({@code 1.5Gi}, {@code 0.5Ki}), rejected
 * otherwise ({@code 1.3Ki}). Everything else, negative values and values above {@link
 * Long#MAX_VALUE} throw an {@link IllegalArgumentException} that quotes the value.
 */
public final class Sizes {

  /**
   * The form {@link #parse} (the CLI's rule) accepts, as a regular expression for CRD {@code
   * pattern}s (ECMA and RE2 compatible). It checks the form only; range and whole-byte checks are
   * {@link #parse}'s.
   */
  public static final String CLI_PATTERN =
      "^\\+?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|K|M|G|T|P|E|k)?$";

  /**
   * The form {@link #parseQuantity} accepts: a non-negative Kubernetes quantity, as a regular
   * expression for CRD {@code pattern}s (ECMA and RE2 compatible).
   */
  public static final String QUANTITY_PATTERN =
      "^\\+?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$";

  /**
   * Longest quantity text the CRD accepts. Bounds the strings CEL rules look at, which keeps the
   * API server's cost estimate of those rules small (unbounded strings are costed at the maximum
   * request size).
   */
  public static final int MAX_QUANTITY_LENGTH = 32;

  private static final java.util.regex.Pattern CLI_FORM =
      java.util.regex.Pattern.compile(CLI_PATTERN);

  private static final java.util.regex.Pattern QUANTITY_FORM =
      java.util.regex.Pattern.compile(QUANTITY_PATTERN);

  private static final BigInteger LONG_MAX = BigInteger.valueOf(Long.MAX_VALUE);

  private Sizes() {}

  /**
   * The number of bytes {@code value} stands for by the CLI's rule: {@code K M G T P E} are powers
   * of two (dedupv1), as are {@code Ki} .. {@code Ei}.
   *
   * @throws IllegalArgumentException naming the value and the reason when it is not a size
   */
  public static long parse(String value) {
    return parse(value, false);
  }

  /**
   * The number of bytes the Kubernetes quantity {@code value} stands for, with Kubernetes' meaning:
   * {@code G} = 10^9, {@code Gi} = 2^30.
   *
   * @throws IllegalArgumentException naming the value and the reason when it is not a whole number
   *     of bytes
   */
  public static long parseQuantity(String value) {
    return parse(value, true);
  }

  private static long parse(String value, boolean kubernetes) {
    if (value == null) {
      throw new IllegalArgumentException(
          "size is missing: expected bytes or a quantity such as" + " 64Ki");
    }
    if (value.startsWith("-")) {
      throw invalid(value, "a size cannot be negative");
    }
    Matcher m = (kubernetes ? QUANTITY_FORM : CLI_FORM).matcher(value);
    if (!m.matches()) {
      throw invalid(value, kubernetes ? reasonForBadQuantity(value) : reasonForBadForm(value));
    }
    long whole = wholeNumberTimesSuffix(m.group(1), m.group(3), kubernetes);
    if (whole >= 0) {
      return whole;
    }
    BigDecimal number = new BigDecimal(m.group(1).endsWith(".") ? m.group(1) + "0" : m.group(1));
    String suffix = m.group(3);
    BigDecimal bytes =
        number.multiply(kubernetes ? quantityMultiplier(suffix, value) : multiplier(suffix, value));
    BigInteger exact;
    try {
      exact = bytes.toBigIntegerExact();
    } catch (ArithmeticException notWhole) {
      throw invalid(value, "it is not a whole number of bytes (" + bytes.toPlainString() + ")");
    }
    if (exact.compareTo(LONG_MAX) > 0) {
      throw invalid(value, "it is larger than the largest supported size, 8Ei - 1 bytes");
    }
    return exact.longValueExact();
  }

  /**
   * The forms flags and specs almost always use, a whole number with no suffix or one that is a
   * whole multiplier, in long arithmetic; -1 for everything else (fractions, exponents, milli,
   * overflow), which the exact BigDecimal path then parses or refuses with its reason. Not an
   * optimisation of the arithmetic but of the start: BigDecimal's class initialisation alone took
   * 14 ms of the CLI's start, which a consumer waits for (issue 19).
   */
  private static long wholeNumberTimesSuffix(String number, String suffix, boolean kubernetes) {
    if (number.indexOf('.') >= 0 || number.length() > 18) {
      return -1;
    }
    long multiplier =
        suffix == null
            ? 1
            : switch (suffix) {
              case "k" -> 1000L;
              case "Ki" -> 1L << 10;
              case "Mi" -> 1L << 20;
              case "Gi" -> 1L << 30;
              case "Ti" -> 1L << 40;
              case "Pi" -> 1L << 50;
              case "Ei" -> 1L << 60;
              case "K" -> kubernetes ? -1 : 1L << 10;
              case "M" -> kubernetes ? 1_000_000L : 1L << 20;
              case "G" -> kubernetes ? 1_000_000_000L : 1L << 30;
              case "T" -> kubernetes ? 1_000_000_000_000L : 1L << 40;
              case "P" -> kubernetes ? 1_000_000_000_000_000L : 1L << 50;
              case "E" -> kubernetes ? 1_000_000_000_000_000_000L : 1L << 60;
              default -> -1;
            };
    if (multiplier < 0) {
      return -1;
    }
    long digits = Long.parseLong(number);
    long product = digits * multiplier;
    return Math.multiplyHigh(digits, multiplier) == 0 && product >= 0 ? product : -1;
  }

  private static BigDecimal multiplier(String suffix, String value) {
    if (suffix == null) {
      return BigDecimal.ONE;
    }
    switch (suffix) {
      case "k":
        return BigDecimal.valueOf(1000);
      case "K", "Ki":
        return BigDecimal.valueOf(1L << 10);
      case "M", "Mi":
        return BigDecimal.valueOf(1L << 20);
      case "G", "Gi":
        return BigDecimal.valueOf(1L << 30);
      case "T", "Ti":
        return BigDecimal.valueOf(1L << 40);
      case "P", "Pi":
        return BigDecimal.valueOf(1L << 50);
      case "E", "Ei":
        return BigDecimal.valueOf(1L << 60);
      default:
        // a decimal exponent, e.g. e6; capped so that 1e999999999 cannot exhaust memory
        int exponent;
        try {
          exponent = Integer.parseInt(suffix.substring(1));
        } catch (NumberFormatException tooLong) {
          throw invalid(value, "its exponent is out of range");
        }
        if (exponent > 30 || exponent < -30) {
          throw invalid(value, "its exponent is out of range (-30..30)");
        }
        return BigDecimal.ONE.scaleByPowerOfTen(exponent);
    }
  }

  private static BigDecimal quantityMultiplier(String suffix, String value) {
    if (suffix == null) {
      return BigDecimal.ONE;
    }
    int power =
        switch (suffix) {
          case "m" -> -3;
          case "k" -> 3;
          case "M" -> 6;
          case "G" -> 9;
          case "T" -> 12;
          case "P" -> 15;
          case "E" -> 18;
          default -> Integer.MIN_VALUE;
        };
    if (power != Integer.MIN_VALUE) {
      return BigDecimal.ONE.scaleByPowerOfTen(power);
    }
    // binary suffixes and decimal exponents mean the same under both rules
    return multiplier(suffix, value);
  }

  private static String reasonForBadQuantity(String value) {
    String expected =
        "expected a Kubernetes quantity such as 65536, 64Ki, 10Gi (2^30 bytes each), 100G (10^9"
            + " bytes each) or 1.5Gi";
    if (value.matches("[0-9.]+K")) {
      String number = value.substring(0, value.length() - 1);
      return "K is not a Kubernetes quantity suffix: write "
          + number
          + "Ki ("
          + number
          + " x 1024 bytes) or "
          + number
          + "k ("
          + number
          + " x 1000 bytes)";
    }
    if (value.isEmpty()) {
      return "it is empty; " + expected;
    }
    if (!value.equals(value.strip())) {
      return "it has surrounding white space; " + expected;
    }
    if (value.matches(".*[0-9.](Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)B")) {
      return "write it without the trailing B (" + value.substring(0, value.length() - 1) + ")";
    }
    return "unknown form; " + expected;
  }

  private static String reasonForBadForm(String value) {
    String expected =
        "expected bytes (65536) or a quantity such as 64Ki, 10Gi, 64K (= 64Ki) or 1.5Gi";
    if (value.isEmpty()) {
      return "it is empty; " + expected;
    }
    if (!value.equals(value.strip())) {
      return "it has surrounding white space; " + expected;
    }
    if (value.matches(".*[0-9.](Ki|Mi|Gi|Ti|Pi|Ei|K|M|G|T|P|E|k)B")) {
      return "write it without the trailing B (" + value.substring(0, value.length() - 1) + ")";
    }
    if (value.matches("[0-9.]+m")) {
      return "milli (m) makes no sense for bytes; " + expected;
    }
    return "unknown form; " + expected;
  }

  private static IllegalArgumentException invalid(String value, String reason) {
    return new IllegalArgumentException("invalid size \"" + value + "\": " + reason);
  }
}
