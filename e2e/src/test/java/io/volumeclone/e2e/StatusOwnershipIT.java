package io.volumeclone.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.api.model.ManagedFieldsEntry;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.api.v1alpha1.status.Progress;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * "Each status field has one writer", enforced by the API server: the operator and the agent apply
 * their status fields by server-side apply under their own field managers, conditions are a
 * list-map keyed by type, so neither writer's apply can erase the other's fields (the old mock had
 * no server-side apply; the writers did GET + PUT and relied on their own discipline).
 */
class StatusOwnershipIT {

  private static final String OPERATOR = "volume-clone-operator";
  private static final String AGENT = "volume-clone-agent";

  @Test
  void neitherWritersApplyErasesTheOthersFields() throws Exception {
    String ns = E2e.namespace("ownership");
    Path src = E2e.randomDevice(ns + "-src", 1 << 20, 51);
    // Refused by the operator (a destination outside the allowed prefixes), so no agent runs and
    // the test plays the agent; the operator has applied its fields once Stalled is True.
    E2e.apply(Manifests.deviceClone(ns, "owned", src, Path.of("/var/tmp/not-allowed-ssa.img"), ""));
    VolumeClone refused =
        E2e.awaitClone(
            ns, "owned", "Stalled=True", c -> Clones.conditionTrue(c, ConditionTypes.STALLED));
    assertThat(fields(refused, OPERATOR))
        .contains("\"f:phase\"", "k:{\\\"type\\\":\\\"Stalled\\\"}");

    VolumeCloneStatus agentPart = new VolumeCloneStatus();
    Progress progress = new Progress();
    progress.setBytesTotal(1L << 20);
    progress.setBytesCopied(1L << 19);
    progress.setRegionsTotal(16L);
    progress.setRegionsCopied(8L);
    agentPart.setProgress(progress);
    agentPart.setMetadataMode(VolumeCloneStatus.METADATA_MODE_WRITE);
    agentPart.setConditions(
        List.of(condition(ConditionTypes.COPIED, "False", "Copying", "the copy is running")));
    VolumeClone afterAgent = applyStatus(ns, "owned", AGENT, agentPart);

    VolumeCloneStatus s = afterAgent.getStatus();
    assertThat(s.getProgress().getBytesCopied()).isEqualTo(1L << 19);
    assertThat(s.condition(ConditionTypes.COPIED).orElseThrow().getReason()).isEqualTo("Copying");
    assertThat(s.getPhase())
        .as("the operator's phase survives the agent's apply")
        .isEqualTo(refused.getStatus().getPhase());
    assertThat(s.getMessage()).isEqualTo(refused.getStatus().getMessage());
    for (String type :
        List.of(ConditionTypes.READY, ConditionTypes.RECONCILING, ConditionTypes.STALLED)) {
      assertThat(s.condition(type))
          .as("the operator's %s condition survives the agent's apply", type)
          .isEqualTo(refused.getStatus().condition(type));
    }

    VolumeCloneStatus operatorPart = new VolumeCloneStatus();
    operatorPart.setPhase(Phase.Copying);
    operatorPart.setConditions(
        List.of(condition(ConditionTypes.RECONCILING, "True", "TestApply", "played by the test")));
    VolumeClone afterOperator = applyStatus(ns, "owned", OPERATOR, operatorPart);

    s = afterOperator.getStatus();
    assertThat(s.getPhase()).isEqualTo(Phase.Copying);
    assertThat(s.condition(ConditionTypes.RECONCILING).orElseThrow().getReason())
        .isEqualTo("TestApply");
    assertThat(s.getProgress())
        .as("the agent's progress survives the operator's apply")
        .isEqualTo(afterAgent.getStatus().getProgress());
    assertThat(s.getMetadataMode()).isEqualTo(VolumeCloneStatus.METADATA_MODE_WRITE);
    assertThat(s.condition(ConditionTypes.COPIED))
        .as("the agent's Copied condition survives the operator's apply")
        .isEqualTo(afterAgent.getStatus().condition(ConditionTypes.COPIED));
    // The operator's own fields it no longer sends are its to remove: the API server drops them.
    assertThat(s.condition(ConditionTypes.STALLED)).isEmpty();
    assertThat(s.getMessage()).isNull();

    assertThat(fields(afterOperator, AGENT))
        .contains("\"f:progress\"", "\"f:metadataMode\"", "k:{\\\"type\\\":\\\"Copied\\\"}")
        .doesNotContain("f:phase", "Reconciling");
    assertThat(fields(afterOperator, OPERATOR))
        .contains("\"f:phase\"", "k:{\\\"type\\\":\\\"Reconciling\\\"}")
        .doesNotContain("f:progress", "Copied");
  }

  @Test
  void theRealWritersApplyTheirOwnFieldsUnderTheirOwnManagers() throws Exception {
    String ns = E2e.namespace("managers");
    int size = 2 << 20;
    Path src = E2e.randomDevice(ns + "-src", size, 52);
    Path dst = E2e.emptyDevice(ns + "-dst", size);
    E2e.apply(Manifests.deviceClone(ns, "both", src, dst, ""));
    VolumeClone done =
        E2e.awaitClone(
            ns,
            "both",
            "phase Completed, Ready and CutOver",
            c ->
                Clones.phase(c, Phase.Completed)
                    && Clones.conditionTrue(c, ConditionTypes.READY)
                    && Clones.conditionTrue(c, ConditionTypes.CUT_OVER));

    assertThat(fields(done, OPERATOR))
        .contains(
            "\"f:phase\"",
            "\"f:observedGeneration\"",
            "k:{\\\"type\\\":\\\"Ready\\\"}",
            "k:{\\\"type\\\":\\\"Stalled\\\"}")
        .doesNotContain("f:progress", "CutOver", "Copied");
    assertThat(fields(done, AGENT))
        .contains(
            "\"f:progress\"",
            "k:{\\\"type\\\":\\\"Copied\\\"}",
            "k:{\\\"type\\\":\\\"CutOver\\\"}",
            "k:{\\\"type\\\":\\\"Available\\\"}")
        .doesNotContain("f:phase", "Ready", "Stalled");
    assertThat(done.getMetadata().getManagedFields())
        .as("no status write by update (GET + PUT) any more")
        .filteredOn(e -> "status".equals(e.getSubresource()))
        .allMatch(e -> "Apply".equals(e.getOperation()), "is an Apply");
    Clones.assertSameBytes(src, dst);
  }

  private static VolumeClone applyStatus(
      String ns, String name, String manager, VolumeCloneStatus status) {
    VolumeClone body = new VolumeClone();
    body.getMetadata().setNamespace(ns);
    body.getMetadata().setName(name);
    body.setStatus(status);
    return E2e.client()
        .resource(body)
        .subresource("status")
        .patch(
            new PatchContext.Builder()
                .withPatchType(PatchType.SERVER_SIDE_APPLY)
                .withFieldManager(manager)
                .withForce(true)
                .build());
  }

  private static Condition condition(String type, String status, String reason, String message) {
    return new ConditionBuilder()
        .withType(type)
        .withStatus(status)
        .withReason(reason)
        .withMessage(message)
        .withLastTransitionTime("2026-01-01T00:00:00Z")
        .build();
  }

  /** The status fields {@code manager} owns by apply, as the API server's fieldsV1 JSON. */
  private static String fields(VolumeClone clone, String manager) {
    List<ManagedFieldsEntry> entries =
        clone.getMetadata().getManagedFields().stream()
            .filter(e -> manager.equals(e.getManager()) && "Apply".equals(e.getOperation()))
            .filter(e -> "status".equals(e.getSubresource()))
            .toList();
    assertThat(entries)
        .as("managedFields of %s: %s", manager, clone.getMetadata().getManagedFields())
        .hasSize(1);
    Object fields = entries.get(0).getFieldsV1().getAdditionalProperties();
    return E2e.client()
        .getKubernetesSerialization()
        .asJson(fields instanceof Map<?, ?> m ? m : Map.of());
  }
}
