package io.volumeclone.cli;

import io.volumeclone.engine.BlockDevice;
import io.volumeclone.engine.Clone;
import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.CloneMetadata;
import io.volumeclone.engine.CloneOptions;
import io.volumeclone.engine.CloneStatus;
import io.volumeclone.engine.DiskCloneMetadata;
import io.volumeclone.engine.FileBlockDevice;
import io.volumeclone.engine.MetadataMismatchException;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code volume-clone clone}: opens source, destination and metadata, runs the clone until it is
 * copied and cut over, and exits 0. Rerunning after a crash or a kill resumes from the metadata.
 *
 * <p>Extension point: {@link #startExport(Clone)} runs after the clone is open and before the
 * command waits for it; the NBD export plugs in there (a subclass or an edit adding {@code
 * --export}). While an export runs, a manual cutover waits for approval instead of exiting.
 */
@Command(
    name = "clone",
    mixinStandardHelpOptions = true,
    description = {
      "Clone SOURCE onto DESTINATION region by region, recording progress in METADATA.",
      "Runs until every region is copied and the clone is cut over, then exits 0. After a crash"
          + " or kill, run the same command again: it resumes where the metadata says.",
      "Sizes take Kubernetes quantities (64Ki, 10Gi) or plain bytes; K, M, G, T are powers of two."
    },
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:copied and cut over (with --cutover manual: copied, waiting for cutover)",
      "1:failed: missing device, destination too small, metadata of another clone, I/O error;"
          + " progress made so far is kept",
      "2:usage error: unknown option, bad size, impossible combination"
    })
public class CloneCommand implements Callable<Integer> {

  @Option(names = "--source", required = true, description = "Source device or file (read-only).")
  Path source;

  @Option(
      names = "--destination",
      required = true,
      description = "Destination device or file (opened exclusively).")
  Path destination;

  @Option(
      names = "--metadata",
      required = true,
      description =
          "Metadata device or file. Created (sparse) when missing; formatted when its first 4 KiB"
              + " are zero; otherwise it must belong to this clone.")
  Path metadata;

  @Option(
      names = "--region-size",
      defaultValue = "64Ki",
      converter = SizeConverter.class,
      description = "Copy unit, a power of two from 4Ki to 1Gi (default: ${DEFAULT-VALUE}).")
  long regionSize;

  @Option(
      names = "--bandwidth",
      defaultValue = "0",
      converter = SizeConverter.class,
      description = "Copy bandwidth limit per second, e.g. 200Mi; 0 = unlimited (default).")
  long bandwidth;

  @Option(
      names = "--regions-in-flight",
      defaultValue = "256",
      description = "Most regions copied at once (default: ${DEFAULT-VALUE}).")
  int regionsInFlight;

  @Option(
      names = "--batch-regions",
      defaultValue = "64",
      description = "Most contiguous regions per copy (default: ${DEFAULT-VALUE}).")
  int batchRegions;

  @Option(names = "--copy-on-read", description = "Reads of uncopied regions also copy them.")
  boolean copyOnRead;

  @Option(
      names = "--no-copy",
      description = "No background copy; only writes copy regions (needs an export).")
  boolean noCopy;

  @Option(
      names = "--cutover",
      defaultValue = "auto",
      description =
          "auto: cut over when copied; manual: stop at copied (default: ${DEFAULT-VALUE}).")
  String cutover;

  @Option(
      names = "--source-offset",
      defaultValue = "0",
      converter = SizeConverter.class,
      description = "First source byte to clone (default 0).")
  long sourceOffset;

  @Option(
      names = "--destination-offset",
      defaultValue = "0",
      converter = SizeConverter.class,
      description = "Where that byte goes on the destination (default 0).")
  long destinationOffset;

  @Option(
      names = "--size",
      converter = SizeConverter.class,
      description = "Bytes to clone (default: the source from --source-offset to its end).")
  Long size;

  @Option(
      names = "--force",
      description =
          "Reformat a metadata device that holds something else (its recorded progress is lost).")
  boolean force;

  @Option(names = "--name", description = "Name of the clone in messages (default: destination).")
  String name;

  PrintStream out = System.out;
  PrintStream err = System.err;
  Boolean terminal;

  /**
   * Starts serving {@code clone} to consumers, or returns null when nothing serves it (the
   * default). The NBD export plugs in here; what it returns is closed before the clone is.
   */
  protected AutoCloseable startExport(Clone clone) throws IOException {
    return null;
  }

  /** True when the command line asks for an export; {@code --no-copy} needs one. */
  protected boolean exportRequested() {
    return false;
  }

  @Override
  public Integer call() throws Exception {
    CloneOptions.Cutover cutoverMode = parseCutover();
    if (regionSize < CloneGeometry.MIN_REGION_SIZE
        || regionSize > CloneGeometry.MAX_REGION_SIZE
        || Long.bitCount(regionSize) != 1) {
      throw new Main.UsageException(
          "invalid --region-size " + regionSize + ": must be a power of two from 4Ki to 1Gi");
    }
    if (noCopy && !exportRequested()) {
      throw new Main.UsageException(
          "--no-copy without an export would never finish: nothing else copies the regions");
    }
    if (source.toAbsolutePath().normalize().equals(destination.toAbsolutePath().normalize())) {
      throw new Main.UsageException("--source and --destination are the same: " + source);
    }
    CloneOptions options;
    try {
      options =
          CloneOptions.builder(name != null ? name : String.valueOf(destination.getFileName()))
              .bandwidth(bandwidth)
              .regionsInFlight(regionsInFlight)
              .batchRegions(batchRegions)
              .copyOnRead(copyOnRead)
              .noCopy(noCopy)
              .cutover(cutoverMode)
              .build();
    } catch (IllegalArgumentException e) {
      throw new Main.UsageException(e.getMessage());
    }

    Clone clone = openClone(options);
    Thread shutdownHook = new Thread(() -> closeQuietly(clone), "volume-clone-shutdown");
    Runtime.getRuntime().addShutdownHook(shutdownHook);
    AutoCloseable export = null;
    ProgressReporter progress =
        new ProgressReporter(
            out, err, terminal != null ? terminal : ProgressReporter.stdoutIsTerminal());
    try {
      export = startExport(clone);
      return waitForCutover(clone, options, export != null, progress);
    } finally {
      progress.finish();
      if (export != null) {
        try {
          export.close();
        } catch (Exception e) {
          err.println("volume-clone: closing the export failed: " + Main.describe(e));
        }
      }
      clone.close();
      try {
        Runtime.getRuntime().removeShutdownHook(shutdownHook);
      } catch (IllegalStateException e) {
        // shutting down already: the hook closes the clone
      }
    }
  }

  private int waitForCutover(
      Clone clone, CloneOptions options, boolean exported, ProgressReporter progress)
      throws IOException, InterruptedException {
    boolean announcedCopied = false;
    while (true) {
      try {
        clone.cutOverFuture().get(1, TimeUnit.SECONDS);
        break;
      } catch (TimeoutException e) {
        // report progress below
      } catch (ExecutionException e) {
        throw new IOException("clone " + options.name() + " failed: " + e.getCause().getMessage());
      }
      CloneStatus status = clone.status();
      if (status.state() == CloneStatus.State.CUT_OVER) {
        break;
      }
      progress.update("progress", status);
      if (status.metadataMode() != CloneMetadata.Mode.WRITE) {
        throw new IOException(
            "metadata device "
                + metadata
                + " is "
                + status.metadataMode()
                + " after an error ("
                + status.lastError()
                + "); the copy stopped. Progress up to the last commit is kept.");
      }
      if (status.degraded()) {
        throw new IOException(
            "copying keeps failing ("
                + status.copyErrors()
                + " errors; last: "
                + status.lastError()
                + "). Progress is kept: fix the device and run the command again to resume.");
      }
      if (status.state() == CloneStatus.State.COPIED
          && options.cutover() == CloneOptions.Cutover.MANUAL) {
        if (!exported) {
          progress.update("waiting-for-cutover", status);
          return 0;
        }
        if (!announcedCopied) {
          progress.update("waiting-for-cutover", status);
          announcedCopied = true;
        }
      }
    }
    progress.update("cut-over", clone.status());
    return 0;
  }

  private CloneOptions.Cutover parseCutover() {
    return switch (cutover) {
      case "auto" -> CloneOptions.Cutover.AUTO;
      case "manual" -> CloneOptions.Cutover.MANUAL;
      default ->
          throw new Main.UsageException(
              "invalid --cutover '" + cutover + "': expected auto or manual");
    };
  }

  /** Opens the devices and the metadata and starts the clone; closes what it opened on failure. */
  Clone openClone(CloneOptions options) throws IOException {
    BlockDevice sourceDevice = null;
    BlockDevice destinationDevice = null;
    BlockDevice metadataDevice = null;
    boolean opened = false;
    try {
      sourceDevice = open("source", source, false, true);
      destinationDevice = open("destination", destination, true, true);
      long cloneSize = size != null ? size : sourceDevice.size() - sourceOffset;
      CloneGeometry geometry;
      try {
        geometry =
            new CloneGeometry(
                sourceOffset,
                destinationOffset,
                cloneSize,
                (int) regionSize,
                sourceDevice.size(),
                destinationDevice.size());
      } catch (IllegalArgumentException e) {
        throw new IOException(
            "cannot clone " + source + " to " + destination + ": " + e.getMessage());
      }
      prepareMetadataFile(geometry);
      metadataDevice = open("metadata", metadata, true, false);
      CloneMetadata cloneMetadata;
      try {
        cloneMetadata = DiskCloneMetadata.open(metadataDevice, geometry, force);
      } catch (MetadataMismatchException e) {
        throw new IOException(
            e.getMessage()
                + ". Point --metadata at this clone's metadata, or add --force to reformat it"
                + " (its recorded progress is lost).");
      }
      Clone clone;
      try {
        clone = Clone.open(sourceDevice, destinationDevice, cloneMetadata, options);
      } catch (IOException | RuntimeException e) {
        cloneMetadata.close();
        metadataDevice = null;
        throw e;
      }
      opened = true;
      return clone;
    } finally {
      if (!opened) {
        closeAll(metadataDevice, destinationDevice, sourceDevice);
      }
    }
  }

  private static BlockDevice open(String role, Path path, boolean writable, boolean direct)
      throws IOException {
    try {
      return writable
          ? FileBlockDevice.openExclusive(path, direct)
          : FileBlockDevice.openReadOnly(path, direct);
    } catch (NoSuchFileException e) {
      throw new IOException(role + " " + path + ": no such device or file", e);
    } catch (IOException e) {
      throw new IOException("cannot open " + role + " " + path + ": " + Main.describe(e), e);
    }
  }

  /**
   * A metadata file that does not exist is created sparse at the size the geometry needs; an
   * unformatted (all-zero first block) regular file that is too small is extended. Block devices
   * and formatted files are left alone: the metadata itself validates them.
   */
  private void prepareMetadataFile(CloneGeometry geometry) throws IOException {
    long needed = DiskCloneMetadata.requiredSize(geometry);
    if (!Files.exists(metadata)) {
      Path parent = metadata.toAbsolutePath().getParent();
      if (parent != null && !Files.isDirectory(parent)) {
        throw new IOException("metadata " + metadata + ": directory " + parent + " does not exist");
      }
      try (FileChannel channel =
          FileChannel.open(metadata, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
        channel.truncate(needed);
        channel.write(ByteBuffer.allocate(1), needed - 1);
      }
      return;
    }
    if (Files.isRegularFile(metadata) && Files.size(metadata) < needed) {
      try (FileChannel channel =
          FileChannel.open(metadata, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
        ByteBuffer first = ByteBuffer.allocate(4096);
        channel.read(first, 0);
        first.flip();
        boolean zero = true;
        while (first.hasRemaining()) {
          if (first.get() != 0) {
            zero = false;
            break;
          }
        }
        if (zero) {
          channel.write(ByteBuffer.allocate(1), needed - 1);
        }
      }
    }
  }

  private static void closeAll(AutoCloseable... closeables) {
    for (AutoCloseable c : closeables) {
      if (c != null) {
        try {
          c.close();
        } catch (Exception e) {
          // already failing; the first error is the one reported
        }
      }
    }
  }

  private void closeQuietly(Clone clone) {
    try {
      clone.close();
    } catch (IOException | RuntimeException e) {
      err.println("volume-clone: closing clone " + clone.name() + " failed: " + e.getMessage());
    }
  }
}
