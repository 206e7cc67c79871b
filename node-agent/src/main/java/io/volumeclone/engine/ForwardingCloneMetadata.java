package io.volumeclone.engine;

import java.io.IOException;
import java.util.UUID;

/**
 * A {@link CloneMetadata} that passes every call to another, for decorators that change a few calls
 * (metrics around commits, a test's injected failure) and must keep the rest of the contract
 * exactly: they override only what they change.
 */
public abstract class ForwardingCloneMetadata implements CloneMetadata {

  protected final CloneMetadata delegate;

  protected ForwardingCloneMetadata(CloneMetadata delegate) {
    this.delegate = delegate;
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
  public String failure() {
    return delegate.failure();
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
  public void commit(IoAction flushDestination) throws IOException {
    delegate.commit(flushDestination);
  }

  @Override
  public void abort(String operation, Throwable cause) {
    delegate.abort(operation, cause);
  }

  @Override
  public void markComplete(IoAction flushDestination) throws IOException {
    delegate.markComplete(flushDestination);
  }

  @Override
  public void markCutOver() throws IOException {
    delegate.markCutOver();
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
