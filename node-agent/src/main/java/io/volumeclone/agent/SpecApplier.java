package io.volumeclone.agent;

import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.CopySpec;
import io.volumeclone.api.v1alpha1.spec.CutoverMode;
import io.volumeclone.api.v1alpha1.spec.DestinationRef;
import io.volumeclone.api.v1alpha1.spec.SourceRef;
import io.volumeclone.api.v1alpha1.spec.VolumeCloneSpec;
import io.volumeclone.contract.AgentFailures;
import io.volumeclone.engine.Clone;
import io.volumeclone.engine.CloneTuning;
import java.io.IOException;
import java.util.Objects;
import java.util.function.IntFunction;

/**
 * Applies the VolumeClone's live knobs to the running clone: pause, regions in flight, batch size,
 * copy-on-read and cutover approval through {@link Clone#tune}, the bandwidth through the node
 * share; refuses a change of the clone's identity.
 *
 * <p>Design note. The spec the clone was opened with is the clone's identity: the metadata device
 * records it, so a change of source, destination, metadata, region size or range cannot be applied
 * and fails the agent (IdentityChanged, permanent) instead. Every other field is a knob, applied
 * when it differs from what the clone runs with; an invalid one is logged and left as it was, so a
 * typo does not stop a copy. The bandwidth is not the copier's to take from the spec: the spec's
 * limit is this clone's demand on the node budget, and {@link NodeBandwidthShare} hands the copier
 * the smaller of it and the clone's share ({@link CopierBandwidth}). The start goes the same way:
 * {@link #begin} gives the share the demand before the clone opens.
 */
final class SpecApplier {

  private final AgentLog log;
  private final NodeBandwidthShare share;
  private final AgentLifecycle lifecycle;
  private final KubernetesSerialization serialization;
  private final Runnable applied;

  private volatile VolumeCloneSpec initialSpec;
  private volatile VolumeCloneSpec appliedSpec;
  private volatile Long generation;
  private volatile Clone clone;
  private volatile String metadataPath;
  private boolean cutoverApproved;

  /**
   * @param applied runs after every applied spec (the agent syncs its state and reports)
   */
  SpecApplier(
      AgentLog log,
      NodeBandwidthShare share,
      AgentLifecycle lifecycle,
      KubernetesSerialization serialization,
      Runnable applied) {
    this.log = log;
    this.share = share;
    this.lifecycle = lifecycle;
    this.serialization = serialization;
    this.applied = applied;
  }

  /**
   * Takes {@code resource}'s spec as the clone's identity and its bandwidth as the clone's demand
   * on the node, before the clone opens: the share then knows the limit the copier starts at.
   */
  void begin(VolumeClone resource) {
    initialSpec = serialization.clone(resource.getSpec());
    appliedSpec = initialSpec;
    generation = resource.getMetadata().getGeneration();
    if (initialSpec == null) {
      return; // the opener refuses it with the reason
    }
    try {
      share.setDemand(initialSpec.copyOrDefault().bandwidthBytesPerSecond());
    } catch (IllegalArgumentException e) {
      // the opener refuses the spec with the reason
    }
  }

  /** The clone is open on {@code metadataPath}: from now on specs are applied to it. */
  void bind(Clone opened, String metadataPath) {
    this.metadataPath = metadataPath;
    this.clone = opened;
  }

  /** The spec the clone was opened with. */
  VolumeCloneSpec initialSpec() {
    return initialSpec;
  }

  /** The spec last applied (the initial one until a change arrives). */
  VolumeCloneSpec appliedSpec() {
    return appliedSpec;
  }

  /** metadata.generation of the spec last applied. */
  Long generation() {
    return generation;
  }

  /** Applies the live knobs of {@code resource} to the running clone; refuses identity changes. */
  synchronized void apply(VolumeClone resource) {
    Clone c = clone;
    VolumeCloneSpec spec = resource.getSpec();
    // A cut-over clone (an agent holding the device) has nothing left to tune or to refuse.
    if (c == null
        || spec == null
        || lifecycle.failure() != null
        || lifecycle.state() == AgentState.CUT_OVER) {
      return;
    }
    String changedIdentity = identityChange(initialSpec, spec);
    if (changedIdentity != null) {
      lifecycle.fail(
          new AgentFailure(
              AgentFailures.IDENTITY_CHANGED,
              changedIdentity
                  + " changed while the clone runs; the metadata "
                  + metadataPath
                  + " records the clone it started with. Delete this VolumeClone and create a"
                  + " new one. The agent stopped; progress up to the last commit is on the"
                  + " metadata device."));
      return;
    }
    CopySpec copy = spec.copyOrDefault();
    CloneTuning now = c.tuning();
    CloneTuning change = CloneTuning.NONE;
    if (copy.pausedOrDefault() != now.paused()) {
      change = change.withPaused(copy.pausedOrDefault());
    }
    change =
        knob(
            "regions-in-flight",
            copy.regionsInFlightOrDefault(),
            now.regionsInFlight(),
            change,
            change::withRegionsInFlight);
    change =
        knob(
            "batch-regions",
            copy.batchRegionsOrDefault(),
            now.batchRegions(),
            change,
            change::withBatchRegions);
    if (copy.copyOnReadOrDefault() != now.copyOnRead()) {
      change = change.withCopyOnRead(copy.copyOnReadOrDefault());
    }
    if (copy.hotRegionsFirstOrDefault() != now.hotRegionsFirst()) {
      change = change.withHotRegionsFirst(copy.hotRegionsFirstOrDefault());
    }
    try {
      c.tune(change);
    } catch (IOException e) {
      log.warn("pause-commit-failed", "paused, but the commit failed: " + e.getMessage());
    }
    logTuning(now, change);
    try {
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
    applied.run();
  }

  /** {@code change} plus {@code wanted} when it differs from {@code current} and is valid. */
  private CloneTuning knob(
      String what, int wanted, int current, CloneTuning change, IntFunction<CloneTuning> with) {
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
    if (change.hotRegionsFirst() != null
        && !change.hotRegionsFirst().equals(before.hotRegionsFirst())) {
      log.info(
          "hot-regions-first",
          change.hotRegionsFirst()
              ? "hot regions first on: regions near reads of uncopied data are copied next"
              : "hot regions first off: the copier follows its scan only");
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
    if (ref instanceof SourceRef s) {
      return s.describe();
    }
    if (ref instanceof DestinationRef d) {
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
}
