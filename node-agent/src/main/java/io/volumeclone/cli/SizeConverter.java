package io.volumeclone.cli;

import io.volumeclone.api.Sizes;
import picocli.CommandLine;

/** Sizes as Kubernetes quantities ({@code 64Ki}, {@code 10Gi}) or plain bytes. */
final class SizeConverter implements CommandLine.ITypeConverter<Long> {
  @Override
  public Long convert(String value) {
    try {
      return Sizes.parse(value);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.TypeConversionException(e.getMessage());
    }
  }
}
