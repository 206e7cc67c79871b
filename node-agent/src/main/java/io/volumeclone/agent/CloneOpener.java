package io.volumeclone.agent;

import io.micrometer.core.instrument.MeterRegistry;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.CloneRange;
import io.volumeclone.api.v1alpha1.spec.CopySpec;
import io.volumeclone.api.v1alpha1.spec.CutoverMode;
import io.volumeclone.api.v1alpha1.spec.MetadataRef;
import io.volumeclone.api.v1alpha1.spec.SourceRef;
import io.volumeclone.api.v1alpha1.spec.VolumeCloneSpec;
import io.volumeclone.contract.AgentFailures;
import io.volumeclone.engine.BlockDevice;
import io.volumeclone.engine.Clone;
import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.CloneIdentity;
import io.volumeclone.engine.CloneLauncher;
import io.volumeclone.engine.CloneMetadata;
import io.volumeclone.engine.CloneOptions;
import io.volumeclone.engine.Devices;
import io.volumeclone.engine.DiskCloneMetadata;
import io.volumeclone.engine.MetadataMismatchException;
import io.volumeclone.engine.MetadataReport;
import io.volumeclone.nbd.NbdBlockDevice;
import io.volumeclone.nbd.NbdUri;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Opens a VolumeClone's devices where the agent Pod has them and starts the engine on them. PVCs
 * are at the fixed {@code volumeDevices} paths ({@link AgentSettings#pvcDevice}), host devices at
 * their own path, an NBD source by its URI; without {@code spec.metadata} the metadata is a file in
 * the clone's state directory, created sparse at the size the geometry needs. The metadata decides
 * whether this is a fresh start or a resume: a geometry that differs from the recorded one (another
 * range or region size, a source or destination of another size) is refused, never reformatted.
 *
 * <p>Identity. The metadata is bound to the VolumeClone's uid and the destination ({@link
 * #identity}); a metadata device of another VolumeClone is refused as a permanent failure naming
 * both, so a re-created clone never resumes (or reports Completed) against a fresh destination. The
 * one exception is the default metadata file: it is keyed by namespace and name, and names are
 * unique while the object exists, so a default file recording another uid belongs to a deleted
 * VolumeClone. When that clone had finished (complete and cut over) the file is what its deletion
 * should have removed; it is removed here, before the new clone formats its own. A file of a clone
 * deleted while copying is refused like any other device, because the user may want to inspect it.
 */
final class CloneOpener {

  private static final Logger LOG = LoggerFactory.getLogger(CloneOpener.class);

  /** The opened clone and the paths it was opened from, for messages and the node attach. */
  record Opened(Clone target, String destinationPath, String metadataPath) {}

  private final AgentSettings settings;
  private final MeterRegistry registry;

  private final UnaryOperator<CloneMetadata> metadataWrapper;
  private final UnaryOperator<BlockDevice> destinationWrapper;

  CloneOpener(
      AgentSettings settings,
      MeterRegistry registry,
      UnaryOperator<CloneMetadata> metadataWrapper,
      UnaryOperator<BlockDevice> destinationWrapper) {
    this.settings = settings;
    this.registry = registry;
    this.metadataWrapper = metadataWrapper;
    this.destinationWrapper = destinationWrapper;
  }

  /**
   * Opens the clone's devices and the engine on them, the copier starting at {@code bandwidth}
   * bytes per second: the clone's share of the node (see {@link NodeBandwidthShare}), which is its
   * own spec.copy.bandwidth when the node has no budget.
   */
  Opened open(VolumeClone resource, long bandwidth) throws AgentFailure {
    VolumeCloneSpec spec = resource.getSpec();
    if (spec == null || spec.getSource() == null || spec.getDestination() == null) {
      throw new AgentFailure(
          AgentFailures.INVALID_SPEC,
          "spec.source and spec.destination are required; nothing was opened");
    }
    CloneOptions options;
    try {
      options = options(resource, bandwidth);
    } catch (IllegalArgumentException e) {
      throw new AgentFailure(AgentFailures.INVALID_SPEC, e.getMessage(), e);
    }
    long regionSize;
    long sourceOffset;
    long destinationOffset;
    long size;
    try {
      regionSize = spec.regionSizeBytes();
      CloneRange range = spec.getRange() == null ? new CloneRange() : spec.getRange();
      sourceOffset = range.sourceOffsetBytes();
      destinationOffset = range.destinationOffsetBytes();
      size = range.sizeBytes();
    } catch (IllegalArgumentException e) {
      throw new AgentFailure(AgentFailures.INVALID_SPEC, e.getMessage(), e);
    }
    if (regionSize > CloneGeometry.MAX_REGION_SIZE) {
      throw new AgentFailure(
          AgentFailures.INVALID_SPEC,
          "spec.regionSize " + spec.getRegionSize() + " is larger than 1Gi");
    }

    String destinationPath =
        spec.getDestination().getPersistentVolumeClaim() != null
            ? settings.pvcDevice("destination").toString()
            : spec.getDestination().getDevice().getPath();
    Path metadataPath = metadataPath(spec.getMetadata());
    CloneLauncher launcher =
        CloneLauncher.of(options)
            .destination(Path.of(destinationPath))
            .wrapDestination(destinationWrapper)
            .range(sourceOffset, destinationOffset, size)
            .regionSize((int) regionSize)
            .identity(() -> identity(resource, Path.of(destinationPath)))
            .wrapMetadata(m -> new MeteredMetadata(metadataWrapper.apply(m), registry));
    source(launcher, spec.getSource());
    if (spec.getMetadata() == null) {
      launcher.metadata(
          (geometry, identity) -> {
            Files.createDirectories(metadataPath.toAbsolutePath().getParent());
            removeIfFinishedByAnother(metadataPath, identity);
            Devices.prepareMetadataFile(metadataPath, geometry);
          },
          () -> Devices.open("metadata", metadataPath, true, false));
    } else {
      launcher.metadataDevice(metadataPath);
    }
    try {
      return new Opened(launcher.launch(), destinationPath, metadataPath.toString());
    } catch (CloneLauncher.InvalidGeometryException e) {
      throw new AgentFailure(AgentFailures.INVALID_GEOMETRY, e.getMessage(), e);
    } catch (MetadataMismatchException e) {
      throw new AgentFailure(
          AgentFailures.METADATA_MISMATCH,
          e.getMessage()
              + ". The metadata records another clone (another VolumeClone, source,"
              + " destination, range or region size): restore this VolumeClone's spec, or"
              + " create a new VolumeClone with an empty metadata device. Nothing was changed."
              + (spec.getMetadata() == null
                  ? " This is the default metadata file; when an earlier VolumeClone of this"
                      + " name, deleted before it finished, left it, remove "
                      + metadataPath
                      + " on the clone's node (status.nodeName) to start afresh."
                  : ""),
          e);
    } catch (IOException e) {
      throw new AgentFailure("DeviceUnavailable", e.getMessage(), e);
    }
  }

  /**
   * The clone is its VolumeClone's uid; the destination its claim (and the device's serial where
   * the kernel reports one) or its host device.
   */
  static CloneIdentity identity(VolumeClone resource, Path destination) throws IOException {
    String namespace = resource.getMetadata().getNamespace();
    String clone =
        "VolumeClone "
            + namespace
            + "/"
            + resource.getMetadata().getName()
            + " uid "
            + resource.getMetadata().getUid();
    var ref = resource.getSpec().getDestination();
    String device = CloneIdentity.describeDevice(destination);
    String what =
        ref.getPersistentVolumeClaim() != null
            ? "PersistentVolumeClaim "
                + namespace
                + "/"
                + ref.getPersistentVolumeClaim().getClaimName()
                + ", "
                + device
            : device;
    return new CloneIdentity(clone, what);
  }

  /** Removes a default metadata file that a finished, since deleted VolumeClone left behind. */
  private static void removeIfFinishedByAnother(Path metadataPath, CloneIdentity identity)
      throws IOException {
    if (!Files.exists(metadataPath)) {
      return;
    }
    MetadataReport report;
    try (BlockDevice device = Devices.open("metadata", metadataPath, false, false)) {
      report = DiskCloneMetadata.inspect(device);
    }
    if (report.state() == MetadataReport.State.VALID
        && report.cutOver()
        && report.identity() != null
        && !report.identity().owner().equals(identity.owner())) {
      Files.delete(metadataPath);
      LOG.info(
          "{}: removed the default metadata of {}, which had finished and was deleted; {} starts"
              + " afresh",
          metadataPath,
          report.identity().owner(),
          identity.owner());
    }
  }

  static CloneOptions options(VolumeClone resource, long bandwidth) {
    VolumeCloneSpec spec = resource.getSpec();
    CopySpec copy = spec.copyOrDefault();
    try {
      copy.bandwidthBytesPerSecond(); // refused here when invalid, whatever we start at
      return CloneOptions.builder(resource.getMetadata().getName())
          .copyOnRead(copy.copyOnReadOrDefault())
          .hotRegionsFirst(copy.hotRegionsFirstOrDefault())
          .discardPassdown(spec.discardPassdownOrDefault())
          .bandwidth(bandwidth)
          .regionsInFlight(copy.regionsInFlightOrDefault())
          .batchRegions(copy.batchRegionsOrDefault())
          // a clone created paused must not start a first batch before the spec is applied
          .startPaused(copy.pausedOrDefault())
          .cutover(
              spec.cutoverOrDefault() == CutoverMode.Manual
                  ? CloneOptions.Cutover.MANUAL
                  : CloneOptions.Cutover.AUTO)
          .build();
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("spec.copy: " + e.getMessage(), e);
    }
  }

  /** Gives the launcher the source; a malformed NBD URI is refused before anything is opened. */
  private void source(CloneLauncher launcher, SourceRef ref) throws AgentFailure {
    if (ref.getNbd() != null) {
      String uri = ref.getNbd().getUri();
      try {
        NbdUri.parse(uri);
      } catch (IllegalArgumentException e) {
        // no restart makes a malformed URI valid: permanent, not DeviceUnavailable
        throw new AgentFailure(
            AgentFailures.INVALID_SPEC,
            "spec.source.nbd.uri: " + e.getMessage() + "; nothing was opened",
            e);
      }
      launcher.source(uri, () -> openNbdSource(uri));
      return;
    }
    launcher.source(
        ref.getPersistentVolumeClaim() != null
            ? settings.pvcDevice("source")
            : Path.of(ref.getDevice().getPath()));
  }

  private static BlockDevice openNbdSource(String uri) throws IOException {
    try {
      return NbdBlockDevice.open(uri);
    } catch (IllegalArgumentException e) {
      throw new IOException("source " + uri + ": " + e.getMessage(), e);
    } catch (IOException e) {
      throw new IOException("cannot open the NBD source " + uri + ": " + e.getMessage(), e);
    }
  }

  private Path metadataPath(MetadataRef ref) {
    if (ref == null) {
      return settings.metadataFile();
    }
    return ref.getPersistentVolumeClaim() != null
        ? settings.pvcDevice("metadata")
        : Path.of(ref.getDevice().getPath());
  }
}
