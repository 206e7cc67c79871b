package io.volumeclone.engine;

import java.io.IOException;

/**
 * An I/O failure on a named device at a known offset. {@link #kind()} lets the export map the
 * failure to a protocol error (EIO, EINVAL, EPERM, ENOSPC, ENOTSUP) without parsing messages.
 */
public class BlockIoException extends IOException {

  public enum Kind {
    /** The device or metadata failed: the client should see EIO. */
    IO,
    /** The request lies (partly) outside the device: EINVAL. */
    OUT_OF_RANGE,
    /** A mutating request on a read-only device or a clone in read-only mode: EPERM. */
    READ_ONLY,
    /** Nothing left to allocate: ENOSPC. */
    NO_SPACE,
    /** The device cannot do this request as asked (for example a fast zero): ENOTSUP. */
    NOT_SUPPORTED
  }

  private final Kind kind;
  private final String device;
  private final String operation;
  private final long offset;

  public BlockIoException(Kind kind, String device, String operation, long offset, String detail) {
    this(kind, device, operation, offset, detail, null);
  }

  public BlockIoException(
      Kind kind, String device, String operation, long offset, String detail, Throwable cause) {
    super(operation + " on " + device + " at offset " + offset + " failed: " + detail, cause);
    this.kind = kind;
    this.device = device;
    this.operation = operation;
    this.offset = offset;
  }

  public Kind kind() {
    return kind;
  }

  public String device() {
    return device;
  }

  public String operation() {
    return operation;
  }

  public long offset() {
    return offset;
  }
}
