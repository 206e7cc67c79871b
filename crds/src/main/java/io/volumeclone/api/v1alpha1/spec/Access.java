package io.volumeclone.api.v1alpha1.spec;

/** When consumers may use the destination. */
public enum Access {
  /** Usable as soon as the clone starts: reads of uncopied regions are served from the source. */
  Immediate,
  /** Usable only once every region is copied and the clone is complete. */
  AfterCopy
}
