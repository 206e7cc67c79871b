package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.volumeclone.api.v1alpha1.VolumeClone;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Removes the claim finalizer {@value #FINALIZER} that earlier releases put on every claim a clone
 * used. It only duplicated {@code kubernetes.io/pvc-protection} (the agent Pod uses the claims, so
 * the claim cannot go while the Pod exists) and, unlike that one, nothing removed it once the
 * operator was uninstalled. The operator no longer adds it and takes it off the claims of each
 * clone it reconciles, so an upgrade leaves no claim that cannot be deleted.
 *
 * <p>The patch is a JSON patch with a {@code test} on the list entry, so a concurrent edit of the
 * claim's finalizers makes it fail rather than remove someone else's entry.
 */
public final class LegacyClaimFinalizer {

  public static final String FINALIZER = "volumeclone.io/in-use";
  private static final Logger LOG = LoggerFactory.getLogger(LegacyClaimFinalizer.class);

  private final KubernetesClient client;

  /** Uids of clones whose claims this operator process has freed of the finalizer. */
  private final Set<String> checked = ConcurrentHashMap.newKeySet();

  public LegacyClaimFinalizer(KubernetesClient client) {
    this.client = client;
  }

  /**
   * Frees the claims of {@code clone} once per clone and operator process, whatever the clone's
   * state, so that after an upgrade no claim keeps the finalizer. A failure is tried again at the
   * next round.
   */
  public void removeOnceFrom(VolumeClone clone) {
    List<String> claims =
        Side.of(clone).stream().map(Side::claim).filter(Objects::nonNull).toList();
    if (claims.isEmpty() || !checked.add(clone.getMetadata().getUid())) {
      return;
    }
    try {
      removeFrom(clone.getMetadata().getNamespace(), claims);
    } catch (RuntimeException e) {
      checked.remove(clone.getMetadata().getUid());
      throw e;
    }
  }

  /** Forgets a deleted clone. */
  public void forget(VolumeClone clone) {
    checked.remove(clone.getMetadata().getUid());
  }

  /** Removes the finalizer from each claim that has it; returns how many claims were patched. */
  public int removeFrom(String namespace, Collection<String> claims) {
    int patched = 0;
    for (String claim : claims) {
      var resource = client.persistentVolumeClaims().inNamespace(namespace).withName(claim);
      PersistentVolumeClaim pvc = resource.get();
      if (pvc == null) {
        continue;
      }
      List<String> finalizers = pvc.getMetadata().getFinalizers();
      int index = finalizers == null ? -1 : finalizers.indexOf(FINALIZER);
      if (index < 0) {
        continue;
      }
      String path = "/metadata/finalizers/" + index;
      String patch =
          "[{\"op\":\"test\",\"path\":\""
              + path
              + "\",\"value\":\""
              + FINALIZER
              + "\"},{\"op\":\"remove\",\"path\":\""
              + path
              + "\"}]";
      try {
        resource.patch(PatchContext.of(PatchType.JSON), patch);
        patched++;
        LOG.info(
            "removed the finalizer {} of an earlier release from PVC {}/{}",
            FINALIZER,
            namespace,
            claim);
      } catch (KubernetesClientException e) {
        if (e.getCode() != 404) {
          LOG.warn(
              "could not remove finalizer {} from PVC {}/{}: {}",
              FINALIZER,
              namespace,
              claim,
              e.getMessage());
          throw e;
        }
      }
    }
    return patched;
  }
}
