package io.volumeclone.e2e.cluster;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * A node inside the Linux guest ({@code io.volumeclone.testing.Guest} with a network): this JVM
 * plays the node's kubelet ({@link NodeRunner}) for one node, so its agent Pods get the guest's
 * kernel (nbd, device-mapper) and its workload Pods really mount the claims they are given.
 *
 * <p>Design note. The control plane runs on the host, on its loopback interface, and its serving
 * certificate names 127.0.0.1. qemu's user network takes a guest connection to 10.0.2.2:P to the
 * host's 127.0.0.1:P, so this JVM listens on the guest's own 127.0.0.1:P and forwards each
 * connection there: the kubeconfig and the Pods' in-cluster address stay {@code
 * https://127.0.0.1:P}, the same as on the host, and TLS is verified as it is there.
 *
 * <pre>
 *   GuestNode --kubeconfig FILE --node NAME --root DIR --api-port P --until FILE
 * </pre>
 *
 * Runs until the file {@code --until} exists (the host test creates it over the 9p share), then
 * stops its Pods as a kubelet does at shutdown (SIGTERM, their grace period, unmounts) and exits.
 */
public final class GuestNode {

  /** The host's loopback interface as qemu's user network shows it to the guest. */
  static final String HOST = "10.0.2.2";

  private GuestNode() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> options = new HashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      options.put(args[i], args[i + 1]);
    }
    for (String required :
        new String[] {"--kubeconfig", "--node", "--root", "--api-port", "--until"}) {
      if (!options.containsKey(required)) {
        System.err.println("guest node: missing " + required);
        System.exit(2);
      }
    }
    int port = Integer.parseInt(options.get("--api-port"));
    forward(port, HOST, port);
    Path until = Path.of(options.get("--until"));
    String node = options.get("--node");
    try (KubernetesClient client =
        new KubernetesClientBuilder()
            .withConfig(
                Config.fromKubeconfig(
                    null, Files.readString(Path.of(options.get("--kubeconfig"))), null))
            .build()) {
      NodeRunner runner = new NodeRunner(client, Path.of(options.get("--root")), Set.of(node));
      runner.start();
      System.out.println(
          "guest node: " + node + " is running (the API server through " + HOST + ":" + port + ")");
      while (!Files.exists(until)) {
        Thread.sleep(500);
      }
      System.out.println("guest node: " + until + " exists; stopping the node's Pods");
      runner.close();
    }
    System.out.println("guest node: " + node + " stopped");
    System.exit(0);
  }

  /** Forwards every connection to 127.0.0.1:{@code localPort} to {@code host}:{@code port}. */
  static void forward(int localPort, String host, int port) throws IOException {
    ServerSocket server = new ServerSocket(localPort, 50, InetAddress.getLoopbackAddress());
    Thread acceptor =
        new Thread(
            () -> {
              while (true) {
                try {
                  Socket in = server.accept();
                  Socket out = new Socket(host, port);
                  in.setTcpNoDelay(true);
                  out.setTcpNoDelay(true);
                  pipe(in, out);
                  pipe(out, in);
                } catch (IOException e) {
                  System.err.println(
                      "guest node: forwarding to " + host + ":" + port + " failed: " + e);
                }
              }
            },
            "forward-" + localPort);
    acceptor.setDaemon(true);
    acceptor.start();
  }

  private static void pipe(Socket from, Socket to) {
    Thread t =
        new Thread(
            () -> {
              try (InputStream in = from.getInputStream();
                  OutputStream out = to.getOutputStream()) {
                in.transferTo(out);
              } catch (IOException e) {
                // the other side closed: close both below
              } finally {
                try {
                  from.close();
                  to.close();
                } catch (IOException e) {
                  // closing anyway
                }
              }
            },
            "pipe");
    t.setDaemon(true);
    t.start();
  }
}
