package io.volumeclone.e2e.cluster;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.volumeclone.testing.Guest;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

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

  /**
   * The guest's script: starts this class as node {@code node} on {@code /tmp/node} (a tmpfs: NBD's
   * Unix sockets cannot live on the 9p share) with its Pods' logs in {@code /work/node-logs}, and
   * once it has stopped records the device-mapper devices left ({@code /work/dm-after.txt}) and the
   * file systems still mounted for Pods.
   */
  public static String script(String node, int apiPort, String jar) {
    return """
        set -u
        mkdir -p /tmp/node /work/node-logs
        ln -s /work/node-logs /tmp/node/logs
        /jdk/bin/java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xss512k -Xmx256m \\
          -Djava.io.tmpdir=/tmp --enable-native-access=ALL-UNNAMED \\
          -cp %s %s \\
          --kubeconfig /work/node.kubeconfig --node %s --root /tmp/node \\
          --api-port %d --until /work/stop > /work/node.log 2>&1
        code=$?
        echo "guest node exited with $code"
        tail -n 30 /work/node.log
        dmsetup ls > /work/dm-after.txt 2>&1
        echo "file systems still mounted for Pods: $(grep -c ' /tmp/node/' /proc/mounts)"
        exit $code
        """
        .formatted(jar, GuestNode.class.getName(), node, apiPort);
  }

  /**
   * The chart values of a cluster with a guest node: kernel attach on (the agent Pods of clones
   * with a volume run privileged) and the guest's {@code /dev/} allowed beside the local devices.
   */
  public static Map<String, Object> clusterValues(Path deviceDirectory) throws IOException {
    Map<String, Object> values = new java.util.LinkedHashMap<>();
    @SuppressWarnings("unchecked")
    Map<String, Object> agent =
        new java.util.LinkedHashMap<>(
            (Map<String, Object>) HelmRelease.values(deviceDirectory).get("agent"));
    agent.put("kernelAttach", true);
    values.put("agent", agent);
    values.put(
        "allowedDevicePrefixes",
        java.util.List.of(deviceDirectory.toAbsolutePath() + "/", "/dev/"));
    return values;
  }

  /**
   * Boots the guest that runs node {@code node} of {@code cluster}, with the source, the
   * destination and a 1 MiB metadata disk as {@code /dev/vda}, {@code vdb}, {@code vdc}, on a
   * thread of its own (the common pool, one thread on two cores, is the API clients'). The guest
   * gets qemu's user network and one emulated CPU: the other core is the control plane's. It runs
   * until the file {@code stop} appears in its work directory.
   */
  public static CompletableFuture<Guest.Result> boot(
      Path guestWork,
      LocalCluster cluster,
      String node,
      Path jar,
      Path source,
      Path destination,
      Duration timeout)
      throws IOException {
    Files.copy(jar, guestWork.resolve("node.jar"), StandardCopyOption.REPLACE_EXISTING);
    Files.copy(
        cluster.kubeconfig(),
        guestWork.resolve("node.kubeconfig"),
        StandardCopyOption.REPLACE_EXISTING);
    int apiPort = URI.create(cluster.controlPlane().url()).getPort();
    Guest guest =
        Guest.in(guestWork)
            .network()
            .cpus(1)
            .memoryMiB(2560)
            .timeout(timeout)
            .disk(source, 0)
            .disk(destination, Files.size(source))
            .disk(guestWork.resolve("metadata.img"), 1 << 20);
    CompletableFuture<Guest.Result> run = new CompletableFuture<>();
    Thread.ofPlatform()
        .name("guest")
        .daemon()
        .start(
            () -> {
              try {
                run.complete(guest.run(script(node, apiPort, "/work/node.jar")));
              } catch (Throwable e) {
                run.completeExceptionally(e);
              }
            });
    return run;
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
