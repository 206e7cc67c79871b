package io.volumeclone.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.ConditionSet;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.Progress;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class StatusWriterTest {

  private static final Instant NOW = Instant.parse("2026-03-01T10:00:00Z");

  @Test
  void appliesOnlyTheOperatorsFieldsSoTheAgentsSurviveAndAnUnchangedStatusIsNotWritten()
      throws Exception {
    try (MockCluster cluster = new MockCluster()) {
      cluster.create(MockCluster.pvcClone("ns", "vc", "src", "dst"));
      playTheAgent(cluster);
      VolumeClone seen = cluster.get("ns", "vc");
      cluster.requests();

      StatusWriter writer = new StatusWriter(cluster.client);
      StatusWriter.Written written = writer.write(seen, desired(), NOW);

      assertThat(written.wrote()).isTrue();
      List<RecordedRequest> sent = takeRequests(cluster);
      assertThat(sent).hasSize(1);
      RecordedRequest apply = sent.get(0);
      assertThat(apply.getMethod()).isEqualTo("PATCH");
      assertThat(apply.getPath())
          .startsWith("/apis/volumeclone.io/v1alpha1/namespaces/ns/volumeclones/vc/status?")
          .contains("fieldManager=" + StatusWriter.FIELD_MANAGER)
          .contains("force=true");
      assertThat(apply.getHeader("Content-Type")).startsWith("application/apply-patch");
      String body = apply.getUtf8Body();
      assertThat(body)
          .contains("\"phase\":\"Copying\"", "\"Ready\"", "\"Reconciling\"", "\"Stalled\"")
          .doesNotContain("progress", "metadataMode", "\"Copied\"", "resourceVersion", "spec");

      VolumeCloneStatus now = cluster.get("ns", "vc").getStatus();
      assertThat(now.getPhase()).isEqualTo(Phase.Copying);
      assertThat(now.isTrue(ConditionTypes.RECONCILING)).isTrue();
      assertThat(now.getProgress().getBytesCopied()).isEqualTo(4096L);
      assertThat(now.getMetadataMode()).isEqualTo(VolumeCloneStatus.METADATA_MODE_WRITE);
      assertThat(now.condition(ConditionTypes.COPIED).orElseThrow().getReason())
          .isEqualTo("Copying");

      VolumeClone fresh = cluster.get("ns", "vc");
      takeRequests(cluster);
      StatusWriter.Written again = writer.write(fresh, desired(), NOW);
      assertThat(again.wrote()).isFalse();
      assertThat(takeRequests(cluster)).as("nothing the operator owns changed").isEmpty();
    }
  }

  private static StatusWriter.Desired desired() {
    return new StatusWriter.Desired(
        Phase.Copying,
        "copying",
        "pvc/src",
        "pvc/dst",
        "node-1",
        "volume-clone-vc",
        1L,
        List.of(
            new ConditionSet.Wanted(ConditionTypes.READY, false, "Copying", "copying"),
            new ConditionSet.Wanted(ConditionTypes.RECONCILING, true, "Copying", "copying"),
            new ConditionSet.Wanted(ConditionTypes.STALLED, false, "Copying", "no problem found")),
        true,
        false,
        null,
        null);
  }

  /** The agent's apply: progress, metadataMode and its Copied condition. */
  private static void playTheAgent(MockCluster cluster) {
    VolumeClone body = new VolumeClone();
    body.getMetadata().setNamespace("ns");
    body.getMetadata().setName("vc");
    VolumeCloneStatus status = new VolumeCloneStatus();
    Progress progress = new Progress();
    progress.setBytesCopied(4096L);
    status.setProgress(progress);
    status.setMetadataMode(VolumeCloneStatus.METADATA_MODE_WRITE);
    status.setConditions(
        new ArrayList<>(
            List.of(
                new ConditionBuilder()
                    .withType(ConditionTypes.COPIED)
                    .withStatus("False")
                    .withReason("Copying")
                    .withMessage("the background copy is running")
                    .build())));
    body.setStatus(status);
    cluster
        .client
        .resource(body)
        .subresource("status")
        .patch(
            new PatchContext.Builder()
                .withPatchType(PatchType.SERVER_SIDE_APPLY)
                .withFieldManager("volume-clone-agent")
                .withForce(true)
                .build());
  }

  private static List<RecordedRequest> takeRequests(MockCluster cluster)
      throws InterruptedException {
    List<RecordedRequest> out = new ArrayList<>();
    RecordedRequest r;
    while ((r = cluster.server.takeRequest(50, TimeUnit.MILLISECONDS)) != null) {
      out.add(r);
    }
    return out;
  }
}
