package io.volumeclone.agent;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.volumeclone.engine.BlockIoException;
import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.CloneMetadata;
import java.io.IOException;
import java.util.UUID;

/**
 * The clone's metadata with every commit counted and timed. The engine has no commit hook, but the
 * clone talks to its metadata only through {@link CloneMetadata}, so wrapping it sees every commit:
 * periodic, on flush, on pause, on completion. A commit that changes nothing (and does not touch
 * the device) is still counted: the timer's count is "commit calls", its failures are separate.
 */
final class MeteredMetadata implements CloneMetadata {

  private final CloneMetadata delegate;
  private final Timer commits;
  private final Counter commitErrors;

  MeteredMetadata(CloneMetadata delegate, MeterRegistry registry) {
    this.delegate = delegate;
    this.commits =
        Timer.builder("volume_clone_metadata_commit")
            .description(
                "Metadata commits (flush destination, bitmap, superblock) and their latency")
            .register(registry);
    this.commitErrors =
        Counter.builder("volume_clone_metadata_commit_errors")
            .description("Metadata commits that failed")
            .register(registry);
  }

  @Override
  public void commit(IoAction flushDestination) throws IOException {
    timed(() -> delegate.commit(flushDestination));
  }

  @Override
  public void markComplete(IoAction flushDestination) throws IOException {
    timed(() -> delegate.markComplete(flushDestination));
  }

  @Override
  public void abort(String operation, Throwable cause) {
    delegate.abort(operation, cause);
  }

  private void timed(IoAction action) throws IOException {
    long start = System.nanoTime();
    try {
      action.run();
    } catch (IOException | RuntimeException e) {
      commitErrors.increment();
      throw e;
    } finally {
      commits.record(System.nanoTime() - start, java.util.concurrent.TimeUnit.NANOSECONDS);
    }
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
