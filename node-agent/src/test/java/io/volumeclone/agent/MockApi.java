package io.volumeclone.agent;

import io.fabric8.kubernetes.client.NamespacedKubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.volumeclone.api.v1alpha1.VolumeClone;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/**
 * The fabric8 mock API server in CRUD mode with the checked-in VolumeClone CRD (status subresource
 * and all), plus a log of the requests it answered and a kubeconfig for child JVMs.
 */
final class MockApi implements AutoCloseable {

  static final Path CRD =
      Path.of(System.getProperty("volumeclone.crd.dir", "../crds"))
          .resolve("volumeclones.volumeclone.io-v1.yml");

  final KubernetesMockServer server;
  final NamespacedKubernetesClient client;
  final TestingOptimisticCrudDispatcher dispatcher = new TestingOptimisticCrudDispatcher();
  private final List<String> log = new ArrayList<>();

  MockApi() throws IOException {
    server =
        new KubernetesMockServer(
            new Context(), new MockWebServer(), new HashMap<>(), dispatcher, false);
    server.init();
    client = server.createClient();
    try (InputStream in = Files.newInputStream(CRD)) {
      client.apiextensions().v1().customResourceDefinitions().load(in).create();
    }
    requests();
  }

  VolumeClone create(VolumeClone clone) {
    return client.resource(clone).create();
  }

  VolumeClone get(String namespace, String name) {
    return client.resources(VolumeClone.class).inNamespace(namespace).withName(name).get();
  }

  /**
   * Changes the spec the way kubectl edit does (a fresh read, then an update), retrying when the
   * running agent's status write got in between, as kubectl's user would.
   */
  VolumeClone edit(String namespace, String name, UnaryOperator<VolumeClone> change) {
    for (int attempt = 1; ; attempt++) {
      try {
        return client
            .resources(VolumeClone.class)
            .inNamespace(namespace)
            .withName(name)
            .edit(change);
      } catch (io.fabric8.kubernetes.client.KubernetesClientException e) {
        if (e.getCode() != 409 || attempt == 10) {
          throw e;
        }
      }
    }
  }

  /** Every request answered since the start, as "METHOD path". */
  synchronized List<String> requests() {
    try {
      RecordedRequest r;
      while ((r = server.takeRequest(1, TimeUnit.MILLISECONDS)) != null) {
        log.add(r.getMethod() + " " + r.getPath());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return List.copyOf(log);
  }

  /** Status writes (PUT or PATCH of the status subresource) answered so far. */
  long statusWrites() {
    return requests().stream()
        .filter(r -> r.startsWith("PUT ") || r.startsWith("PATCH "))
        .filter(r -> r.contains("/status"))
        .count();
  }

  /** A kubeconfig that points a child JVM at this server. */
  Path kubeconfig(Path dir) throws IOException {
    String url = client.getConfiguration().getMasterUrl();
    Path file = dir.resolve("kubeconfig");
    Files.writeString(
        file,
        """
        apiVersion: v1
        kind: Config
        clusters:
        - name: mock
          cluster:
            server: %s
        users:
        - name: mock
          user:
            token: mock
        contexts:
        - name: mock
          context:
            cluster: mock
            user: mock
            namespace: default
        current-context: mock
        """
            .formatted(url));
    return file;
  }

  @Override
  public void close() {
    client.close();
    server.destroy();
  }
}
