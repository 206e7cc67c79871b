package io.volumeclone.e2e.demo;

import io.volumeclone.e2e.cluster.LocalCluster;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Skeleton: serve mode only. */
public final class Demo {
  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args.length > 1 ? args[1] : "demo-dir");
    Files.createDirectories(dir);
    LocalCluster cluster = LocalCluster.start(dir, 0, Map.of());
    Runtime.getRuntime().addShutdownHook(new Thread(cluster::close));
    System.out.println("export KUBECONFIG=" + cluster.kubeconfig());
    Thread.currentThread().join();
  }
}
