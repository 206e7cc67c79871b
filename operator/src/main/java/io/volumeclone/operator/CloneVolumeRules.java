package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.PersistentVolume;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.Access;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import io.volumeclone.api.v1alpha1.status.VolumeStatus;
import java.util.List;

/**
 * When the clone volume (spec.volume) gets its claim and its PersistentVolume, and what its status
 * says, decided from what was seen alone.
 *
 * <p>The claim is created as soon as the clone's size is known (the agent's first report): it names
 * its PersistentVolume, so it stays Pending, and a Pod created on it waits, until that exists. The
 * PersistentVolume is created on the clone's kernel device once the agent reports one (access
 * Immediate), or after cutover (access AfterCopy, or a node without a kernel device: reason
 * NoKernelAttach) on what then holds the data: the kernel device, which now maps the destination,
 * or else the destination itself (its device path, or the path of the local volume its claim is
 * bound to). A destination claim on any other kind of volume cannot be published again on the node;
 * the status then says to mount the destination claim.
 */
final class CloneVolumeRules {

  private CloneVolumeRules() {}

  /**
   * One round's view of a clone's volume.
   *
   * @param node the clone's node, or null while unknown
   * @param claim the claim of spec.volume.claimName, or null
   * @param volume the clone's PersistentVolume, or null
   * @param destinationPath the destination's path on the node, or null when it has none
   * @param destinationWhy why the destination has no path (for the message), or null
   * @param consumers the Pods (namespace/name) that use the claim and have not ended
   */
  record Seen(
      VolumeClone volumeClone,
      String node,
      PersistentVolumeClaim claim,
      PersistentVolume volume,
      String destinationPath,
      String destinationWhy,
      List<String> consumers) {}

  /**
   * What to do: create the claim, create the PersistentVolume on {@code devicePath} (null: not
   * now), and the status to show.
   */
  record Plan(boolean createClaim, String devicePath, VolumeStatus status) {

    /** The claim names a volume that is there and is not bound yet: binding follows shortly. */
    boolean bindingPending() {
      return status.getPersistentVolumeName() != null && !Boolean.TRUE.equals(status.getBound());
    }
  }

  static Plan next(Seen seen) {
    VolumeClone clone = seen.volumeClone();
    VolumeCloneStatus status =
        clone.getStatus() == null ? new VolumeCloneStatus() : clone.getStatus();
    String claimName = clone.getSpec().getVolume().getClaimName();
    VolumeStatus out = new VolumeStatus();
    out.setClaimName(claimName);
    out.setNodeName(seen.node());
    out.setInUseBy(seen.consumers());
    PersistentVolumeClaim claim = seen.claim();
    out.setBound(
        claim != null && claim.getStatus() != null && "Bound".equals(claim.getStatus().getPhase()));

    if (claim != null && !AgentPodState.ownedBy(claim, clone)) {
      out.setBound(false);
      out.setMessage(
          "a claim "
              + claimName
              + " already exists and is not this VolumeClone's; delete it or name another claim"
              + " in spec.volume.claimName");
      return new Plan(false, null, out);
    }
    Long size = status.getProgress() == null ? null : status.getProgress().getBytesTotal();
    boolean createClaim = claim == null && size != null && status.getPhase() != Phase.Failed;
    if (claim == null && !createClaim) {
      out.setMessage(
          status.getPhase() == Phase.Failed
              ? "the clone failed; no claim is created"
              : "the claim is created once the agent reports the clone's size");
      return new Plan(false, null, out);
    }

    if (seen.volume() != null) {
      out.setPersistentVolumeName(seen.volume().getMetadata().getName());
      out.setDevicePath(
          seen.volume().getSpec().getLocal() == null
              ? null
              : seen.volume().getSpec().getLocal().getPath());
      return new Plan(createClaim, null, out);
    }
    String device = status.getExport() == null ? null : status.getExport().getDevice();
    boolean cutOver =
        status.isTrue(ConditionTypes.CUT_OVER) || status.getPhase() == Phase.Completed;
    String path = null;
    if (status.getPhase() == Phase.Failed) {
      out.setMessage("the clone failed; the claim is not bound");
    } else if (seen.node() == null) {
      out.setMessage("waiting for the clone's node");
    } else if (cutOver && device != null) {
      path = device;
    } else if (cutOver && seen.destinationPath() != null) {
      path = seen.destinationPath();
    } else if (cutOver) {
      out.setMessage(
          "the clone is cut over and its destination "
              + clone.getSpec().getDestination().describe()
              + " holds the data, but "
              + seen.destinationWhy()
              + "; mount the destination claim directly");
    } else if (clone.getSpec().accessOrDefault() == Access.Immediate && device != null) {
      path = device;
    } else if (clone.getSpec().accessOrDefault() == Access.AfterCopy) {
      out.setMessage("access is AfterCopy: the claim is bound after cutover");
    } else if (noKernelAttach(status)) {
      out.setMessage(
          "node "
              + seen.node()
              + " gives the clone no kernel device (see the Available condition); the claim is"
              + " bound after cutover, to the destination "
              + clone.getSpec().getDestination().describe());
    } else {
      out.setMessage("waiting for the agent to attach the clone as a kernel device");
    }
    if (path != null) {
      out.setPersistentVolumeName(CloneVolumeFactory.volumeName(clone));
      out.setDevicePath(path);
    }
    return new Plan(createClaim, path, out);
  }

  static boolean noKernelAttach(VolumeCloneStatus status) {
    return status
        .condition(ConditionTypes.AVAILABLE)
        .map(c -> "NoKernelAttach".equals(c.getReason()))
        .orElse(false);
  }

  /** The refusal of a deletion while Pods use the claim, or null when none does. */
  static String inUse(VolumeClone clone, List<String> consumers) {
    if (clone.getSpec() == null || clone.getSpec().getVolume() == null || consumers.isEmpty()) {
      return null;
    }
    return "clone volume "
        + clone.getSpec().getVolume().getClaimName()
        + " is in use by Pod"
        + (consumers.size() == 1 ? " " : "s ")
        + String.join(", ", consumers)
        + "; stop "
        + (consumers.size() == 1 ? "it" : "them")
        + " first";
  }
}
