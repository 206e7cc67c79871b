package io.volumeclone.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.PersistentVolume;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.Pod;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.VolumeStatus;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/**
 * The clone volume (spec.volume) on the real control plane. This machine's kernel has no nbd
 * module, so the agent gets no kernel device and says so (Available=False, NoKernelAttach): the
 * claim is created at once, Pending, and bound by the real kube-controller-manager to the
 * PersistentVolume the operator creates on the destination after cutover; a consumer Pod on the
 * claim waits for that and is placed on the clone's node by the real kube-scheduler through the
 * volume's node affinity; deleting the clone is refused while that Pod exists and completes once it
 * is gone, leaving the data on the destination. AfterCopy: bound only after cutover, too.
 */
class CloneVolumeIT {

  private static final int SIZE = 16 << 20;

  private static String volumeClone(
      String ns, String name, Path source, Path destination, String volume, String extra) {
    return Manifests.deviceClone(
        ns, name, source, destination, "  copy:\n    bandwidth: 2Mi\n  volume:\n" + volume + extra);
  }

  private static String consumer(String ns, String name, String claim) {
    return """
        apiVersion: v1
        kind: Pod
        metadata:
          name: %s
          namespace: %s
        spec:
          restartPolicy: Never
          terminationGracePeriodSeconds: 1
          containers:
            - name: db
              image: volume-clone-consumer
              command: [volume-clone-consumer]
              volumeDevices:
                - name: data
                  devicePath: /dev/db-data
          volumes:
            - name: data
              persistentVolumeClaim:
                claimName: %s
        """
        .formatted(name, ns, claim);
  }

  private static PersistentVolumeClaim claim(String ns, String name) {
    return E2e.client().persistentVolumeClaims().inNamespace(ns).withName(name).get();
  }

  private static PersistentVolume volume(VolumeClone clone) {
    return E2e.client()
        .persistentVolumes()
        .withName("volume-clone-" + clone.getMetadata().getUid())
        .get();
  }

  private static String sha256(Path file) throws Exception {
    return HexFormat.of()
        .formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
  }

  @Test
  void withoutKernelAttachTheClaimBindsAfterCutoverAndAConsumerHoldsBackDeletion()
      throws Exception {
    String ns = E2e.namespace("volume");
    Path source = E2e.randomDevice(ns + "-src", SIZE, 14);
    Path destination = E2e.emptyDevice(ns + "-dst", SIZE);
    String sourceDigest = sha256(source);
    E2e.apply(
        volumeClone(
            ns, "db", source, destination, "    claimName: db-data\n    mode: Block\n", ""));

    VolumeClone noKernel =
        E2e.awaitClone(
            ns, "db", "Available=False NoKernelAttach", c -> Clones.hasReason(c, "NoKernelAttach"));
    Condition available = noKernel.getStatus().condition(ConditionTypes.AVAILABLE).orElseThrow();
    assertThat(available.getStatus()).isEqualTo("False");
    assertThat(available.getMessage())
        .contains("clone volume db-data", "bound after cutover", destination.toString());

    PersistentVolumeClaim pending =
        E2e.await("claim db-data created", () -> claim(ns, "db-data"), c -> true);
    assertThat(pending.getMetadata().getOwnerReferences())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.getKind()).isEqualTo("VolumeClone");
              assertThat(o.getUid()).isEqualTo(noKernel.getMetadata().getUid());
              assertThat(o.getController()).isTrue();
            });
    assertThat(pending.getSpec().getVolumeName())
        .isEqualTo("volume-clone-" + noKernel.getMetadata().getUid());
    assertThat(pending.getSpec().getStorageClassName()).isEmpty();
    assertThat(pending.getSpec().getVolumeMode()).isEqualTo("Block");

    // A workload started now waits: its claim has no volume while the clone copies.
    E2e.apply(consumer(ns, "postgres-0", "db-data"));
    VolumeClone copying = E2e.clone(ns, "db");
    assertThat(copying.getStatus().getPhase()).isEqualTo(Phase.Copying);
    assertThat(volume(copying)).as("no PersistentVolume before cutover").isNull();
    assertThat(claim(ns, "db-data").getStatus().getPhase()).isEqualTo("Pending");
    assertThat(E2e.pod(ns, "postgres-0").getSpec().getNodeName())
        .as("kube-scheduler does not place a Pod whose claim is unbound")
        .isNull();
    assertThat(copying.getStatus().getVolume().getMessage()).contains("bound after cutover");

    VolumeClone done =
        E2e.await(
            "VolumeClone db Completed",
            () -> E2e.clone(ns, "db"),
            c -> Clones.phase(c, Phase.Completed),
            Duration.ofSeconds(120));
    PersistentVolume pv = E2e.await("the clone's PersistentVolume", () -> volume(done), v -> true);
    assertThat(pv.getSpec().getLocal().getPath())
        .as("mapping the destination directly")
        .isEqualTo(destination.toString());
    assertThat(pv.getSpec().getVolumeMode()).isEqualTo("Block");
    assertThat(pv.getSpec().getPersistentVolumeReclaimPolicy()).isEqualTo("Retain");
    assertThat(pv.getSpec().getStorageClassName())
        .as("no storage class (the API server leaves an empty one out)")
        .isNullOrEmpty();
    assertThat(pv.getSpec().getCapacity().get("storage").getNumericalAmount().longValueExact())
        .isEqualTo(SIZE);
    assertThat(
            pv.getSpec()
                .getNodeAffinity()
                .getRequired()
                .getNodeSelectorTerms()
                .get(0)
                .getMatchExpressions()
                .get(0)
                .getValues())
        .containsExactly(E2e.node());
    assertThat(pv.getSpec().getClaimRef().getName()).isEqualTo("db-data");
    assertThat(pv.getSpec().getClaimRef().getNamespace()).isEqualTo(ns);

    E2e.await(
        "kube-controller-manager binds claim db-data",
        () -> claim(ns, "db-data"),
        c -> c.getStatus() != null && "Bound".equals(c.getStatus().getPhase()));
    Pod running =
        E2e.await(
            "consumer postgres-0 Running",
            () -> E2e.pod(ns, "postgres-0"),
            p -> p.getStatus() != null && "Running".equals(p.getStatus().getPhase()));
    assertThat(running.getSpec().getNodeName())
        .as("placed by kube-scheduler through the volume's node affinity")
        .isEqualTo(E2e.node());
    String line =
        E2e.await(
            "the consumer's read of the claim",
            () -> E2e.agentLog(ns, "postgres-0"),
            log -> log.contains("sha256"));
    assertThat(line).as("the consumer reads the clone's data").contains(sourceDigest);

    VolumeStatus status =
        E2e.awaitClone(
                ns,
                "db",
                "status.volume bound and in use",
                c ->
                    c.getStatus().getVolume() != null
                        && Boolean.TRUE.equals(c.getStatus().getVolume().getBound())
                        && !c.getStatus().getVolume().getInUseBy().isEmpty())
            .getStatus()
            .getVolume();
    assertThat(status.getClaimName()).isEqualTo("db-data");
    assertThat(status.getPersistentVolumeName()).isEqualTo(pv.getMetadata().getName());
    assertThat(status.getDevicePath()).isEqualTo(destination.toString());
    assertThat(status.getNodeName()).isEqualTo(E2e.node());
    assertThat(status.getInUseBy()).containsExactly(ns + "/postgres-0");
    assertThat(E2e.kubectl("-n", ns, "get", "vc", "db"))
        .as("kubectl get vc shows the VOLUME column")
        .contains("VOLUME")
        .contains("db-data");

    // Deleting the clone is refused while the consumer exists.
    E2e.kubectl("-n", ns, "delete", "vc", "db", "--wait=false");
    VolumeClone refused =
        E2e.awaitClone(ns, "db", "Stalled VolumeInUse", c -> Clones.hasReason(c, "VolumeInUse"));
    assertThat(refused.getStatus().condition(ConditionTypes.STALLED).orElseThrow().getMessage())
        .isEqualTo("clone volume db-data is in use by Pod " + ns + "/postgres-0; stop it first");
    E2e.sleep(Duration.ofSeconds(3));
    assertThat(E2e.clone(ns, "db")).as("still there while the Pod exists").isNotNull();
    assertThat(volume(done)).isNotNull();

    E2e.kubectl("-n", ns, "delete", "pod", "postgres-0", "--wait=false");
    E2e.await("VolumeClone db gone", () -> E2e.clone(ns, "db") == null, gone -> gone);
    E2e.await("its PersistentVolume gone", () -> volume(done) == null, gone -> gone);
    E2e.await("its claim gone", () -> claim(ns, "db-data") == null, gone -> gone);
    assertThat(sha256(destination)).as("the data stays on the destination").isEqualTo(sourceDigest);
  }

  @Test
  void afterCopyBindsOnlyAfterCutoverAndAFilesystemVolumeNamesItsFsType() throws Exception {
    String ns = E2e.namespace("aftercopy");
    Path source = E2e.randomDevice(ns + "-src", SIZE, 15);
    Path destination = E2e.emptyDevice(ns + "-dst", SIZE);
    E2e.apply(
        volumeClone(
            ns,
            "late",
            source,
            destination,
            "    claimName: late-data\n    mode: Filesystem\n    fsType: ext4\n",
            "  access: AfterCopy\n"));

    VolumeClone copying =
        E2e.awaitClone(
            ns,
            "late",
            "copying with its claim created",
            c ->
                Clones.phase(c, Phase.Copying)
                    && Clones.bytesCopied(c) > 0
                    && claim(ns, "late-data") != null);
    assertThat(copying.getStatus().condition(ConditionTypes.AVAILABLE).orElseThrow().getReason())
        .isEqualTo("AwaitingCopy");
    assertThat(volume(copying)).as("no volume before cutover").isNull();
    assertThat(claim(ns, "late-data").getStatus().getPhase()).isEqualTo("Pending");
    assertThat(copying.getStatus().getVolume().getMessage())
        .isEqualTo("access is AfterCopy: the claim is bound after cutover");

    VolumeClone done =
        E2e.await(
            "VolumeClone late Completed",
            () -> E2e.clone(ns, "late"),
            c -> Clones.phase(c, Phase.Completed),
            Duration.ofSeconds(120));
    PersistentVolume pv = E2e.await("the clone's PersistentVolume", () -> volume(done), v -> true);
    assertThat(pv.getSpec().getVolumeMode()).isEqualTo("Filesystem");
    assertThat(pv.getSpec().getLocal().getFsType()).isEqualTo("ext4");
    assertThat(pv.getSpec().getLocal().getPath()).isEqualTo(destination.toString());
    E2e.await(
        "kube-controller-manager binds claim late-data",
        () -> claim(ns, "late-data"),
        c -> c.getStatus() != null && "Bound".equals(c.getStatus().getPhase()));

    E2e.kubectl("-n", ns, "delete", "vc", "late", "--wait=false");
    E2e.await("VolumeClone late gone", () -> E2e.clone(ns, "late") == null, gone -> gone);
    E2e.await("its PersistentVolume gone", () -> volume(done) == null, gone -> gone);
  }
}
