package io.volumeclone.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.CopySpec;
import io.volumeclone.api.v1alpha1.spec.DestinationRef;
import io.volumeclone.api.v1alpha1.spec.SourceRef;
import io.volumeclone.api.v1alpha1.spec.VolumeCloneSpec;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The start of the bandwidth knob's one route: before the clone opens, {@link SpecApplier#begin}
 * gives the spec's limit to the {@link NodeBandwidthShare}, which computes the limit {@link
 * CopierBandwidth} hands the opener; no second computation at start.
 */
class BandwidthRouteTest {

  static final long MiB = 1L << 20;

  @TempDir Path dir;
  final ByteArrayOutputStream logs = new ByteArrayOutputStream();
  final AgentLog log =
      new AgentLog(
          "db/route", AgentLog.Format.JSON, new PrintStream(logs, true, StandardCharsets.UTF_8));
  final ArrayList<NodeBandwidthShare> shares = new ArrayList<>();

  @AfterEach
  void close() {
    shares.forEach(NodeBandwidthShare::close);
  }

  /** A route as the agent builds it, for clone {@code name} under {@code nodeBudget}. */
  record Route(SpecApplier applier, NodeBandwidthShare share, CopierBandwidth copier) {}

  Route route(String name, long nodeBudget) {
    CopierBandwidth copier = new CopierBandwidth(log);
    NodeBandwidthShare share =
        new NodeBandwidthShare(dir.resolve("leases"), "db", name, nodeBudget, 0, copier);
    copier.limitsOf(share);
    shares.add(share);
    SpecApplier applier =
        new SpecApplier(
            log,
            share,
            new AgentLifecycle((from, to) -> {}),
            new KubernetesSerialization(),
            () -> {});
    return new Route(applier, share, copier);
  }

  static VolumeClone resource(String name, String bandwidth) {
    VolumeCloneSpec spec = new VolumeCloneSpec();
    spec.setSource(SourceRef.device("/dev/source"));
    spec.setDestination(DestinationRef.device("/dev/destination"));
    CopySpec copy = new CopySpec();
    copy.setBandwidth(bandwidth);
    spec.setCopy(copy);
    return new VolumeClone("db", name, spec);
  }

  String log() {
    return logs.toString(StandardCharsets.UTF_8);
  }

  @Test
  void withoutANodeBudgetTheCloneStartsAtItsOwnLimit() {
    Route r = route("own", 0);
    r.applier().begin(resource("own", "3Mi"));
    assertThat(r.share().demand()).isEqualTo(3 * MiB);
    assertThat(r.copier().startLimit()).isEqualTo(3 * MiB);
    assertThat(log()).contains("\"event\":\"bandwidth\"").contains("\"bytesPerSecond\":" + 3 * MiB);
  }

  @Test
  void withoutAnyLimitTheCloneStartsUnlimited() {
    Route r = route("free", 0);
    r.applier().begin(resource("free", null));
    assertThat(r.share().limit()).as("the share computed a limit").isZero();
    assertThat(r.copier().startLimit()).isZero();
  }

  @Test
  void underANodeBudgetTheCloneStartsAtTheShareItGetsOnJoining() {
    Route copying = route("copying", 2 * MiB);
    copying.applier().begin(resource("copying", null));
    copying.share().setCopying(true);
    assertThat(copying.share().limit()).isEqualTo(2 * MiB);

    Route joining = route("joining", 2 * MiB);
    joining.applier().begin(resource("joining", null));
    assertThat(joining.copier().startLimit())
        .as("half the node budget, before its clone copies a byte")
        .isEqualTo(MiB);
    assertThat(log()).contains("\"bytesPerSecond\":" + MiB + ",\"copyingClones\":1");
  }

  @Test
  void anInvalidLimitIsLeftToTheOpenerToRefuse() {
    Route r = route("typo", 0);
    r.applier().begin(resource("typo", "fast"));
    assertThat(r.copier().startLimit()).isZero();
    assertThat(log()).doesNotContain("bandwidth-invalid");
    assertThatThrownBy(() -> CloneOpener.options(resource("typo", "fast"), 0))
        .as("the opener refuses it")
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("spec.copy");
  }
}
