package io.volumeclone.agent;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.nio.file.Path;
import java.time.Clock;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code volume-clone agent}: the entry point of the agent Pod. Reads its VolumeClone with the
 * Pod's service account (in-cluster) or {@code KUBECONFIG}, runs it ({@link Agent}) and exits 0
 * after cutover. SIGTERM commits and exits; a SIGKILL loses nothing that was committed.
 */
@Command(
    name = "agent",
    mixinStandardHelpOptions = true,
    description = {
      "Run one VolumeClone inside its agent Pod: open its devices, copy, serve, report, cut over.",
      "Name and namespace come from the options or from VOLUME_CLONE_NAME and"
          + " VOLUME_CLONE_NAMESPACE; the cluster from the in-cluster service account or"
          + " KUBECONFIG."
    },
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:cut over: the destination holds everything",
      "1:failed for a reason that may pass (a device not there yet, an API error); run again,"
          + " it resumes from the metadata",
      "3:failed permanently (invalid spec, device too small, metadata of another clone,"
          + " identity change): the Degraded condition says why; running again cannot help",
      "2:usage error",
      "143:stopped by SIGTERM after committing the metadata"
    })
public final class AgentCommand implements Callable<Integer> {

  @Option(names = "--name", description = "The VolumeClone's name (env VOLUME_CLONE_NAME).")
  String name;

  @Option(
      names = "--namespace",
      description = "The VolumeClone's namespace (env VOLUME_CLONE_NAMESPACE).")
  String namespace;

  @Option(
      names = "--state-dir",
      description =
          "This clone's state directory for the NBD socket and the metadata file (env"
              + " VOLUME_CLONE_STATE_DIRECTORY; default /var/lib/volume-clone/NAMESPACE/NAME).")
  Path stateDirectory;

  @Option(
      names = "--report-interval",
      description =
          "Least time between progress writes to the status, e.g. 5s (env"
              + " VOLUME_CLONE_REPORT_INTERVAL; default 5s).")
  String reportInterval;

  @Option(
      names = "--metrics-port",
      description = "Port of the Prometheus endpoint /metrics; 0 = off (default).")
  Integer metricsPort;

  @Option(names = "--log-format", description = "text (default) or json: one JSON object per line.")
  String logFormat;

  @Option(
      names = "--pvc-device-directory",
      hidden = true,
      description = "Where PVCs appear as block devices (default /dev/volume-clone).")
  Path pvcDeviceDirectory;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() {
    AgentSettings settings;
    try {
      settings =
          AgentSettings.resolve(
              name,
              namespace,
              stateDirectory,
              reportInterval,
              metricsPort,
              pvcDeviceDirectory,
              logFormat,
              System.getenv());
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
    }
    AgentLog log =
        new AgentLog(
            settings.namespace() + "/" + settings.name(), settings.logFormat(), System.err);
    try (KubernetesClient client = new KubernetesClientBuilder().build()) {
      Agent agent =
          new Agent(settings, client, log, Agent.NodeEnvironment.host(), Clock.systemUTC());
      Thread hook = new Thread(agent::stop, "agent-sigterm");
      Runtime.getRuntime().addShutdownHook(hook);
      int code = agent.run();
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException e) {
        // shutting down: the hook is what stopped the agent
      }
      return code;
    }
  }

  /** Runs the agent without the rest of the CLI (tests, and images that call it directly). */
  public static void main(String[] args) {
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
    System.exit(new CommandLine(new AgentCommand()).execute(args));
  }
}
