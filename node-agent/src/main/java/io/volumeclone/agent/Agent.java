package io.volumeclone.agent;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.Access;
import io.volumeclone.api.v1alpha1.spec.CutoverMode;
import io.volumeclone.api.v1alpha1.spec.VolumeCloneSpec;
import io.volumeclone.contract.AgentFailures;
import io.volumeclone.engine.BlockDevice;
import io.volumeclone.engine.Clone;
import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.CloneMetadata;
import io.volumeclone.engine.CloneStatus;
import io.volumeclone.nbd.CommandRunner;
import io.volumeclone.nbd.ProcessCommandRunner;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/**
 * Runs one VolumeClone inside its agent Pod, from start to cutover.
 *
 * <p>Design note. The agent is glue: the engine copies, the metadata remembers, the NBD server
 * serves; the agent opens them from the VolumeClone and keeps the VolumeClone in step with them.
 *
 * <ul>
 *   <li>Start: read the VolumeClone, open the devices ({@link CloneOpener}). The metadata decides
 *       between a fresh start and a resume, so a SIGKILL or a new Pod loses at most the regions
 *       copied since the last commit (the engine commits every second), and those are copied again.
 *       A metadata device of another clone is refused (Degraded=True, MetadataMismatch).
 *   <li>Export: with access Immediate the clone is served on {@code <state>/nbd.sock} at once and,
 *       where the node has nbd and device-mapper, attached as {@code
 *       /dev/mapper/volume-clone-<uid>} ({@link NbdExport}); with AfterCopy nothing is served
 *       before cutover.
 *   <li>Lifecycle: {@link AgentState} lists the states of a run and the moves between them; {@link
 *       AgentLifecycle} holds the current one, and a move the table does not list throws. The
 *       running states follow the clone (copying, paused, copied); this class makes the others.
 *   <li>Live changes: an informer on the one VolumeClone feeds a single control thread on which
 *       {@link SpecApplier} applies pause, bandwidth, regions in flight, batch size, copy-on-read
 *       and cutover approval to the running clone. An identity field (source, destination,
 *       metadata, region size, range) that differs from what the clone was opened with is refused
 *       (Degraded=True, IdentityChanged), after a commit.
 *   <li>Failures: a permanent one ({@link AgentFailures#PERMANENT}: invalid spec, a device too
 *       small for the range, metadata of another clone, an identity change) sets Degraded=True with
 *       that reason and exits {@value #EXIT_PERMANENT}; the operator then fails the clone and
 *       removes the Pod. Anything else (a device not there yet, an API error) exits {@value
 *       #EXIT_FAILED} and the kubelet runs the agent again. A run that finds a permanent failure
 *       already recorded exits {@value #EXIT_PERMANENT} without opening anything.
 *   <li>Node bandwidth: with a node budget ({@code VOLUME_CLONE_NODE_BANDWIDTH}) the agent holds a
 *       lease while its clone copies and the copier runs at the smaller of spec.copy.bandwidth and
 *       its fair share of the budget among the clones copying on the node ({@link
 *       NodeBandwidthShare}). The knob goes one way, at start as later: {@link SpecApplier} ->
 *       {@link NodeBandwidthShare} -> {@link CopierBandwidth} -> {@link Clone#tune}; every change
 *       of the limit is logged ({@code bandwidth} event) and exported as a metric. The lease is
 *       held exactly while the agent is {@link AgentState#COPYING} and no stop is asked for.
 *   <li>Status: {@link StatusReporter} writes only the agent's fields, at most once per reporting
 *       interval plus once per phase change.
 *   <li>End: after cutover (automatic, or manual once approved) the node's mapper device is moved
 *       onto the destination, the final status is written, and {@link #run} returns 0 — only once
 *       CutOver=True is in the status, so the operator can rely on it. {@link #stop} (SIGTERM)
 *       closes the export, commits, writes the status and returns {@value #EXIT_STOPPED}.
 * </ul>
 */
public final class Agent {

  public static final int EXIT_CUT_OVER = 0;

  /** A transient failure: the kubelet runs the agent again and it resumes from the metadata. */
  public static final int EXIT_FAILED = 1;

  /**
   * A permanent failure ({@link AgentFailures#PERMANENT}): running again cannot help, so the
   * operator fails the clone and removes the Pod.
   */
  public static final int EXIT_PERMANENT = AgentFailures.EXIT_PERMANENT;

  /** What a JVM stopped by SIGTERM exits with; {@link #run} returns it after {@link #stop}. */
  public static final int EXIT_STOPPED = 143;

  private static final Duration TICK = Duration.ofSeconds(1);

  /** Where the node's block devices and their kernel state are, and how commands run. */
  public record NodeEnvironment(CommandRunner runner, Path dev, Path sysBlock) {
    public static NodeEnvironment host() {
      return new NodeEnvironment(
          new ProcessCommandRunner(), Path.of("/dev"), Path.of("/sys/block"));
    }
  }

  /**
   * What the agent puts around the devices it opens before the clone uses them: nothing in
   * production; a test's fault injection or recording (a metadata whose commits fail, a destination
   * that notes its flushes).
   */
  record DeviceWrappers(
      UnaryOperator<CloneMetadata> metadata, UnaryOperator<BlockDevice> destination) {
    static final DeviceWrappers NONE =
        new DeviceWrappers(UnaryOperator.identity(), UnaryOperator.identity());

    static DeviceWrappers metadata(UnaryOperator<CloneMetadata> wrapper) {
      return new DeviceWrappers(wrapper, UnaryOperator.identity());
    }

    static DeviceWrappers destination(UnaryOperator<BlockDevice> wrapper) {
      return new DeviceWrappers(UnaryOperator.identity(), wrapper);
    }
  }

  private final AgentSettings settings;
  private final KubernetesClient client;
  private final AgentLog log;
  private final Clock clock;
  private final AgentMetrics metrics;
  private final StatusReporter reporter;
  private final NodeBandwidthShare share;
  private final CopierBandwidth bandwidth;
  private final AgentLifecycle lifecycle;
  private final SpecApplier applier;
  private final NbdExport export;
  private final DeviceWrappers wrappers;

  private final CountDownLatch finished = new CountDownLatch(1);
  private final ExecutorService control =
      Executors.newSingleThreadExecutor(
          Thread.ofPlatform().daemon().name("agent-control").factory());

  private volatile Clone clone;
  private volatile CloneOpener.Opened opened;
  private volatile CloneStatus.State stateBeforeClose;
  private volatile int metricsPort;

  public Agent(
      AgentSettings settings,
      KubernetesClient client,
      AgentLog log,
      NodeEnvironment node,
      Clock clock) {
    this(settings, client, log, node, clock, DeviceWrappers.NONE);
  }

  Agent(
      AgentSettings settings,
      KubernetesClient client,
      AgentLog log,
      NodeEnvironment node,
      Clock clock,
      DeviceWrappers wrappers) {
    this.wrappers = wrappers;
    this.settings = settings;
    this.client = client;
    this.log = log;
    this.clock = clock;
    this.metrics = new AgentMetrics(settings.namespace(), settings.name());
    this.reporter =
        new StatusReporter(
            client,
            settings.namespace(),
            settings.name(),
            settings.reportInterval(),
            this::report,
            log,
            clock);
    this.bandwidth = new CopierBandwidth(log);
    this.share =
        new NodeBandwidthShare(
            settings.leaseDirectory(),
            settings.namespace(),
            settings.name(),
            settings.nodeBandwidth(),
            0,
            bandwidth);
    bandwidth.limitsOf(share);
    metrics.bindShare(share);
    this.lifecycle =
        new AgentLifecycle(
            (from, to) -> {
              updateShare();
              reporter.poke();
            });
    this.applier =
        new SpecApplier(log, share, lifecycle, client.getKubernetesSerialization(), this::sync);
    this.export =
        new NbdExport(settings.socketPath(), settings.name(), node, log, metrics.registry());
  }

  /**
   * Runs the clone until cutover (0), a transient failure (1), a permanent failure ({@value
   * #EXIT_PERMANENT}) or {@link #stop} ({@value #EXIT_STOPPED}).
   *
   * @throws IllegalStateException when this agent has run before
   */
  public int run() {
    lifecycle.moveTo(AgentState.OPENING);
    SharedIndexInformer<VolumeClone> informer = null;
    try {
      VolumeClone resource =
          client
              .resources(VolumeClone.class)
              .inNamespace(settings.namespace())
              .withName(settings.name())
              .get();
      if (resource == null) {
        // transient as far as the exit code goes: the Pod is owned by the clone and goes with it
        String missing =
            "VolumeClone "
                + settings.namespace()
                + "/"
                + settings.name()
                + " does not exist; nothing to do";
        log.error("not-found", missing);
        return endFailed(new AgentFailure("NotFound", missing), EXIT_FAILED);
      }
      String earlier = earlierPermanentFailure(resource);
      if (earlier != null) {
        log.error("refused", earlier);
        return endFailed(new AgentFailure("FailedEarlier", earlier), EXIT_PERMANENT);
      }
      applier.begin(resource);
      if (settings.metricsPort() > 0) {
        metricsPort = metrics.serve(settings.metricsPort());
        log.info("metrics", "serving Prometheus metrics", "port", metricsPort, "path", "/metrics");
      }
      try {
        opened =
            new CloneOpener(
                    settings, metrics.registry(), wrappers.metadata(), wrappers.destination())
                .open(resource, bandwidth.startLimit());
      } catch (AgentFailure f) {
        return fail(f);
      }
      clone = opened.target();
      metrics.bind(clone);
      bandwidth.bind(clone);
      logOpened(resource);
      clone.addListener(
          s -> {
            reporter.poke();
            // The clone may fire while holding its own locks: follow it on the control thread.
            onControlThread("control-failed", "following the clone", this::sync);
            lifecycle.wake();
          });
      lifecycle.moveTo(runningStateOf(clone));
      applier.bind(clone, opened.metadataPath());
      applier.apply(resource);
      share.start();
      if (applier.initialSpec().accessOrDefault() == Access.Immediate) {
        String uid = resource.getMetadata().getUid();
        export.start(clone, uid == null ? settings.name() : uid);
      }
      reporter.start();
      reporter.poke();
      informer =
          client
              .resources(VolumeClone.class)
              .inNamespace(settings.namespace())
              .withName(settings.name())
              .inform(new SpecHandler(), 0);
      return waitForEnd();
    } catch (IOException | RuntimeException e) {
      log.error("failed", "the agent failed: " + e.getMessage());
      lifecycle.fail(new AgentFailure("AgentError", e.getMessage(), e));
      // the kernel devices must not stay attached to a socket nobody serves any more
      export.detachAndClose();
      closeClone();
      reportFinal();
      if (lifecycle.state() == AgentState.FAILING) {
        lifecycle.moveTo(AgentState.FAILED);
      }
      return EXIT_FAILED;
    } finally {
      share.close();
      if (informer != null) {
        informer.close();
      }
      control.shutdownNow();
      reporter.close();
      metrics.close();
      finished.countDown();
    }
  }

  /** Still running: no stop asked for, no failure, no cutover yet. */
  private boolean running() {
    return AgentState.RUNNING.contains(lifecycle.state())
        && !lifecycle.stopRequested()
        && !clone.cutOverFuture().isDone();
  }

  private int waitForEnd() {
    try {
      while (running()) {
        sync();
        lifecycle.awaitWhile(this::running, TICK);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      lifecycle.requestStop();
    }
    boolean cutOver =
        clone.cutOverFuture().isDone() && !clone.cutOverFuture().isCompletedExceptionally();
    if (cutOver && AgentState.RUNNING.contains(lifecycle.state())) {
      return finishCutover();
    }
    if (!lifecycle.stopRequested() && clone.cutOverFuture().isCompletedExceptionally()) {
      // A failed cutover is no stop: report it as a transient failure so the next run retries.
      lifecycle.fail(
          new AgentFailure(
              "CutoverFailed",
              "the cutover to " + opened.destinationPath() + " failed: " + cutoverError()));
    }
    AgentFailure failure = lifecycle.failure();
    if (failure != null) {
      log.error("refused", failure.getMessage(), "reason", failure.reason());
      export.detachAndClose();
      closeClone();
      reportFinal();
      lifecycle.moveTo(AgentState.FAILED);
      return exitCodeOf(failure);
    }
    lifecycle.moveTo(AgentState.STOPPING);
    log.info("stopping", "stop requested: closing the export and committing the metadata");
    export.detachAndClose();
    closeClone();
    reportFinal();
    CloneStatus s = clone.status();
    log.info(
        "stopped",
        "stopped with " + s.regionsCommitted() + " of " + s.regionsTotal() + " regions committed",
        "metadata",
        opened.metadataPath());
    lifecycle.moveTo(AgentState.STOPPED);
    return EXIT_STOPPED;
  }

  private String cutoverError() {
    try {
      clone.cutOverFuture().join();
      return "no error recorded";
    } catch (CompletionException | CancellationException e) {
      Throwable cause = e.getCause() == null ? e : e.getCause();
      return cause.getMessage() == null ? cause.toString() : cause.getMessage();
    }
  }

  private int finishCutover() {
    lifecycle.moveTo(AgentState.CUTTING_OVER);
    CloneGeometry g = clone.cloneGeometry();
    if (export.attached()) {
      try {
        export.cutover(
            opened.destinationPath(),
            g.destinationOffset(),
            g.size(),
            this::flushAndReleaseDestination);
      } catch (IOException e) {
        AgentFailure failure =
            new AgentFailure(
                "NodeCutoverFailed",
                "the clone is cut over but "
                    + export.device()
                    + " could not be moved onto "
                    + opened.destinationPath()
                    + ": "
                    + e.getMessage()
                    + "; the destination holds every region, flushed: use it directly (once the"
                    + " clone has let go of it, I/O through the mapper device fails)");
        lifecycle.fail(failure);
        reporter.reportNow();
        log.error("node-cutover-failed", failure.getMessage(), "device", export.device());
        awaitStop();
        export.close();
        closeClone();
        lifecycle.moveTo(AgentState.FAILED);
        return EXIT_FAILED;
      }
    }
    log.info(
        "cut-over",
        "cut over: the destination holds every region",
        "device",
        opened.destinationPath(),
        "copiedThisRunBytes",
        clone.bytesCopiedThisRun());
    export.close();
    // The final report is the last write: the background reporter must not follow it with a
    // report of a closing clone.
    reporter.close();
    boolean recorded = reportFinal();
    closeClone();
    if (!recorded) {
      // Exit 0 promises the operator that CutOver=True is in the status. Without it, exit as a
      // transient failure: the next run opens the cut-over metadata and reports again.
      String unreported =
          "cut over, but CutOver=True could not be written to the status; exiting "
              + EXIT_FAILED
              + " so the agent runs again and reports it from the metadata";
      log.error("cut-over-unreported", unreported, "metadata", opened.metadataPath());
      return endFailed(new AgentFailure("CutOverUnreported", unreported), EXIT_FAILED);
    }
    lifecycle.moveTo(AgentState.CUT_OVER);
    if (export.attached()) {
      holdTheDevice();
    }
    return EXIT_CUT_OVER;
  }

  /**
   * After a node cutover the mapper device maps the destination, and the workloads on the clone
   * volume use it; the source, destination and metadata are this Pod's volumes, which the kubelet
   * (and a CSI driver, detaching a cloud disk) keeps only while the Pod runs. So the agent stays,
   * doing no I/O, until it is stopped (the operator stops it when the VolumeClone goes, once no Pod
   * uses the claim), and then removes the device, so that nothing maps the destination once the
   * Pod's attachments are gone.
   */
  private void holdTheDevice() {
    String device = export.device();
    log.info(
        "holding",
        device
            + " maps "
            + opened.destinationPath()
            + " directly; this Pod holds the source, destination and metadata attachments"
            + " beneath it and does no I/O until it is stopped",
        "device",
        device);
    awaitStop();
    try {
      export.removeDeviceAfterCutover();
    } catch (IOException e) {
      log.warn(
          "device-remove-failed",
          "stopping, but "
              + device
              + " stays, mapping "
              + opened.destinationPath()
              + ": "
              + e.getMessage(),
          "device",
          device);
    }
  }

  /**
   * Runs while the mapper device is suspended, so nothing reaches the clone after the flush; the
   * close lets go of the destination's O_EXCL, which device-mapper needs to open it.
   */
  private void flushAndReleaseDestination() throws IOException {
    clone.flush();
    stateBeforeClose = clone.status().state();
    clone.close();
  }

  private void awaitStop() {
    try {
      lifecycle.awaitStopRequest();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Asks a running agent to stop (SIGTERM) and waits until it has committed and closed everything.
   */
  public void stop() {
    lifecycle.requestStop();
    if (lifecycle.state() == AgentState.NEW) {
      return;
    }
    try {
      if (!finished.await(60, TimeUnit.SECONDS)) {
        log.warn("stop-timeout", "the agent did not stop within 60 s");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Records {@code f}, writes it to the status and ends the run with its exit code. */
  private int fail(AgentFailure f) {
    lifecycle.fail(f);
    log.error("refused", f.getMessage(), "reason", f.reason(), "permanent", f.permanent());
    reportFinal();
    lifecycle.moveTo(AgentState.FAILED);
    return exitCodeOf(f);
  }

  /** Ends the run failed by {@code f} without writing the status (nothing of it is ours to say). */
  private int endFailed(AgentFailure f, int exitCode) {
    lifecycle.fail(f);
    lifecycle.moveTo(AgentState.FAILED);
    return exitCode;
  }

  private static int exitCodeOf(AgentFailure f) {
    return f.permanent() ? EXIT_PERMANENT : EXIT_FAILED;
  }

  /**
   * A permanent failure an earlier run of this agent already reported, or the operator's Failed
   * phase; null when there is none. The kubelet may restart the agent (restartPolicy OnFailure)
   * between its permanent exit and the operator removing the Pod: that run must not open the
   * devices again, least of all after an identity change.
   */
  static String earlierPermanentFailure(VolumeClone resource) {
    var status = resource.getStatus();
    if (status == null) {
      return null;
    }
    var degraded = AgentFailures.reported(status);
    if (degraded.isPresent()) {
      return "an earlier run failed permanently ("
          + degraded.get().getReason()
          + ": "
          + degraded.get().getMessage()
          + "); not opening the devices again. Delete this VolumeClone and create a new one.";
    }
    if (status.getPhase() == io.volumeclone.api.v1alpha1.status.Phase.Failed) {
      return "the VolumeClone has failed ("
          + status.getMessage()
          + "); not opening the devices again. Delete it and create a new one.";
    }
    return null;
  }

  /** Writes the final status; false when it could not be written. */
  private boolean reportFinal() {
    try {
      reporter.reportNow();
      return true;
    } catch (RuntimeException e) {
      log.warn("status-write-failed", "writing the final status failed: " + e.getMessage());
      return false;
    }
  }

  private void closeClone() {
    share.close(); // a stopping clone copies no more: the others may have its share now
    Clone c = clone;
    if (c != null) {
      CloneStatus.State state = c.status().state();
      if (state != CloneStatus.State.CLOSED) {
        stateBeforeClose = state;
      }
      try {
        c.close();
      } catch (IOException | RuntimeException e) {
        log.error("close-failed", "closing the clone failed: " + e.getMessage());
      }
    }
  }

  // ---------------------------------------------------------------- following the clone

  private static AgentState runningStateOf(Clone c) {
    AgentState s = AgentState.following(c.state(), c.tuning().paused());
    if (s == null) {
      throw new IllegalStateException("the clone " + c.name() + " closed while it was opened");
    }
    return s;
  }

  /** Moves a running agent to what its clone says, and the node lease after it. */
  private void sync() {
    Clone c = clone;
    if (c != null) {
      AgentState s = AgentState.following(c.state(), c.tuning().paused());
      if (s != null) {
        lifecycle.follow(s);
      }
    }
    updateShare();
  }

  /** The clone holds its lease while the agent copies and no stop is asked for. */
  private void updateShare() {
    share.setCopying(lifecycle.state() == AgentState.COPYING && !lifecycle.stopRequested());
  }

  /** Runs {@code task} on the control thread; a failure is logged as {@code failedEvent}. */
  private void onControlThread(String failedEvent, String what, Runnable task) {
    try {
      control.execute(
          () -> {
            try {
              task.run();
            } catch (RuntimeException e) {
              log.warn(failedEvent, what + " failed: " + e.getMessage());
            }
          });
    } catch (RejectedExecutionException e) {
      // shutting down
    }
  }

  // ---------------------------------------------------------------- live changes

  private final class SpecHandler implements ResourceEventHandler<VolumeClone> {
    @Override
    public void onAdd(VolumeClone resource) {
      submit(resource);
    }

    @Override
    public void onUpdate(VolumeClone old, VolumeClone resource) {
      submit(resource);
    }

    @Override
    public void onDelete(VolumeClone resource, boolean unknownFinalState) {
      log.info("deleted", "the VolumeClone was deleted: stopping");
      lifecycle.requestStop();
    }
  }

  private void submit(VolumeClone resource) {
    onControlThread("apply-failed", "applying the spec", () -> applier.apply(resource));
  }

  // ---------------------------------------------------------------- status

  AgentReport report() {
    Clone c = clone;
    CloneStatus s = c == null ? null : c.status();
    CloneStatus.State before = stateBeforeClose;
    if (s != null && s.state() == CloneStatus.State.CLOSED && before != null) {
      // A closed clone is still as copied (or cut over) as it was: report that, not "Copying".
      s =
          new CloneStatus(
              s.name(),
              before,
              s.regionSize(),
              s.regionsTotal(),
              s.regionsCopied(),
              s.regionsCommitted(),
              s.bytesTotal(),
              s.bytesCopied(),
              s.metadataMode(),
              s.paused(),
              s.degraded(),
              s.copyErrors(),
              s.lastError(),
              s.bytesPerSecond());
    }
    VolumeCloneSpec spec = applier.appliedSpec();
    AgentFailure f = lifecycle.failure();
    AgentState state = lifecycle.state();
    AgentReport.Situation at =
        new AgentReport.Situation(
            export.uri(),
            export.device(),
            export.exportOnlyReason(),
            spec != null && spec.accessOrDefault() == Access.AfterCopy,
            spec != null && spec.cutoverOrDefault() == CutoverMode.Manual,
            spec != null && spec.cutoverApprovedOrDefault(),
            spec == null ? "<unknown>" : spec.getDestination().describe(),
            f == null ? null : f.reason(),
            f == null ? null : f.getMessage(),
            state == AgentState.STOPPING || state == AgentState.STOPPED,
            spec == null || spec.getVolume() == null ? null : spec.getVolume().getClaimName());
    return AgentReport.of(s, at, applier.generation(), clock.instant());
  }

  private void logOpened(VolumeClone resource) {
    CloneStatus s = clone.status();
    CloneGeometry g = clone.cloneGeometry();
    boolean resumed = s.regionsCommitted() > 0;
    log.info(
        resumed ? "resumed" : "started",
        (resumed ? "resumed from the metadata: " + s.regionsCommitted() + " of " : "started: 0 of ")
            + s.regionsTotal()
            + " regions already copied",
        "source",
        resource.getSpec().getSource().describe(),
        "device",
        opened.destinationPath(),
        "offset",
        g.destinationOffset(),
        "metadata",
        opened.metadataPath(),
        "regionSize",
        g.regionSize());
    if (s.metadataMode() != CloneMetadata.Mode.WRITE) {
      log.warn(
          "metadata-mode",
          "the metadata device is " + s.metadataMode(),
          "metadata",
          opened.metadataPath());
    }
  }

  // ------------------------------------------- what the package (its metrics and tests) reads

  Clone runningClone() {
    return clone;
  }

  AgentState state() {
    return lifecycle.state();
  }

  long statusWrites() {
    return reporter.writes();
  }

  int metricsPort() {
    return metricsPort;
  }

  String scrapeMetrics() {
    return metrics.scrape();
  }

  NodeBandwidthShare nodeShare() {
    return share;
  }
}
