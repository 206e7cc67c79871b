package io.volumeclone.operator;

import io.javaoperatorsdk.operator.RegisteredController;
import io.javaoperatorsdk.operator.monitoring.micrometer.MicrometerMetrics;
import io.javaoperatorsdk.operator.processing.Controller;
import io.javaoperatorsdk.operator.processing.event.source.controller.ControllerEventSource;
import io.micrometer.core.instrument.Gauge;
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

/**
 * What {@code GET /metrics} shows: JOSDK's reconcile counters and timers (through {@link
 * MicrometerMetrics}, without per-resource tags so 1,000 clones do not make 1,000 series), the
 * JVM's memory, GC, threads, classes, CPU and file descriptors, and {@code
 * volume_clone_operator_clones{phase}} counted from the informer cache (no API call per scrape).
 */
public final class OperatorMetrics implements AutoCloseable {

  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final JvmGcMetrics gc = new JvmGcMetrics();

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
    for (Phase phase : Phase.values()) {
      Gauge.builder("volume.clone.operator.clones", controller, c -> count(c, phase))
          .description("VolumeClones in the operator's cache, by phase")
          .tag("phase", phase.name())
          .register(registry);
    }
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
    return registry.scrape();
  }

  @Override
  public void close() {
    gc.close();
    registry.close();
  }
}
