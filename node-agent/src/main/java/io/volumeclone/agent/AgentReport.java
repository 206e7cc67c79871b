package io.volumeclone.agent;

import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.status.ConditionSet;
import io.volumeclone.api.v1alpha1.status.ExportStatus;
import io.volumeclone.api.v1alpha1.status.Progress;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import io.volumeclone.engine.CloneMetadata;
import io.volumeclone.engine.CloneStatus;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * The part of a VolumeClone's status the agent owns: {@code progress}, {@code export}, {@code
 * metadataMode} and the conditions Available, Copied, CutOver and Degraded. Everything else in the
 * status is the operator's and {@link #applyTo} leaves it as it finds it.
 *
 * <p>Condition messages carry no numbers that move while copying, so that a condition changes only
 * when the clone's situation does: a condition change is a "phase change" and is written at once,
 * while progress alone waits for the reporting interval.
 */
public record AgentReport(
    Progress progress,
    ExportStatus export,
    String metadataMode,
    List<ConditionSet.Wanted> conditions,
    Long observedGeneration) {

  /**
   * What the agent knows besides the engine's status.
   *
   * @param exportUri the export's URI while it serves, else null
   * @param exportDevice the kernel device consumers open, when there is one
   * @param exportOnlyReason why there is no kernel device (the node lacks nbd or device-mapper)
   * @param afterCopy access is AfterCopy: no export before cutover
   * @param manualCutover cutover is Manual
   * @param cutoverApproved spec.cutoverApproved
   * @param destination the destination as the user named it, for messages
   * @param failureReason why the agent refuses to go on (CamelCase), or null
   * @param failureMessage what went wrong and what to change, or null
   * @param stopped the agent was stopped (SIGTERM) before cutover
   * @param volumeClaim spec.volume's claim (the clone publishes a volume), or null
   */
  public record Situation(
      String exportUri,
      String exportDevice,
      String exportOnlyReason,
      boolean afterCopy,
      boolean manualCutover,
      boolean cutoverApproved,
      String destination,
      String failureReason,
      String failureMessage,
      boolean stopped,
      String volumeClaim) {}

  /** The report for an engine status (null when the clone never opened) and the situation. */
  public static AgentReport of(CloneStatus s, Situation at, Long generation, Instant now) {
    Progress progress = s == null ? null : progress(s, now);
    ExportStatus export =
        at.exportUri() == null && at.exportDevice() == null
            ? null
            : new ExportStatus(at.exportUri(), at.exportDevice());
    String mode = s == null ? null : AgentMetrics.modeName(s.metadataMode());
    return new AgentReport(progress, export, mode, conditions(s, at), generation);
  }

  static Progress progress(CloneStatus s, Instant now) {
    Progress p = new Progress();
    p.setRegionsTotal(s.regionsTotal());
    p.setRegionsCopied(s.regionsCopied());
    p.setRegionsCommitted(s.regionsCommitted());
    p.setBytesTotal(s.bytesTotal());
    p.setBytesCopied(s.bytesCopied());
    p.setPercent(s.percentText());
    p.setBytesPerSecond(s.bytesPerSecond());
    p.setPercentText(p.getPercent() + "%");
    p.setRateText(s.rateText());
    long eta = s.etaSeconds();
    if (s.state() == CloneStatus.State.COPYING && !s.paused() && eta > 0) {
      p.setEstimatedCompletionTime(now.plusSeconds(eta).truncatedTo(ChronoUnit.SECONDS).toString());
    }
    return p;
  }

  static List<ConditionSet.Wanted> conditions(CloneStatus s, Situation at) {
    boolean cutOver = s != null && s.state() == CloneStatus.State.CUT_OVER;
    boolean copied = s != null && (cutOver || s.state() == CloneStatus.State.COPIED);
    List<ConditionSet.Wanted> out = new ArrayList<>();

    if (at.failureReason() != null) {
      out.add(
          new ConditionSet.Wanted(
              ConditionTypes.AVAILABLE, false, "AgentFailed", "the agent stopped: see Degraded"));
    } else if (cutOver) {
      out.add(
          new ConditionSet.Wanted(
              ConditionTypes.AVAILABLE,
              true,
              "CutOver",
              at.exportDevice() != null
                  ? at.exportDevice()
                      + " now maps the destination "
                      + at.destination()
                      + " directly"
                  : "the destination " + at.destination() + " holds everything; use it directly"));
    } else if (at.stopped()) {
      out.add(
          new ConditionSet.Wanted(
              ConditionTypes.AVAILABLE,
              false,
              "AgentStopped",
              "the agent was stopped; it resumes from the metadata when it runs again"));
    } else if (at.afterCopy()) {
      out.add(
          new ConditionSet.Wanted(
              ConditionTypes.AVAILABLE,
              false,
              "AwaitingCopy",
              "access is AfterCopy: the clone can be used once every region is copied and it is"
                  + " cut over"));
    } else if (at.exportUri() != null && at.exportDevice() == null && at.volumeClaim() != null) {
      // The clone volume needs a kernel device; without one no Pod can use it before cutover.
      out.add(
          new ConditionSet.Wanted(
              ConditionTypes.AVAILABLE,
              false,
              "NoKernelAttach",
              "no kernel device for the clone volume "
                  + at.volumeClaim()
                  + ": "
                  + at.exportOnlyReason()
                  + ". The copy goes on; the claim is bound after cutover, to the destination "
                  + at.destination()
                  + ". Until then the clone is served at "
                  + at.exportUri()
                  + " for NBD clients"));
    } else if (at.exportUri() != null) {
      String how =
          at.exportDevice() != null
              ? "; kernel device " + at.exportDevice()
              : "; export-only (" + at.exportOnlyReason() + "): connect an NBD client to it";
      out.add(
          new ConditionSet.Wanted(
              ConditionTypes.AVAILABLE,
              true,
              "ExportServing",
              "served at " + at.exportUri() + how));
    } else {
      out.add(
          new ConditionSet.Wanted(
              ConditionTypes.AVAILABLE, false, "Starting", "the export is not serving yet"));
    }

    if (copied) {
      out.add(
          new ConditionSet.Wanted(
              ConditionTypes.COPIED,
              true,
              "AllRegionsCopied",
              "every region is copied and committed to the metadata device"));
    } else if (s != null && s.paused()) {
      out.add(
          new ConditionSet.Wanted(
              ConditionTypes.COPIED,
              false,
              "Paused",
              "the background copy is paused (spec.copy.paused); consumer I/O still copies the"
                  + " regions it touches"));
    } else {
      out.add(
          new ConditionSet.Wanted(
              ConditionTypes.COPIED, false, "Copying", "the background copy is running"));
    }

    if (cutOver) {
      out.add(
          new ConditionSet.Wanted(
              ConditionTypes.CUT_OVER,
              true,
              "CutOver",
              "the clone is a direct mapping of " + at.destination()));
    } else if (copied && at.manualCutover() && !at.cutoverApproved()) {
      out.add(
          new ConditionSet.Wanted(
              ConditionTypes.CUT_OVER,
              false,
              "AwaitingApproval",
              "every region is copied; set spec.cutoverApproved: true to cut over"));
    } else {
      out.add(
          new ConditionSet.Wanted(
              ConditionTypes.CUT_OVER,
              false,
              copied ? "CuttingOver" : "Copying",
              "cutover follows once every region is copied"
                  + (at.manualCutover() ? " and spec.cutoverApproved is true" : "")));
    }

    if (at.failureReason() != null) {
      out.add(
          new ConditionSet.Wanted(
              ConditionTypes.DEGRADED, true, at.failureReason(), at.failureMessage()));
    } else if (s != null && s.metadataMode() != CloneMetadata.Mode.WRITE) {
      out.add(
          new ConditionSet.Wanted(
              ConditionTypes.DEGRADED,
              true,
              s.metadataMode() == CloneMetadata.Mode.READ_ONLY
                  ? "MetadataReadOnly"
                  : "MetadataFailed",
              "the metadata device is "
                  + AgentMetrics.modeName(s.metadataMode())
                  + " after an error ("
                  + s.lastError()
                  + "); progress up to the last commit is kept"));
    } else if (s != null && s.degraded()) {
      out.add(
          new ConditionSet.Wanted(
              ConditionTypes.DEGRADED,
              true,
              "CopyErrors",
              "copy errors exceeded the error budget; the copier keeps retrying. Last error: "
                  + s.lastError()));
    } else {
      out.add(new ConditionSet.Wanted(ConditionTypes.DEGRADED, false, "NoErrors", "no errors"));
    }
    return out;
  }

  /**
   * The part of the report whose change is a phase change: conditions, export and metadata mode.
   * Progress alone is not.
   */
  public Object phaseKey() {
    return List.of(
        conditions,
        Objects.toString(export),
        Objects.toString(metadataMode),
        Objects.toString(observedGeneration));
  }

  /**
   * {@code current} with the agent's fields set as reported. The operator's fields and conditions
   * stay as they are; a condition keeps its lastTransitionTime while its status is unchanged.
   */
  public VolumeCloneStatus applyTo(VolumeCloneStatus current, Instant now) {
    VolumeCloneStatus status = copy(current);
    // Without an opened clone there is nothing new to say about progress: keep the last report.
    if (progress != null) {
      status.setProgress(progress);
    }
    if (metadataMode != null) {
      status.setMetadataMode(metadataMode);
    }
    status.setExport(export);
    ConditionSet merged = new ConditionSet(current == null ? null : current.getConditions(), now);
    for (ConditionSet.Wanted wanted : conditions) {
      merged.set(wanted, observedGeneration);
    }
    status.setConditions(merged.toList());
    return status;
  }

  /** The condition types the agent owns. */
  public static final Set<String> OWNED_CONDITIONS =
      Set.of(
          ConditionTypes.AVAILABLE,
          ConditionTypes.COPIED,
          ConditionTypes.CUT_OVER,
          ConditionTypes.DEGRADED);

  /** The agent's fields of {@code status} (null stays null): what its apply sends. */
  public static VolumeCloneStatus owned(VolumeCloneStatus status) {
    if (status == null) {
      return null;
    }
    VolumeCloneStatus owned = new VolumeCloneStatus();
    owned.setProgress(status.getProgress());
    owned.setExport(status.getExport());
    owned.setMetadataMode(status.getMetadataMode());
    owned.setConditions(status.conditionsOf(OWNED_CONDITIONS));
    return owned;
  }

  private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

  /** A deep copy, so fields this class does not know (added later) are carried along too. */
  private static VolumeCloneStatus copy(VolumeCloneStatus s) {
    return s == null ? new VolumeCloneStatus() : SERIALIZATION.clone(s);
  }
}
