package io.volumeclone.agent;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.volumeclone.engine.CloneMetadata;
import io.volumeclone.engine.ForwardingCloneMetadata;
import java.io.IOException;

/**
 * The clone's metadata with every commit counted and timed. The engine has no commit hook, but the
 * clone talks to its metadata only through {@link CloneMetadata}, so wrapping it sees every commit:
 * periodic, on flush, on pause, on completion. A commit that changes nothing (and does not touch
 * the device) is still counted: the timer's count is "commit calls", its failures are separate.
 */
final class MeteredMetadata extends ForwardingCloneMetadata {

  private final Timer commits;
  private final Counter commitErrors;

  MeteredMetadata(CloneMetadata delegate, MeterRegistry registry) {
    super(delegate);
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
}
