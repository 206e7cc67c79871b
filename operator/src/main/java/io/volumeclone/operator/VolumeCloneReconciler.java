package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.ErrorStatusUpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import io.volumeclone.contract.AgentFailures;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The VolumeClone reconciler, an orchestrator that only sequences the others: observe ({@link
 * CloneObserver}: the clone, its agent Pod), validate ({@link Validator}) and admit ({@link
 * Admission}: one writer per device, a bounded number of clones per node, creation order) a clone
 * that has not started, decide ({@link CloneRules}, a pure function of the {@link Observation}),
 * and act: the agent Pod and the metadata-removal Pod as dependent resources ({@link
 * AgentPodDependent}, {@link MetadataRemovalPodDependent}, built by {@link AgentPodFactory}), the
 * status and its Events ({@link StatusRecorder}), the deletion ({@link DeletionRules} decides,
 * {@link CloneDeletion} acts). A reconcile that throws is reported in the status ({@link
 * #updateErrorStatus}).
 *
 * <p>The copying itself, progress, the export and cutover are the agent's. Completed and Failed are
 * final: the clone's slot is released and {@code ttlSecondsAfterFinished} deletes the clone later.
 *
 * <p>Agent failures. The agent Pod runs with {@code restartPolicy: OnFailure}: a crash, a SIGKILL
 * or a device that is not there yet ends the container with a transient code, the kubelet restarts
 * it in place with its usual back-off, and the agent resumes from the metadata. That is cheap and
 * needs nobody. A permanent failure ({@link AgentFailures}: invalid spec, a destination too small,
 * metadata of another clone, an identity change) cannot be cured by running again, yet the kubelet
 * would restart it forever. So the agent reports it (Degraded=True with a reason from {@link
 * AgentFailures#PERMANENT}) and exits {@value AgentFailures#EXIT_PERMANENT}; the operator takes
 * either signal (the report, or that exit code in the Pod's container status when the report did
 * not arrive), records phase Failed with Stalled=True carrying the agent's reason and message, and
 * deletes the Pod if it is not already terminal, with the usual grace period: that is the only way
 * to stop the kubelet, since a Pod's restart policy cannot be changed. The failure survives the Pod
 * in the status and in a Warning Event; a restarted container that runs before the deletion sees
 * the recorded failure and exits without touching the devices. Switching to {@code restartPolicy:
 * Never} with operator-driven recreation would keep the failed Pod's log, but every transient crash
 * would then cost a new Pod, a new scheduling and a re-attach of every volume.
 */
@ControllerConfiguration(
    name = VolumeCloneReconciler.NAME,
    finalizerName = VolumeCloneReconciler.FINALIZER,
    generationAwareEventProcessing = false)
public class VolumeCloneReconciler implements Reconciler<VolumeClone>, Cleaner<VolumeClone> {

  public static final String NAME = "volumeclone";
  public static final String FINALIZER = "volumeclone.io/stop-agent";

  private static final Duration SOON = DeletionRules.POLL;

  private final KubernetesClient client;
  private final OperatorOptions options;
  private final Clock clock;
  private final Validator validator;
  private final Admission admission;
  private final AgentPodDependent agentPod;
  private final MetadataRemovalPodDependent metadataRemoval;
  private final CloneObserver observer;
  private final StatusRecorder status;
  private final CloneDeletion deletion;
  private final LegacyClaimFinalizer legacyFinalizer;
  private final EventRecorder events;
  private final CloneVolumes volumes;

  public VolumeCloneReconciler(KubernetesClient client, OperatorOptions options, Clock clock) {
    this.client = client;
    this.options = options;
    this.clock = clock;
    this.validator = new Validator(client, options);
    this.admission = new Admission(options.get(OperatorOptions.MAX_CLONES_PER_NODE));
    AgentPodFactory pods = new AgentPodFactory(options);
    this.agentPod = new AgentPodDependent(pods);
    this.observer = new CloneObserver(client);
    this.events = new EventRecorder(client, clock);
    this.status = new StatusRecorder(new StatusWriter(client), events);
    this.metadataRemoval = new MetadataRemovalPodDependent(pods);
    this.deletion = new CloneDeletion(client, options, clock, metadataRemoval, observer, events);
    this.legacyFinalizer = new LegacyClaimFinalizer(client);
    this.volumes = new CloneVolumes(client, events);
  }

  @Override
  public List<EventSource<?, VolumeClone>> prepareEventSources(
      EventSourceContext<VolumeClone> context) {
    return List.of(agentPod.eventSourceFor(context), metadataRemoval.eventSourceFor(context));
  }

  /**
   * Which updates of a clone are worth a reconcile: spec, deletion, the agent's conditions and
   * anything the operator itself writes; not the agent's progress reports every few seconds.
   */
  public static boolean relevantUpdate(VolumeClone now, VolumeClone before) {
    return !Objects.equals(now.getMetadata().getGeneration(), before.getMetadata().getGeneration())
        || !Objects.equals(
            now.getMetadata().getDeletionTimestamp(), before.getMetadata().getDeletionTimestamp())
        || !Objects.equals(now.getMetadata().getFinalizers(), before.getMetadata().getFinalizers())
        || !Objects.equals(decisive(now.getStatus()), decisive(before.getStatus()));
  }

  private static List<Object> decisive(VolumeCloneStatus status) {
    if (status == null) {
      return List.of();
    }
    List<Object> out = new ArrayList<>();
    out.add(String.valueOf(status.getPhase()));
    out.add(String.valueOf(status.getAgentPod()));
    out.add(String.valueOf(status.getNodeName()));
    if (status.getConditions() != null) {
      status
          .getConditions()
          .forEach(c -> out.add(c.getType() + "=" + c.getStatus() + "/" + c.getReason()));
    }
    return out;
  }

  @Override
  public UpdateControl<VolumeClone> reconcile(VolumeClone clone, Context<VolumeClone> context) {
    UpdateControl<VolumeClone> control = reconcileClone(clone, context);
    if (clone.getSpec() == null || clone.getSpec().getVolume() == null) {
      return control;
    }
    // The clone volume follows the agent's reports (its kernel device, cutover) and the claim's
    // binding; a claim about to bind is looked at again soon, Pods that use it at the recheck.
    Duration again =
        volumes.reconcile(clone) ? SOON : options.get(OperatorOptions.RECHECK_INTERVAL);
    Optional<Long> scheduled = control.getScheduleDelay();
    if (scheduled.isEmpty() || scheduled.get() > again.toMillis()) {
      control.rescheduleAfter(again);
    }
    return control;
  }

  private UpdateControl<VolumeClone> reconcileClone(
      VolumeClone clone, Context<VolumeClone> context) {
    Instant now = clock.instant();
    legacyFinalizer.removeOnceFrom(clone);
    Phase prior = clone.getStatus() == null ? null : clone.getStatus().getPhase();
    if (prior != null && prior.isFinished()) {
      return settleFinished(clone, context, now);
    }
    Pod pod = agentPod.current(clone, context).orElse(null);
    String node = clone.getStatus() == null ? null : clone.getStatus().getNodeName();
    if (pod == null && !(admission.started(clone) && node != null)) {
      return start(clone, context, now);
    }
    return carryOut(observer.observe(clone, pod, node, now), context);
  }

  /** Validates and admits a clone that has not started, then creates its agent Pod. */
  private UpdateControl<VolumeClone> start(
      VolumeClone clone, Context<VolumeClone> context, Instant now) {
    Validator.Verdict verdict = validator.check(clone);
    if (verdict instanceof Validator.Verdict.Refused refused) {
      status.record(clone, CloneStatuses.refused(clone, refused), now);
      return recheckLater();
    }
    if (verdict instanceof Validator.Verdict.Waiting waiting) {
      status.record(
          clone, CloneStatuses.waiting(clone, null, waiting.reason(), waiting.message()), now);
      return recheckLater();
    }
    Validator.Verdict.Placed placed = (Validator.Verdict.Placed) verdict;
    List<VolumeClone> all = context.getPrimaryCache().list().toList();
    Optional<Admission.Wait> wait = admission.tryAdmit(clone, placed.node(), placed.sides(), all);
    if (wait.isPresent()) {
      status.record(
          clone,
          CloneStatuses.waiting(clone, placed.node(), wait.get().reason(), wait.get().message()),
          now);
      return recheckLater();
    }
    Pod pod;
    try {
      pod =
          agentPod.reconcile(
              new AgentPodFactory.Plan(
                  clone, placed.node(), placed.attachments(), placed.byScheduler()),
              clone,
              context);
    } catch (RuntimeException e) {
      admission.release(clone);
      throw e;
    }
    events.normal(clone, "AgentCreated", created(pod, placed));
    return carryOut(observer.observe(clone, pod, placed.node(), now), context);
  }

  /** Carries out what {@link CloneRules} decides for a started clone. */
  private UpdateControl<VolumeClone> carryOut(Observation seen, Context<VolumeClone> context) {
    VolumeClone clone = seen.volumeClone();
    switch (CloneRules.next(seen)) {
      case CloneRules.Step.Recreate ignored -> {
        Pod pod = recreate(clone, seen.node(), context);
        return carryOut(observer.observe(clone, pod, seen.node(), seen.now()), context);
      }
      case CloneRules.Step.Replace replace -> {
        if (replace.status() != null) {
          status.record(clone, replace.status(), seen.now());
        }
        if (replace.warning() != null) {
          events.warning(clone, replace.reason(), replace.warning());
        }
        client.pods().resource(seen.pod()).delete();
        return recheckSoon();
      }
      case CloneRules.Step.AwaitBackOff backOff -> {
        if (backOff.warning() != null) {
          events.warning(clone, "AgentRejected", backOff.warning());
        }
        status.record(clone, backOff.status(), seen.now());
        return UpdateControl.<VolumeClone>noUpdate().rescheduleAfter(backOff.left());
      }
      case CloneRules.Step.Report report -> {
        status.record(clone, report.status(), seen.now());
        if (report.status().phase() == Phase.Failed) {
          stopAgent(clone, seen.pod(), report.status().message());
        }
        if (!report.status().phase().isFinished()) {
          return UpdateControl.noUpdate();
        }
        admission.release(clone);
        return CloneRules.ttl(clone, seen.now())
            .map(d -> UpdateControl.<VolumeClone>noUpdate().rescheduleAfter(d))
            .orElse(UpdateControl.noUpdate());
      }
    }
  }

  /**
   * A new agent Pod for a clone whose Pod disappeared before it finished. A scheduler-placed clone
   * may go to another node (one whose kubelet admits it); only spec.nodeName binds it. The default
   * metadata file then starts afresh there.
   */
  private Pod recreate(VolumeClone clone, String node, Context<VolumeClone> context) {
    String name = AgentPodFactory.podName(clone.getMetadata().getName());
    List<Side> sides = Side.of(clone);
    boolean byScheduler = Side.claimsOnly(sides);
    String placement = byScheduler ? clone.getSpec().getNodeName() : node;
    Pod pod =
        agentPod.reconcile(
            new AgentPodFactory.Plan(clone, placement, Side.attachments(sides), byScheduler),
            clone,
            context);
    events.warning(clone, "AgentRecreated", recreated(name, byScheduler, placement));
    return pod;
  }

  /**
   * Removes the agent Pod of a failed clone unless it already ended: under restartPolicy OnFailure
   * the kubelet would run it again and again. A terminal Pod is kept for its log.
   */
  private void stopAgent(VolumeClone clone, Pod pod, String why) {
    if (pod == null || AgentPodState.terminating(pod) || !AgentPodState.ownedBy(pod, clone)) {
      return;
    }
    String phase = AgentPodState.phase(pod);
    if ("Succeeded".equals(phase) || "Failed".equals(phase)) {
      return;
    }
    Duration grace = options.get(OperatorOptions.AGENT_STOP_GRACE_PERIOD);
    events.normal(
        clone,
        "AgentStopped",
        "the clone failed, so agent Pod "
            + pod.getMetadata().getName()
            + " is removed rather than restarted by the kubelet; the failure stays in the"
            + " status: "
            + why);
    client
        .pods()
        .inNamespace(pod.getMetadata().getNamespace())
        .withName(pod.getMetadata().getName())
        .withGracePeriod(grace.toSeconds())
        .delete();
  }

  /**
   * A clone recorded Completed or Failed: keep the status as recorded, make sure a failed clone's
   * agent is not left restarting (a crash between recording Failed and removing the Pod), and
   * delete the clone once its TTL has passed.
   */
  private UpdateControl<VolumeClone> settleFinished(
      VolumeClone clone, Context<VolumeClone> context, Instant now) {
    admission.release(clone);
    StatusWriter.Desired desired = CloneRules.finishedStatus(clone);
    if (desired.phase() == Phase.Failed) {
      stopAgent(clone, agentPod.current(clone, context).orElse(null), desired.message());
    }
    StatusWriter.Written written = status.record(clone, desired, now);
    VolumeClone current = written.resource() == null ? clone : written.resource();
    Optional<Duration> remaining = CloneRules.ttl(current, now);
    if (remaining.isEmpty()) {
      return UpdateControl.noUpdate();
    }
    if (remaining.get().isZero()) {
      events.normal(
          clone,
          "Expired",
          "ttlSecondsAfterFinished ("
              + clone.getSpec().getTtlSecondsAfterFinished()
              + "s) has passed; deleting the VolumeClone (device data stays)");
      client.resource(clone).delete();
      return UpdateControl.noUpdate();
    }
    return UpdateControl.<VolumeClone>noUpdate().rescheduleAfter(remaining.get());
  }

  @Override
  public DeleteControl cleanup(VolumeClone clone, Context<VolumeClone> context) {
    legacyFinalizer.removeOnceFrom(clone);
    // Before the agent is stopped: a Pod on the clone volume may still read through it.
    String inUse = volumes.refuseDeletion(clone);
    if (inUse != null) {
      status.record(
          clone, CloneStatuses.deletionRefused(clone, "VolumeInUse", inUse), clock.instant());
      return DeleteControl.noFinalizerRemoval().rescheduleAfter(SOON);
    }
    Optional<Duration> wait = deletion.stop(clone, context);
    if (wait.isPresent()) {
      return DeleteControl.noFinalizerRemoval().rescheduleAfter(wait.get());
    }
    volumes.remove(clone);
    admission.release(clone);
    legacyFinalizer.forget(clone);
    return DeleteControl.defaultDelete();
  }

  /**
   * A reconcile that threw (the API server refused a write, a timeout): JOSDK retries it, and the
   * status says so meanwhile, on the operator's own field manager; the phase stays what it was. A
   * finished clone's status is final and is left alone.
   */
  @Override
  public ErrorStatusUpdateControl<VolumeClone> updateErrorStatus(
      VolumeClone clone, Context<VolumeClone> context, Exception e) {
    VolumeCloneStatus current = clone.getStatus();
    if (current != null && current.getPhase() != null && current.getPhase().isFinished()) {
      return ErrorStatusUpdateControl.noStatusUpdate();
    }
    try {
      status.record(clone, CloneStatuses.reconcileError(clone, e), clock.instant());
    } catch (RuntimeException writeFailed) {
      e.addSuppressed(writeFailed);
    }
    return ErrorStatusUpdateControl.noStatusUpdate();
  }

  private static String created(Pod pod, Validator.Verdict.Placed placed) {
    String name = pod.getMetadata().getName();
    return placed.byScheduler()
        ? "created agent Pod "
            + name
            + "; kube-scheduler places it where its claims can be used"
            + (placed.node() == null ? "" : " (on node " + placed.node() + ", from spec.nodeName)")
        : "started agent Pod " + name + " on node " + placed.node();
  }

  private static String recreated(String name, boolean byScheduler, String placement) {
    return "agent Pod "
        + name
        + " disappeared before the clone finished; started a new one "
        + (byScheduler && placement == null
            ? "for kube-scheduler to place"
            : "on node " + placement)
        + ", which resumes from the metadata";
  }

  private UpdateControl<VolumeClone> recheckLater() {
    return UpdateControl.<VolumeClone>noUpdate()
        .rescheduleAfter(options.get(OperatorOptions.RECHECK_INTERVAL));
  }

  private static UpdateControl<VolumeClone> recheckSoon() {
    return UpdateControl.<VolumeClone>noUpdate().rescheduleAfter(SOON);
  }
}
