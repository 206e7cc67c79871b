package io.volumeclone.api.v1alpha1.status;

/** Where a clone is in its life. Only moves forward, except that any phase may become Failed. */
public enum Phase {
  /** Accepted; the agent is not copying yet (being scheduled, opening devices). */
  Pending,
  /** The background copy runs; with access Immediate consumers already use the clone. */
  Copying,
  /** Every region is copied and committed; waiting for cutoverApproved (cutover Manual). */
  Copied,
  /** Cut over: the destination holds everything and is used directly. Terminal. */
  Completed,
  /** The clone cannot go on; status.message and the conditions say why. Terminal. */
  Failed;

  /** Completed and Failed are final: nothing changes after them. */
  public boolean isFinished() {
    return this == Completed || this == Failed;
  }
}
