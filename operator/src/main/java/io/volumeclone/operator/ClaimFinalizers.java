package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import java.util.Collection;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the claims a running clone uses from being deleted under it: each gets the finalizer
 * {@value #FINALIZER} while any started, unfinished clone uses it. Patches are JSON patches with a
 * {@code test} on the list entry, so a concurrent edit of the claim's finalizers makes the patch
 * fail rather than remove someone else's entry.
 */
public final class ClaimFinalizers {

  public static final String FINALIZER = "volumeclone.io/in-use";
  private static final Logger LOG = LoggerFactory.getLogger(ClaimFinalizers.class);

  private final KubernetesClient client;

  public ClaimFinalizers(KubernetesClient client) {
    this.client = client;
  }

  /** Adds the finalizer to each claim that lacks it; returns how many claims were patched. */
  public int acquire(String namespace, Collection<String> claims) {
    int patched = 0;
    for (String claim : claims) {
      var resource = client.persistentVolumeClaims().inNamespace(namespace).withName(claim);
      PersistentVolumeClaim pvc = resource.get();
      if (pvc == null) {
        continue; // the validator reports missing claims; a vanished one is recreated by nobody
      }
      List<String> finalizers = pvc.getMetadata().getFinalizers();
      if (finalizers != null && finalizers.contains(FINALIZER)) {
        continue;
      }
      String patch =
          finalizers == null || finalizers.isEmpty()
              ? "[{\"op\":\"add\",\"path\":\"/metadata/finalizers\",\"value\":[\""
                  + FINALIZER
                  + "\"]}]"
              : "[{\"op\":\"add\",\"path\":\"/metadata/finalizers/-\",\"value\":\""
                  + FINALIZER
                  + "\"}]";
      resource.patch(PatchContext.of(PatchType.JSON), patch);
      patched++;
    }
    return patched;
  }

  /** Removes the finalizer from each claim that has it. */
  public int release(String namespace, Collection<String> claims) {
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
