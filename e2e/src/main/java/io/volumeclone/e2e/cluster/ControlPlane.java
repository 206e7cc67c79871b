package io.volumeclone.e2e.cluster;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * A real Kubernetes control plane on the loopback interface: etcd, kube-apiserver, kube-controller-
 * manager and kube-scheduler, each its own process, built from source by {@code
 * e2e/control-plane/build.sh}. The API server makes its own self-signed serving certificate in its
 * {@code --cert-dir}; one RSA key signs and verifies ServiceAccount tokens; an admin identity in
 * {@code system:masters} (a bearer token in {@code --token-auth-file}) is what {@link
 * #writeKubeconfig} hands out. Authorization is RBAC, so every other identity gets only what its
 * Roles grant.
 */
public final class ControlPlane implements AutoCloseable {

  /** The Kubernetes version build.sh builds and {@code /version} reports. */
  public static final String KUBERNETES_VERSION = "v1.37.2";

  private static final Duration START_TIMEOUT = Duration.ofSeconds(120);
  private static final int START_ATTEMPTS = 3;
  private static final List<String> COMPONENTS =
      List.of("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler");

  private final Path directory;
  private final Path binDirectory;
  private final String adminToken;
  private final int apiPort;
  private final List<Child> children = new ArrayList<>();

  private record Child(String name, Process process) {}

  private ControlPlane(Path directory, Path binDirectory, String adminToken, int apiPort) {
    this.directory = directory;
    this.binDirectory = binDirectory;
    this.adminToken = adminToken;
    this.apiPort = apiPort;
  }

  /**
   * Where the control plane's binaries are: {@code VOLUME_CLONE_CONTROL_PLANE_BIN} (the demo script
   * sets it after building), the system property {@code volumeclone.controlplane.bin}, or what
   * {@code build.sh} prints (found through the property {@code volumeclone.controlplane.build} or
   * below the working directory); build.sh builds them first if they are not cached yet.
   */
  public static Path binDirectory() throws IOException {
    String given = System.getenv("VOLUME_CLONE_CONTROL_PLANE_BIN");
    if (given == null || given.isBlank()) {
      given = System.getProperty("volumeclone.controlplane.bin");
    }
    if (given != null && !given.isBlank()) {
      Path bin = Path.of(given);
      if (!Files.isExecutable(bin.resolve("kube-apiserver"))) {
        throw new IOException(
            "the control plane directory " + bin + " has no kube-apiserver; run build.sh");
      }
      return bin;
    }
    Path script = buildScript();
    ProcessBuilder pb = new ProcessBuilder(script.toString());
    pb.redirectError(ProcessBuilder.Redirect.INHERIT);
    pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
    Process build = pb.start();
    String out;
    try (InputStream in = build.getInputStream()) {
      out = new String(in.readAllBytes(), StandardCharsets.UTF_8).strip();
    }
    try {
      if (build.waitFor() != 0) {
        throw new IOException(script + " failed with exit code " + build.exitValue());
      }
    } catch (InterruptedException e) {
      build.destroy();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while building the control plane", e);
    }
    List<String> lines = out.lines().toList();
    return Path.of(lines.get(lines.size() - 1));
  }

  private static Path buildScript() throws IOException {
    String property = System.getProperty("volumeclone.controlplane.build");
    List<Path> candidates = new ArrayList<>();
    if (property != null && !property.isBlank()) {
      candidates.add(Path.of(property));
    }
    Path here = Path.of("").toAbsolutePath();
    for (Path dir = here; dir != null; dir = dir.getParent()) {
      candidates.add(dir.resolve("e2e/control-plane/build.sh"));
      candidates.add(dir.resolve("control-plane/build.sh"));
    }
    for (Path candidate : candidates) {
      if (Files.isExecutable(candidate)) {
        return candidate;
      }
    }
    throw new IOException(
        "cannot find e2e/control-plane/build.sh from "
            + here
            + "; set VOLUME_CLONE_CONTROL_PLANE_BIN to a directory with kube-apiserver, etcd, ...");
  }

  /** Starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler below {@code dir}. */
  public static ControlPlane start(Path dir) throws IOException {
    return start(dir, LoopbackPorts::free);
  }

  /** Where the components' ports come from; a test hands out a taken one. */
  interface PortPicker {
    int next() throws IOException;
  }

  static ControlPlane start(Path dir, PortPicker ports) throws IOException {
    Path bin = binDirectory();
    Path work = dir.toAbsolutePath();
    Path logs = work.resolve("logs");
    Path pki = work.resolve("pki");
    Files.createDirectories(logs);
    Files.createDirectories(pki);
    String token = HexFormat.of().formatHex(new SecureRandom().generateSeed(16));
    Path tokens = pki.resolve("tokens.csv");
    writePrivate(tokens, token + ",volume-clone-admin,volume-clone-admin,system:masters\n");
    Path serviceAccountKey = pki.resolve("service-account.key");
    writePrivate(serviceAccountKey, rsaKeyPem());

    for (int attempt = 1; ; attempt++) {
      ControlPlane plane = new ControlPlane(work, bin, token, ports.next());
      try {
        return plane.startComponents(tokens, serviceAccountKey, ports);
      } catch (IOException e) {
        plane.close();
        String taken = plane.portTakenBy();
        if (taken == null || attempt == START_ATTEMPTS) {
          throw e;
        }
        // Another process bound the port between the pick and the child's bind: start again on
        // new ports, keeping this attempt's logs beside the next one's.
        plane.setAsideLogs(attempt);
        LocalCluster.deleteTree(work.resolve("etcd"));
        System.err.println(
            "control plane: "
                + taken
                + " could not bind its port (address already in use); starting again on other"
                + " ports (attempt "
                + (attempt + 1)
                + " of "
                + START_ATTEMPTS
                + ")");
      } catch (RuntimeException e) {
        plane.close();
        throw e;
      }
    }
  }

  private ControlPlane startComponents(Path tokens, Path serviceAccountKey, PortPicker ports)
      throws IOException {
    Path work = directory;
    Path pki = work.resolve("pki");
    int etcdPort = ports.next();
    int etcdPeerPort = ports.next();
    String etcdUrl = "http://127.0.0.1:" + etcdPort;
    String peerUrl = "http://127.0.0.1:" + etcdPeerPort;
    spawn(
        "etcd",
        List.of(
            "--name=volume-clone",
            "--data-dir=" + work.resolve("etcd"),
            "--listen-client-urls=" + etcdUrl,
            "--advertise-client-urls=" + etcdUrl,
            "--listen-peer-urls=" + peerUrl,
            "--initial-advertise-peer-urls=" + peerUrl,
            "--initial-cluster=volume-clone=" + peerUrl,
            // A test cluster lives for minutes on a shared disk: no fsync per write.
            "--unsafe-no-fsync=true",
            "--log-level=warn"));
    Path certDir = pki.resolve("apiserver");
    spawn(
        "kube-apiserver",
        List.of(
            "--etcd-servers=" + etcdUrl,
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--secure-port=" + apiPort,
            "--cert-dir=" + certDir,
            "--token-auth-file=" + tokens,
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file=" + serviceAccountKey,
            "--service-account-signing-key-file=" + serviceAccountKey,
            "--service-cluster-ip-range=10.96.0.0/16",
            // No other interface than loopback, and no kube-proxy: no endpoints to reconcile.
            "--endpoint-reconciler-type=none",
            // The agent Pods are privileged (hostPath devices), as the chart runs them.
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            "--v=1"));
    awaitReady();
    Path kubeconfig = writeKubeconfig(work.resolve("admin.kubeconfig"));
    spawn(
        "kube-controller-manager",
        List.of(
            "--kubeconfig=" + kubeconfig,
            "--authentication-kubeconfig=" + kubeconfig,
            "--authorization-kubeconfig=" + kubeconfig,
            "--secure-port=0",
            "--leader-elect=false",
            "--controllers=*",
            "--service-account-private-key-file=" + serviceAccountKey,
            "--root-ca-file=" + certDir.resolve("apiserver.crt"),
            "--use-service-account-credentials=false",
            "--v=1"));
    spawn(
        "kube-scheduler",
        List.of(
            "--kubeconfig=" + kubeconfig,
            "--authentication-kubeconfig=" + kubeconfig,
            "--authorization-kubeconfig=" + kubeconfig,
            "--secure-port=0",
            "--leader-elect=false",
            "--v=1"));
    return this;
  }

  /** The component whose log says its port was taken, or null. */
  private String portTakenBy() {
    for (String component : COMPONENTS) {
      Path log = directory.resolve("logs").resolve(component + ".log");
      try {
        if (Files.exists(log) && Files.readString(log).contains("address already in use")) {
          return component;
        }
      } catch (IOException e) {
        // an unreadable log tells nothing; the start's own error stands
      }
    }
    return null;
  }

  private void setAsideLogs(int attempt) throws IOException {
    for (String component : COMPONENTS) {
      Path log = directory.resolve("logs").resolve(component + ".log");
      if (Files.exists(log)) {
        Files.move(
            log,
            log.resolveSibling(component + ".attempt-" + attempt + ".log"),
            java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      }
    }
  }

  private void spawn(String name, List<String> args) throws IOException {
    List<String> command = new ArrayList<>();
    command.add(binDirectory.resolve(name).toString());
    command.addAll(args);
    Path log = directory.resolve("logs").resolve(name + ".log");
    ProcessBuilder pb = new ProcessBuilder(command);
    pb.directory(directory.toFile());
    pb.redirectErrorStream(true);
    pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
    children.add(new Child(name, pb.start()));
  }

  /** Polls {@code /readyz} with the admin token until the API server answers 200. */
  private void awaitReady() throws IOException {
    Instant deadline = Instant.now().plus(START_TIMEOUT);
    Path ca = caFile();
    String last = "no answer";
    while (Instant.now().isBefore(deadline)) {
      for (Child child : children) {
        if (!child.process.isAlive()) {
          throw new IOException(
              child.name
                  + " exited with code "
                  + child.process.exitValue()
                  + " while the control plane started; see "
                  + directory.resolve("logs").resolve(child.name + ".log"));
        }
      }
      if (Files.exists(ca)) {
        try {
          HttpClient http = HttpClient.newBuilder().sslContext(sslContext(ca)).build();
          HttpResponse<String> response =
              http.send(
                  HttpRequest.newBuilder(URI.create(url() + "/readyz"))
                      .header("Authorization", "Bearer " + adminToken)
                      .timeout(Duration.ofSeconds(5))
                      .build(),
                  HttpResponse.BodyHandlers.ofString());
          if (response.statusCode() == 200) {
            return;
          }
          last = response.statusCode() + " " + response.body();
        } catch (IOException e) {
          last = e.toString();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException("interrupted waiting for kube-apiserver", e);
        }
      }
      sleep(Duration.ofMillis(300));
    }
    throw new IOException(
        "kube-apiserver was not ready within "
            + START_TIMEOUT.toSeconds()
            + " s (last /readyz: "
            + last
            + "); see "
            + directory.resolve("logs/kube-apiserver.log"));
  }

  static SSLContext sslContext(Path ca) throws IOException {
    try (InputStream in = Files.newInputStream(ca)) {
      KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
      trust.load(null, null);
      int i = 0;
      for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
        trust.setCertificateEntry("ca-" + i++, c);
      }
      TrustManagerFactory tmf =
          TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(trust);
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(null, tmf.getTrustManagers(), null);
      return context;
    } catch (java.security.GeneralSecurityException e) {
      throw new IOException("cannot read the API server's certificate " + ca + ": " + e, e);
    }
  }

  /** The API server's self-signed certificate and the CA that signed it (one PEM file). */
  public Path caFile() {
    return directory.resolve("pki/apiserver/apiserver.crt");
  }

  /** {@code https://127.0.0.1:PORT} */
  public String url() {
    return "https://127.0.0.1:" + apiPort;
  }

  /** One of the built tools: kubectl, helm, kstatus, ... */
  public Path tool(String name) {
    return binDirectory.resolve(name);
  }

  /** The log file of one component (etcd, kube-apiserver, ...). */
  public Path log(String component) {
    return directory.resolve("logs").resolve(component + ".log");
  }

  /**
   * A kubeconfig for the admin identity, context {@code volume-clone}, namespace {@code default}.
   */
  public Path writeKubeconfig(Path file) throws IOException {
    return writeKubeconfig(file, "volume-clone-admin", adminToken, "default");
  }

  /**
   * A kubeconfig for {@code user} with bearer {@code token}, context namespace {@code namespace}.
   */
  public Path writeKubeconfig(Path file, String user, String token, String namespace)
      throws IOException {
    String ca = Base64.getEncoder().encodeToString(Files.readAllBytes(caFile()));
    String text =
        """
        apiVersion: v1
        kind: Config
        clusters:
        - name: volume-clone
          cluster:
            server: %s
            certificate-authority-data: %s
        users:
        - name: %s
          user:
            token: %s
        contexts:
        - name: volume-clone
          context:
            cluster: volume-clone
            user: %s
            namespace: %s
        current-context: volume-clone
        """
            .formatted(url(), ca, user, token, user, namespace);
    Files.createDirectories(file.toAbsolutePath().getParent());
    writePrivate(file, text);
    return file;
  }

  private static void writePrivate(Path file, String text) throws IOException {
    Files.deleteIfExists(file);
    Files.createFile(
        file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    Files.writeString(file, text);
  }

  private static String rsaKeyPem() throws IOException {
    try {
      KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
      generator.initialize(2048);
      byte[] pkcs8 = generator.generateKeyPair().getPrivate().getEncoded();
      return "-----BEGIN PRIVATE KEY-----\n"
          + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
              .encodeToString(pkcs8)
          + "\n-----END PRIVATE KEY-----\n";
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IOException("no RSA key generator in this JDK", e);
    }
  }

  private static void sleep(Duration d) {
    try {
      Thread.sleep(d.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** SIGTERM to each component, newest first, SIGKILL to any still running after 10 s. */
  @Override
  public void close() {
    for (int i = children.size() - 1; i >= 0; i--) {
      Process p = children.get(i).process;
      p.destroy();
      try {
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
          p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        p.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
    children.clear();
  }
}
