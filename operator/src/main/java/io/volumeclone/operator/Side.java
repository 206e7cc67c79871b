package io.volumeclone.operator;

import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.DeviceRef;
import io.volumeclone.api.v1alpha1.spec.PvcRef;
import io.volumeclone.api.v1alpha1.spec.VolumeCloneSpec;
import io.volumeclone.api.v1alpha1.spec.VolumeRef;
import java.util.ArrayList;
import java.util.List;

/**
 * One thing a clone opens: the source, the destination or the metadata, as a PVC of the clone's
 * namespace, a host device path, or (source only) an NBD URI. {@code field} is the spec path a user
 * edits, used in messages.
 */
public record Side(AgentPodFactory.Role role, String claim, String devicePath, String nbdUri) {

  public String field() {
    String base = "spec." + role.volumeName;
    if (claim != null) {
      return base + ".persistentVolumeClaim.claimName";
    }
    if (devicePath != null) {
      return base + ".device.path";
    }
    return base + ".nbd.uri";
  }

  /** How users see it: {@code PVC db-data}, {@code device /dev/...}, {@code nbd://...}. */
  public String describe() {
    if (claim != null) {
      return "PVC " + claim;
    }
    if (devicePath != null) {
      return "device " + devicePath;
    }
    return nbdUri;
  }

  /** Key that is equal for two sides naming the same thing (a device only on the same node). */
  public String key(String namespace, String node) {
    if (claim != null) {
      return "pvc:" + namespace + "/" + claim;
    }
    if (devicePath != null) {
      return "device:" + node + ":" + devicePath;
    }
    return "nbd:" + nbdUri;
  }

  public boolean writable() {
    return role != AgentPodFactory.Role.SOURCE;
  }

  /**
   * Whether every side is a claim (the metadata may be the default file on the node): such a clone
   * runs wherever its claims can be used, and kube-scheduler knows where that is.
   */
  public static boolean claimsOnly(List<Side> sides) {
    return !sides.isEmpty() && sides.stream().allMatch(s -> s.claim() != null);
  }

  /** What the agent Pod mounts for these sides: claims as volumeDevices, device paths by path. */
  public static List<AgentPodFactory.Attachment> attachments(List<Side> sides) {
    List<AgentPodFactory.Attachment> attachments = new ArrayList<>();
    for (Side side : sides) {
      if (side.claim() != null) {
        attachments.add(AgentPodFactory.Attachment.claim(side.role(), side.claim()));
      } else if (side.devicePath() != null) {
        attachments.add(AgentPodFactory.Attachment.device(side.role(), side.devicePath()));
      }
    }
    return attachments;
  }

  /** The sides a clone names, source first; metadata only when given. */
  public static List<Side> of(VolumeClone clone) {
    VolumeCloneSpec spec = clone.getSpec();
    List<Side> sides = new ArrayList<>();
    if (spec == null) {
      return sides;
    }
    var source = spec.getSource();
    if (source != null) {
      sides.add(
          of(
              AgentPodFactory.Role.SOURCE,
              source,
              source.getNbd() == null ? null : source.getNbd().getUri()));
    }
    if (spec.getDestination() != null) {
      sides.add(of(AgentPodFactory.Role.DESTINATION, spec.getDestination(), null));
    }
    if (spec.getMetadata() != null) {
      sides.add(of(AgentPodFactory.Role.METADATA, spec.getMetadata(), null));
    }
    return sides;
  }

  private static Side of(AgentPodFactory.Role role, VolumeRef ref, String nbdUri) {
    PvcRef claim = ref.getPersistentVolumeClaim();
    DeviceRef device = ref.getDevice();
    return new Side(
        role,
        claim == null ? null : claim.getClaimName(),
        device == null ? null : device.getPath(),
        nbdUri);
  }
}
