package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.PersistentVolumeBuilder;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaimBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionBuilder;
import io.fabric8.kubernetes.client.NamespacedKubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.volumeclone.api.testing.TestingApplyCrudDispatcher;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.DestinationRef;
import io.volumeclone.api.v1alpha1.spec.SourceRef;
import io.volumeclone.api.v1alpha1.spec.VolumeCloneSpec;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A fabric8 mock API server in CRUD mode (with server-side apply of the status merged the way the
 * API server merges it: {@link TestingApplyCrudDispatcher}) with the VolumeClone CRD installed,
 * plus builders for the objects the tests need and a log of the requests the server answered.
 */
final class MockCluster implements AutoCloseable {

  final KubernetesMockServer server;
  final NamespacedKubernetesClient client;
  final String crdSource;

  MockCluster() {
    server =
        new KubernetesMockServer(
            new Context(),
            new MockWebServer(),
            new HashMap<>(),
            new TestingApplyCrudDispatcher(),
            false);
    server.init();
    client = server.createClient();
    crdSource = installCrd();
    requests(); // forget the set-up
  }

  /**
   * The checked-in CRD when the crds module has one, else the minimum with a status subresource.
   */
  private String installCrd() {
    Path dir = Path.of(System.getProperty("volumeclone.crd.dir", "../crds"));
    Path found = null;
    if (Files.isDirectory(dir)) {
      try (Stream<Path> files = Files.walk(dir, 3)) {
        found =
            files
                .filter(p -> p.getFileName().toString().startsWith(VolumeClone.CRD_NAME))
                .filter(p -> p.toString().endsWith(".yml") || p.toString().endsWith(".yaml"))
                .filter(p -> !p.toString().contains("/target/"))
                .findFirst()
                .orElse(null);
      } catch (IOException e) {
        found = null;
      }
    }
    if (found != null) {
      try (InputStream in = Files.newInputStream(found)) {
        client.apiextensions().v1().customResourceDefinitions().load(in).create();
        return found.toString();
      } catch (IOException e) {
        throw new IllegalStateException("cannot read CRD " + found, e);
      }
    }
    CustomResourceDefinition crd =
        new CustomResourceDefinitionBuilder()
            .withNewMetadata()
            .withName(VolumeClone.CRD_NAME)
            .endMetadata()
            .withNewSpec()
            .withGroup(VolumeClone.GROUP)
            .withScope("Namespaced")
            .withNewNames()
            .withKind(VolumeClone.KIND)
            .withPlural(VolumeClone.PLURAL)
            .withShortNames(VolumeClone.SHORT_NAME)
            .endNames()
            .addNewVersion()
            .withName(VolumeClone.VERSION)
            .withServed(true)
            .withStorage(true)
            .withNewSubresources()
            .withNewStatus()
            .endStatus()
            .endSubresources()
            .withNewSchema()
            .withNewOpenAPIV3Schema()
            .withType("object")
            .withXKubernetesPreserveUnknownFields(true)
            .endOpenAPIV3Schema()
            .endSchema()
            .endVersion()
            .endSpec()
            .build();
    client.apiextensions().v1().customResourceDefinitions().resource(crd).create();
    return "built in the test (no checked-in CRD under " + dir + ")";
  }

  void node(String name) {
    client
        .nodes()
        .resource(
            new NodeBuilder()
                .withNewMetadata()
                .withName(name)
                .addToLabels("kubernetes.io/hostname", name)
                .endMetadata()
                .build())
        .create();
  }

  /** A bound Block claim on a network volume (no node affinity). */
  PersistentVolumeClaim claim(String namespace, String name, String size) {
    return claim(namespace, name, size, "Block", null);
  }

  /** A bound claim; with {@code localNode} its volume is a local PV pinned to that node. */
  PersistentVolumeClaim claim(
      String namespace, String name, String size, String mode, String localNode) {
    String pvName = "pv-" + namespace + "-" + name;
    var pv =
        new PersistentVolumeBuilder()
            .withNewMetadata()
            .withName(pvName)
            .endMetadata()
            .withNewSpec()
            .addToCapacity("storage", new Quantity(size))
            .withVolumeMode(mode)
            .withAccessModes("ReadWriteOnce")
            .withNewClaimRef()
            .withNamespace(namespace)
            .withName(name)
            .endClaimRef()
            .endSpec();
    if (localNode != null) {
      pv =
          pv.editSpec()
              .withNewLocal()
              .withPath("/dev/disk/by-id/local-" + name)
              .endLocal()
              .withNewNodeAffinity()
              .withNewRequired()
              .addNewNodeSelectorTerm()
              .addNewMatchExpression()
              .withKey("kubernetes.io/hostname")
              .withOperator("In")
              .withValues(localNode)
              .endMatchExpression()
              .endNodeSelectorTerm()
              .endRequired()
              .endNodeAffinity()
              .endSpec();
    }
    client.persistentVolumes().resource(pv.build()).create();
    return client
        .persistentVolumeClaims()
        .resource(
            new PersistentVolumeClaimBuilder()
                .withNewMetadata()
                .withName(name)
                .withNamespace(namespace)
                .endMetadata()
                .withNewSpec()
                .withVolumeMode(mode)
                .withAccessModes("ReadWriteOnce")
                .withVolumeName(pvName)
                .withNewResources()
                .addToRequests("storage", new Quantity(size))
                .endResources()
                .endSpec()
                .withNewStatus()
                .withPhase("Bound")
                .addToCapacity("storage", new Quantity(size))
                .endStatus()
                .build())
        .create();
  }

  static VolumeClone pvcClone(String namespace, String name, String source, String destination) {
    VolumeCloneSpec spec = new VolumeCloneSpec();
    spec.setSource(SourceRef.persistentVolumeClaim(source));
    spec.setDestination(DestinationRef.persistentVolumeClaim(destination));
    return new VolumeClone(namespace, name, spec);
  }

  VolumeClone create(VolumeClone clone) {
    return client.resource(clone).create();
  }

  VolumeClone get(String namespace, String name) {
    return client.resources(VolumeClone.class).inNamespace(namespace).withName(name).get();
  }

  /** Every request answered since the last call, as "METHOD path". */
  List<String> requests() {
    List<String> out = new ArrayList<>();
    try {
      RecordedRequest r;
      while ((r = server.takeRequest(1, TimeUnit.MILLISECONDS)) != null) {
        out.add(r.getMethod() + " " + r.getPath());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return out;
  }

  /** The requests since the last call that change something. */
  List<String> writes() {
    return requests().stream().filter(r -> !r.startsWith("GET ")).toList();
  }

  @Override
  public void close() {
    client.close();
    server.destroy();
  }
}
