package io.volumeclone.agent;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
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
 * <p>Ownership: each write reads the clone (for the transition times of conditions and the last
 * progress), and when the agent's fields differ, applies them, and only them, to the status
 * subresource by server-side apply as field manager {@value #FIELD_MANAGER}. Conditions are a
 * list-map keyed by type, so the operator's conditions and fields survive this write and the
 * agent's survive the operator's; the API server enforces it, no conflict loop is needed.
 */
final class StatusReporter implements AutoCloseable {

  static final long POLL_MILLIS = 1000;

  /** The field manager the agent's status applies are recorded under. */
  static final String FIELD_MANAGER = "volume-clone-agent";

  private static final PatchContext APPLY =
      new PatchContext.Builder()
          .withPatchType(PatchType.SERVER_SIDE_APPLY)
          .withFieldManager(FIELD_MANAGER)
          // Takes over fields another manager set by mistake (kubectl edit, an older PUT writer).
          .withForce(true)
          .build();

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

  /** Status writes made so far (successful applies). */
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
    VolumeClone target =
        client.resources(VolumeClone.class).inNamespace(namespace).withName(name).get();
    if (target == null || !apply(target, report)) {
      log.warn("status-write-skipped", "VolumeClone " + namespace + "/" + name + " is gone");
      lastWritten = report;
      return;
    }
    remember(report);
  }

  /** Applies the agent's fields unless they are there already; false when the clone is gone. */
  private boolean apply(VolumeClone target, AgentReport report) {
    VolumeCloneStatus mine = AgentReport.owned(report.applyTo(target.getStatus(), clock.instant()));
    VolumeCloneStatus theirs = AgentReport.owned(target.getStatus());
    KubernetesSerialization json = client.getKubernetesSerialization();
    if (theirs != null && json.asJson(theirs).equals(json.asJson(mine))) {
      return true;
    }
    VolumeClone body = new VolumeClone();
    body.getMetadata().setNamespace(namespace);
    body.getMetadata().setName(name);
    body.setStatus(mine);
    try {
      client.resource(body).subresource("status").patch(APPLY);
    } catch (KubernetesClientException e) {
      if (e.getCode() == 404) {
        return false;
      }
      throw e;
    }
    writes.incrementAndGet();
    return true;
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
