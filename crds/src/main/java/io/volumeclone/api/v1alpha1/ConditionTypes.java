package io.volumeclone.api.v1alpha1;

import java.util.List;

/**
 * The fixed set of condition types in {@code status.conditions}. Ready, Reconciling and Stalled
 * follow kstatus (abnormal-true polarity for Reconciling and Stalled), so GitOps tools read the
 * clone's health; the others are the clone's own.
 */
public final class ConditionTypes {

  /** The clone is complete and cut over: the destination is used directly. */
  public static final String READY = "Ready";

  /** The operator or agent is still working towards the desired state (kstatus). */
  public static final String RECONCILING = "Reconciling";

  /** Progress has stopped and needs a human (kstatus), e.g. an invalid reference. */
  public static final String STALLED = "Stalled";

  /** Consumers can use the clone (with access Immediate: as soon as the export is up). */
  public static final String AVAILABLE = "Available";

  /** Every region is copied and committed to the metadata device. */
  public static final String COPIED = "Copied";

  /** The clone has switched to a direct mapping of the destination. */
  public static final String CUT_OVER = "CutOver";

  /** Copy errors exceeded the error budget, or the metadata device is read-only. */
  public static final String DEGRADED = "Degraded";

  /** Every type above, in the order tools should show them. */
  public static final List<String> ALL =
      List.of(READY, RECONCILING, STALLED, AVAILABLE, COPIED, CUT_OVER, DEGRADED);

  /** Condition status values. */
  public static final String TRUE = "True";

  public static final String FALSE = "False";

  private ConditionTypes() {}
}
