package io.volumeclone.e2e.cluster;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.function.BiFunction;
import java.util.function.BiPredicate;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

/**
 * The part of the kubelet's HTTPS API that {@code kubectl logs} reaches through the API server:
 * {@code GET /containerLogs/<namespace>/<pod>/<container>} with {@code tailLines} and {@code
 * follow}. The API server finds it through the Node's {@code status.daemonEndpoints} and does not
 * verify the kubelet's certificate unless {@code --kubelet-certificate-authority} is set, so a
 * self-signed one (made with the JDK's keytool) serves.
 */
final class KubeletLogEndpoint implements AutoCloseable {

  private final HttpsServer server;

  private KubeletLogEndpoint(HttpsServer server) {
    this.server = server;
  }

  /**
   * Serves the log file {@code logFile.apply(namespace, pod)}; {@code running} says whether the
   * Pod's process still runs (a follow ends when it stops).
   */
  static KubeletLogEndpoint start(
      Path directory, BiFunction<String, String, Path> logFile, BiPredicate<String, String> running)
      throws IOException {
    Files.createDirectories(directory);
    Path keystore = directory.resolve("kubelet.p12");
    char[] password = "volume-clone-kubelet".toCharArray();
    if (!Files.exists(keystore)) {
      keytool(keystore, new String(password));
    }
    try {
      KeyStore store = KeyStore.getInstance("PKCS12");
      try (InputStream in = Files.newInputStream(keystore)) {
        store.load(in, password);
      }
      KeyManagerFactory kmf =
          KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(store, password);
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(kmf.getKeyManagers(), null, null);
      HttpsServer server =
          HttpsServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
      server.setHttpsConfigurator(new HttpsConfigurator(context));
      server.setExecutor(
          Executors.newCachedThreadPool(
              r -> {
                Thread t = new Thread(r, "kubelet-logs");
                t.setDaemon(true);
                return t;
              }));
      server.createContext(
          "/containerLogs/",
          exchange -> {
            try (exchange) {
              serve(exchange, logFile, running);
            }
          });
      server.start();
      return new KubeletLogEndpoint(server);
    } catch (java.security.GeneralSecurityException e) {
      throw new IOException("cannot load the kubelet's key store " + keystore + ": " + e, e);
    }
  }

  int port() {
    return server.getAddress().getPort();
  }

  private static void keytool(Path keystore, String password) throws IOException {
    Path keytool = Path.of(System.getProperty("java.home"), "bin", "keytool");
    ProcessBuilder pb =
        new ProcessBuilder(
            List.of(
                keytool.toString(),
                "-genkeypair",
                "-alias",
                "kubelet",
                "-keyalg",
                "RSA",
                "-keysize",
                "2048",
                "-validity",
                "30",
                "-dname",
                "CN=volume-clone-node-runner",
                "-ext",
                "san=ip:127.0.0.1,dns:localhost",
                "-storetype",
                "PKCS12",
                "-keystore",
                keystore.toString(),
                "-storepass",
                password));
    pb.redirectErrorStream(true);
    pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
    Process p = pb.start();
    String out;
    try (InputStream in = p.getInputStream()) {
      out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    try {
      if (p.waitFor() != 0) {
        throw new IOException(keytool + " failed to make the kubelet's certificate: " + out);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted making the kubelet's certificate", e);
    }
  }

  private static void serve(
      HttpExchange exchange,
      BiFunction<String, String, Path> logFile,
      BiPredicate<String, String> running)
      throws IOException {
    String[] parts = exchange.getRequestURI().getPath().split("/");
    // "", "containerLogs", namespace, pod, container
    if (parts.length < 5 || !exchange.getRequestMethod().equals("GET")) {
      reply(exchange, 404, "expected GET /containerLogs/<namespace>/<pod>/<container>\n");
      return;
    }
    String namespace = parts[2];
    String pod = parts[3];
    Map<String, String> query = query(exchange.getRequestURI().getRawQuery());
    Path log = logFile.apply(namespace, pod);
    if (!Files.exists(log)) {
      reply(exchange, 404, "no log for Pod " + namespace + "/" + pod + " on this node\n");
      return;
    }
    exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
    exchange.sendResponseHeaders(200, 0);
    try (OutputStream out = exchange.getResponseBody();
        RandomAccessFile file = new RandomAccessFile(log.toFile(), "r")) {
      long start = 0;
      if (query.containsKey("tailLines")) {
        start = tailStart(log, Integer.parseInt(query.get("tailLines")));
      }
      file.seek(start);
      byte[] buffer = new byte[64 << 10];
      boolean follow = "true".equals(query.get("follow"));
      while (true) {
        int n = file.read(buffer);
        if (n > 0) {
          out.write(buffer, 0, n);
          out.flush();
          continue;
        }
        if (!follow || !running.test(namespace, pod)) {
          return;
        }
        try {
          Thread.sleep(200);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }

  private static long tailStart(Path log, int lines) throws IOException {
    byte[] all = Files.readAllBytes(log);
    Deque<Integer> starts = new ArrayDeque<>();
    starts.add(0);
    for (int i = 0; i < all.length - 1; i++) {
      if (all[i] == '\n') {
        starts.add(i + 1);
        if (starts.size() > lines) {
          starts.removeFirst();
        }
      }
    }
    while (starts.size() > lines) {
      starts.removeFirst();
    }
    return starts.isEmpty() ? all.length : starts.getFirst();
  }

  private static Map<String, String> query(String raw) {
    Map<String, String> q = new HashMap<>();
    if (raw == null) {
      return q;
    }
    for (String pair : raw.split("&")) {
      int eq = pair.indexOf('=');
      String key = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
      String value =
          eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
      q.put(key, value);
    }
    return q;
  }

  private static void reply(HttpExchange exchange, int code, String text) throws IOException {
    byte[] body = text.getBytes(StandardCharsets.UTF_8);
    exchange.sendResponseHeaders(code, body.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(body);
    }
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
