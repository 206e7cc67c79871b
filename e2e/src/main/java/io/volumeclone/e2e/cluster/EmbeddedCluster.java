package io.volumeclone.e2e.cluster;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A Kubernetes API server in this JVM: the fabric8 mock server in CRUD mode behind {@link
 * ApiDispatcher}, with the VolumeClone CRD installed, the namespace {@code default} and the Nodes
 * the {@link NodeRunner} plays. Plain HTTP on the loopback interface; {@link #writeKubeconfig}
 * gives kubectl, the operator and the agents the way in.
 */
public final class EmbeddedCluster implements AutoCloseable {

  public static final List<String> NODES = List.of("node-1", "node-2");
  private static final String CRD_RESOURCE =
      "/io/volumeclone/e2e/crd/volumeclones.volumeclone.io-v1.yml";

  private final KubernetesMockServer server;
  private final KubernetesClient client;

  private EmbeddedCluster(KubernetesMockServer server) {
    this.server = server;
    this.client = server.createClient();
  }

  /** Starts on {@code port} (0 = any free port) and installs the CRD, namespace and nodes. */
  public static EmbeddedCluster start(int port) throws IOException {
    // The mock server logs every request through java.util.logging at INFO.
    Logger.getLogger("io.fabric8.mockwebserver").setLevel(Level.WARNING);
    KubernetesMockServer server =
        new KubernetesMockServer(
            new Context(), new MockWebServer(), new HashMap<>(), new ApiDispatcher(), false);
    server.init(InetAddress.getLoopbackAddress(), port);
    EmbeddedCluster cluster = new EmbeddedCluster(server);
    cluster.installCrd();
    cluster
        .client
        .namespaces()
        .resource(
            new NamespaceBuilder().withNewMetadata().withName("default").endMetadata().build())
        .create();
    for (String node : NODES) {
      cluster.client.nodes().resource(node(node)).create();
    }
    return cluster;
  }

  private void installCrd() throws IOException {
    // The build copies crds/volumeclones.volumeclone.io-v1.yml here, for the tests as for the demo.
    try (InputStream in = EmbeddedCluster.class.getResourceAsStream(CRD_RESOURCE)) {
      if (in == null) {
        throw new IOException(
            "the VolumeClone CRD is missing from the classpath (" + CRD_RESOURCE + ")");
      }
      client.apiextensions().v1().customResourceDefinitions().load(in).create();
    }
  }

  private static Node node(String name) {
    String now = Instant.now().toString();
    return new NodeBuilder()
        .withNewMetadata()
        .withName(name)
        .addToLabels("kubernetes.io/hostname", name)
        .addToLabels("kubernetes.io/os", "linux")
        .addToLabels("volumeclone.io/embedded", "true")
        .endMetadata()
        .withNewStatus()
        .addNewCondition()
        .withType("Ready")
        .withStatus("True")
        .withReason("KubeletReady")
        .withMessage("the volume-clone node runner plays this node's kubelet")
        .withLastHeartbeatTime(now)
        .withLastTransitionTime(now)
        .endCondition()
        .addToCapacity("cpu", new Quantity("2"))
        .addToCapacity("memory", new Quantity("4Gi"))
        .endStatus()
        .build();
  }

  public KubernetesClient client() {
    return client;
  }

  /** {@code http://127.0.0.1:PORT} */
  public String url() {
    return "http://127.0.0.1:" + server.getPort();
  }

  public int port() {
    return server.getPort();
  }

  /** A kubeconfig with one context, {@code volume-clone-embedded}, namespace {@code default}. */
  public Path writeKubeconfig(Path file) throws IOException {
    String text =
        """
        apiVersion: v1
        kind: Config
        clusters:
        - name: volume-clone-embedded
          cluster:
            server: %s
        users:
        - name: volume-clone-embedded
          user:
            token: embedded
        contexts:
        - name: volume-clone-embedded
          context:
            cluster: volume-clone-embedded
            user: volume-clone-embedded
            namespace: default
        current-context: volume-clone-embedded
        """
            .formatted(url());
    Files.createDirectories(file.toAbsolutePath().getParent());
    Files.writeString(file, text);
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
    return file;
  }

  @Override
  public void close() {
    client.close();
    server.destroy();
  }
}
