package io.volumeclone.engine;

import java.io.IOException;

/**
 * A metadata device that cannot be used for the clone being opened: not volume-clone metadata,
 * corrupt, of another format version, of another clone's geometry, or too small. The message names
 * the device and the reason; the device is left exactly as it was.
 */
public class MetadataMismatchException extends IOException {

  private final String device;
  private final String reason;

  public MetadataMismatchException(String device, String reason) {
    super("metadata device " + device + " " + reason);
    this.device = device;
    this.reason = reason;
  }

  public String device() {
    return device;
  }

  /** The message without the device, for example "belongs to a clone with region size ...". */
  public String reason() {
    return reason;
  }
}
