package io.volumeclone.operator;

import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Decides whether a valid, placed clone may start now: nothing it writes (destination, metadata) is
 * used by another clone, nothing it reads is written by one, and its node has a free slot.
 *
 * <p>A clone "holds" its devices from the moment it is admitted until it finishes or its agent is
 * gone after deletion. Admission is decided under one lock and remembered in memory, so two clones
 * reconciled at the same time cannot both take the last slot before either's status reaches the
 * cache; after a restart, {@code status.agentPod} carries the same fact.
 */
public final class Admission {

  /** Why a clone waits, or null when it may start. */
  public record Wait(String reason, String message) {}

  static final Comparator<VolumeClone> CREATION_ORDER =
      Comparator.comparing(
              (VolumeClone c) ->
                  Objects.requireNonNullElse(c.getMetadata().getCreationTimestamp(), ""))
          .thenComparing(c -> c.getMetadata().getNamespace())
          .thenComparing(c -> c.getMetadata().getName());

  private final Set<String> admitted = ConcurrentHashMap.newKeySet();
  private final int perNodeLimit;

  public Admission(int perNodeLimit) {
    this.perNodeLimit = perNodeLimit;
  }

  /** Whether this clone has been let start (in memory or, after a restart, by its status). */
  public boolean started(VolumeClone clone) {
    return admitted.contains(clone.getMetadata().getUid())
        || (clone.getStatus() != null && clone.getStatus().getAgentPod() != null);
  }

  public void release(VolumeClone clone) {
    admitted.remove(clone.getMetadata().getUid());
  }

  /**
   * Admits {@code clone} on {@code node} unless something holds one of its devices or the node is
   * full; {@code all} is every known clone (the cache), including {@code clone}.
   */
  public synchronized Optional<Wait> tryAdmit(
      VolumeClone clone, String node, List<Side> sides, Collection<VolumeClone> all) {
    String uid = clone.getMetadata().getUid();
    if (admitted.contains(uid)) {
      return Optional.empty();
    }
    String namespace = clone.getMetadata().getNamespace();
    List<VolumeClone> others = new ArrayList<>();
    for (VolumeClone other : all) {
      if (!uid.equals(other.getMetadata().getUid()) && live(other)) {
        others.add(other);
      }
    }

    for (VolumeClone other : others) {
      boolean holds = started(other);
      boolean ahead = !holds && contending(other) && CREATION_ORDER.compare(other, clone) < 0;
      if (!holds && !ahead) {
        continue;
      }
      String otherNode = nodeOf(other);
      for (Side mine : sides) {
        for (Side theirs : Side.of(other)) {
          boolean conflict = mine.writable() || theirs.writable();
          if (conflict
              && mine.nbdUri() == null
              && mine.key(namespace, node)
                  .equals(theirs.key(other.getMetadata().getNamespace(), otherNode))) {
            String reason =
                switch (mine.role()) {
                  case SOURCE -> "SourceInUse";
                  case DESTINATION -> "DestinationInUse";
                  case METADATA -> "MetadataInUse";
                };
            return Optional.of(
                new Wait(
                    reason,
                    "the "
                        + mine.role().volumeName
                        + ", "
                        + mine.describe()
                        + ", is "
                        + (holds ? "in use by" : "claimed first by")
                        + " VolumeClone "
                        + other.getMetadata().getNamespace()
                        + "/"
                        + other.getMetadata().getName()
                        + " (as its "
                        + theirs.role().volumeName
                        + "); this clone starts when that one completes or is deleted"));
          }
        }
      }
    }

    // The node's slots: clones already running first, then the waiting ones in creation order.
    // A clone kube-scheduler places has no node yet; it counts on its node once bound there.
    if (node == null) {
      admitted.add(uid);
      return Optional.empty();
    }
    List<VolumeClone> running = new ArrayList<>();
    List<VolumeClone> queue = new ArrayList<>();
    queue.add(clone);
    for (VolumeClone other : others) {
      if (!node.equals(nodeOf(other))) {
        continue;
      }
      if (started(other)) {
        running.add(other);
      } else if (contending(other)) {
        queue.add(other);
      }
    }
    queue.sort(CREATION_ORDER);
    int position = queue.indexOf(clone);
    if (running.size() + position >= perNodeLimit) {
      return Optional.of(
          new Wait(
              "Queued",
              "node "
                  + node
                  + " already runs "
                  + running.size()
                  + " of at most "
                  + perNodeLimit
                  + " clones; "
                  + (position == 0
                      ? "this clone is next"
                      : position + " queued clone(s) were created before this one")));
    }
    admitted.add(uid);
    return Optional.empty();
  }

  /** Not finished: finished clones hold nothing. Deleting clones hold until their agent is gone. */
  static boolean live(VolumeClone clone) {
    Phase phase = clone.getStatus() == null ? null : clone.getStatus().getPhase();
    return phase == null || !phase.isFinished();
  }

  /**
   * A waiting clone that will start once it gets a slot: not refused (Stalled) and not waiting for
   * a device, since those would hold a slot they cannot use.
   */
  static boolean contending(VolumeClone clone) {
    if (clone.getMetadata().getDeletionTimestamp() != null) {
      return false;
    }
    VolumeCloneStatus status = clone.getStatus();
    if (status == null) {
      return true;
    }
    if (status.isTrue(ConditionTypes.STALLED)) {
      return false;
    }
    return status
        .condition(ConditionTypes.RECONCILING)
        .map(c -> !c.getReason().endsWith("InUse") && !"ClaimNotBound".equals(c.getReason()))
        .orElse(true);
  }

  static String nodeOf(VolumeClone clone) {
    if (clone.getStatus() != null && clone.getStatus().getNodeName() != null) {
      return clone.getStatus().getNodeName();
    }
    return clone.getSpec() == null ? null : clone.getSpec().getNodeName();
  }
}
