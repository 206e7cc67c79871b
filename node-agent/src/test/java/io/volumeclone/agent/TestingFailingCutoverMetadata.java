package io.volumeclone.agent;

import io.volumeclone.engine.BlockIoException;
import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.CloneMetadata;
import java.io.IOException;
import java.util.UUID;

/**
 * Real metadata whose cutover record cannot be written, as when the metadata device fails at the
 * last moment: everything else goes to the delegate.
 */
final class TestingFailingCutoverMetadata implements CloneMetadata {

  static final String ERROR = "metadata write at offset 0 failed: Input/output error (testing)";

  private final CloneMetadata delegate;

  TestingFailingCutoverMetadata(CloneMetadata delegate) {
    this.delegate = delegate;
  }

  @Override
  public void markCutOver() throws IOException {
    throw new IOException(ERROR);
  }

  @Override
  public void commit(IoAction flushDestination) throws IOException {
    delegate.commit(flushDestination);
  }

  @Override
  public void markComplete(IoAction flushDestination) throws IOException {
    delegate.markComplete(flushDestination);
  }

  @Override
  public void abort(String operation, Throwable cause) {
    delegate.abort(operation, cause);
  }

  @Override
  public String deviceName() {
    return delegate.deviceName();
  }

  @Override
  public UUID uuid() {
    return delegate.uuid();
  }

  @Override
  public CloneGeometry geometry() {
    return delegate.geometry();
  }

  @Override
  public Mode mode() {
    return delegate.mode();
  }

  @Override
  public boolean isHydrated(long region) {
    return delegate.isHydrated(region);
  }

  @Override
  public boolean isRangeHydrated(long first, long count) {
    return delegate.isRangeHydrated(first, count);
  }

  @Override
  public long nextUnhydrated(long from) {
    return delegate.nextUnhydrated(from);
  }

  @Override
  public long nextHydrated(long from) {
    return delegate.nextHydrated(from);
  }

  @Override
  public void setHydrated(long first, long count) throws BlockIoException {
    delegate.setHydrated(first, count);
  }

  @Override
  public long hydratedCount() {
    return delegate.hydratedCount();
  }

  @Override
  public long committedCount() {
    return delegate.committedCount();
  }

  @Override
  public long transactionId() {
    return delegate.transactionId();
  }

  @Override
  public boolean isComplete() {
    return delegate.isComplete();
  }

  @Override
  public boolean isCutOver() {
    return delegate.isCutOver();
  }

  @Override
  public void close() throws IOException {
    delegate.close();
  }
}
