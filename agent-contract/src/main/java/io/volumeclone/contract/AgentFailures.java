package io.volumeclone.contract;

import io.fabric8.kubernetes.api.model.Condition;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;
import java.util.Optional;
import java.util.Set;

/**
 * How the agent tells the operator that a clone cannot go on, the second half of the contract
 * {@link AgentPaths} starts.
 *
 * <p>A <em>permanent</em> failure is one that running the agent again cannot cure: the spec or the
 * devices contradict each other or the metadata. The agent then sets its {@code Degraded} condition
 * to True with one of the {@link #PERMANENT} reasons and a message that says what to change, and
 * exits with {@link #EXIT_PERMANENT}. The operator turns either signal into phase {@code Failed}
 * and stops the agent Pod, because under {@code restartPolicy: OnFailure} the kubelet would
 * otherwise run it again forever.
 *
 * <p>Every other non-zero exit (a device not there yet, an API server that did not answer, a crash)
 * is transient: the kubelet restarts the agent in place and it resumes from the metadata.
 */
public final class AgentFailures {

  /** The agent's exit code for a permanent failure (1 is a transient one, 143 SIGTERM). */
  public static final int EXIT_PERMANENT = 3;

  /** The spec cannot describe a clone (a size or option the engine refuses). */
  public static final String INVALID_SPEC = "InvalidSpec";

  /** The devices do not fit the spec, e.g. the destination is smaller than the copied range. */
  public static final String INVALID_GEOMETRY = "InvalidGeometry";

  /** The metadata device records another clone, is corrupt, or is too small. Never overwritten. */
  public static final String METADATA_MISMATCH = "MetadataMismatch";

  /** An identity field (source, destination, metadata, region size, range) changed mid-clone. */
  public static final String IDENTITY_CHANGED = "IdentityChanged";

  /** The Degraded reasons that mean the agent gave up for good. */
  public static final Set<String> PERMANENT =
      Set.of(INVALID_SPEC, INVALID_GEOMETRY, METADATA_MISMATCH, IDENTITY_CHANGED);

  public static boolean permanent(String reason) {
    return reason != null && PERMANENT.contains(reason);
  }

  /**
   * The agent's report of a permanent failure: its Degraded condition, True with a {@link
   * #PERMANENT} reason. The operator reads it to fail the clone, a restarted agent to stay away
   * from the devices.
   */
  public static Optional<Condition> reported(VolumeCloneStatus status) {
    if (status == null) {
      return Optional.empty();
    }
    return status
        .condition(ConditionTypes.DEGRADED)
        .filter(c -> ConditionTypes.TRUE.equals(c.getStatus()))
        .filter(c -> permanent(c.getReason()));
  }

  private AgentFailures() {}
}
