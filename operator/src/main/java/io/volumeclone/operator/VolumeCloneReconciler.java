package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ContainerStateTerminated;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.volumeclone.api.AgentFailures;
import io.volumeclone.api.AgentPaths;
import io.volumeclone.api.Durations;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.CutoverMode;
import io.volumeclone.api.v1alpha1.status.ConditionSet;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The VolumeClone reconciler, a thin orchestrator: observe (the clone, its agent Pod, the claims
 * and nodes it names), validate ({@link Validator}), admit ({@link Admission}: one writer per
 * device, a bounded number of clones per node, creation order), reconcile the agent Pod ({@link
 * AgentPodFactory}), and record the operator's part of the status ({@link StatusWriter}) with an
 * Event for each phase change and failure.
 *
 * <p>The copying itself, progress, the export and cutover are the agent's. The phase combines both
 * views: Pending until the agent runs, Copying while it does, Copied when the agent reports {@code
 * Copied} (waiting for a manual cutover), Completed when it reports {@code CutOver=True} and only
 * then, Failed when the agent fails permanently or its Pod fails for a reason other than losing its
 * node. Completed and Failed are final: the claims' finalizers are released and {@code
 * ttlSecondsAfterFinished} deletes the clone later.
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
 *
 * <p>An agent exits 0 only after CutOver=True is in the status. A Pod that Succeeded while the
 * status says otherwise (the cache may simply lag, so the clone is read again first) is removed and
 * started again: the new agent opens the cut-over metadata and reports it. After {@value
 * #MAX_RERUNS_WITHOUT_CUTOVER} such runs the clone fails, saying so.
 */
@ControllerConfiguration(
    name = VolumeCloneReconciler.NAME,
    finalizerName = VolumeCloneReconciler.FINALIZER,
    generationAwareEventProcessing = false)
public class VolumeCloneReconciler implements Reconciler<VolumeClone>, Cleaner<VolumeClone> {

  public static final String NAME = "volumeclone";
  public static final String FINALIZER = "volumeclone.io/stop-agent";

  private static final Logger LOG = LoggerFactory.getLogger(VolumeCloneReconciler.class);
  private static final Duration STOP_POLL = Duration.ofSeconds(2);
  static final int MAX_RERUNS_WITHOUT_CUTOVER = 3;
  private static final Set<String> NODE_LOSS_REASONS =
      Set.of("Evicted", "Preempting", "NodeLost", "NodeShutdown", "Shutdown", "Terminated");

  /**
   * Reasons of a Pod the kubelet refused to admit (besides {@code OutOf<resource>}): the node is
   * there and fine, it just cannot run this Pod now. Recreating at once would be refused the same
   * way, so a new Pod waits {@link #REJECTION_BACKOFF}, doubling up to {@link
   * #REJECTION_BACKOFF_LIMIT}.
   */
  private static final Set<String> REJECTION_REASONS =
      Set.of("NodeAffinity", "UnexpectedAdmissionError", "NodeLabelsChanged");

  static final Duration REJECTION_BACKOFF = Duration.ofSeconds(10);
  static final Duration REJECTION_BACKOFF_LIMIT = Duration.ofMinutes(5);

  private final KubernetesClient client;
  private final OperatorOptions options;
  private final Clock clock;
  private final Validator validator;
  private final Admission admission;
  private final AgentPodFactory pods;
  private final StatusWriter statusWriter;
  private final LegacyClaimFinalizer legacyFinalizer;

  /** Uids of clones whose claims this operator process has freed of the legacy finalizer. */
  private final Set<String> legacyFinalizerChecked = ConcurrentHashMap.newKeySet();

  /** The last agent Pod of each clone that a node rejected, and when the next one may start. */
  private record Rejection(String podUid, int count, Instant retryAt) {}

  private final Map<String, Rejection> rejections = new ConcurrentHashMap<>();

  private final EventRecorder events;
  private final Map<String, Integer> rerunsWithoutCutover = new ConcurrentHashMap<>();

  public VolumeCloneReconciler(KubernetesClient client, OperatorOptions options, Clock clock) {
    this.client = client;
    this.options = options;
    this.clock = clock;
    this.validator = new Validator(client, options);
    this.admission = new Admission(options.get(OperatorOptions.MAX_CLONES_PER_NODE));
    this.pods = new AgentPodFactory(options);
    this.statusWriter = new StatusWriter(client);
    this.legacyFinalizer = new LegacyClaimFinalizer(client);
    this.events = new EventRecorder(client, clock);
  }

  @Override
  public List<EventSource<?, VolumeClone>> prepareEventSources(
      EventSourceContext<VolumeClone> context) {
    var configuration =
        InformerEventSourceConfiguration.from(Pod.class, VolumeClone.class)
            .withLabelSelector(AgentPodFactory.AGENT_SELECTOR)
            .build();
    return List.of(new InformerEventSource<>(configuration, context));
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
    Instant now = clock.instant();
    dropLegacyFinalizer(clone);
    Phase prior = clone.getStatus() == null ? null : clone.getStatus().getPhase();
    if (prior != null && prior.isFinished()) {
      return finished(clone, context, now);
    }
    Pod pod = context.getSecondaryResource(Pod.class).orElse(null);
    String node = clone.getStatus() == null ? null : clone.getStatus().getNodeName();
    boolean started = pod != null || (admission.started(clone) && node != null);

    if (!started) {
      Validator.Verdict verdict = validator.check(clone);
      if (verdict instanceof Validator.Verdict.Refused refused) {
        record(clone, refusedStatus(clone, refused), now);
        return recheckLater();
      }
      if (verdict instanceof Validator.Verdict.Waiting waiting) {
        record(clone, waitingStatus(clone, null, waiting.reason(), waiting.message()), now);
        return recheckLater();
      }
      Validator.Verdict.Placed placed = (Validator.Verdict.Placed) verdict;
      node = placed.node();
      List<VolumeClone> all = context.getPrimaryCache().list().toList();
      Optional<Admission.Wait> wait = admission.tryAdmit(clone, node, placed.sides(), all);
      if (wait.isPresent()) {
        record(clone, waitingStatus(clone, node, wait.get().reason(), wait.get().message()), now);
        return recheckLater();
      }
      try {
        pod =
            createPod(
                new AgentPodFactory.Plan(clone, node, placed.attachments(), placed.byScheduler()),
                context);
      } catch (RuntimeException e) {
        admission.release(clone);
        throw e;
      }
      events.normal(
          clone,
          "AgentCreated",
          placed.byScheduler()
              ? "created agent Pod "
                  + pod.getMetadata().getName()
                  + "; kube-scheduler places it where its claims can be used"
                  + (node == null ? "" : " (on node " + node + ", from spec.nodeName)")
              : "started agent Pod " + pod.getMetadata().getName() + " on node " + node);
    } else {
      if (pod != null && pod.getSpec().getNodeName() != null) {
        node = pod.getSpec().getNodeName(); // where the scheduler bound it, or spec.nodeName
      }
      if (pod == null) {
        pod = recreatePod(clone, node, context);
      } else if (pod.getMetadata().getDeletionTimestamp() == null && rejected(pod)) {
        return backOffRejected(clone, pod, node, now);
      } else if (pod.getMetadata().getDeletionTimestamp() == null && lostNode(pod)) {
        // Not the agent's failure: the Pod lost its place. Remove it; the next round recreates it.
        events.warning(
            clone,
            "AgentLost",
            "agent Pod "
                + pod.getMetadata().getName()
                + " on node "
                + node
                + " ended with "
                + pod.getStatus().getReason()
                + "; starting a new one, which resumes from the metadata");
        client.pods().resource(pod).delete();
        return recheckSoon();
      } else if (succeededWithoutCutover(clone, pod)) {
        VolumeClone fresh =
            client
                .resources(VolumeClone.class)
                .inNamespace(clone.getMetadata().getNamespace())
                .withName(clone.getMetadata().getName())
                .get();
        if (fresh != null && !succeededWithoutCutover(fresh, pod)) {
          clone = fresh; // the agent's last report had not reached the cache yet
        } else {
          int run = rerunsWithoutCutover.merge(clone.getMetadata().getUid(), 1, Integer::sum);
          if (run <= MAX_RERUNS_WITHOUT_CUTOVER) {
            events.warning(
                clone,
                "AgentExitedWithoutCutOver",
                "agent Pod "
                    + pod.getMetadata().getName()
                    + " exited 0 but the VolumeClone does not report CutOver=True; starting the"
                    + " agent again (run "
                    + run
                    + " of "
                    + MAX_RERUNS_WITHOUT_CUTOVER
                    + "), it reports from the metadata");
            client.pods().resource(pod).delete();
            return recheckSoon();
          }
        }
      }
    }

    if ("Running".equals(pod.getStatus() == null ? null : pod.getStatus().getPhase())) {
      rejections.remove(clone.getMetadata().getUid());
    }
    StatusWriter.Desired desired = runningStatus(clone, node, pod);
    record(clone, desired, now);
    if (desired.phase() == Phase.Failed) {
      stopAgent(clone, pod, desired.message());
    }
    if (desired.phase().isFinished()) {
      release(clone, context);
      return ttl(clone, now, now)
          .map(d -> UpdateControl.<VolumeClone>noUpdate().rescheduleAfter(d))
          .orElse(UpdateControl.noUpdate());
    }
    return UpdateControl.noUpdate();
  }

  @Override
  public DeleteControl cleanup(VolumeClone clone, Context<VolumeClone> context) {
    dropLegacyFinalizer(clone);
    String namespace = clone.getMetadata().getNamespace();
    String podName = AgentPodFactory.podName(clone.getMetadata().getName());
    Pod pod = client.pods().inNamespace(namespace).withName(podName).get();
    boolean leftBehind = false;
    if (pod != null && ownedBy(pod, clone) && pod.getMetadata().getDeletionTimestamp() != null) {
      Optional<Duration> wait = stuckTermination(pod, clock.instant());
      if (wait.isPresent()) {
        return DeleteControl.noFinalizerRemoval().rescheduleAfter(wait.get());
      }
      events.warning(clone, "AgentLeftBehind", leftBehind(clone, pod));
      leftBehind = true;
    } else if (pod != null && ownedBy(pod, clone)) {
      Duration grace = options.get(OperatorOptions.AGENT_STOP_GRACE_PERIOD);
      events.normal(
          clone,
          "Stopping",
          "VolumeClone deleted: stopping agent Pod "
              + podName
              + " (grace period "
              + grace.toSeconds()
              + "s) so it commits its metadata; no device data is deleted");
      client
          .pods()
          .inNamespace(namespace)
          .withName(podName)
          .withGracePeriod(grace.toSeconds())
          .delete();
      return DeleteControl.noFinalizerRemoval().rescheduleAfter(STOP_POLL);
    }
    if (!leftBehind && ownsDefaultMetadataOnANode(clone)) {
      Optional<Duration> wait = forgetMetadata(clone);
      if (wait.isPresent()) {
        return DeleteControl.noFinalizerRemoval().rescheduleAfter(wait.get());
      }
    }
    release(clone, context);
    legacyFinalizerChecked.remove(clone.getMetadata().getUid()); // the clone goes: forget it
    if (!leftBehind) {
      events.normal(clone, "Released", "agent stopped; the VolumeClone is removed");
    }
    return DeleteControl.defaultDelete();
  }

  /** A completed clone whose metadata is the default file, on the node the status names. */
  private static boolean ownsDefaultMetadataOnANode(VolumeClone clone) {
    return clone.getStatus() != null
        && clone.getStatus().getPhase() == Phase.Completed
        && clone.getStatus().getNodeName() != null
        && clone.getSpec() != null
        && clone.getSpec().getMetadata() == null;
  }

  /**
   * Removes a completed clone's default metadata file at its deletion: it only records that every
   * region was copied, and left on the node it would make a new clone of the same name refuse to
   * start (it is bound to this clone's uid). Only the node has the file, so a short Pod runs {@code
   * volume-clone forget} there; it removes nothing but this clone's cut-over file. Returns how long
   * to wait for that Pod, or empty when it is done, failed (a Warning says so and what is left) or
   * did not finish within {@code agent.deletionTimeout} (its node may be gone).
   */
  private Optional<Duration> forgetMetadata(VolumeClone clone) {
    String namespace = clone.getMetadata().getNamespace();
    String node = clone.getStatus().getNodeName();
    String file =
        AgentPaths.stateDirectory(
                options.get(OperatorOptions.AGENT_STATE_DIRECTORY),
                namespace,
                clone.getMetadata().getName())
            + "/"
            + AgentPaths.METADATA_FILE;
    var resource =
        client
            .pods()
            .inNamespace(namespace)
            .withName(AgentPodFactory.forgetPodName(clone.getMetadata().getName()));
    Pod pod = resource.get();
    if (pod == null || !ownedBy(pod, clone)) {
      try {
        client.pods().resource(pods.forgetPod(clone, node)).create();
      } catch (KubernetesClientException e) {
        if (e.getCode() != 409) {
          throw e;
        }
      }
      events.normal(
          clone,
          "RemovingMetadata",
          "the clone completed: removing its default metadata file " + file + " on node " + node);
      return Optional.of(STOP_POLL);
    }
    String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
    String podName = pod.getMetadata().getName();
    if ("Succeeded".equals(phase)) {
      events.normal(
          clone,
          "MetadataRemoved",
          "removed the default metadata file " + file + " on node " + node);
    } else if ("Failed".equals(phase)) {
      events.warning(
          clone,
          "MetadataLeftBehind",
          "Pod "
              + podName
              + " could not remove the default metadata file "
              + file
              + " on node "
              + node
              + ": "
              + why(pod)
              + "; the file stays (remove it by hand once no clone of this name runs there)");
    } else {
      Instant created;
      try {
        created = Instant.parse(pod.getMetadata().getCreationTimestamp());
      } catch (RuntimeException e) {
        created = clock.instant();
      }
      Duration timeout = options.get(OperatorOptions.AGENT_DELETION_TIMEOUT);
      if (clock.instant().isBefore(created.plus(timeout))) {
        return Optional.of(STOP_POLL);
      }
      events.warning(
          clone,
          "MetadataLeftBehind",
          "Pod "
              + podName
              + " did not remove the default metadata file "
              + file
              + " within agent.deletionTimeout ("
              + Durations.format(timeout)
              + "); node "
              + node
              + " is "
              + nodeState(node)
              + ". The file stays on that node");
    }
    resource.withGracePeriod(0).delete();
    return Optional.empty();
  }

  /**
   * How much longer to wait for an agent Pod that is terminating, or empty once it is overdue. The
   * Pod's deletionTimestamp is when its grace period ends; past that the kubelet has killed the
   * process, unless the kubelet itself is gone (node lost, NotReady, deleted). Waiting for it
   * forever would keep the VolumeClone, and every namespace deletion with it, forever.
   */
  private Optional<Duration> stuckTermination(Pod pod, Instant now) {
    Instant deadline;
    try {
      deadline =
          Instant.parse(pod.getMetadata().getDeletionTimestamp())
              .plus(options.get(OperatorOptions.AGENT_DELETION_TIMEOUT));
    } catch (DateTimeParseException e) {
      return Optional.of(STOP_POLL);
    }
    Duration left = Duration.between(now, deadline);
    if (left.isNegative() || left.isZero()) {
      return Optional.empty();
    }
    return Optional.of(left.compareTo(STOP_POLL) < 0 ? left : STOP_POLL);
  }

  /** The Warning of a deletion that gave up waiting for the agent Pod: what is left, and where. */
  private String leftBehind(VolumeClone clone, Pod pod) {
    String namespace = clone.getMetadata().getNamespace();
    String podName = pod.getMetadata().getName();
    String node = pod.getSpec() == null ? null : pod.getSpec().getNodeName();
    if (node == null && clone.getStatus() != null) {
      node = clone.getStatus().getNodeName();
    }
    String stateDirectory =
        AgentPaths.stateDirectory(
            options.get(OperatorOptions.AGENT_STATE_DIRECTORY),
            namespace,
            clone.getMetadata().getName());
    List<String> held = new ArrayList<>();
    boolean metadataGiven = false;
    for (Side side : Side.of(clone)) {
      held.add(side.role().volumeName + " " + side.describe());
      metadataGiven |= side.role() == AgentPodFactory.Role.METADATA;
    }
    if (!metadataGiven) {
      held.add("metadata file " + stateDirectory + "/" + AgentPaths.METADATA_FILE);
    }
    Duration grace = options.get(OperatorOptions.AGENT_STOP_GRACE_PERIOD);
    Duration timeout = options.get(OperatorOptions.AGENT_DELETION_TIMEOUT);
    return "agent Pod "
        + podName
        + " did not terminate within its grace period ("
        + grace.toSeconds()
        + "s) plus agent.deletionTimeout ("
        + Durations.format(timeout)
        + ")"
        + (node == null ? "" : "; node " + node + " is " + nodeState(node))
        + ". Removing the VolumeClone anyway. Left behind: Pod "
        + podName
        + " (Terminating until the node's kubelet finishes it; once the node is known to be"
        + " down: kubectl -n "
        + namespace
        + " delete pod "
        + podName
        + " --force --grace-period=0)"
        + (node == null
            ? ""
            : "; on node "
                + node
                + " its agent may still hold "
                + String.join(", ", held)
                + " and the state directory "
                + stateDirectory)
        + ". No device data was deleted; the metadata keeps what was copied";
  }

  private String nodeState(String nodeName) {
    Node node;
    try {
      node = client.nodes().withName(nodeName).get();
    } catch (KubernetesClientException e) {
      return "unknown (" + e.getMessage() + ")";
    }
    if (node == null) {
      return "gone (its Node object is deleted)";
    }
    var ready =
        node.getStatus() == null || node.getStatus().getConditions() == null
            ? Optional.<NodeCondition>empty()
            : node.getStatus().getConditions().stream()
                .filter(c -> "Ready".equals(c.getType()))
                .findFirst();
    if (ready.isEmpty()) {
      return "without a Ready condition";
    }
    NodeCondition c = ready.get();
    if ("True".equals(c.getStatus())) {
      return "Ready, yet its kubelet did not finish the Pod";
    }
    return "NotReady (Ready="
        + c.getStatus()
        + (c.getReason() == null ? "" : ", " + c.getReason())
        + (c.getLastTransitionTime() == null ? "" : ", since " + c.getLastTransitionTime())
        + ")";
  }

  // ---- phases ---------------------------------------------------------------------------------

  private UpdateControl<VolumeClone> finished(
      VolumeClone clone, Context<VolumeClone> context, Instant now) {
    release(clone, context);
    VolumeCloneStatus status = clone.getStatus();
    boolean completed = status.getPhase() == Phase.Completed;
    StatusWriter.Desired desired;
    if (completed) {
      desired = completedStatus(clone, status.getNodeName(), status.getAgentPod());
    } else {
      var stalled = status.condition(ConditionTypes.STALLED);
      desired =
          failedStatus(
              clone,
              status.getNodeName(),
              status.getAgentPod(),
              stalled.map(Condition::getReason).orElse("AgentFailed"),
              stalled.map(Condition::getMessage).orElse(status.getMessage()));
      // A crash between recording Failed and removing the Pod must not leave it restarting.
      stopAgent(clone, context.getSecondaryResource(Pod.class).orElse(null), desired.message());
    }
    StatusWriter.Written written = record(clone, desired, now);
    VolumeClone current = written.resource() == null ? clone : written.resource();
    Optional<Duration> remaining = ttl(current, finishedAt(current, now), now);
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

  /** Time left before a finished clone is deleted; zero when due; empty when there is no TTL. */
  private Optional<Duration> ttl(VolumeClone clone, Instant finishedAt, Instant now) {
    Long ttl = clone.getSpec() == null ? null : clone.getSpec().getTtlSecondsAfterFinished();
    if (ttl == null) {
      return Optional.empty();
    }
    Duration left = Duration.between(now, finishedAt.plusSeconds(ttl));
    return Optional.of(left.isNegative() ? Duration.ZERO : left);
  }

  private static Instant finishedAt(VolumeClone clone, Instant fallback) {
    String at = clone.getStatus() == null ? null : clone.getStatus().getCompletionTime();
    if (at == null) {
      return fallback;
    }
    try {
      return Instant.parse(at);
    } catch (DateTimeParseException e) {
      return fallback;
    }
  }

  private StatusWriter.Desired runningStatus(VolumeClone clone, String node, Pod pod) {
    VolumeCloneStatus status = clone.getStatus();
    VolumeCloneStatus reported = status == null ? new VolumeCloneStatus() : status;
    String podName = pod.getMetadata().getName();
    String podPhase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
    if (reported.isTrue(ConditionTypes.CUT_OVER)) {
      return completedStatus(clone, node, podName);
    }
    Optional<AgentFailure> permanent = permanentFailure(reported, pod);
    if (permanent.isPresent()) {
      return failedStatus(
          clone, node, podName, permanent.get().reason(), permanent.get().message());
    }
    if ("Succeeded".equals(podPhase)) {
      return failedStatus(
          clone,
          node,
          podName,
          "AgentExitedWithoutCutOver",
          "agent Pod "
              + podName
              + " exited 0 "
              + (MAX_RERUNS_WITHOUT_CUTOVER + 1)
              + " times without reporting CutOver=True. Check that the agent's service account"
              + " may update volumeclones/status; `volume-clone status --metadata` on node "
              + node
              + " shows whether the copy is complete");
    }
    if ("Failed".equals(podPhase) && !lostNode(pod) && !rejected(pod)) {
      return failedStatus(
          clone, node, podName, "AgentFailed", "agent Pod " + podName + " failed: " + why(pod));
    }
    if (reported.isTrue(ConditionTypes.COPIED)) {
      boolean manual = clone.getSpec().cutoverOrDefault() == CutoverMode.Manual;
      String message =
          manual && !clone.getSpec().cutoverApprovedOrDefault()
              ? "every region is copied; set spec.cutoverApproved: true to cut over"
              : "every region is copied; cutting over";
      return progressing(clone, Phase.Copied, "AwaitingCutover", message, node, podName);
    }
    boolean running =
        "Running".equals(podPhase)
            || reported.condition(ConditionTypes.AVAILABLE).isPresent()
            || (status != null && status.getProgress() != null);
    if (running) {
      return progressing(
          clone,
          Phase.Copying,
          "Copying",
          "copying on node " + node + " by " + podName,
          node,
          podName);
    }
    if (pod.getSpec().getNodeName() == null) {
      String unschedulable =
          pod.getStatus() == null || pod.getStatus().getConditions() == null
              ? null
              : pod.getStatus().getConditions().stream()
                  .filter(c -> "PodScheduled".equals(c.getType()) && "False".equals(c.getStatus()))
                  .map(c -> c.getReason() + ": " + c.getMessage())
                  .findFirst()
                  .orElse(null);
      return progressing(
          clone,
          Phase.Pending,
          "AgentScheduling",
          "waiting for kube-scheduler to place agent Pod "
              + podName
              + " on a node where its claims can be used"
              + (unschedulable == null ? "" : " (" + unschedulable + ")"),
          node,
          podName);
    }
    return progressing(
        clone,
        Phase.Pending,
        "AgentStarting",
        "waiting for agent Pod " + podName + " to start on node " + node,
        node,
        podName);
  }

  private StatusWriter.Desired progressing(
      VolumeClone clone, Phase phase, String reason, String message, String node, String podName) {
    return desired(
        clone,
        phase,
        message,
        node,
        podName,
        kstatus(Kstatus.IN_PROGRESS, reason, message),
        true,
        false);
  }

  private StatusWriter.Desired completedStatus(VolumeClone clone, String node, String podName) {
    String message = "every region is copied and the clone is cut over";
    return desired(
        clone,
        Phase.Completed,
        message,
        node,
        podName,
        kstatus(Kstatus.CURRENT, "Completed", message),
        true,
        true);
  }

  private StatusWriter.Desired failedStatus(
      VolumeClone clone, String node, String podName, String reason, String message) {
    return desired(
        clone,
        Phase.Failed,
        message,
        node,
        podName,
        kstatus(Kstatus.STALLED, reason, message),
        true,
        true);
  }

  /** Why the agent gave up for good, as it reported it or as its exit code says. */
  record AgentFailure(String reason, String message) {}

  static Optional<AgentFailure> permanentFailure(VolumeCloneStatus status, Pod pod) {
    var degraded =
        status
            .condition(ConditionTypes.DEGRADED)
            .filter(c -> ConditionTypes.TRUE.equals(c.getStatus()))
            .filter(c -> AgentFailures.permanent(c.getReason()));
    if (degraded.isPresent()) {
      String reason = degraded.get().getReason();
      String message = degraded.get().getMessage();
      return Optional.of(
          new AgentFailure(
              reason,
              message == null || message.isBlank()
                  ? "the agent reported " + reason + " without a message; its log says why"
                  : message));
    }
    if (pod == null || pod.getStatus() == null || pod.getStatus().getContainerStatuses() == null) {
      return Optional.empty();
    }
    for (ContainerStatus cs : pod.getStatus().getContainerStatuses()) {
      for (var state :
          new io.fabric8.kubernetes.api.model.ContainerState[] {cs.getState(), cs.getLastState()}) {
        ContainerStateTerminated t = state == null ? null : state.getTerminated();
        if (t != null
            && t.getExitCode() != null
            && t.getExitCode() == AgentFailures.EXIT_PERMANENT) {
          return Optional.of(
              new AgentFailure(
                  "AgentFailedPermanently",
                  "agent Pod "
                      + pod.getMetadata().getName()
                      + " exited with code "
                      + AgentFailures.EXIT_PERMANENT
                      + " (a failure that running again cannot cure)"
                      + (t.getMessage() == null || t.getMessage().isBlank()
                          ? ""
                          : ": " + t.getMessage().strip())
                      + "; its report did not reach the VolumeClone, the Pod's log says why"));
        }
      }
    }
    return Optional.empty();
  }

  private static boolean succeededWithoutCutover(VolumeClone clone, Pod pod) {
    return pod.getStatus() != null
        && "Succeeded".equals(pod.getStatus().getPhase())
        && !(clone.getStatus() != null && clone.getStatus().isTrue(ConditionTypes.CUT_OVER));
  }

  /**
   * Removes the agent Pod of a failed clone unless it already ended: under restartPolicy OnFailure
   * the kubelet would run it again and again. A terminal Pod is kept for its log.
   */
  private void stopAgent(VolumeClone clone, Pod pod, String why) {
    if (pod == null || pod.getMetadata().getDeletionTimestamp() != null || !ownedBy(pod, clone)) {
      return;
    }
    String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
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

  private StatusWriter.Desired refusedStatus(VolumeClone clone, Validator.Verdict.Refused refused) {
    return desired(
        clone,
        Phase.Pending,
        refused.message(),
        null,
        null,
        kstatus(Kstatus.STALLED, refused.reason(), refused.message()),
        false,
        false);
  }

  private StatusWriter.Desired waitingStatus(
      VolumeClone clone, String node, String reason, String message) {
    return desired(
        clone,
        Phase.Pending,
        message,
        node,
        null,
        kstatus(Kstatus.IN_PROGRESS, reason, message),
        false,
        false);
  }

  private static StatusWriter.Desired desired(
      VolumeClone clone,
      Phase phase,
      String message,
      String node,
      String podName,
      List<ConditionSet.Wanted> conditions,
      boolean started,
      boolean finished) {
    var spec = clone.getSpec();
    return new StatusWriter.Desired(
        phase,
        message,
        spec == null || spec.getSource() == null ? null : spec.getSource().describe(),
        spec == null || spec.getDestination() == null ? null : spec.getDestination().describe(),
        node,
        podName,
        clone.getMetadata().getGeneration(),
        conditions,
        started,
        finished);
  }

  /** kstatus's three states of a resource, as its Ready, Reconciling and Stalled conditions. */
  enum Kstatus {
    /** Reconciling: the clone is on its way (waiting or copying). */
    IN_PROGRESS,
    /** Ready: complete and cut over. */
    CURRENT,
    /** Stalled: refused or failed; the message says what to change. */
    STALLED
  }

  /**
   * The operator's three conditions for one kstatus state, with one reason and message: exactly one
   * of Ready, Reconciling and Stalled is True.
   */
  static List<ConditionSet.Wanted> kstatus(Kstatus state, String reason, String message) {
    return List.of(
        new ConditionSet.Wanted(ConditionTypes.READY, state == Kstatus.CURRENT, reason, message),
        new ConditionSet.Wanted(
            ConditionTypes.RECONCILING, state == Kstatus.IN_PROGRESS, reason, message),
        new ConditionSet.Wanted(
            ConditionTypes.STALLED,
            state == Kstatus.STALLED,
            reason,
            state == Kstatus.IN_PROGRESS ? "not stuck: " + message : message));
  }

  /** Writes the status and, when it really changed, tells the user through Events. */
  private StatusWriter.Written record(
      VolumeClone clone, StatusWriter.Desired desired, Instant now) {
    StatusWriter.Written written = statusWriter.write(clone, desired, now);
    if (!written.wrote()) {
      return written;
    }
    VolumeCloneStatus before = written.before();
    Phase priorPhase = before == null ? null : before.getPhase();
    if (priorPhase != desired.phase()) {
      if (desired.phase() == Phase.Failed) {
        String reason =
            desired.conditions().stream()
                .filter(c -> c.type().equals(ConditionTypes.STALLED))
                .map(ConditionSet.Wanted::reason)
                .findFirst()
                .orElse("AgentFailed");
        events.warning(clone, "Failed", reason + ": " + desired.message());
      } else {
        events.normal(clone, desired.phase().name(), desired.message());
      }
    }
    var stalled =
        desired.conditions().stream()
            .filter(c -> c.type().equals(ConditionTypes.STALLED) && c.status())
            .findFirst();
    if (stalled.isPresent() && desired.phase() != Phase.Failed) {
      var old =
          before == null ? Optional.<Condition>empty() : before.condition(ConditionTypes.STALLED);
      boolean same =
          old.isPresent()
              && ConditionTypes.TRUE.equals(old.get().getStatus())
              && stalled.get().reason().equals(old.get().getReason())
              && stalled.get().message().equals(old.get().getMessage());
      if (!same) {
        events.warning(clone, stalled.get().reason(), stalled.get().message());
      }
    }
    return written;
  }

  // ---- the agent Pod --------------------------------------------------------------------------

  private Pod createPod(AgentPodFactory.Plan plan, Context<VolumeClone> context) {
    Pod pod = pods.build(plan);
    Pod created;
    try {
      created = client.pods().resource(pod).create();
    } catch (KubernetesClientException e) {
      if (e.getCode() != 409) {
        throw e;
      }
      created =
          client
              .pods()
              .inNamespace(pod.getMetadata().getNamespace())
              .withName(pod.getMetadata().getName())
              .get();
      if (created == null) {
        throw e;
      }
    }
    rememberCreated(context, created);
    return created;
  }

  private Pod recreatePod(VolumeClone clone, String node, Context<VolumeClone> context) {
    String name = AgentPodFactory.podName(clone.getMetadata().getName());
    // The informer may simply not have seen our own create yet: ask the server before acting.
    Pod existing =
        client.pods().inNamespace(clone.getMetadata().getNamespace()).withName(name).get();
    if (existing != null) {
      return existing;
    }
    List<Side> sides = Side.of(clone);
    boolean byScheduler = Side.claimsOnly(sides);
    // A scheduler-placed clone may go to another node (one whose kubelet admits it); only
    // spec.nodeName binds it. The default metadata file then starts afresh there.
    String placement = byScheduler ? clone.getSpec().getNodeName() : node;
    Pod pod =
        createPod(
            new AgentPodFactory.Plan(clone, placement, Side.attachments(sides), byScheduler),
            context);
    events.warning(
        clone,
        "AgentRecreated",
        "agent Pod "
            + name
            + " disappeared before the clone finished; started a new one "
            + (byScheduler && placement == null
                ? "for kube-scheduler to place"
                : "on node " + placement)
            + ", which resumes from the metadata");
    return pod;
  }

  @SuppressWarnings("unchecked")
  private static void rememberCreated(Context<VolumeClone> context, Pod pod) {
    try {
      var retriever = context.eventSourceRetriever();
      if (retriever == null) {
        return;
      }
      var source = retriever.getEventSourceFor(Pod.class);
      if (source instanceof InformerEventSource<?, ?> informer) {
        ((InformerEventSource<Pod, VolumeClone>) informer)
            .handleRecentResourceCreate(ResourceID.fromResource(pod), pod);
      }
    } catch (RuntimeException e) {
      LOG.debug("could not put the new agent Pod into the informer cache", e);
    }
  }

  /** A Pod the kubelet refused to admit: Failed with OutOfcpu, OutOfmemory, NodeAffinity, ... */
  static boolean rejected(Pod pod) {
    if (pod.getStatus() == null || !"Failed".equals(pod.getStatus().getPhase())) {
      return false;
    }
    String reason = pod.getStatus().getReason();
    return reason != null && (reason.startsWith("OutOf") || REJECTION_REASONS.contains(reason));
  }

  /**
   * The wait before the {@code count}-th new Pod after rejections: 10 s, 20 s, ... at most 5 min.
   */
  static Duration rejectionBackoff(int count) {
    Duration wait = REJECTION_BACKOFF;
    for (int i = 1; i < count && wait.compareTo(REJECTION_BACKOFF_LIMIT) < 0; i++) {
      wait = wait.multipliedBy(2);
    }
    return wait.compareTo(REJECTION_BACKOFF_LIMIT) > 0 ? REJECTION_BACKOFF_LIMIT : wait;
  }

  /**
   * A node refused the agent Pod (not enough CPU or memory by the kubelet's count, labels that no
   * longer match): not the clone's failure and not a lost node. The rejected Pod stays for people
   * to see until the back-off ends; then it is removed and the next round creates a new one, which
   * the scheduler places again. Never a loop of Pods: each rejection doubles the wait.
   */
  private UpdateControl<VolumeClone> backOffRejected(
      VolumeClone clone, Pod pod, String node, Instant now) {
    String podUid = pod.getMetadata().getUid();
    Rejection before = rejections.get(clone.getMetadata().getUid());
    Rejection rejection = before;
    if (before == null || !before.podUid().equals(podUid)) {
      int count = before == null ? 1 : before.count() + 1;
      rejection = new Rejection(podUid, count, now.plus(rejectionBackoff(count)));
      rejections.put(clone.getMetadata().getUid(), rejection);
    }
    String podName = pod.getMetadata().getName();
    Duration left = Duration.between(now, rejection.retryAt());
    String message =
        "node "
            + node
            + " rejected agent Pod "
            + podName
            + ": "
            + why(pod)
            + ". Not the clone's failure: a new agent Pod is created "
            + (left.isNegative() || left.isZero()
                ? "now"
                : "in " + Durations.format(left) + " (at " + rejection.retryAt() + ")")
            + ", rejection "
            + rejection.count()
            + "; the wait doubles with each rejection, up to "
            + Durations.format(REJECTION_BACKOFF_LIMIT);
    if (before == null || !before.podUid().equals(podUid)) {
      events.warning(clone, "AgentRejected", message);
    }
    if (!now.isBefore(rejection.retryAt())) {
      client.pods().resource(pod).delete();
      return recheckSoon();
    }
    record(clone, progressing(clone, Phase.Pending, "AgentRejected", message, node, podName), now);
    return UpdateControl.<VolumeClone>noUpdate().rescheduleAfter(left);
  }

  private static boolean lostNode(Pod pod) {
    return pod.getStatus() != null
        && "Failed".equals(pod.getStatus().getPhase())
        && pod.getStatus().getReason() != null
        && NODE_LOSS_REASONS.contains(pod.getStatus().getReason());
  }

  private static String why(Pod pod) {
    List<String> parts = new ArrayList<>();
    if (pod.getStatus().getReason() != null) {
      parts.add(pod.getStatus().getReason());
    }
    if (pod.getStatus().getMessage() != null) {
      parts.add(pod.getStatus().getMessage());
    }
    if (pod.getStatus().getContainerStatuses() != null) {
      for (ContainerStatus cs : pod.getStatus().getContainerStatuses()) {
        ContainerStateTerminated t = cs.getState() == null ? null : cs.getState().getTerminated();
        if (t != null) {
          parts.add(
              "container "
                  + cs.getName()
                  + " exited with code "
                  + t.getExitCode()
                  + (t.getMessage() == null ? "" : ": " + t.getMessage().strip()));
        }
      }
    }
    return parts.isEmpty() ? "no reason given" : String.join("; ", parts);
  }

  private static boolean ownedBy(Pod pod, VolumeClone clone) {
    return pod.getMetadata().getOwnerReferences() != null
        && pod.getMetadata().getOwnerReferences().stream()
            .anyMatch(o -> clone.getMetadata().getUid().equals(o.getUid()));
  }

  // ---- claims ---------------------------------------------------------------------------------

  private static List<String> claims(VolumeClone clone) {
    return Side.of(clone).stream().map(Side::claim).filter(Objects::nonNull).toList();
  }

  /** Releases the clone's slot and forgets its counters. */
  private void release(VolumeClone clone, Context<VolumeClone> context) {
    admission.release(clone);
    String uid = clone.getMetadata().getUid();
    rerunsWithoutCutover.remove(uid);
    rejections.remove(uid);
  }

  /**
   * The upgrade path from releases that put {@value LegacyClaimFinalizer#FINALIZER} on claims: once
   * per clone and operator process, whatever the clone's state, so that no claim keeps it.
   */
  private void dropLegacyFinalizer(VolumeClone clone) {
    List<String> mine = claims(clone);
    if (mine.isEmpty() || !legacyFinalizerChecked.add(clone.getMetadata().getUid())) {
      return;
    }
    try {
      legacyFinalizer.removeFrom(clone.getMetadata().getNamespace(), mine);
    } catch (RuntimeException e) {
      legacyFinalizerChecked.remove(clone.getMetadata().getUid()); // next round tries again
      throw e;
    }
  }

  private UpdateControl<VolumeClone> recheckLater() {
    return UpdateControl.<VolumeClone>noUpdate()
        .rescheduleAfter(options.get(OperatorOptions.RECHECK_INTERVAL));
  }

  private static UpdateControl<VolumeClone> recheckSoon() {
    return UpdateControl.<VolumeClone>noUpdate().rescheduleAfter(STOP_POLL);
  }
}
