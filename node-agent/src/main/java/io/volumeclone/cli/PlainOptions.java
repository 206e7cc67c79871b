package io.volumeclone.cli;

/**
 * A command whose options {@link PlainCommandLine} sets by name without reflection (issue 19, fast
 * start): the first reflective field write of a process spins method-handle classes that the JDK's
 * AOT cache does not keep, tens of milliseconds of a cold start. Only the commands whose start is
 * someone's wait implement it; {@code PlainCommandLineTableTest} sets every option of the table
 * through it, so a new option without a case here fails that test instead of silently falling back.
 */
interface PlainOptions {

  /**
   * Sets the {@code @Option} field named {@code field} to {@code value} (already converted to the
   * field's type); false when this command has no such field.
   */
  boolean setOption(String field, Object value);
}
