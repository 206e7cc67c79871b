package io.volumeclone.e2e.cluster;

import io.volumeclone.operator.OperatorOptions;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The operator ({@code io.volumeclone.operator.Main}) as its own JVM, configured the way the Helm
 * chart configures it: through {@code VOLUME_CLONE_*} environment variables.
 */
public final class OperatorProcess implements AutoCloseable {

  private final Process process;
  private final Path log;

  private OperatorProcess(Process process, Path log) {
    this.process = process;
    this.log = log;
  }

  /**
   * The settings the embedded cluster runs with: host devices under {@code deviceDirectory} allowed
   * (the agent Pod then runs privileged, as the chart would say), fast reporting and rechecks, no
   * leader election (one replica), and a node copy budget of {@value #NODE_BANDWIDTH} shared by the
   * clones copying on a node.
   */
  public static final String NODE_BANDWIDTH = "8Mi";

  public static Map<String, String> settings(Path deviceDirectory) {
    Map<String, String> s = new LinkedHashMap<>();
    s.put(
        OperatorOptions.ALLOWED_DEVICE_PREFIXES.environmentVariable(),
        "/dev/disk/by-id/,/dev/mapper/," + deviceDirectory.toAbsolutePath() + "/");
    s.put(OperatorOptions.AGENT_PRIVILEGED.environmentVariable(), "true");
    s.put(OperatorOptions.LEADER_ELECTION.environmentVariable(), "false");
    s.put(OperatorOptions.AGENT_REPORT_INTERVAL.environmentVariable(), "1s");
    s.put(OperatorOptions.RECHECK_INTERVAL.environmentVariable(), "2s");
    s.put(OperatorOptions.AGENT_STOP_GRACE_PERIOD.environmentVariable(), "15s");
    s.put(OperatorOptions.AGENT_NODE_BANDWIDTH.environmentVariable(), NODE_BANDWIDTH);
    s.put(OperatorOptions.AGENT_IMAGE.environmentVariable(), "volume-clone:embedded");
    // Several embedded clusters may run at once (tests, a demo beside --serve): no fixed ports.
    s.put(OperatorOptions.HEALTH_PORT.environmentVariable(), "0");
    s.put(OperatorOptions.METRICS_PORT.environmentVariable(), "0");
    return s;
  }

  /** Starts the operator against {@code kubeconfig} with {@code settings} as its environment. */
  public static OperatorProcess start(Path kubeconfig, Map<String, String> settings, Path logDir)
      throws IOException {
    Map<String, String> env = new LinkedHashMap<>(settings);
    env.put("KUBECONFIG", kubeconfig.toAbsolutePath().toString());
    env.put("POD_NAMESPACE", "default");
    Path log = logDir.resolve("operator.log");
    Process p =
        ChildJvm.start(
            "io.volumeclone.operator.Main",
            List.of("-Xmx256m", "-XX:TieredStopAtLevel=1"),
            List.of(),
            env,
            log,
            logDir);
    return new OperatorProcess(p, log);
  }

  public Path log() {
    return log;
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  public long pid() {
    return process.pid();
  }

  /** SIGTERM, then SIGKILL if it has not exited within {@code grace}. */
  public void stop(Duration grace) {
    process.destroy();
    try {
      if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void close() {
    stop(Duration.ofSeconds(10));
  }
}
