package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.api.model.PersistentVolume;
import io.fabric8.kubernetes.api.model.PersistentVolumeBuilder;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaimBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.CloneVolume;
import io.volumeclone.api.v1alpha1.spec.VolumeMode;
import java.util.List;
import java.util.Map;

/**
 * Builds the clone volume's objects (spec.volume), pure: the claim workloads mount and the
 * PersistentVolume it is pre-bound to.
 *
 * <p>The claim names its volume from the start ({@code volumeName}, no storage class), so nothing
 * but this PersistentVolume can bind it and a Pod created early simply waits for it. The volume is
 * {@code local} on a device of one node: required node affinity to that node is how kube-scheduler
 * puts the claim's Pods there. Reclaim policy Retain: removing the volume never touches the data
 * (the destination is its permanent home). The volume is cluster-scoped, so it cannot be owned by
 * the namespaced VolumeClone; the operator deletes it with the clone and finds it by the clone's
 * uid in its name.
 */
final class CloneVolumeFactory {

  static final String COMPONENT = "volume";
  static final String HOSTNAME_LABEL = "kubernetes.io/hostname";

  private CloneVolumeFactory() {}

  /**
   * The PersistentVolume's name: one per clone, by uid, so a new clone of the same name differs.
   */
  static String volumeName(VolumeClone clone) {
    return "volume-clone-" + clone.getMetadata().getUid();
  }

  static PersistentVolumeClaim claim(VolumeClone clone, long sizeBytes) {
    CloneVolume volume = clone.getSpec().getVolume();
    return new PersistentVolumeClaimBuilder()
        .withNewMetadata()
        .withName(volume.getClaimName())
        .withNamespace(clone.getMetadata().getNamespace())
        .withLabels(AgentPodFactory.labels(clone.getMetadata().getName(), COMPONENT))
        .withOwnerReferences(AgentPodFactory.controller(clone, false))
        .endMetadata()
        .withNewSpec()
        .withAccessModes("ReadWriteOnce")
        .withVolumeMode(volume.modeOrDefault().name())
        .withStorageClassName("")
        .withVolumeName(volumeName(clone))
        .withNewResources()
        .withRequests(Map.of("storage", new Quantity(Long.toString(sizeBytes))))
        .endResources()
        .endSpec()
        .build();
  }

  /**
   * The PersistentVolume on {@code devicePath} of the node whose {@value #HOSTNAME_LABEL} label is
   * {@code hostname}, pre-bound to {@code claim} (its uid too, so a claim of the same name created
   * later by someone else is not taken for it).
   */
  static PersistentVolume volume(
      VolumeClone clone,
      PersistentVolumeClaim claim,
      String hostname,
      String devicePath,
      long bytes) {
    CloneVolume volume = clone.getSpec().getVolume();
    boolean filesystem = volume.modeOrDefault() == VolumeMode.Filesystem;
    return new PersistentVolumeBuilder()
        .withNewMetadata()
        .withName(volumeName(clone))
        .withLabels(AgentPodFactory.labels(clone.getMetadata().getName(), COMPONENT))
        .addToAnnotations(
            AgentPodFactory.LABEL_CLONE,
            clone.getMetadata().getNamespace() + "/" + clone.getMetadata().getName())
        .endMetadata()
        .withNewSpec()
        .withCapacity(Map.of("storage", new Quantity(Long.toString(bytes))))
        .withAccessModes("ReadWriteOnce")
        .withVolumeMode(volume.modeOrDefault().name())
        .withPersistentVolumeReclaimPolicy("Retain")
        .withStorageClassName("")
        .withNewLocal()
        .withPath(devicePath)
        .withFsType(filesystem ? volume.getFsType() : null)
        .endLocal()
        .withNewNodeAffinity()
        .withNewRequired()
        .addNewNodeSelectorTerm()
        .addNewMatchExpression()
        .withKey(HOSTNAME_LABEL)
        .withOperator("In")
        .withValues(List.of(hostname))
        .endMatchExpression()
        .endNodeSelectorTerm()
        .endRequired()
        .endNodeAffinity()
        .withClaimRef(
            new ObjectReferenceBuilder()
                .withApiVersion("v1")
                .withKind("PersistentVolumeClaim")
                .withNamespace(claim.getMetadata().getNamespace())
                .withName(claim.getMetadata().getName())
                .withUid(claim.getMetadata().getUid())
                .build())
        .endSpec()
        .build();
  }
}
