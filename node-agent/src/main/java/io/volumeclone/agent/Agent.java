package io.volumeclone.agent;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.volumeclone.api.AgentFailures;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.Access;
import io.volumeclone.api.v1alpha1.spec.CopySpec;
import io.volumeclone.api.v1alpha1.spec.CutoverMode;
import io.volumeclone.api.v1alpha1.spec.VolumeCloneSpec;
import io.volumeclone.engine.BlockDevice;
import io.volumeclone.engine.Clone;
import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.CloneMetadata;
import io.volumeclone.engine.CloneStatus;
import io.volumeclone.engine.CloneTuning;
import io.volumeclone.nbd.CommandRunner;
import io.volumeclone.nbd.ExportAddress;
import io.volumeclone.nbd.NbdServer;
import io.volumeclone.nbd.NodeAttach;
import io.volumeclone.nbd.ProcessCommandRunner;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Objects;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
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
 *       /dev/mapper/volume-clone-<uid>} ({@link NodeAttach}); with AfterCopy nothing is served
 *       before cutover.
 *   <li>Live changes: an informer on the one VolumeClone feeds a single control thread that applies
 *       pause, bandwidth, regions in flight, batch size, copy-on-read and cutover approval to the
 *       running clone. An identity field (source, destination, metadata, region size, range) that
 *       differs from what the clone was opened with is refused (Degraded=True, IdentityChanged),
 *       after a commit.
 *   <li>Failures: a permanent one ({@link AgentFailures#PERMANENT}: invalid spec, a device too
 *       small for the range, metadata of another clone, an identity change) sets Degraded=True with
 *       that reason and exits {@value #EXIT_PERMANENT}; the operator then fails the clone and
 *       removes the Pod. Anything else (a device not there yet, an API error) exits {@value
 *       #EXIT_FAILED} and the kubelet runs the agent again. A run that finds a permanent failure
 *       already recorded exits {@value #EXIT_PERMANENT} without opening anything.
 *   <li>Node bandwidth: with a node budget ({@code VOLUME_CLONE_NODE_BANDWIDTH}) the agent holds a
 *       lease while its clone copies and the copier runs at the smaller of spec.copy.bandwidth and
 *       its fair share of the budget among the clones copying on the node ({@link
 *       NodeBandwidthShare}); every change of that limit is logged ({@code bandwidth} event) and
 *       exported as a metric.
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

  /** Where the node's block devices and their kernel state are, and how commands run. */
  public record NodeEnvironment(CommandRunner runner, Path dev, Path sysBlock) {
    public static NodeEnvironment host() {
      return new NodeEnvironment(
          new ProcessCommandRunner(), Path.of("/dev"), Path.of("/sys/block"));
    }
  }

  private final AgentSettings settings;
  private final KubernetesClient client;
  private final AgentLog log;
  private final NodeEnvironment node;
  private final Clock clock;
  private final KubernetesSerialization serialization;
  private final AgentMetrics metrics;
  private final StatusReporter reporter;
  private final NodeBandwidthShare share;

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private final CountDownLatch finished = new CountDownLatch(1);
  private final ExecutorService control =
      Executors.newSingleThreadExecutor(
          Thread.ofPlatform().daemon().name("agent-control").factory());

  private volatile boolean started;
  private volatile boolean stopRequested;
  private volatile Clone clone;
  private volatile VolumeCloneSpec initialSpec;
  private volatile VolumeCloneSpec appliedSpec;
  private volatile Long generation;
  private volatile boolean cutoverApproved;
  private volatile String exportUri;
  private volatile String exportDevice;
  private volatile String exportOnlyReason;
  private volatile AgentFailure failure;
  private volatile CloneStatus.State stateBeforeClose;
  private volatile boolean stopped;
  private volatile int metricsPort;
  private NbdServer export;
  private NodeAttach attach;
  private CloneOpener.Opened opened;
  private final DeviceWrappers wrappers;

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
    this.node = node;
    this.clock = clock;
    this.serialization = client.getKubernetesSerialization();
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
    this.share =
        new NodeBandwidthShare(
            settings.leaseDirectory(),
            settings.namespace(),
            settings.name(),
            settings.nodeBandwidth(),
            0,
            new NodeBandwidthShare.Listener() {
              @Override
              public void limitChanged(long bytesPerSecond, int copyingClones) {
                applyLimit(bytesPerSecond, copyingClones);
              }

              @Override
              public void failed(String message) {
                log.warn("node-share-failed", message);
              }
            });
    metrics.bindShare(share);
  }

  /**
   * Runs the clone until cutover (0), a transient failure (1), a permanent failure ({@value
   * #EXIT_PERMANENT}) or {@link #stop} ({@value #EXIT_STOPPED}).
   */
  public int run() {
    started = true;
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
        log.error(
            "not-found",
            "VolumeClone "
                + settings.namespace()
                + "/"
                + settings.name()
                + " does not exist; nothing to do");
        return EXIT_FAILED;
      }
      String earlier = earlierPermanentFailure(resource);
      if (earlier != null) {
        log.error("refused", earlier);
        return EXIT_PERMANENT;
      }
      initialSpec = serialization.clone(resource.getSpec());
      appliedSpec = initialSpec;
      generation = resource.getMetadata().getGeneration();
      if (settings.metricsPort() > 0) {
        metricsPort = metrics.serve(settings.metricsPort());
        log.info("metrics", "serving Prometheus metrics", "port", metricsPort, "path", "/metrics");
      }
      long initialLimit = initialLimit(initialSpec);
      try {
        opened =
            new CloneOpener(
                    settings, metrics.registry(), wrappers.metadata(), wrappers.destination())
                .open(resource, initialLimit);
      } catch (AgentFailure f) {
        return fail(f);
      }
      clone = opened.target();
      metrics.bind(clone);
      logOpened(resource);
      clone.addListener(
          s -> {
            updateShare();
            reporter.poke();
            wake();
          });
      apply(resource);
      updateShare();
      share.start();
      if (initialSpec.accessOrDefault() == Access.Immediate) {
        startExport(resource.getMetadata().getUid());
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
      if (failure == null) {
        failure = new AgentFailure("AgentError", e.getMessage(), e);
      }
      // the kernel devices must not stay attached to a socket nobody serves any more
      detachAndCloseExport();
      closeClone();
      reportFinal();
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

  private int waitForEnd() {
    lock.lock();
    try {
      while (!stopRequested && failure == null && !clone.cutOverFuture().isDone()) {
        updateShare();
        changed.await(1, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      stopRequested = true;
    } finally {
      lock.unlock();
    }
    if (clone.cutOverFuture().isDone() && !clone.cutOverFuture().isCompletedExceptionally()) {
      return finishCutover();
    }
    if (failure == null && !stopRequested && clone.cutOverFuture().isCompletedExceptionally()) {
      // A failed cutover is no stop: report it as a transient failure so the next run retries.
      failure =
          new AgentFailure(
              "CutoverFailed",
              "the cutover to " + opened.destinationPath() + " failed: " + cutoverError());
    }
    if (failure != null) {
      log.error("refused", failure.getMessage(), "reason", failure.reason());
      detachAndCloseExport();
      closeClone();
      reportFinal();
      return exitCodeOf(failure);
    }
    stopped = true;
    log.info("stopping", "stop requested: closing the export and committing the metadata");
    detachAndCloseExport();
    closeClone();
    reportFinal();
    CloneStatus s = clone.status();
    log.info(
        "stopped",
        "stopped with " + s.regionsCommitted() + " of " + s.regionsTotal() + " regions committed",
        "metadata",
        opened.metadataPath());
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
    CloneGeometry g = clone.cloneGeometry();
    if (attach != null && exportDevice != null) {
      try {
        attach.cutover(
            opened.destinationPath(),
            g.destinationOffset(),
            g.size(),
            this::flushAndReleaseDestination);
        log.info(
            "node-cutover",
            exportDevice + " now maps the destination directly; NBD detached",
            "device",
            opened.destinationPath(),
            "offset",
            g.destinationOffset());
      } catch (IOException e) {
        failure =
            new AgentFailure(
                "NodeCutoverFailed",
                "the clone is cut over but "
                    + exportDevice
                    + " could not be moved onto "
                    + opened.destinationPath()
                    + ": "
                    + e.getMessage()
                    + "; the destination holds every region, flushed: use it directly (once the"
                    + " clone has let go of it, I/O through the mapper device fails)");
        reporter.reportNow();
        log.error("node-cutover-failed", failure.getMessage(), "device", exportDevice);
        awaitStop();
        closeExport();
        closeClone();
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
    closeExport();
    // The final report is the last write: the background reporter must not follow it with a
    // report of a closing clone.
    reporter.close();
    boolean recorded = reportFinal();
    closeClone();
    if (!recorded) {
      // Exit 0 promises the operator that CutOver=True is in the status. Without it, exit as a
      // transient failure: the next run opens the cut-over metadata and reports again.
      log.error(
          "cut-over-unreported",
          "cut over, but CutOver=True could not be written to the status; exiting "
              + EXIT_FAILED
              + " so the agent runs again and reports it from the metadata",
          "metadata",
          opened.metadataPath());
      return EXIT_FAILED;
    }
    return EXIT_CUT_OVER;
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
    lock.lock();
    try {
      while (!stopRequested) {
        changed.await(1, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      lock.unlock();
    }
  }

  /**
   * Asks a running agent to stop (SIGTERM) and waits until it has committed and closed everything.
   */
  public void stop() {
    stopRequested = true;
    wake();
    if (!started) {
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

  private void wake() {
    lock.lock();
    try {
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  private int fail(AgentFailure f) {
    failure = f;
    log.error("refused", f.getMessage(), "reason", f.reason(), "permanent", f.permanent());
    reportFinal();
    return exitCodeOf(f);
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
    var degraded =
        status
            .condition(ConditionTypes.DEGRADED)
            .filter(c -> ConditionTypes.TRUE.equals(c.getStatus()))
            .filter(c -> AgentFailures.permanent(c.getReason()));
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

  // ---------------------------------------------------------------- export and node attach

  private void startExport(String uid) throws IOException {
    ExportAddress address = new ExportAddress.Unix(settings.socketPath().toAbsolutePath());
    export = NbdServer.start(address, new MeteredTarget(clone, metrics.registry()));
    exportUri = address.nbdUri(settings.name());
    log.info("export", "serving the clone over NBD", "uri", exportUri);
    NodeAttach.Support support = NodeAttach.detect(node.runner(), node.dev());
    if (!support.available()) {
      exportOnlyReason = "node has " + support.reason();
      log.info("export-only", "no kernel device for the clone: " + support.reason());
      return;
    }
    NodeAttach candidate =
        NodeAttach.forClone(
            node.runner(), node.dev(), node.sysBlock(), uid == null ? settings.name() : uid);
    try {
      exportDevice = candidate.attach(settings.socketPath(), clone.size());
      attach = candidate;
      log.info("attached", "the clone is attached as a kernel device", "device", exportDevice);
    } catch (IOException e) {
      exportOnlyReason = "attaching a kernel device failed: " + e.getMessage();
      log.warn("attach-failed", exportOnlyReason);
    }
  }

  private void detachAndCloseExport() {
    if (attach != null) {
      try {
        attach.detach();
        exportDevice = null;
      } catch (IOException e) {
        log.warn("detach-failed", e.getMessage(), "device", exportDevice);
      }
    }
    closeExport();
  }

  private void closeExport() {
    if (export != null) {
      try {
        export.close();
        log.info("export-closed", "the NBD export is closed", "uri", exportUri);
      } catch (IOException e) {
        log.warn("export-close-failed", e.getMessage(), "uri", exportUri);
      }
      export = null;
      if (exportDevice == null) {
        exportUri = null;
      }
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
      stopRequested = true;
      wake();
    }
  }

  private void submit(VolumeClone resource) {
    try {
      control.execute(
          () -> {
            try {
              apply(resource);
            } catch (RuntimeException e) {
              log.warn("apply-failed", "applying the spec failed: " + e.getMessage());
            }
          });
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // shutting down
    }
  }

  /** Applies the live knobs of {@code resource} to the running clone; refuses identity changes. */
  synchronized void apply(VolumeClone resource) {
    Clone c = clone;
    VolumeCloneSpec spec = resource.getSpec();
    if (c == null || spec == null || failure != null) {
      return;
    }
    String changedIdentity = identityChange(initialSpec, spec);
    if (changedIdentity != null) {
      failure =
          new AgentFailure(
              AgentFailures.IDENTITY_CHANGED,
              changedIdentity
                  + " changed while the clone runs; the metadata "
                  + opened.metadataPath()
                  + " records the clone it started with. Delete this VolumeClone and create a"
                  + " new one. The agent stopped; progress up to the last commit is on the"
                  + " metadata device.");
      reporter.poke();
      wake();
      return;
    }
    CopySpec copy = spec.copyOrDefault();
    CloneTuning now = c.tuning();
    CloneTuning change = CloneTuning.NONE;
    if (copy.pausedOrDefault() != now.paused()) {
      change = change.withPaused(copy.pausedOrDefault());
    }
    change =
        tune(
            "regions-in-flight",
            copy.regionsInFlightOrDefault(),
            now.regionsInFlight(),
            change,
            change::withRegionsInFlight);
    change =
        tune(
            "batch-regions",
            copy.batchRegionsOrDefault(),
            now.batchRegions(),
            change,
            change::withBatchRegions);
    if (copy.copyOnReadOrDefault() != now.copyOnRead()) {
      change = change.withCopyOnRead(copy.copyOnReadOrDefault());
    }
    try {
      c.tune(change);
    } catch (IOException e) {
      log.warn("pause-commit-failed", "paused, but the commit failed: " + e.getMessage());
    }
    logTuning(now, change);
    try {
      // the share hands the clone min(own limit, node share) and logs what it set
      share.setDemand(copy.bandwidthBytesPerSecond());
    } catch (IllegalArgumentException e) {
      log.warn("bandwidth-invalid", "spec.copy.bandwidth ignored: " + e.getMessage());
    }
    if (spec.cutoverOrDefault() == CutoverMode.Manual
        && spec.cutoverApprovedOrDefault()
        && !cutoverApproved) {
      cutoverApproved = true;
      c.approveCutover();
      log.info("cutover-approved", "cutover approved: cutting over once every region is copied");
    }
    appliedSpec = spec;
    generation = resource.getMetadata().getGeneration();
    updateShare();
    reporter.poke();
  }

  // ---------------------------------------------------------------- node bandwidth

  /**
   * The copier's limit at start: the spec's own limit, or with a node budget the share this clone
   * gets on joining the clones already copying, so the first batches do not overrun the budget.
   */
  private long initialLimit(VolumeCloneSpec spec) {
    try {
      share.setDemand(spec.copyOrDefault().bandwidthBytesPerSecond());
    } catch (IllegalArgumentException e) {
      return 0; // the opener refuses the spec with the reason
    }
    return share.rebalance();
  }

  /** The clone copies (and holds its lease) unless it is paused, copied, stopping or failed. */
  private void updateShare() {
    Clone c = clone;
    share.setCopying(
        c != null
            && c.state() == CloneStatus.State.COPYING
            && !c.tuning().paused()
            && failure == null
            && !stopRequested);
  }

  private void applyLimit(long bytesPerSecond, int copyingClones) {
    Clone c = clone;
    if (c != null && c.tuning().bandwidth() != bytesPerSecond) {
      try {
        c.tune(CloneTuning.NONE.withBandwidth(bytesPerSecond));
      } catch (IOException e) {
        // only a pause commits, and this is no pause
        log.warn("bandwidth-failed", "setting the copy bandwidth failed: " + e.getMessage());
      }
    }
    if (share.nodeBudget() == 0) {
      log.info("bandwidth", "copy bandwidth set", "bytesPerSecond", bytesPerSecond);
      return;
    }
    long own = share.demand();
    log.info(
        "bandwidth",
        "copy bandwidth limit "
            + bytesPerSecond
            + " B/s: "
            + copyingClones
            + (copyingClones == 1 ? " clone" : " clones")
            + " copying on this node under a node budget of "
            + share.nodeBudget()
            + " B/s",
        "bytesPerSecond",
        bytesPerSecond,
        "copyingClones",
        copyingClones,
        "nodeBandwidth",
        share.nodeBudget(),
        "ownLimit",
        own == 0 ? null : own,
        "lease",
        share.leaseFile());
  }

  /** {@code change} plus {@code wanted} when it differs from {@code current} and is valid. */
  private CloneTuning tune(
      String what,
      int wanted,
      int current,
      CloneTuning change,
      java.util.function.IntFunction<CloneTuning> with) {
    if (wanted == current) {
      return change;
    }
    try {
      return with.apply(wanted);
    } catch (IllegalArgumentException e) {
      log.warn(what + "-invalid", e.getMessage());
      return change;
    }
  }

  private void logTuning(CloneTuning before, CloneTuning change) {
    if (Boolean.TRUE.equals(change.paused())) {
      log.info("paused", "background copy paused; metadata committed");
    } else if (Boolean.FALSE.equals(change.paused())) {
      log.info("resumed", "background copy resumed");
    }
    if (change.regionsInFlight() != null) {
      log.info("regions-in-flight", "regions-in-flight set to " + change.regionsInFlight());
    }
    if (change.batchRegions() != null) {
      log.info("batch-regions", "batch-regions set to " + change.batchRegions());
    }
    if (change.copyOnRead() != null && !change.copyOnRead().equals(before.copyOnRead())) {
      log.info(
          "copy-on-read",
          change.copyOnRead()
              ? "copy-on-read on: reads of uncopied regions copy them"
              : "copy-on-read off: reads of uncopied regions are served from the source only");
    }
  }

  /** The first identity field that differs, named as in the spec; null when none does. */
  static String identityChange(VolumeCloneSpec started, VolumeCloneSpec now) {
    if (!Objects.equals(started.getSource(), now.getSource())) {
      return "spec.source ("
          + started.getSource().describe()
          + " -> "
          + describe(now.getSource())
          + ")";
    }
    if (!Objects.equals(started.getDestination(), now.getDestination())) {
      return "spec.destination ("
          + started.getDestination().describe()
          + " -> "
          + describe(now.getDestination())
          + ")";
    }
    if (!Objects.equals(started.getMetadata(), now.getMetadata())) {
      return "spec.metadata";
    }
    if (!Objects.equals(regionSize(started), regionSize(now))) {
      return "spec.regionSize (" + started.getRegionSize() + " -> " + now.getRegionSize() + ")";
    }
    if (!Objects.equals(started.getRange(), now.getRange())) {
      return "spec.range (" + started.getRange() + " -> " + now.getRange() + ")";
    }
    return null;
  }

  private static Object describe(Object ref) {
    if (ref instanceof io.volumeclone.api.v1alpha1.spec.SourceRef s) {
      return s.describe();
    }
    if (ref instanceof io.volumeclone.api.v1alpha1.spec.DestinationRef d) {
      return d.describe();
    }
    return ref;
  }

  private static Object regionSize(VolumeCloneSpec spec) {
    try {
      return spec.regionSizeBytes();
    } catch (IllegalArgumentException e) {
      return spec.getRegionSize();
    }
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
    VolumeCloneSpec spec = appliedSpec;
    AgentFailure f = failure;
    AgentReport.Situation at =
        new AgentReport.Situation(
            exportUri,
            exportDevice,
            exportOnlyReason,
            spec != null && spec.accessOrDefault() == Access.AfterCopy,
            spec != null && spec.cutoverOrDefault() == CutoverMode.Manual,
            spec != null && spec.cutoverApprovedOrDefault(),
            spec == null ? "<unknown>" : spec.getDestination().describe(),
            f == null ? null : f.reason(),
            f == null ? null : f.getMessage(),
            stopped);
    return AgentReport.of(s, at, generation, clock.instant());
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
