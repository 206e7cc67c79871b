package io.volumeclone.agent;

import io.volumeclone.engine.CloneMetadata;
import io.volumeclone.engine.ForwardingCloneMetadata;
import java.io.IOException;

/**
 * Real metadata whose cutover record cannot be written, as when the metadata device fails at the
 * last moment: everything else goes to the delegate.
 */
final class TestingFailingCutoverMetadata extends ForwardingCloneMetadata {

  static final String ERROR = "metadata write at offset 0 failed: Input/output error (testing)";

  TestingFailingCutoverMetadata(CloneMetadata delegate) {
    super(delegate);
  }

  @Override
  public void markCutOver() throws IOException {
    throw new IOException(ERROR);
  }
}
