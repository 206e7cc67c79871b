package io.volumeclone.operator;

import io.javaoperatorsdk.operator.RegisteredController;
import io.javaoperatorsdk.operator.monitoring.micrometer.MicrometerMetrics;
import io.javaoperatorsdk.operator.processing.Controller;
import io.javaoperatorsdk.operator.processing.event.source.controller.ControllerEventSource;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.Progress;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * What {@code GET /metrics} shows: JOSDK's reconcile counters and timers (through {@link
 * MicrometerMetrics}, without per-resource tags so 1,000 clones do not make 1,000 series), the
 * JVM's memory, GC, threads, classes, CPU and file descriptors, and {@code
 * volume_clone_operator_clones{phase}} counted from the informer cache (no API call per scrape).
 *
 * <p>Per clone, as KubeVirt CDI's clone-progress metric, labelled {@code namespace} and {@code
 * volumeclone} (the labels the agent's own series carry, so the two join without relabelling):
 * {@code volume_clone_operator_clone_copied_bytes}, {@code _size_bytes}, {@code
 * _copy_rate_bytes_per_second} (from the progress the agent reports into the status; absent until
 * it has) and {@code volume_clone_operator_clone_phase{phase}} (1 for the current phase, 0 for the
 * others). They are rebuilt from the informer cache at every scrape, so a deleted clone's series
 * disappear with it and a cluster of many clones costs no API call.
 */
public final class OperatorMetrics implements AutoCloseable {

  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final JvmGcMetrics gc = new JvmGcMetrics();
  private final MultiGauge copied =
      MultiGauge.builder("volume.clone.operator.clone.copied")
          .baseUnit("bytes")
          .description("Bytes the clone's destination holds, as its agent last reported")
          .register(registry);
  private final MultiGauge size =
      MultiGauge.builder("volume.clone.operator.clone.size")
          .baseUnit("bytes")
          .description("Bytes the clone copies in all")
          .register(registry);
  private final MultiGauge rate =
      MultiGauge.builder("volume.clone.operator.clone.copy.rate.bytes.per.second")
          .description("Background copy rate the clone's agent last reported")
          .register(registry);
  private final MultiGauge clonePhase =
      MultiGauge.builder("volume.clone.operator.clone.phase")
          .description("1 for the clone's current phase, 0 for the others")
          .register(registry);
  private volatile Supplier<List<VolumeClone>> clones = List::of;

  public OperatorMetrics() {
    new ClassLoaderMetrics().bindTo(registry);
    new JvmMemoryMetrics().bindTo(registry);
    gc.bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    new FileDescriptorMetrics().bindTo(registry);
  }

  /** For {@code ConfigurationServiceOverrider.withMetrics}. */
  MicrometerMetrics josdk() {
    return MicrometerMetrics.withoutPerResourceMetrics(registry);
  }

  /**
   * Gauges of VolumeClones per phase, read from the controller's own informer cache. A clone the
   * operator has not yet given a phase counts as Pending. Until the informer has synced they count
   * what the cache holds (0); NaN only if the cache cannot be read at all.
   */
  void countClones(RegisteredController<VolumeClone> registered) {
    if (!(registered instanceof Controller<VolumeClone> controller)) {
      return; // JOSDK hands out its Controller today; without it there is no cache to read
    }
    for (Phase each : Phase.values()) {
      Gauge.builder("volume.clone.operator.clones", controller, c -> count(c, each))
          .description("VolumeClones in the operator's cache, by phase")
          .tag("phase", each.name())
          .register(registry);
    }
    clones = () -> controller.getEventSourceManager().getControllerEventSource().list().toList();
  }

  /** Replaces the per-clone rows with what the cache holds now; gone clones lose theirs. */
  private void refreshCloneGauges() {
    List<VolumeClone> all;
    try {
      all = clones.get();
    } catch (RuntimeException notRunning) {
      all = List.of(); // no cache yet (or any more): no clone to describe
    }
    copied.register(progressRows(all, Progress::getBytesCopied), true);
    size.register(progressRows(all, Progress::getBytesTotal), true);
    rate.register(progressRows(all, Progress::getBytesPerSecond), true);
    List<MultiGauge.Row<?>> phases = new ArrayList<>();
    for (VolumeClone clone : all) {
      Phase current = phaseOf(clone);
      for (Phase each : Phase.values()) {
        phases.add(
            MultiGauge.Row.of(cloneTags(clone).and("phase", each.name()), each == current ? 1 : 0));
      }
    }
    clonePhase.register(phases, true);
  }

  private static List<MultiGauge.Row<?>> progressRows(
      List<VolumeClone> all, Function<Progress, Long> value) {
    List<MultiGauge.Row<?>> rows = new ArrayList<>();
    for (VolumeClone clone : all) {
      Progress progress = clone.getStatus() == null ? null : clone.getStatus().getProgress();
      Long v = progress == null ? null : value.apply(progress);
      if (v != null) {
        rows.add(MultiGauge.Row.of(cloneTags(clone), v));
      }
    }
    return rows;
  }

  private static Tags cloneTags(VolumeClone clone) {
    return Tags.of(
        "namespace",
        clone.getMetadata().getNamespace(),
        "volumeclone",
        clone.getMetadata().getName());
  }

  private static double count(Controller<VolumeClone> controller, Phase phase) {
    try {
      ControllerEventSource<VolumeClone> cache =
          controller.getEventSourceManager().getControllerEventSource();
      return cache.list(clone -> phaseOf(clone) == phase).count();
    } catch (RuntimeException notRunning) {
      return Double.NaN;
    }
  }

  private static Phase phaseOf(VolumeClone clone) {
    return clone.getStatus() == null || clone.getStatus().getPhase() == null
        ? Phase.Pending
        : clone.getStatus().getPhase();
  }

  public PrometheusMeterRegistry registry() {
    return registry;
  }

  /** Prometheus text exposition format 0.0.4. */
  public String scrape() {
    refreshCloneGauges();
    return registry.scrape();
  }

  @Override
  public void close() {
    gc.close();
    registry.close();
  }
}
