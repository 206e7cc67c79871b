package io.volumeclone.cli;

import io.volumeclone.engine.BlockDevice;
import io.volumeclone.engine.Clone;
import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.CloneIdentity;
import io.volumeclone.engine.CloneLauncher;
import io.volumeclone.engine.CloneMetadata;
import io.volumeclone.engine.CloneOptions;
import io.volumeclone.engine.CloneStatus;
import io.volumeclone.engine.CopyDefaults;
import io.volumeclone.engine.MetadataMismatchException;
import io.volumeclone.nbd.ExportAddress;
import io.volumeclone.nbd.NbdBlockDevice;
import io.volumeclone.nbd.NbdServer;
import io.volumeclone.nbd.NbdUri;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code volume-clone clone}: opens source, destination and metadata, runs the clone until it is
 * copied and cut over, and exits 0. Rerunning after a crash or a kill resumes from the metadata.
 *
 * <p>With {@code --export} the clone is served over NBD while it copies and after cutover, until
 * the process is interrupted; a manual cutover then waits for approval instead of exiting, and a
 * metadata device gone READ_ONLY keeps the export serving (reads work, flushes fail) instead of
 * exiting.
 */
@Command(
    name = "clone",
    mixinStandardHelpOptions = true,
    description = {
      "Clone SOURCE onto DESTINATION region by region, recording progress in METADATA.",
      "Runs until every region is copied and the clone is cut over, then exits 0. After a crash"
          + " or kill, run the same command again: it resumes where the metadata says.",
      "Sizes take Kubernetes quantities (64Ki, 10Gi) or plain bytes. As in dedupv1, K, M, G, T"
          + " are powers of two here (64K = 64Ki, 1G = 1Gi = 2^30 bytes), unlike in a"
          + " VolumeClone, where 1G is 10^9 bytes as Kubernetes reads it."
    },
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:copied and cut over (with --cutover manual: copied, waiting for cutover)",
      "1:failed: missing device, destination too small, metadata of another clone, I/O error;"
          + " progress made so far is kept",
      "2:usage error: unknown option, bad size, impossible combination",
      "143:stopped by SIGTERM, Ctrl-C or 'volume-clone cancel'; progress is kept, run again to"
          + " resume"
    })
public class CloneCommand implements Callable<Integer>, PlainOptions {

  @Option(
      names = "--source",
      required = true,
      description =
          "Source device or file (opened read-only), or an NBD export:"
              + " nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH.")
  String source;

  @Option(
      names = "--export",
      description =
          "Serve the clone over NBD while it copies: unix:PATH (socket mode 0600) or"
              + " tcp:HOST:PORT. Keeps serving after cutover until interrupted.")
  String export;

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
      defaultValue = CopyDefaults.REGIONS_IN_FLIGHT_TEXT,
      description = "Most regions copied at once (default: ${DEFAULT-VALUE}).")
  int regionsInFlight;

  @Option(
      names = "--batch-regions",
      defaultValue = CopyDefaults.BATCH_REGIONS_TEXT,
      description = "Most contiguous regions per copy (default: ${DEFAULT-VALUE}).")
  int batchRegions;

  @Option(names = "--copy-on-read", description = "Reads of uncopied regions also copy them.")
  boolean copyOnRead;

  @Option(
      names = "--no-hot-regions-first",
      description =
          "Copy in scan order only; by default regions near reads of uncopied data come first.")
  boolean noHotRegionsFirst;

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

  @Option(
      names = "--name",
      description =
          "Name of the clone in messages and for list, tune, cutover, cancel and status"
              + " (default: the destination's file name).")
  String name;

  @Option(
      names = "--run-dir",
      description =
          "Directory for the control socket NAME/control.sock (default: $"
              + ControlPaths.ENV
              + " or /run/volume-clone).")
  Path runDir;

  @Option(
      names = "--attach",
      arity = "0..1",
      fallbackValue = "",
      paramLabel = "NAME",
      description =
          "Attach the clone as the kernel device /dev/mapper/NAME (default volume-clone-<name of"
              + " the destination>) at once and print its path; at cutover it moves onto the"
              + " destination live. Needs the nbd module, nbd-client, dmsetup and a block-device"
              + " destination.")
  String attach;

  private KernelAttach kernel;

  private ExportAddress exportAddress;

  /** Set by {@link #stop} (SIGTERM, Ctrl-C) before it closes the export and the clone. */
  private volatile boolean stopping;

  private volatile Clone running;
  private final AtomicReference<ControlServer> control = new AtomicReference<>();
  private final AtomicReference<AutoCloseable> server = new AtomicReference<>();

  PrintStream out = System.out;
  PrintStream err = System.err;
  Boolean terminal;

  @Override
  public boolean setOption(String field, Object value) {
    switch (field) {
      case "source" -> source = (String) value;
      case "export" -> export = (String) value;
      case "destination" -> destination = (Path) value;
      case "metadata" -> metadata = (Path) value;
      case "regionSize" -> regionSize = (Long) value;
      case "bandwidth" -> bandwidth = (Long) value;
      case "regionsInFlight" -> regionsInFlight = (Integer) value;
      case "batchRegions" -> batchRegions = (Integer) value;
      case "copyOnRead" -> copyOnRead = (Boolean) value;
      case "noHotRegionsFirst" -> noHotRegionsFirst = (Boolean) value;
      case "noCopy" -> noCopy = (Boolean) value;
      case "cutover" -> cutover = (String) value;
      case "sourceOffset" -> sourceOffset = (Long) value;
      case "destinationOffset" -> destinationOffset = (Long) value;
      case "size" -> size = (Long) value;
      case "force" -> force = (Boolean) value;
      case "name" -> name = (String) value;
      case "runDir" -> runDir = (Path) value;
      case "attach" -> attach = (String) value;
      default -> {
        return false;
      }
    }
    return true;
  }

  private boolean exportRequested() {
    return export != null || attach != null;
  }

  private static boolean isNbdUri(String text) {
    return text.startsWith("nbd://") || text.startsWith("nbd+unix://");
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
    if (export != null) {
      try {
        exportAddress = ExportAddress.parse(export);
      } catch (IllegalArgumentException e) {
        throw new Main.UsageException("invalid --export: " + e.getMessage());
      }
    }
    if (attach != null) {
      kernel = KernelAttach.prepare(attach, destination, exportAddress);
      exportAddress = kernel.export();
    }
    if (isNbdUri(source)) {
      try {
        NbdUri.parse(source);
      } catch (IllegalArgumentException e) {
        throw new Main.UsageException("invalid --source: " + e.getMessage());
      }
    } else if (Path.of(source)
        .toAbsolutePath()
        .normalize()
        .equals(destination.toAbsolutePath().normalize())) {
      throw new Main.UsageException("--source and --destination are the same: " + source);
    }
    String cloneName = name != null ? name : ControlPaths.nameFromDestination(destination);
    String invalidName = ControlPaths.invalidName(cloneName);
    if (invalidName != null) {
      throw new Main.UsageException("invalid --name '" + cloneName + "': " + invalidName);
    }
    Path controlSocket = ControlPaths.socket(ControlPaths.runDir(runDir), cloneName);
    if (ControlClient.answers(controlSocket)) {
      throw new IOException(
          "a clone named '"
              + cloneName
              + "' is already running (control socket "
              + controlSocket
              + "); give this one another --name");
    }
    CloneOptions options;
    try {
      options =
          CloneOptions.builder(cloneName)
              .bandwidth(bandwidth)
              .regionsInFlight(regionsInFlight)
              .batchRegions(batchRegions)
              .copyOnRead(copyOnRead)
              .hotRegionsFirst(!noHotRegionsFirst)
              .noCopy(noCopy)
              .cutover(cutoverMode)
              .build();
    } catch (IllegalArgumentException e) {
      throw new Main.UsageException(e.getMessage());
    }

    // The export listens before the devices open: a consumer connects and negotiates while they
    // do, and its first request waits for the open only, not for the control socket or the
    // progress reporter either (issue 19: fast start).
    OpeningTarget opening = exportAddress != null ? new OpeningTarget(cloneName) : null;
    NbdServer nbd = opening != null ? NbdServer.start(exportAddress, opening) : null;
    server.set(nbd);
    Clone clone;
    try {
      clone = openClone(options);
    } catch (IOException | RuntimeException | Error e) {
      if (opening != null) {
        opening.failed(e);
      }
      closeExport(server.getAndSet(null));
      throw e;
    }
    running = clone;
    if (opening != null) {
      opening.opened(clone);
      err.println("volume-clone: serving clone " + clone.name() + " at " + nbd.uri());
    }
    try {
      control.set(startControl(clone));
    } catch (ControlServer.NameInUseException e) {
      closeExport(server.getAndSet(null));
      closeQuietly(clone);
      throw e;
    }
    Thread shutdownHook =
        new Thread(
            () -> {
              stop();
              closeControl();
            },
            "volume-clone-shutdown");
    Runtime.getRuntime().addShutdownHook(shutdownHook);
    ProgressReporter progress =
        new ProgressReporter(
            out, err, terminal != null ? terminal : ProgressReporter.stdoutIsTerminal());
    try {
      if (kernel != null) {
        out.println(kernel.attach(clone));
      }
      int code = waitForCutover(clone, options, server.get() != null, progress);
      if (code == 0 && kernel != null && clone.status().state() == CloneStatus.State.CUT_OVER) {
        kernel.cutover(clone);
        err.println(
            "volume-clone: " + kernel.mapperDevice() + " now maps " + destination + " directly");
        return code;
      }
      if (code == 0 && server.get() != null) {
        err.println(
            "volume-clone: clone "
                + clone.name()
                + " is cut over; still serving it until interrupted (Ctrl-C or SIGTERM)");
        new CountDownLatch(1).await();
      }
      return code;
    } finally {
      progress.finish();
      detachKernel();
      closeExport(server.getAndSet(null));
      try {
        clone.close();
      } finally {
        closeControl();
      }
      try {
        Runtime.getRuntime().removeShutdownHook(shutdownHook);
      } catch (IllegalStateException e) {
        // shutting down already: the hook closes the clone
      }
    }
  }

  /**
   * The control socket that list, tune, cutover, cancel and status use, or null when it cannot be
   * made (the clone then runs without it, saying so): a name a live clone holds is an error.
   */
  private ControlServer startControl(Clone clone) throws IOException {
    return CloneControl.serve(
        ControlPaths.runDir(runDir),
        clone,
        new CloneControl.Description(
            isNbdUri(source) ? source : Path.of(source).toAbsolutePath().normalize().toString(),
            destination.toAbsolutePath().normalize().toString(),
            metadata.toAbsolutePath().normalize().toString(),
            export,
            parseCutover().name().toLowerCase(java.util.Locale.ROOT)),
        this::cancel,
        err);
  }

  /** {@code volume-clone cancel}: stop as SIGTERM does; the control socket answers afterwards. */
  private void cancel() {
    err.println(
        "volume-clone: clone "
            + (running != null ? running.name() : "?")
            + " cancelled through its control socket; committing and closing. Progress is kept in "
            + metadata
            + ": run the same command to resume.");
    stop();
  }

  private void closeControl() {
    ControlServer c = control.getAndSet(null);
    if (c != null) {
      c.close();
    }
  }

  /**
   * What SIGTERM and Ctrl-C do (the shutdown hook): stop serving first (clients see a clean
   * disconnect), then commit and close the clone so the next run resumes from here. The clone
   * closing under {@link #waitForCutover} is then this stop, not a failure.
   */
  void stop() {
    stopping = true;
    detachKernel();
    closeExport(server.getAndSet(null));
    Clone clone = running;
    if (clone != null) {
      closeQuietly(clone);
    }
  }

  /** The kernel devices must not stay on a socket that nobody serves any more. */
  private void detachKernel() {
    KernelAttach k = kernel;
    if (k != null) {
      try {
        k.detach();
      } catch (IOException e) {
        err.println("volume-clone: " + Main.describe(e));
      }
      k.cleanUp();
    }
  }

  private void closeExport(AutoCloseable export) {
    if (export != null) {
      try {
        export.close();
      } catch (Exception e) {
        err.println("volume-clone: closing the export failed: " + Main.describe(e));
      }
    }
  }

  /** Exit code of a run stopped by SIGTERM or Ctrl-C (the JVM's own for SIGTERM). */
  static final int STOPPED = 143;

  private int waitForCutover(
      Clone clone, CloneOptions options, boolean exported, ProgressReporter progress)
      throws IOException, InterruptedException {
    boolean announcedCopied = false;
    boolean announcedReadOnly = false;
    while (true) {
      try {
        clone.cutOverFuture().get(1, TimeUnit.SECONDS);
        break;
      } catch (TimeoutException e) {
        // report progress below
      } catch (ExecutionException e) {
        if (stopping) {
          return STOPPED;
        }
        throw new IOException("clone " + options.name() + " failed: " + e.getCause().getMessage());
      }
      if (stopping) {
        return STOPPED;
      }
      CloneStatus status = clone.status();
      if (status.state() == CloneStatus.State.CUT_OVER) {
        break;
      }
      progress.update("progress", status);
      if (status.metadataMode() != CloneMetadata.Mode.WRITE) {
        String why =
            "metadata device "
                + metadata
                + " is "
                + status.metadataMode()
                + " after an error ("
                + status.lastError()
                + "); the copy stopped. Progress up to the last commit is kept";
        // READ_ONLY still serves reads: consumers keep their device until told to stop.
        if (!exported || status.metadataMode() == CloneMetadata.Mode.FAIL) {
          throw new IOException(why + ".");
        }
        if (!announcedReadOnly) {
          progress.update("read-only", status);
          err.println(
              "volume-clone: "
                  + why
                  + ". Still serving clone "
                  + options.name()
                  + " until interrupted (Ctrl-C or SIGTERM): reads and writes to copied regions"
                  + " work; writes to uncopied regions and every flush fail with EIO.");
          announcedReadOnly = true;
        }
        continue;
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
    CloneLauncher launcher =
        CloneLauncher.of(options)
            .destination(destination)
            .metadataFile(metadata)
            .identity(() -> CloneIdentity.ofDestination(destination))
            .range(sourceOffset, destinationOffset, size != null ? size : -1)
            .regionSize((int) regionSize)
            .force(force);
    if (isNbdUri(source)) {
      launcher.source(source, this::openNbdSource);
    } else {
      launcher.source(Path.of(source));
    }
    try {
      return launcher.launch();
    } catch (MetadataMismatchException e) {
      throw new IOException(
          e.getMessage()
              + ". Point --metadata at this clone's metadata, or add --force to reformat it"
              + " (its recorded progress is lost).");
    }
  }

  private BlockDevice openNbdSource() throws IOException {
    try {
      return NbdBlockDevice.open(source);
    } catch (IOException e) {
      throw new IOException("cannot open the NBD source " + source + ": " + e.getMessage(), e);
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
