package io.volumeclone.engine;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * The one way to open a clone: source, then destination, then the geometry they allow, then the
 * metadata, then the engine on all three. The CLI, the agent and the benchmarks differ only in
 * where their devices come from and what they say about a mistake, so those are what a caller
 * gives; the order, the validation and the clean-up are here once.
 *
 * <p>Design note. The order is the one that says the most useful thing first: a missing source or
 * destination is reported before any metadata is touched, and the metadata is judged against a
 * geometry that both devices allow, so a device too small is never reported as a metadata mismatch.
 * Everything opened is owned by the launch until {@link Clone#open} succeeds; any failure before
 * that closes what was opened, in reverse order, and reports the first error (a close that fails
 * while failing is not the news). A metadata device given to {@link DiskCloneMetadata} is then
 * owned by it, so the metadata is closed instead of its device.
 *
 * <p>Failures: an {@link IOException} naming the role and the path for a device that cannot be
 * opened; {@link InvalidGeometryException} when the range does not fit the devices; {@link
 * MetadataMismatchException} when the metadata records another clone; whatever {@link Clone#open}
 * refuses.
 */
public final class CloneLauncher {

  /** Opens something a clone needs; an {@link IOException} names what and why. */
  @FunctionalInterface
  public interface Opener<T> {
    T open() throws IOException;
  }

  /**
   * Makes the metadata device ready once the geometry and the identity are known, before it is
   * opened: create a file, or remove one a finished clone left behind.
   */
  @FunctionalInterface
  public interface MetadataPreparation {
    void prepare(CloneGeometry geometry, CloneIdentity identity) throws IOException;
  }

  /** The range does not fit the devices (or is not a valid range): nothing was changed. */
  public static final class InvalidGeometryException extends IOException {
    InvalidGeometryException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  private final CloneOptions options;
  private Opener<? extends BlockDevice> source;
  private String sourceDescription;
  private Opener<? extends BlockDevice> destination;
  private String destinationDescription;
  private Opener<? extends BlockDevice> metadata;
  private MetadataPreparation preparation = (geometry, identity) -> {};
  private Opener<CloneIdentity> identity = () -> null;
  private long sourceOffset;
  private long destinationOffset;
  private long size = -1;
  private int regionSize = CloneGeometry.MIN_REGION_SIZE;
  private boolean force;
  private UnaryOperator<BlockDevice> destinationWrapper = UnaryOperator.identity();
  private UnaryOperator<CloneMetadata> metadataWrapper = UnaryOperator.identity();

  private CloneLauncher(CloneOptions options) {
    this.options = Objects.requireNonNull(options, "options");
  }

  /** A launch of the clone {@code options} describes; give it a source, destination, metadata. */
  public static CloneLauncher of(CloneOptions options) {
    return new CloneLauncher(options);
  }

  /** The source device or file at {@code path}, opened read-only with direct I/O. */
  public CloneLauncher source(Path path) {
    return source(path.toString(), () -> Devices.open("source", path, false, true));
  }

  /** A source opened by {@code opener} (an NBD export, a test device), named {@code what}. */
  public CloneLauncher source(String what, Opener<? extends BlockDevice> opener) {
    this.sourceDescription = what;
    this.source = opener;
    return this;
  }

  /** The destination device or file at {@code path}, opened exclusively with direct I/O. */
  public CloneLauncher destination(Path path) {
    return destination(path.toString(), () -> Devices.open("destination", path, true, true));
  }

  public CloneLauncher destination(String what, Opener<? extends BlockDevice> opener) {
    this.destinationDescription = what;
    this.destination = opener;
    return this;
  }

  /**
   * The metadata device or file at {@code path}, opened exclusively; a missing or unformatted file
   * is first made the size the geometry needs ({@link Devices#prepareMetadataFile}).
   */
  public CloneLauncher metadataFile(Path path) {
    return metadata(
        (geometry, identity) -> Devices.prepareMetadataFile(path, geometry),
        () -> Devices.open("metadata", path, true, false));
  }

  /** The metadata device at {@code path} as it is: a missing one is an error, never created. */
  public CloneLauncher metadataDevice(Path path) {
    return metadata((geometry, identity) -> {}, () -> Devices.open("metadata", path, true, false));
  }

  public CloneLauncher metadata(
      MetadataPreparation preparation, Opener<? extends BlockDevice> opener) {
    this.preparation = Objects.requireNonNull(preparation, "preparation");
    this.metadata = opener;
    return this;
  }

  /**
   * Whose metadata this is ({@link CloneIdentity}), asked once the destination is open (so a
   * missing destination is reported as such, not as an identity that cannot be read); null binds
   * nothing.
   */
  public CloneLauncher identity(Opener<CloneIdentity> identity) {
    this.identity = Objects.requireNonNull(identity, "identity");
    return this;
  }

  /**
   * The range: {@code size} bytes from {@code sourceOffset} of the source to {@code
   * destinationOffset} of the destination, or to the source's end when {@code size} is negative.
   */
  public CloneLauncher range(long sourceOffset, long destinationOffset, long size) {
    this.sourceOffset = sourceOffset;
    this.destinationOffset = destinationOffset;
    this.size = size;
    return this;
  }

  public CloneLauncher regionSize(int regionSize) {
    this.regionSize = regionSize;
    return this;
  }

  /** Reformat a metadata device that records another clone instead of refusing it. */
  public CloneLauncher force(boolean force) {
    this.force = force;
    return this;
  }

  /** Wraps the opened destination (metering, fault injection) before anything uses it. */
  public CloneLauncher wrapDestination(UnaryOperator<BlockDevice> wrapper) {
    this.destinationWrapper = Objects.requireNonNull(wrapper, "wrapper");
    return this;
  }

  /** Wraps the opened metadata (metering, fault injection) before the engine uses it. */
  public CloneLauncher wrapMetadata(UnaryOperator<CloneMetadata> wrapper) {
    this.metadataWrapper = Objects.requireNonNull(wrapper, "wrapper");
    return this;
  }

  /** Opens the devices, validates them and starts the clone; closes what it opened on failure. */
  public Clone launch() throws IOException {
    Objects.requireNonNull(source, "no source given");
    Objects.requireNonNull(destination, "no destination given");
    Objects.requireNonNull(metadata, "no metadata given");
    BlockDevice sourceDevice = null;
    BlockDevice destinationDevice = null;
    BlockDevice metadataDevice = null;
    CloneMetadata cloneMetadata = null;
    try {
      sourceDevice = source.open();
      destinationDevice = destinationWrapper.apply(destination.open());
      CloneGeometry geometry = geometry(sourceDevice, destinationDevice);
      CloneIdentity owner = identity.open();
      preparation.prepare(geometry, owner);
      metadataDevice = metadata.open();
      DiskCloneMetadata opened = DiskCloneMetadata.open(metadataDevice, geometry, owner, force);
      metadataDevice = null; // the metadata owns it now
      cloneMetadata = opened;
      cloneMetadata = metadataWrapper.apply(opened);
      return Clone.open(sourceDevice, destinationDevice, cloneMetadata, options);
    } catch (IOException | RuntimeException | Error e) {
      closeQuietly(cloneMetadata);
      closeQuietly(metadataDevice);
      closeQuietly(destinationDevice);
      closeQuietly(sourceDevice);
      throw e;
    }
  }

  private CloneGeometry geometry(BlockDevice sourceDevice, BlockDevice destinationDevice)
      throws IOException {
    long cloneSize = size >= 0 ? size : sourceDevice.size() - sourceOffset;
    try {
      return new CloneGeometry(
          sourceOffset,
          destinationOffset,
          cloneSize,
          regionSize,
          sourceDevice.size(),
          destinationDevice.size());
    } catch (IllegalArgumentException e) {
      throw new InvalidGeometryException(
          "cannot clone "
              + describe(sourceDescription, sourceDevice)
              + " to "
              + describe(destinationDescription, destinationDevice)
              + ": "
              + e.getMessage(),
          e);
    }
  }

  private static String describe(String given, BlockDevice device) {
    return given != null ? given : device.name();
  }

  private static void closeQuietly(AutoCloseable c) {
    if (c != null) {
      try {
        c.close();
      } catch (Exception e) {
        // already failing; the first error is the one reported
      }
    }
  }
}
