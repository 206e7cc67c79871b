package io.volumeclone.api.v1alpha1.spec;

/** How the clone switches to a direct mapping of the destination once everything is copied. */
public enum CutoverMode {
  /** Cut over as soon as every region is copied and committed. */
  Automatic,
  /** Wait in phase Copied until spec.cutoverApproved is set to true. */
  Manual
}
