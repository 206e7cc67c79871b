package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.PersistentVolume;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.DestinationRef;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import io.volumeclone.api.v1alpha1.status.VolumeStatus;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The clone volume's dependents, the claim and the PersistentVolume: observes them (and the Pods
 * that use the claim), lets {@link CloneVolumeRules} decide, creates what {@link
 * CloneVolumeFactory} builds, and writes {@code status.volume} by server-side apply as a field
 * manager of its own, {@value #FIELD_MANAGER}, so neither the operator's other status fields nor
 * the agent's are touched. Neither object is ever updated: their specs are immutable once bound.
 */
final class CloneVolumes {

  static final String FIELD_MANAGER = "volume-clone-operator-volume";

  private static final PatchContext APPLY = StatusWriter.applyAs(FIELD_MANAGER);

  private final KubernetesClient client;
  private final EventRecorder events;

  CloneVolumes(KubernetesClient client, EventRecorder events) {
    this.client = client;
    this.events = events;
  }

  /** Publishes what is due; true while a claim waits to be bound to a volume that exists. */
  boolean reconcile(VolumeClone clone) {
    if (clone.getSpec() == null || clone.getSpec().getVolume() == null) {
      return false;
    }
    CloneVolumeRules.Plan plan = CloneVolumeRules.next(observe(clone));
    PersistentVolumeClaim claim = claim(clone);
    if (plan.createClaim()) {
      claim = create(CloneVolumeFactory.claim(clone, size(clone)));
      events.normal(
          clone,
          "ClaimCreated",
          "created claim "
              + claim.getMetadata().getName()
              + " for workloads; it binds to PersistentVolume "
              + CloneVolumeFactory.volumeName(clone)
              + " once that exists");
    }
    if (plan.devicePath() != null && claim != null) {
      String node = plan.status().getNodeName();
      PersistentVolume volume =
          create(
              CloneVolumeFactory.volume(
                  clone, claim, hostname(node), plan.devicePath(), size(clone)));
      events.normal(
          clone,
          "VolumePublished",
          "created PersistentVolume "
              + volume.getMetadata().getName()
              + " on "
              + plan.devicePath()
              + " of node "
              + node
              + " for claim "
              + claim.getMetadata().getName());
    }
    write(clone, plan.status());
    return plan.bindingPending();
  }

  /** The Pods (namespace/name) that use the clone's claim and have not ended. */
  List<String> consumers(VolumeClone clone) {
    if (clone.getSpec() == null || clone.getSpec().getVolume() == null) {
      return List.of();
    }
    String claimName = clone.getSpec().getVolume().getClaimName();
    String namespace = clone.getMetadata().getNamespace();
    return client.pods().inNamespace(namespace).list().getItems().stream()
        .filter(pod -> uses(pod, claimName))
        .filter(pod -> !ended(pod))
        .map(pod -> namespace + "/" + pod.getMetadata().getName())
        .sorted()
        .toList();
  }

  /**
   * Refuses a deletion while Pods use the claim: the refusal (or null) and {@code status.volume}
   * naming them.
   */
  String refuseDeletion(VolumeClone clone) {
    List<String> consumers = consumers(clone);
    String refusal = CloneVolumeRules.inUse(clone, consumers);
    if (refusal != null) {
      VolumeStatus status =
          clone.getStatus() == null || clone.getStatus().getVolume() == null
              ? new VolumeStatus()
              : clone.getStatus().getVolume();
      VolumeStatus next = copy(status);
      next.setClaimName(clone.getSpec().getVolume().getClaimName());
      next.setInUseBy(consumers);
      write(clone, next);
    }
    return refusal;
  }

  /** Removes the claim and the PersistentVolume with the clone; the data stays on the device. */
  void remove(VolumeClone clone) {
    if (clone.getSpec() == null || clone.getSpec().getVolume() == null) {
      return;
    }
    PersistentVolumeClaim claim = claim(clone);
    if (claim != null && AgentPodState.ownedBy(claim, clone)) {
      client.resource(claim).delete();
    }
    PersistentVolume volume = volume(clone);
    if (volume != null) {
      client.resource(volume).delete();
      events.normal(
          clone,
          "VolumeRemoved",
          "removed PersistentVolume "
              + volume.getMetadata().getName()
              + " and claim "
              + clone.getSpec().getVolume().getClaimName()
              + " (reclaim policy Retain: the data stays on "
              + clone.getSpec().getDestination().describe()
              + ")");
    }
  }

  private CloneVolumeRules.Seen observe(VolumeClone clone) {
    VolumeCloneStatus status = clone.getStatus();
    String node = status == null ? null : status.getNodeName();
    if (node == null) {
      // This round may just have learnt it from the agent Pod (kube-scheduler bound it).
      Pod agent =
          client
              .pods()
              .inNamespace(clone.getMetadata().getNamespace())
              .withName(AgentPodFactory.podName(clone.getMetadata().getName()))
              .get();
      node = agent == null || agent.getSpec() == null ? null : agent.getSpec().getNodeName();
    }
    DestinationPath destination = destinationPath(clone);
    return new CloneVolumeRules.Seen(
        clone,
        node,
        claim(clone),
        volume(clone),
        destination.path(),
        destination.why(),
        consumers(clone));
  }

  private record DestinationPath(String path, String why) {}

  /** Where the destination is on its node: a device path, or the path of a local claim's volume. */
  private DestinationPath destinationPath(VolumeClone clone) {
    DestinationRef destination = clone.getSpec().getDestination();
    if (destination.getDevice() != null) {
      return new DestinationPath(destination.getDevice().getPath(), null);
    }
    String claimName = destination.getPersistentVolumeClaim().getClaimName();
    PersistentVolumeClaim claim =
        client
            .persistentVolumeClaims()
            .inNamespace(clone.getMetadata().getNamespace())
            .withName(claimName)
            .get();
    String volumeName = claim == null ? null : claim.getSpec().getVolumeName();
    PersistentVolume pv =
        volumeName == null ? null : client.persistentVolumes().withName(volumeName).get();
    if (pv == null) {
      return new DestinationPath(null, "the destination claim " + claimName + " is not bound");
    }
    if (pv.getSpec().getLocal() != null) {
      return new DestinationPath(pv.getSpec().getLocal().getPath(), null);
    }
    if (pv.getSpec().getHostPath() != null) {
      return new DestinationPath(pv.getSpec().getHostPath().getPath(), null);
    }
    return new DestinationPath(
        null,
        "its PersistentVolume "
            + volumeName
            + " is neither local nor hostPath, so it has no device path on the node");
  }

  private long size(VolumeClone clone) {
    return clone.getStatus().getProgress().getBytesTotal();
  }

  /** The node's kubernetes.io/hostname label, which node affinity matches; its name if unset. */
  private String hostname(String node) {
    Node n = client.nodes().withName(node).get();
    String label =
        n == null || n.getMetadata().getLabels() == null
            ? null
            : n.getMetadata().getLabels().get(CloneVolumeFactory.HOSTNAME_LABEL);
    return label == null ? node : label;
  }

  private PersistentVolumeClaim claim(VolumeClone clone) {
    return client
        .persistentVolumeClaims()
        .inNamespace(clone.getMetadata().getNamespace())
        .withName(clone.getSpec().getVolume().getClaimName())
        .get();
  }

  private PersistentVolume volume(VolumeClone clone) {
    return client.persistentVolumes().withName(CloneVolumeFactory.volumeName(clone)).get();
  }

  /** Creates the object; one that exists already (our own earlier create) is taken as it is. */
  private <T extends HasMetadata> T create(T desired) {
    try {
      return client.resource(desired).create();
    } catch (KubernetesClientException e) {
      if (e.getCode() != 409) {
        throw e;
      }
      return Optional.ofNullable(client.resource(desired).get()).orElseThrow(() -> e);
    }
  }

  private void write(VolumeClone clone, VolumeStatus wanted) {
    VolumeStatus current = clone.getStatus() == null ? null : clone.getStatus().getVolume();
    if (Objects.equals(current, wanted)) {
      return;
    }
    VolumeClone body = new VolumeClone();
    body.getMetadata().setNamespace(clone.getMetadata().getNamespace());
    body.getMetadata().setName(clone.getMetadata().getName());
    VolumeCloneStatus status = new VolumeCloneStatus();
    status.setVolume(wanted);
    body.setStatus(status);
    try {
      client.resource(body).subresource("status").patch(APPLY);
    } catch (KubernetesClientException e) {
      if (e.getCode() != 404) {
        throw e;
      }
    }
  }

  private static VolumeStatus copy(VolumeStatus s) {
    VolumeStatus c = new VolumeStatus();
    c.setClaimName(s.getClaimName());
    c.setPersistentVolumeName(s.getPersistentVolumeName());
    c.setDevicePath(s.getDevicePath());
    c.setNodeName(s.getNodeName());
    c.setBound(s.getBound());
    c.setInUseBy(s.getInUseBy());
    c.setMessage(s.getMessage());
    return c;
  }

  private static boolean uses(Pod pod, String claimName) {
    return pod.getSpec() != null
        && pod.getSpec().getVolumes() != null
        && pod.getSpec().getVolumes().stream()
            .anyMatch(
                v ->
                    v.getPersistentVolumeClaim() != null
                        && claimName.equals(v.getPersistentVolumeClaim().getClaimName()));
  }

  private static boolean ended(Pod pod) {
    String phase = AgentPodState.phase(pod);
    return "Succeeded".equals(phase) || "Failed".equals(phase);
  }
}
