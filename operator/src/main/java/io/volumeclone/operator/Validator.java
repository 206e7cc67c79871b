package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.NodeSelectorRequirement;
import io.fabric8.kubernetes.api.model.NodeSelectorTerm;
import io.fabric8.kubernetes.api.model.PersistentVolume;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.volumeclone.api.Sizes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.CloneRange;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The rules the CRD cannot check, because they need the cluster or the operator's settings. The
 * first rule that fails decides; its message names the field and says what to change. A {@link
 * Verdict.Refused} is permanent until the user changes something; a {@link Verdict.Waiting} clears
 * by itself (a claim that binds later).
 */
public final class Validator {

  /** The result of checking one clone. */
  public sealed interface Verdict {
    record Refused(String reason, String message) implements Verdict {}

    record Waiting(String reason, String message) implements Verdict {}

    /**
     * Where and how to run. {@code byScheduler}: the agent Pod gets no nodeName and kube-scheduler
     * places it from its claims (binding WaitForFirstConsumer claims on the way); {@code node} is
     * then only spec.nodeName (a node affinity), or null.
     */
    record Placed(
        String node,
        List<Side> sides,
        List<AgentPodFactory.Attachment> attachments,
        boolean byScheduler)
        implements Verdict {}
  }

  private final KubernetesClient client;
  private final OperatorOptions options;

  public Validator(KubernetesClient client, OperatorOptions options) {
    this.client = client;
    this.options = options;
  }

  public Verdict check(VolumeClone clone) {
    String namespace = clone.getMetadata().getNamespace();
    List<Side> sides = Side.of(clone);
    if (sides.size() < 2) {
      return new Verdict.Refused(
          "InvalidSpec", "spec.source and spec.destination are both required");
    }

    // Device paths: only under the configured prefixes, and only with privileged agents.
    List<String> prefixes = options.get(OperatorOptions.ALLOWED_DEVICE_PREFIXES);
    for (Side side : sides) {
      if (side.devicePath() != null && !allowedPath(side.devicePath(), prefixes)) {
        String why =
            prefixes.isEmpty()
                ? ": this operator allows no host device paths (allowedDevicePrefixes is empty);"
                    + " clone a PVC (volumeMode: Block) instead, or add the device's directory to"
                    + " allowedDevicePrefixes in the chart's values"
                : " is not under an allowed prefix ("
                    + String.join(", ", prefixes)
                    + "); use a stable path under one of them, or add its directory to the"
                    + " operator's allowedDevicePrefixes";
        return new Verdict.Refused(
            "DevicePathNotAllowed", side.field() + " " + side.devicePath() + why);
      }
    }
    boolean hostDevices = sides.stream().anyMatch(s -> s.devicePath() != null);
    if (hostDevices && !options.get(OperatorOptions.AGENT_PRIVILEGED)) {
      Side first = sides.stream().filter(s -> s.devicePath() != null).findFirst().orElseThrow();
      return new Verdict.Refused(
          "PrivilegedAgentRequired",
          first.field()
              + " names a host device, which only a privileged agent Pod can open; use a PVC"
              + " (volumeMode: Block) instead, or enable agent.privileged in the operator's"
              + " settings");
    }

    // Nothing may be opened twice: not by the same claim, nor by the same path.
    for (int i = 0; i < sides.size(); i++) {
      for (int j = i + 1; j < sides.size(); j++) {
        Side a = sides.get(i);
        Side b = sides.get(j);
        boolean sameClaim = a.claim() != null && a.claim().equals(b.claim());
        boolean samePath = a.devicePath() != null && a.devicePath().equals(b.devicePath());
        if (sameClaim || samePath) {
          return sameThing(a, b, "both name " + a.describe());
        }
      }
    }

    // Claims: present, Block mode, bound; their volumes say where the clone must run. A clone of
    // claims only need not wait for binding: its agent Pod is the claims' first consumer.
    boolean byScheduler = Side.claimsOnly(sides);
    Map<Side, PersistentVolumeClaim> claims = new LinkedHashMap<>();
    Map<Side, PersistentVolume> volumes = new LinkedHashMap<>();
    for (Side side : sides) {
      if (side.claim() == null) {
        continue;
      }
      PersistentVolumeClaim pvc =
          client.persistentVolumeClaims().inNamespace(namespace).withName(side.claim()).get();
      if (pvc == null) {
        return new Verdict.Refused(
            "ClaimNotFound",
            side.field()
                + ": PersistentVolumeClaim "
                + side.claim()
                + " does not exist in namespace "
                + namespace
                + "; create it (volumeMode: Block) or name an existing claim");
      }
      if (pvc.getMetadata().getDeletionTimestamp() != null) {
        return new Verdict.Refused(
            "ClaimDeleting",
            side.field() + ": PersistentVolumeClaim " + side.claim() + " is being deleted");
      }
      String mode = pvc.getSpec() == null ? null : pvc.getSpec().getVolumeMode();
      if (!"Block".equals(mode)) {
        return new Verdict.Refused(
            "ClaimNotBlockMode",
            side.field()
                + ": PersistentVolumeClaim "
                + side.claim()
                + " has volumeMode "
                + (mode == null ? "Filesystem (the default)" : mode)
                + "; volume-clone copies raw blocks and needs a claim with volumeMode: Block");
      }
      claims.put(side, pvc);
      String volumeName = pvc.getSpec().getVolumeName();
      boolean bound =
          volumeName != null
              && !volumeName.isEmpty()
              && (pvc.getStatus() == null || !"Pending".equals(pvc.getStatus().getPhase()));
      if (!bound && byScheduler) {
        continue;
      }
      if (!bound) {
        return new Verdict.Waiting(
            "ClaimNotBound",
            side.field()
                + ": PersistentVolumeClaim "
                + side.claim()
                + " is not bound to a volume yet; the clone starts once it is. The clone also"
                + " names a device path, so it runs on a fixed node and its agent Pod cannot be"
                + " the first consumer that binds a WaitForFirstConsumer claim: bind the claim"
                + " first (a Pod that uses it), or clone claims only");
      }
      PersistentVolume pv = client.persistentVolumes().withName(volumeName).get();
      if (pv != null) {
        volumes.put(side, pv);
      }
    }

    // Two claims on the same volume are the same device.
    List<Side> withVolumes = new ArrayList<>(volumes.keySet());
    for (int i = 0; i < withVolumes.size(); i++) {
      for (int j = i + 1; j < withVolumes.size(); j++) {
        Side a = withVolumes.get(i);
        Side b = withVolumes.get(j);
        String pvA = volumes.get(a).getMetadata().getName();
        if (pvA.equals(volumes.get(b).getMetadata().getName())) {
          return sameThing(a, b, "are bound to the same PersistentVolume " + pvA);
        }
      }
    }

    // Placement: spec.nodeName, or the one node local volumes require; they must agree. With
    // claims only, kube-scheduler checks the same (and zones, and capacity) when it places the Pod.
    String node = clone.getSpec().getNodeName();
    String nodeFrom = node == null ? null : "spec.nodeName";
    for (Map.Entry<Side, PersistentVolume> e : volumes.entrySet()) {
      String pinned = pinnedNode(e.getValue());
      if (pinned == null) {
        continue;
      }
      String what =
          e.getKey().describe()
              + " (PersistentVolume "
              + e.getValue().getMetadata().getName()
              + ")";
      if (node == null) {
        node = pinned;
        nodeFrom = what;
      } else if (!node.equals(pinned)) {
        return new Verdict.Refused(
            "NodeConflict",
            what
                + " can only be used on node "
                + pinned
                + " but "
                + nodeFrom
                + " requires node "
                + node
                + "; use volumes that can be reached from one node");
      }
    }
    if (node == null && !byScheduler) {
      return new Verdict.Refused(
          "NoNode",
          "no node to run on: a clone that names a device path runs on a fixed node; set"
              + " spec.nodeName (none of its claims is bound to a local volume that fixes the"
              + " node)");
    }
    if (byScheduler) {
      node = clone.getSpec().getNodeName(); // a local volume's node is the scheduler's to find
    }
    if (node != null && client.nodes().withName(node).get() == null) {
      return new Verdict.Refused(
          "NodeNotFound",
          "node "
              + node
              + " (from "
              + nodeFrom
              + ") does not exist; set spec.nodeName to an existing node");
    }

    // A local volume and a host device path may be the same disk on the same node.
    for (Map.Entry<Side, PersistentVolume> e : volumes.entrySet()) {
      PersistentVolume pv = e.getValue();
      String localPath =
          pv.getSpec() != null && pv.getSpec().getLocal() != null
              ? pv.getSpec().getLocal().getPath()
              : null;
      if (localPath == null) {
        continue;
      }
      for (Side other : sides) {
        if (localPath.equals(other.devicePath())) {
          return sameThing(
              e.getKey(),
              other,
              "are the same device: PersistentVolume "
                  + pv.getMetadata().getName()
                  + " is the local path "
                  + localPath);
        }
      }
    }

    // Sizes, where the cluster knows them; the agent checks devices itself.
    Verdict sizes = checkSizes(clone, sides, claims, volumes);
    if (sizes != null) {
      return sizes;
    }

    return new Verdict.Placed(node, sides, Side.attachments(sides), byScheduler);
  }

  private Verdict checkSizes(
      VolumeClone clone,
      List<Side> sides,
      Map<Side, PersistentVolumeClaim> claims,
      Map<Side, PersistentVolume> volumes) {
    CloneRange range = clone.getSpec().getRange();
    long sourceOffset;
    long destinationOffset;
    Long size;
    try {
      sourceOffset = range == null ? 0 : parse(range.getSourceOffset());
      destinationOffset = range == null ? 0 : parse(range.getDestinationOffset());
      size = range == null || range.getSize() == null ? null : Sizes.parseQuantity(range.getSize());
    } catch (IllegalArgumentException e) {
      return new Verdict.Refused("InvalidRange", "spec.range: " + e.getMessage());
    }
    Side source = sides.get(0);
    Side destination = sides.get(1);
    Long sourceCapacity = capacity(claims.get(source), volumes.get(source));
    Long destinationCapacity = capacity(claims.get(destination), volumes.get(destination));
    if (sourceCapacity != null) {
      long available = sourceCapacity - sourceOffset;
      if (available <= 0 || (size != null && size > available)) {
        return new Verdict.Refused(
            "RangeBeyondSource",
            "source "
                + source.describe()
                + " holds "
                + sourceCapacity
                + " bytes but spec.range asks for "
                + (size == null ? "data" : size + " bytes")
                + " from offset "
                + sourceOffset
                + "; reduce spec.range.size or spec.range.sourceOffset");
      }
      if (size == null) {
        size = available;
      }
    }
    if (size != null
        && destinationCapacity != null
        && destinationOffset + size > destinationCapacity) {
      return new Verdict.Refused(
          "DestinationTooSmall",
          "destination "
              + destination.describe()
              + " holds "
              + destinationCapacity
              + " bytes but the clone writes "
              + size
              + " bytes at offset "
              + destinationOffset
              + " (needs "
              + (destinationOffset + size)
              + "); use a destination of at least that size or a smaller spec.range.size");
    }
    return null;
  }

  /** The capacity the volume really has, else what the claim reports; null when unknown. */
  private static Long capacity(PersistentVolumeClaim pvc, PersistentVolume pv) {
    Quantity q = null;
    if (pv != null && pv.getSpec() != null && pv.getSpec().getCapacity() != null) {
      q = pv.getSpec().getCapacity().get("storage");
    }
    if (q == null
        && pvc != null
        && pvc.getStatus() != null
        && pvc.getStatus().getCapacity() != null) {
      q = pvc.getStatus().getCapacity().get("storage");
    }
    return q == null ? null : q.getNumericalAmount().longValue();
  }

  private static long parse(String value) {
    return value == null ? 0 : Sizes.parseQuantity(value);
  }

  private static Verdict sameThing(Side first, Side second, String why) {
    Side a = first.role().ordinal() <= second.role().ordinal() ? first : second;
    Side b = a == first ? second : first;
    boolean sourceAndDestination =
        a.role() == AgentPodFactory.Role.SOURCE && b.role() == AgentPodFactory.Role.DESTINATION;
    String reason = sourceAndDestination ? "SourceIsDestination" : "MetadataOverlapsData";
    return new Verdict.Refused(
        reason,
        a.field()
            + " and "
            + b.field()
            + " "
            + why
            + "; the "
            + a.role().volumeName
            + " and the "
            + b.role().volumeName
            + " must be different devices");
  }

  static boolean allowedPath(String path, List<String> prefixes) {
    // Refuse anything that could walk out of a prefix: "..", "//", relative paths.
    if (!path.startsWith("/") || !Path.of(path).normalize().toString().equals(path)) {
      return false;
    }
    return prefixes.stream().anyMatch(p -> path.startsWith(p.endsWith("/") ? p : p + "/"));
  }

  /**
   * The single node a volume can be used from, or null. Local volumes always say it through a
   * required node affinity on {@code kubernetes.io/hostname} (or {@code metadata.name}).
   */
  String pinnedNode(PersistentVolume pv) {
    if (pv.getSpec() == null
        || pv.getSpec().getNodeAffinity() == null
        || pv.getSpec().getNodeAffinity().getRequired() == null) {
      return null;
    }
    List<NodeSelectorTerm> terms =
        pv.getSpec().getNodeAffinity().getRequired().getNodeSelectorTerms();
    if (terms == null || terms.size() != 1) {
      return null; // several alternative terms: not a single node
    }
    NodeSelectorTerm term = terms.get(0);
    for (NodeSelectorRequirement r : nullSafe(term.getMatchFields())) {
      if ("metadata.name".equals(r.getKey()) && single(r)) {
        return r.getValues().get(0);
      }
    }
    for (NodeSelectorRequirement r : nullSafe(term.getMatchExpressions())) {
      if ("kubernetes.io/hostname".equals(r.getKey()) && single(r)) {
        String hostname = r.getValues().get(0);
        // The hostname label usually equals the node name; when it does not, find the node.
        var nodes = client.nodes().withLabel("kubernetes.io/hostname", hostname).list().getItems();
        if (nodes.size() == 1) {
          return nodes.get(0).getMetadata().getName();
        }
        return hostname;
      }
    }
    return null;
  }

  private static boolean single(NodeSelectorRequirement r) {
    return "In".equals(r.getOperator()) && r.getValues() != null && r.getValues().size() == 1;
  }

  private static <T> List<T> nullSafe(List<T> list) {
    return Objects.requireNonNullElse(list, List.of());
  }
}
