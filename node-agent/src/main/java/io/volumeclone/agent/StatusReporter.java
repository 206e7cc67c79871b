package io.volumeclone.agent;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.volumeclone.api.v1alpha1.status.StatusUpdates;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * Writes the agent's part of the status ({@link AgentReport}) through the status subresource.
 *
 * <p>Rate: at most one write per reporting interval for progress, plus one at once whenever the
 * report's {@link AgentReport#phaseKey() phase key} changes (a condition, the export, the metadata
 * mode); nothing when the report equals the last one written. The loop looks at the clone every
 * {@value #POLL_MILLIS} ms or when {@link #poke()}d, which costs no request.
 *
 * <p>Ownership: the same strategy as the operator's StatusWriter ({@link StatusUpdates}, shared),
 * so neither erases the other. Each write reads the object, sets only the agent's fields on the
 * status it found, and replaces the status with that object's resourceVersion; a concurrent
 * operator write makes it fail with 409, and it is redone on the fresh status. (A JSON merge patch
 * would replace the whole conditions list, erasing the operator's conditions.)
 */
final class StatusReporter implements AutoCloseable {

  static final long POLL_MILLIS = 1000;

  private final KubernetesClient client;
  private final String namespace;
  private final String name;
  private final Duration interval;
  private final Supplier<AgentReport> source;
  private final AgentLog log;
  private final Clock clock;

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition wake = lock.newCondition();
  private boolean poked;
  private volatile boolean running;
  private Thread thread;

  private AgentReport lastWritten;
  private long lastWriteNanos;
  private boolean everWritten;
  private final AtomicLong writes = new AtomicLong();

  StatusReporter(
      KubernetesClient client,
      String namespace,
      String name,
      Duration interval,
      Supplier<AgentReport> source,
      AgentLog log,
      Clock clock) {
    this.client = client;
    this.namespace = namespace;
    this.name = name;
    this.interval = interval;
    this.source = source;
    this.log = log;
    this.clock = clock;
  }

  void start() {
    running = true;
    thread = new Thread(this::loop, "agent-status-" + name);
    thread.setDaemon(true);
    thread.start();
  }

  /** Something may have changed: look now rather than at the next poll. */
  void poke() {
    lock.lock();
    try {
      poked = true;
      wake.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /** Status writes made so far (successful PUTs). */
  long writes() {
    return writes.get();
  }

  private void loop() {
    while (running) {
      lock.lock();
      try {
        if (!poked) {
          wake.await(Math.min(POLL_MILLIS, interval.toMillis()), TimeUnit.MILLISECONDS);
        }
        poked = false;
      } catch (InterruptedException e) {
        return;
      } finally {
        lock.unlock();
      }
      if (!running) {
        return;
      }
      try {
        reportIfDue();
      } catch (RuntimeException e) {
        log.warn("status-write-failed", "writing the status failed: " + e.getMessage());
      }
    }
  }

  /** Writes when the phase changed, or when progress changed and the interval has passed. */
  synchronized void reportIfDue() {
    AgentReport report = source.get();
    if (report.equals(lastWritten)) {
      return;
    }
    boolean phaseChange = lastWritten == null || !report.phaseKey().equals(lastWritten.phaseKey());
    boolean due = !everWritten || System.nanoTime() - lastWriteNanos >= interval.toNanos();
    if (phaseChange || due) {
      write(report);
    }
  }

  /** Writes the current report now, whatever the interval says (final reports). */
  synchronized void reportNow() {
    AgentReport report = source.get();
    if (!report.equals(lastWritten)) {
      write(report);
    }
  }

  private void write(AgentReport report) {
    StatusUpdates.Outcome outcome =
        StatusUpdates.update(
            client, namespace, name, current -> report.applyTo(current, clock.instant()));
    if (outcome.resource() == null) {
      log.warn("status-write-skipped", "VolumeClone " + namespace + "/" + name + " is gone");
      lastWritten = report;
      return;
    }
    if (outcome.wrote()) {
      writes.incrementAndGet();
    }
    remember(report);
  }

  private void remember(AgentReport report) {
    lastWritten = report;
    lastWriteNanos = System.nanoTime();
    everWritten = true;
  }

  @Override
  public void close() {
    running = false;
    poke();
    if (thread != null) {
      try {
        thread.join(TimeUnit.SECONDS.toMillis(10));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
