package io.volumeclone.api.v1alpha1.status;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.crdv2.generator.v1.SchemaCustomizer;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.kubernetes.api.model.Condition;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.SchemaMergePatch;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * What the clone is doing. Each field has one writer: the agent owns {@code progress}, {@code
 * export}, {@code metadataMode} and the conditions it reports; the operator owns the rest,
 * including the counters it must not lose when it restarts ({@code rerunsWithoutCutover}, {@code
 * agentRejection}). The conditions list is a list-map keyed by {@code type}, so server-side apply
 * from the two writers merges per condition and neither erases the other's.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@SchemaCustomizer(value = SchemaMergePatch.class, input = VolumeCloneStatus.CONDITIONS_SCHEMA)
public class VolumeCloneStatus {

  /**
   * Makes {@code conditions} a list-map keyed by {@code type} (which the generator has no
   * annotation for) and gives its items the schema of Kubernetes' {@code metav1.Condition} (the
   * patterns, lengths and required fields upstream declares), so tools that read conditions find
   * what they expect. {@link ConditionSet} builds only conditions this schema accepts.
   */
  static final String CONDITIONS_SCHEMA =
      """
      {"properties": {"conditions": {
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
          "required": ["type", "status", "reason", "message", "lastTransitionTime"],
          "properties": {
            "type": {
              "description": "Ready, Reconciling, Stalled, Available, Copied, CutOver or Degraded.",
              "maxLength": 316,
              "pattern": "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
            },
            "status": {
              "description": "True, False or Unknown.",
              "enum": ["True", "False", "Unknown"]
            },
            "reason": {
              "description": "Machine-readable reason for the last transition, in CamelCase.",
              "minLength": 1,
              "maxLength": 1024,
              "pattern": "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
            },
            "message": {
              "description": "Human-readable details about the last transition.",
              "maxLength": 32768
            },
            "lastTransitionTime": {
              "description": "When the status last changed (RFC 3339).",
              "format": "date-time"
            },
            "observedGeneration": {
              "description": "The metadata.generation the condition was set for.",
              "format": "int64",
              "minimum": 0
            }
          }
        }
      }}}
      """;

  @JsonPropertyDescription(
      "Pending, Copying, Copied (waiting for a manual cutover), Completed or Failed.")
  private Phase phase;

  @JsonPropertyDescription("Human-readable explanation of the phase, e.g. why the clone failed.")
  private String message;

  @JsonPropertyDescription(
      "Node the clone runs on: spec.nodeName, a device's or local volume's node, or where"
          + " kube-scheduler bound the agent Pod (empty until then).")
  private String nodeName;

  @JsonPropertyDescription("Name of the agent Pod that runs the clone.")
  private String agentPod;

  @JsonPropertyDescription(
      "The source in one line, for kubectl get: pvc/NAME, the device path or the NBD URI.")
  private String sourceSummary;

  @JsonPropertyDescription(
      "The destination in one line, for kubectl get: pvc/NAME or the device path.")
  private String destinationSummary;

  @JsonPropertyDescription("Where consumers reach the clone while it runs.")
  private ExportStatus export;

  @JsonPropertyDescription(
      "The clone volume of spec.volume: its claim, PersistentVolume, device, node, whether it is"
          + " bound and which Pods use it.")
  private VolumeStatus volume;

  @JsonPropertyDescription("How far the copy is.")
  private Progress progress;

  @Pattern("^(Write|ReadOnly|Fail)$")
  @JsonPropertyDescription(
      "State of the metadata device: Write (normal), ReadOnly (a metadata error happened:"
          + " reads work, writes to uncopied regions fail) or Fail (every request fails).")
  private String metadataMode;

  @JsonInclude(JsonInclude.Include.NON_EMPTY)
  @JsonPropertyDescription(
      "Ready (complete and cut over), Reconciling, Stalled, Available (consumers can use the"
          + " clone), Copied, CutOver and Degraded. Keyed by type.")
  private List<Condition> conditions = new ArrayList<>();

  @JsonPropertyDescription("The metadata.generation of the spec this status describes.")
  private Long observedGeneration;

  @JsonPropertyDescription("When the copy started (RFC 3339).")
  private String startTime;

  @JsonPropertyDescription("When the clone completed or failed (RFC 3339).")
  private String completionTime;

  @JsonPropertyDescription(
      "How many times the operator started the agent again after its Pod exited 0 without"
          + " CutOver=True in this status; past 3 the clone fails. Kept here so that an operator"
          + " restart does not reset it.")
  private Integer rerunsWithoutCutover;

  @JsonPropertyDescription(
      "The last agent Pod a node's kubelet refused to admit and when the next one may start.")
  private AgentRejection agentRejection;

  public VolumeCloneStatus() {}

  /** Values of {@link #getMetadataMode()}. */
  public static final String METADATA_MODE_WRITE = "Write";

  public static final String METADATA_MODE_READ_ONLY = "ReadOnly";
  public static final String METADATA_MODE_FAIL = "Fail";

  /** The condition of the given type, if present. */
  public Optional<Condition> condition(String type) {
    if (conditions == null) {
      return Optional.empty();
    }
    return conditions.stream().filter(c -> type.equals(c.getType())).findFirst();
  }

  /**
   * The conditions of these types, in order; null when there are none at all. What one writer (the
   * operator or the agent) owns and sends in its apply.
   */
  public List<Condition> conditionsOf(Set<String> types) {
    if (conditions == null) {
      return null;
    }
    return conditions.stream().filter(c -> types.contains(c.getType())).toList();
  }

  /** Whether the condition of the given type is present with status "True". */
  public boolean isTrue(String type) {
    return condition(type).map(c -> ConditionTypes.TRUE.equals(c.getStatus())).orElse(false);
  }

  public Phase getPhase() {
    return phase;
  }

  public void setPhase(Phase phase) {
    this.phase = phase;
  }

  public String getMessage() {
    return message;
  }

  public void setMessage(String message) {
    this.message = message;
  }

  public String getNodeName() {
    return nodeName;
  }

  public void setNodeName(String nodeName) {
    this.nodeName = nodeName;
  }

  public String getAgentPod() {
    return agentPod;
  }

  public void setAgentPod(String agentPod) {
    this.agentPod = agentPod;
  }

  public String getSourceSummary() {
    return sourceSummary;
  }

  public void setSourceSummary(String sourceSummary) {
    this.sourceSummary = sourceSummary;
  }

  public String getDestinationSummary() {
    return destinationSummary;
  }

  public void setDestinationSummary(String destinationSummary) {
    this.destinationSummary = destinationSummary;
  }

  public ExportStatus getExport() {
    return export;
  }

  public void setExport(ExportStatus export) {
    this.export = export;
  }

  public VolumeStatus getVolume() {
    return volume;
  }

  public void setVolume(VolumeStatus volume) {
    this.volume = volume;
  }

  public Progress getProgress() {
    return progress;
  }

  public void setProgress(Progress progress) {
    this.progress = progress;
  }

  public String getMetadataMode() {
    return metadataMode;
  }

  public void setMetadataMode(String metadataMode) {
    this.metadataMode = metadataMode;
  }

  public List<Condition> getConditions() {
    return conditions;
  }

  public void setConditions(List<Condition> conditions) {
    this.conditions = conditions;
  }

  public Long getObservedGeneration() {
    return observedGeneration;
  }

  public void setObservedGeneration(Long observedGeneration) {
    this.observedGeneration = observedGeneration;
  }

  public String getStartTime() {
    return startTime;
  }

  public void setStartTime(String startTime) {
    this.startTime = startTime;
  }

  public String getCompletionTime() {
    return completionTime;
  }

  public void setCompletionTime(String completionTime) {
    this.completionTime = completionTime;
  }

  public Integer getRerunsWithoutCutover() {
    return rerunsWithoutCutover;
  }

  public void setRerunsWithoutCutover(Integer rerunsWithoutCutover) {
    this.rerunsWithoutCutover = rerunsWithoutCutover;
  }

  public AgentRejection getAgentRejection() {
    return agentRejection;
  }

  public void setAgentRejection(AgentRejection agentRejection) {
    this.agentRejection = agentRejection;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof VolumeCloneStatus other
        && phase == other.phase
        && Objects.equals(message, other.message)
        && Objects.equals(nodeName, other.nodeName)
        && Objects.equals(agentPod, other.agentPod)
        && Objects.equals(sourceSummary, other.sourceSummary)
        && Objects.equals(destinationSummary, other.destinationSummary)
        && Objects.equals(export, other.export)
        && Objects.equals(volume, other.volume)
        && Objects.equals(progress, other.progress)
        && Objects.equals(metadataMode, other.metadataMode)
        && Objects.equals(conditions, other.conditions)
        && Objects.equals(observedGeneration, other.observedGeneration)
        && Objects.equals(startTime, other.startTime)
        && Objects.equals(completionTime, other.completionTime)
        && Objects.equals(rerunsWithoutCutover, other.rerunsWithoutCutover)
        && Objects.equals(agentRejection, other.agentRejection);
  }

  @Override
  public int hashCode() {
    return Objects.hash(
        phase,
        message,
        nodeName,
        agentPod,
        sourceSummary,
        destinationSummary,
        export,
        volume,
        progress,
        metadataMode,
        conditions,
        observedGeneration,
        startTime,
        completionTime,
        rerunsWithoutCutover,
        agentRejection);
  }

  @Override
  public String toString() {
    return "VolumeCloneStatus{phase="
        + phase
        + ", message="
        + message
        + ", node="
        + nodeName
        + ", agentPod="
        + agentPod
        + ", "
        + export
        + (volume == null ? "" : ", " + volume)
        + ", "
        + progress
        + ", metadataMode="
        + metadataMode
        + ", conditions="
        + conditions
        + ", observedGeneration="
        + observedGeneration
        + (rerunsWithoutCutover == null ? "" : ", rerunsWithoutCutover=" + rerunsWithoutCutover)
        + (agentRejection == null ? "" : ", " + agentRejection)
        + "}";
  }
}
