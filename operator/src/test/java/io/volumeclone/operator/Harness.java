package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Pod;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/** A mock cluster plus a reconciler called directly, the way JOSDK would call it. */
class Harness implements AutoCloseable {

  static final String NS = "db";

  /** The chart allows no device path by default; tests that open host devices name these. */
  static final String TEST_DEVICE_PREFIXES = "/dev/disk/by-id/,/dev/mapper/";

  final MockCluster cluster = new MockCluster();
  final TestingClock clock = new TestingClock();
  final VolumeCloneReconciler reconciler;

  Harness() {
    this(Map.of());
  }

  Harness(Map<String, String> settings) {
    reconciler = new VolumeCloneReconciler(cluster.client, OperatorOptions.of(settings), clock);
  }

  UpdateControl<VolumeClone> reconcile(String name) {
    VolumeClone clone = cluster.get(NS, name);
    try {
      return reconciler.reconcile(clone, new TestingContext(cluster.client, clone));
    } catch (Exception e) {
      throw new AssertionError("reconcile of " + name + " failed", e);
    }
  }

  DeleteControl cleanup(String name) {
    VolumeClone clone = cluster.get(NS, name);
    return reconciler.cleanup(clone, new TestingContext(cluster.client, clone));
  }

  VolumeClone clone(String name) {
    return cluster.get(NS, name);
  }

  VolumeCloneStatus status(String name) {
    return clone(name).getStatus();
  }

  Pod pod(String name) {
    return cluster.client.pods().inNamespace(NS).withName(AgentPodFactory.podName(name)).get();
  }

  /** Plays the agent: changes the status through the status subresource, as the agent does. */
  void agentWrites(String name, Consumer<VolumeCloneStatus> change) {
    VolumeClone clone = clone(name);
    if (clone.getStatus() == null) {
      clone.setStatus(new VolumeCloneStatus());
    }
    change.accept(clone.getStatus());
    cluster.client.resource(clone).updateStatus();
  }

  void podPhase(String name, String phase, String reason) {
    Pod pod = pod(name);
    pod.setStatus(
        new io.fabric8.kubernetes.api.model.PodStatusBuilder()
            .withPhase(phase)
            .withReason(reason)
            .build());
    cluster.client.resource(pod).updateStatus();
  }

  List<Event> events(String name) {
    return cluster.client.v1().events().inNamespace(NS).list().getItems().stream()
        .filter(e -> name.equals(e.getInvolvedObject().getName()))
        .toList();
  }

  List<String> eventReasons(String name) {
    return events(name).stream().map(Event::getReason).toList();
  }

  @Override
  public void close() {
    cluster.close();
  }
}
