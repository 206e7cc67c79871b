package io.volumeclone.operator;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import java.time.Clock;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Starts the operator: {@code java -cp ... io.volumeclone.operator.Main [--help]}. */
public final class Main {

  private static final Logger LOG = LoggerFactory.getLogger(Main.class);

  private Main() {}

  public static void main(String[] args) throws Exception {
    if (args.length > 0 && (args[0].equals("--help") || args[0].equals("-h"))) {
      System.out.println(
          "volume-clone operator. Settings come from environment variables or the file named by"
              + " VOLUME_CLONE_CONFIG (.properties or .yaml):\n");
      System.out.print(OperatorOptions.describe());
      return;
    }
    OperatorOptions options = OperatorOptions.load(System.getenv());
    KubernetesClient client = new KubernetesClientBuilder().build();
    Operator operator = start(client, options, System.getenv());
    operator.installShutdownHook(Duration.ofSeconds(30));
    LOG.info("volume-clone operator started");
  }

  /** Registers the reconciler and starts the operator on {@code client}; used by tests and e2e. */
  public static Operator start(
      KubernetesClient client, OperatorOptions options, Map<String, String> environment) {
    Operator operator =
        new Operator(
            o -> {
              o.withKubernetesClient(client);
              o.withCloseClientOnStop(false);
              // The operator writes status itself (StatusWriter); JOSDK only adds and removes
              // the finalizer, by JSON patch, which every API server (and the mock) supports.
              o.withUseSSAToPatchPrimaryResource(false);
              if (options.get(OperatorOptions.LEADER_ELECTION)) {
                String namespace = options.get(OperatorOptions.LEADER_ELECTION_NAMESPACE);
                if (namespace.isEmpty()) {
                  namespace = environment.getOrDefault("POD_NAMESPACE", client.getNamespace());
                }
                o.withLeaderElectionConfiguration(
                    new LeaderElectionConfiguration(
                        options.get(OperatorOptions.LEADER_ELECTION_LEASE_NAME),
                        namespace,
                        environment.get("POD_NAME")));
              }
            });
    VolumeCloneReconciler reconciler =
        new VolumeCloneReconciler(client, options, Clock.systemUTC());
    List<String> namespaces = options.get(OperatorOptions.WATCH_NAMESPACES);
    operator.register(
        reconciler,
        c -> {
          c.withOnUpdateFilter(VolumeCloneReconciler::relevantUpdate);
          if (namespaces.isEmpty()) {
            c.watchingAllNamespaces();
          } else {
            c.settingNamespaces(new HashSet<>(namespaces));
          }
        });
    operator.start();
    return operator;
  }
}
