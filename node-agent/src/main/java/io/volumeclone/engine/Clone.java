package io.volumeclone.engine;

import io.volumeclone.engine.BlockIoException.Kind;
import io.volumeclone.engine.CloneMetadata.Mode;
import io.volumeclone.engine.CloneStatus.State;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The clone target: a block device whose reads of uncopied regions come from the source and whose
 * writes land on the destination, while a {@link Copier} fills the destination in the background.
 *
 * <p>Design note. The I/O table of DESIGN.md, following dm-clone:
 *
 * <ul>
 *   <li>Every request is split into an unaligned head (part of one region), a body of whole regions
 *       and an unaligned tail, each handled explicitly. Partial regions that are not yet copied are
 *       copied first; whole regions are overwritten, zeroed or discarded without reading the
 *       source.
 *   <li>A region's bit goes 0 -> 1 only under a claim in {@link InFlightRegions}, held by whoever
 *       writes the region's data to the destination while its bit is 0 (the copier, an on-demand
 *       copy, a whole-region write, zeroing or discard). Everyone else waits for the claim, then
 *       re-checks the bit. So no region is copied twice at once and a background copy can never
 *       overwrite a user write with stale source data.
 *   <li>Data first, bit second: a region is marked copied only after its destination write
 *       returned, and {@link CloneMetadata#commit} flushes the destination before it records the
 *       bit, so a crash never exposes an uncopied region.
 *   <li>Flush = flush the destination, then commit; FUA = the request, then a flush.
 *   <li>When every region is copied the metadata is committed as complete; at cutover (automatic or
 *       after {@link #approveCutover()}) requests wait on a gate while the clone turns into a
 *       pass-through of the destination and closes the source and the metadata.
 * </ul>
 *
 * <p>The clone owns the devices and the metadata passed to {@link #open}: it closes them.
 */
public final class Clone implements BlockTarget, AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(Clone.class);

  /** Allocation queries one {@code base:allocation} request may make of the devices. */
  static final int ALLOCATION_QUERIES = 64;

  /** Largest single device transfer of a copy; bigger ranges are copied in steps. */
  static final int COPY_CHUNK = 4 << 20;

  private final BlockDevice source;
  private final BlockDevice destination;
  private final CloneMetadata metadata;
  private final CloneGeometry geometry;
  private final CloneOptions options;
  private final String name;
  private final long size;
  private final int regionSize;
  private final long regionCount;
  private final long sourceBase;
  private final long destinationBase;

  private final SparseCopy sparse;
  private final InFlightRegions inFlight = new InFlightRegions();
  private final SourceLanes sourceLanes = new SourceLanes();
  private final ReadHints readHints = new ReadHints();

  /**
   * The copier's destination writes at once, each at most {@link SourceLanes#BACKGROUND_PIECE}: a
   * user write, direct as the copier's are, then queues at the device behind half a megabyte rather
   * than behind a 4 MiB chunk of every batch in flight (issue 19: a 1 MiB write of whole regions
   * waited for up to 16 MiB of the copier's writes).
   */
  private final java.util.concurrent.Semaphore destinationPieces =
      new java.util.concurrent.Semaphore(SourceLanes.BACKGROUND_PIECES, true);

  private final BufferPool buffers;

  /**
   * The largest device transfer of one copy step: {@link #COPY_CHUNK}, or less for small clones.
   */
  private final int copyChunk;

  private final ReentrantReadWriteLock gate = new ReentrantReadWriteLock();
  private final AtomicInteger userIo = new AtomicInteger();
  private final AtomicBoolean completionScheduled = new AtomicBoolean();
  private final CompletableFuture<Void> copied = new CompletableFuture<>();
  private final CompletableFuture<Void> cutOver = new CompletableFuture<>();
  private final List<Consumer<CloneStatus>> listeners = new CopyOnWriteArrayList<>();
  private final ScheduledExecutorService maintenance;
  private final Copier copier;
  private final Object tuneLock = new Object();

  private volatile boolean passThrough;
  private volatile String directFlushFailure;
  private volatile boolean closed;
  private volatile boolean cutoverApproved;
  private volatile boolean copyOnRead;
  private volatile State state = State.COPYING;

  /** The newest error worth showing in the status; the copier reports through it too. */
  private final AtomicReference<String> lastError = new AtomicReference<>();

  private Clone(
      BlockDevice source,
      BlockDevice destination,
      CloneMetadata metadata,
      CloneOptions options,
      Copier.Seams copierSeams) {
    this.source = source;
    this.destination = destination;
    this.metadata = metadata;
    this.geometry = metadata.geometry();
    this.options = options;
    this.name = options.name();
    this.size = geometry.size();
    this.regionSize = geometry.regionSize();
    this.regionCount = geometry.regionCount();
    this.sourceBase = geometry.sourceOffset();
    this.destinationBase = geometry.destinationOffset();
    this.sparse = new SparseCopy(source, sourceBase, destination, destinationBase);
    this.copyOnRead = options.copyOnRead();
    this.copyChunk = (int) Math.min(COPY_CHUNK, roundUp(size, BufferPool.ALIGNMENT));
    this.buffers = new BufferPool("clone " + name, copyChunk, 64L * copyChunk);
    this.maintenance =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "clone-" + name + "-maintenance");
              t.setDaemon(true);
              return t;
            });
    this.copier = new Copier(this, options, copierSeams);
  }

  /**
   * Opens a clone of {@code source} onto {@code destination} as recorded in {@code metadata}.
   * Starts the periodic commit and (unless {@code noCopy}) the background copier. A clone whose
   * metadata is already complete starts as a pass-through at once (with manual cutover: stays
   * {@link State#COPIED} until {@link #approveCutover()}).
   */
  public static Clone open(
      BlockDevice source, BlockDevice destination, CloneMetadata metadata, CloneOptions options)
      throws IOException {
    return open(source, destination, metadata, options, Copier.Seams.NONE);
  }

  /**
   * {@link #open(BlockDevice, BlockDevice, CloneMetadata, CloneOptions)}, the copier built with
   * {@code copierSeams}.
   */
  static Clone open(
      BlockDevice source,
      BlockDevice destination,
      CloneMetadata metadata,
      CloneOptions options,
      Copier.Seams copierSeams)
      throws IOException {
    CloneGeometry g = metadata.geometry();
    if (!metadata.isCutOver()) {
      if (source.size() < g.sourceOffset() + g.size()) {
        throw new BlockIoException(
            Kind.OUT_OF_RANGE,
            source.name(),
            "open clone " + options.name(),
            g.sourceOffset(),
            "source has "
                + source.size()
                + " bytes but the clone range ends at byte "
                + (g.sourceOffset() + g.size()));
      }
    }
    if (destination.size() < g.destinationOffset() + g.size()) {
      throw new BlockIoException(
          Kind.OUT_OF_RANGE,
          destination.name(),
          "open clone " + options.name(),
          g.destinationOffset(),
          "destination too small: it has "
              + destination.size()
              + " bytes but the clone needs "
              + (g.destinationOffset() + g.size()));
    }
    if (destination.readOnly()) {
      throw new BlockIoException(
          Kind.READ_ONLY,
          destination.name(),
          "open clone " + options.name(),
          0,
          "the destination must be writable");
    }
    Clone clone = new Clone(source, destination, metadata, options, copierSeams);
    clone.start();
    return clone;
  }

  private void start() throws IOException {
    if (metadata.isCutOver()) {
      log.info("clone {}: metadata {} says cut over; serving {} directly", name, mdName(), dst());
      enterPassThrough();
      return;
    }
    if (metadata.isComplete()) {
      log.info("clone {}: metadata {} says complete", name, mdName());
      state = State.COPIED;
      copied.complete(null);
      if (options.cutover() == CloneOptions.Cutover.AUTO) {
        cutover();
      }
      return;
    }
    long period = options.commitPeriod().toNanos();
    maintenance.scheduleWithFixedDelay(this::periodicCommit, period, period, TimeUnit.NANOSECONDS);
    if (!options.noCopy()) {
      copier.start();
    }
    if (metadata.hydratedCount() == regionCount) {
      scheduleCompletion();
    }
  }

  // ---------------------------------------------------------------- BlockTarget

  @Override
  public String name() {
    return name;
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public int minimumBlockSize() {
    return destination.logicalBlockSize();
  }

  @Override
  public int preferredBlockSize() {
    return regionSize;
  }

  @Override
  public boolean readOnly() {
    return false;
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    int length = dst.remaining();
    checkRange("read", offset, length);
    if (length == 0) {
      return;
    }
    serve(
        "read",
        offset,
        false,
        () -> destination.read(destinationBase + offset, dst),
        () -> readMapped(offset, dst));
  }

  @Override
  public void write(long offset, ByteBuffer src, boolean fua) throws IOException {
    int length = src.remaining();
    checkRange("write", offset, length);
    if (length == 0) {
      return;
    }
    serve(
        "write",
        offset,
        fua,
        () -> destination.write(destinationBase + offset, src),
        () -> writeMapped(offset, src));
  }

  @Override
  public void flush() throws IOException {
    serve("flush", 0, false, this::flushDirect, () -> commitAndFlush("flush", 0));
  }

  @Override
  public void discard(long offset, long length, boolean fua) throws IOException {
    checkRange("discard", offset, length);
    if (length == 0) {
      return;
    }
    serve(
        "discard",
        offset,
        fua,
        () -> {
          if (options.discardPassdown()) {
            destination.discard(destinationBase + offset, length);
          }
        },
        () -> discardMapped(offset, length));
  }

  @Override
  public void writeZeroes(long offset, long length, boolean fua, boolean fastOnly)
      throws IOException {
    writeZeroes(offset, length, fua, false, fastOnly);
  }

  @Override
  public void writeZeroes(
      long offset, long length, boolean fua, boolean keepAllocated, boolean fastOnly)
      throws IOException {
    checkRange("write-zeroes", offset, length);
    if (length == 0) {
      return;
    }
    serve(
        "write-zeroes",
        offset,
        fua,
        () -> destination.writeZeroes(destinationBase + offset, length, keepAllocated, fastOnly),
        () -> writeZeroesMapped(offset, length, keepAllocated, fastOnly));
  }

  @FunctionalInterface
  private interface Io {
    void run() throws IOException;
  }

  /**
   * Serves one request under the read side of the gate: {@code direct} on the destination once the
   * clone is a pass-through, otherwise {@code mapped} through the region map. Pass-through requests
   * take the gate too (uncontended after cutover) so that {@link #close()} waits for them before it
   * closes the destination: a device may not lose its file descriptor under a request. FUA adds a
   * flush, and on the mapped path a commit.
   */
  private void serve(String operation, long offset, boolean fua, Io direct, Io mapped)
      throws IOException {
    Lock lock = enter();
    try {
      if (passThrough) {
        serveDirect(direct, fua);
        return;
      }
      checkNotFailed(operation, offset);
      mapped.run();
      if (fua) {
        commitAndFlush("FUA " + operation, offset);
      }
    } finally {
      exit(lock);
    }
  }

  private void serveDirect(Io direct, boolean fua) throws IOException {
    direct.run();
    if (fua) {
      flushDirect();
    }
  }

  /**
   * Flushes the destination of a pass-through. After one failure every later flush fails too: the
   * kernel reports a writeback error once, so a second fdatasync would succeed for lost data.
   */
  private void flushDirect() throws IOException {
    String failed = directFlushFailure;
    if (failed != null) {
      throw new BlockIoException(
          Kind.IO,
          dst(),
          "flush",
          0,
          "an earlier flush of the destination failed (" + failed + "); data may be lost");
    }
    try {
      destination.flush();
    } catch (IOException e) {
      directFlushFailure = String.valueOf(e.getMessage());
      reportError(e.getMessage());
      fireStatus();
      throw e;
    }
  }

  @Override
  public void allocationExtents(long offset, long length, ExtentSink sink) throws IOException {
    checkRange("block-status", offset, length);
    if (length == 0) {
      return;
    }
    Lock lock = enter();
    try {
      if (passThrough) {
        reportAllocation(
            destination, destinationBase, offset, offset + length, sink, new int[] {1 << 20});
        return;
      }
      // Copied regions read from the destination, uncopied ones from the source: each device's
      // own zero runs are holes of the clone. Both queries are metadata only (lseek, block
      // status); a device without them reports data, which is always a correct answer. An NBD
      // source answers each query with a round trip, so one request asks at most
      // ALLOCATION_QUERIES times and reports the rest of the run it is in as data.
      int[] queries = {ALLOCATION_QUERIES};
      forEachRun(
          offset,
          offset + length,
          (from, to, copied) ->
              copied
                  ? reportAllocation(destination, destinationBase, from, to, sink, queries)
                  : reportAllocation(source, sourceBase, from, to, sink, queries));
    } finally {
      exit(lock);
    }
  }

  /**
   * Reports clone range {@code [from, to)} as {@code device} (at {@code base}) allocates it: zero
   * runs as hole and zero, the rest as data, spending one of {@code queries[0]} per query and
   * reporting data once none is left. False when the sink wants no more.
   */
  private static boolean reportAllocation(
      BlockDevice device, long base, long from, long to, ExtentSink sink, int[] queries) {
    for (long pos = from; pos < to; ) {
      BlockDevice.Run run;
      if (queries[0]-- <= 0) {
        run = new BlockDevice.Run(to - pos, false);
      } else {
        try {
          run = device.allocation(base + pos, to - pos);
        } catch (IOException e) {
          run = new BlockDevice.Run(to - pos, false);
        }
      }
      long runEnd = Math.min(to, pos + Math.max(1, run.length()));
      if (!sink.extent(pos, runEnd - pos, run.zero(), run.zero())) {
        return false;
      }
      pos = runEnd;
    }
    return true;
  }

  @Override
  public void copiedExtents(long offset, long length, ExtentSink sink) throws IOException {
    checkRange("block-status", offset, length);
    if (length == 0) {
      return;
    }
    Lock lock = enter();
    try {
      if (passThrough) {
        sink.extent(offset, length, false, false);
        return;
      }
      forEachRun(
          offset,
          offset + length,
          (from, to, copied) -> sink.extent(from, to - from, !copied, false));
    } finally {
      exit(lock);
    }
  }

  /** A run of copied or of uncopied regions, clipped to the range walked; false stops the walk. */
  @FunctionalInterface
  private interface RunVisitor {
    boolean visit(long from, long to, boolean copied) throws IOException;
  }

  /** Walks clone range {@code [offset, end)} in runs of copied and uncopied regions, in order. */
  private void forEachRun(long offset, long end, RunVisitor visitor) throws IOException {
    for (long pos = offset; pos < end; ) {
      long region = geometry.regionOf(pos);
      boolean copied = metadata.isHydrated(region);
      long next = copied ? metadata.nextUnhydrated(region) : metadata.nextHydrated(region);
      long runEnd = next < 0 ? end : Math.min(end, geometry.regionStart(next));
      if (!visitor.visit(pos, runEnd, copied)) {
        return;
      }
      pos = runEnd;
    }
  }

  // ---------------------------------------------------------------- the mapped paths

  private void readMapped(long offset, ByteBuffer dst) throws IOException {
    readMapped(offset, dst, true);
  }

  private void readMapped(long offset, ByteBuffer dst, boolean mayCopy) throws IOException {
    long end = offset + dst.remaining();
    long pos = offset;
    while (pos < end) {
      long first = geometry.regionOf(pos);
      boolean copiedRun = metadata.isHydrated(first);
      long runEndRegion = runEnd(first, copiedRun, geometry.regionOf(end - 1) + 1);
      long runEnd = Math.min(end, geometry.regionStart(runEndRegion));
      int n = (int) (runEnd - pos);
      ByteBuffer slice = dst.slice(dst.position(), n);
      if (copiedRun) {
        destination.read(destinationBase + pos, slice);
      } else if (mayCopy && copyOnRead && metadata.mode() == Mode.WRITE) {
        if (copyOnRead(first, runEndRegion)) {
          destination.read(destinationBase + pos, slice);
        } else {
          readMapped(pos, slice, false);
        }
      } else {
        readHints.record(first);
        readSourceForUser(pos, slice);
      }
      dst.position(dst.position() + n);
      pos = runEnd;
    }
  }

  /**
   * Copies the uncopied regions of {@code [first, end)} for a read. False when the copy failed for
   * a reason other than the source (the destination write failed, the metadata turned read-only):
   * the read is then served without copying, since the source can still serve it.
   */
  private boolean copyOnRead(long first, long end) throws IOException {
    try {
      copyUncopied(first, end, "copy-on-read");
      return true;
    } catch (IOException e) {
      if (e instanceof BlockIoException b && source.name().equals(b.device())) {
        throw e;
      }
      log.warn(
          "clone {}: copy-on-read of regions {}..{} failed, serving the read from the source: {}",
          name,
          first,
          end - 1,
          e.getMessage());
      return false;
    }
  }

  private void writeMapped(long offset, ByteBuffer src) throws IOException {
    long base = offset;
    int basePosition = src.position();
    splitRequest(
        offset,
        src.remaining(),
        (region, from, to) -> writePartial(region, from, slice(src, basePosition, base, from, to)),
        (from, to) ->
            destination.write(destinationBase + from, slice(src, basePosition, base, from, to)),
        WhenReadOnly.FAIL,
        "write");
    src.position(src.limit());
  }

  /**
   * Writes {@code data} at clone offset {@code from}, inside {@code region} but not all of it. An
   * uncopied region is read from the source and written to the destination with {@code data} laid
   * over it, in one destination write, then marked copied: the user's write costs one region read
   * and one destination write, as a qcow2 copy-on-write does. A region copied already, or copied by
   * someone else meanwhile, takes the write directly.
   */
  private void writePartial(long region, long from, ByteBuffer data) throws IOException {
    while (!metadata.isHydrated(region)) {
      if (metadata.mode() != Mode.WRITE) {
        throw readOnlyError("write", from);
      }
      long next =
          fillUncopiedRun(
              region, region + 1, "write", (first, count) -> copyRegions(first, count, from, data));
      if (next > region) {
        return;
      }
    }
    destination.write(destinationBase + from, data);
  }

  private void discardMapped(long offset, long length) throws IOException {
    boolean passdown = options.discardPassdown();
    splitRequest(
        offset,
        length,
        (region, from, to) -> {
          // A partial discard of an uncopied region would lose source data still needed: only
          // regions already on the destination are passed down.
          if (passdown && metadata.isHydrated(region)) {
            destination.discard(destinationBase + from, to - from);
          }
        },
        (from, to) -> {
          if (passdown) {
            destination.discard(destinationBase + from, to - from);
          }
        },
        WhenReadOnly.SKIP_UNCOPIED,
        "discard");
  }

  private void writeZeroesMapped(long offset, long length, boolean keepAllocated, boolean fastOnly)
      throws IOException {
    if (fastOnly) {
      long end = offset + length;
      long head = geometry.regionOf(offset);
      long tail = geometry.regionOf(end - 1);
      if ((!coversRegion(head, offset, end) && !metadata.isHydrated(head))
          || (!coversRegion(tail, offset, end) && !metadata.isHydrated(tail))) {
        throw new BlockIoException(
            Kind.NOT_SUPPORTED,
            name,
            "fast write-zeroes",
            offset,
            "the range covers part of an uncopied region, which must be copied first");
      }
    }
    splitRequest(
        offset,
        length,
        (region, from, to) -> {
          ensureCopied(region, "write-zeroes");
          destination.writeZeroes(destinationBase + from, to - from, keepAllocated, fastOnly);
        },
        (from, to) ->
            destination.writeZeroes(destinationBase + from, to - from, keepAllocated, fastOnly),
        WhenReadOnly.FAIL,
        "write-zeroes");
  }

  private boolean coversRegion(long region, long from, long to) {
    long start = geometry.regionStart(region);
    return from <= start && to >= start + geometry.regionLength(region);
  }

  private static ByteBuffer slice(
      ByteBuffer src, int basePosition, long baseOffset, long from, long to) {
    return src.slice(basePosition + (int) (from - baseOffset), (int) (to - from));
  }

  @FunctionalInterface
  private interface PartialRegionAction {
    void apply(long region, long from, long to) throws IOException;
  }

  /**
   * Whole regions {@code [from, to)} (clone offsets). A run of uncopied regions is claimed by the
   * caller before and marked copied after, as the action overwrites all of it.
   */
  @FunctionalInterface
  private interface WholeRegionAction {
    void apply(long from, long to) throws IOException;
  }

  /** What whole uncopied regions do once the metadata cannot record them any more. */
  private enum WhenReadOnly {
    /** Fail the request: the data could not be marked as copied. */
    FAIL,
    /** Leave them alone: a discard loses nothing by not touching the source's data. */
    SKIP_UNCOPIED
  }

  /**
   * Splits {@code [offset, offset + length)} into an unaligned head, a body of whole regions and an
   * unaligned tail. The last region of the clone may be shorter than the region size; a request
   * that reaches the end of the clone covers it whole.
   */
  private void splitRequest(
      long offset,
      long length,
      PartialRegionAction partial,
      WholeRegionAction whole,
      WhenReadOnly whenReadOnly,
      String operation)
      throws IOException {
    long end = offset + length;
    long pos = offset;
    long headRegion = geometry.regionOf(pos);
    if (!coversRegion(headRegion, pos, end)) {
      long headEnd = Math.min(end, regionEnd(headRegion));
      partial.apply(headRegion, pos, headEnd);
      pos = headEnd;
    }
    if (pos < end) {
      long bodyFirst = geometry.regionOf(pos);
      long bodyEnd = end == size ? regionCount : geometry.regionOf(end);
      if (bodyEnd > bodyFirst) {
        wholeRegions(bodyFirst, bodyEnd, whole, whenReadOnly, operation);
        pos = regionEnd(bodyEnd - 1);
      }
    }
    if (pos < end) {
      partial.apply(geometry.regionOf(pos), pos, end);
    }
  }

  private long regionEnd(long region) {
    return geometry.regionStart(region) + geometry.regionLength(region);
  }

  /**
   * Applies {@code action} to whole regions {@code [first, end)} in runs: runs of copied regions
   * directly; runs of uncopied regions under a claim, marking them copied once the action returned.
   */
  private void wholeRegions(
      long first, long end, WholeRegionAction action, WhenReadOnly whenReadOnly, String operation)
      throws IOException {
    long r = first;
    while (r < end) {
      if (metadata.isHydrated(r)) {
        long runEnd = runEnd(r, true, end);
        action.apply(geometry.regionStart(r), regionEnd(runEnd - 1));
        r = runEnd;
        continue;
      }
      if (metadata.mode() != Mode.WRITE) {
        if (whenReadOnly == WhenReadOnly.SKIP_UNCOPIED) {
          r = runEnd(r, false, end);
          continue;
        }
        throw readOnlyError(operation, geometry.regionStart(r));
      }
      // Overwritten whole, so taken over from the copier rather than waited for.
      r = fillUncopiedRun(r, runEnd(r, false, end), operation, new WholeRunFill(action));
    }
  }

  /**
   * A whole-region run handed to its action as a byte range. A class rather than a lambda: the
   * JDK's AOT cache did not keep this call site's lambda, and spinning it cost the first
   * whole-region write of every process about 2 ms (seen in -Xlog:class+load).
   */
  private final class WholeRunFill implements RunFill {
    private final WholeRegionAction action;

    WholeRunFill(WholeRegionAction action) {
      this.action = action;
    }

    @Override
    public void fill(long first, long count) throws IOException {
      action.apply(geometry.regionStart(first), regionEnd(first + count - 1));
    }
  }

  /** Copies {@code region} from the source unless it is copied already; waits for other copies. */
  private void ensureCopied(long region, String operation) throws IOException {
    copyUncopied(region, region + 1, operation);
  }

  /**
   * Copies the uncopied regions of {@code [first, end)} from the source, each run of them claimed
   * and copied in one {@link #copyRegions} call; waits for regions others are copying.
   */
  private void copyUncopied(long first, long end, String operation) throws IOException {
    long r = first;
    while (r < end) {
      if (metadata.isHydrated(r)) {
        r = runEnd(r, true, end);
        continue;
      }
      if (metadata.mode() != Mode.WRITE) {
        throw readOnlyError(operation, geometry.regionStart(r));
      }
      r = fillUncopiedRun(r, runEnd(r, false, end), operation, this::copyRegions);
    }
  }

  @FunctionalInterface
  private interface RunFill {
    void fill(long first, long count) throws IOException;
  }

  /**
   * Claims the uncopied run from {@code r} towards {@code end}, fills it with {@code fill} and
   * marks it copied. When another request holds {@code r}, takes the regions over from the copier's
   * claim rather than waiting for its batch (which may be queued at a slow source behind megabytes
   * of reads, while this request needs only its own regions), or else waits for the owner. Returns
   * where the caller looks next: {@code r} itself after a wait.
   */
  private long fillUncopiedRun(long r, long end, String operation, RunFill fill)
      throws IOException {
    long count = inFlight.claimRun(r, end, metadata);
    if (count > 0) {
      try {
        fill.fill(r, count);
        markCopied(r, count, operation);
      } finally {
        inFlight.release(r, count);
      }
      return r + count;
    }
    InFlightRegions.Claim taken = inFlight.takeOver(r, end, metadata);
    if (taken == null) {
      inFlight.awaitOwner(r);
      return r;
    }
    try {
      fill.fill(r, taken.count());
      markCopied(r, taken.count(), operation);
    } finally {
      inFlight.releaseTakenOver(taken);
    }
    return taken.end;
  }

  /**
   * The end of the run of regions that starts at {@code region} and are all copied (or all not), at
   * most {@code limit}: found a bitmap word at a time, not one bit at a time.
   */
  private long runEnd(long region, boolean copiedRun, long limit) {
    if (region + 1 >= limit) {
      return limit;
    }
    long next = copiedRun ? metadata.nextUnhydrated(region + 1) : metadata.nextHydrated(region + 1);
    return next < 0 || next > limit ? limit : next;
  }

  // ---------------------------------------------------------------- shared with the Copier

  CloneGeometry geometry() {
    return geometry;
  }

  CloneMetadata metadata() {
    return metadata;
  }

  InFlightRegions inFlight() {
    return inFlight;
  }

  /** User requests being served right now; the copier backs off while this is non-zero. */
  int userIoInFlight() {
    return userIo.get();
  }

  /** The pool of the clone's copy buffers. */
  BufferPool buffers() {
    return buffers;
  }

  /** Where the copier waits for user reads of the source. */
  SourceLanes sourceLanes() {
    return sourceLanes;
  }

  /** Where user reads of uncopied regions leave hints for the copier. */
  ReadHints readHints() {
    return readHints;
  }

  /**
   * The background copy of regions {@code [first, first + count)}, claimed with {@link
   * InFlightRegions#claimBackgroundRun}: reads the source in pieces, each after the user reads of
   * the source ({@link SourceLanes}), then writes and marks copied every region that no user
   * request took over meanwhile, calling {@code beforeMarking} once everything is written. Returns
   * the bytes it wrote and the bytes it read from the source (less than the batch where the source
   * has holes).
   */
  BackgroundCopy copyInBackground(long first, long count, Runnable beforeMarking)
      throws IOException {
    long from = geometry.regionStart(first);
    long to = regionEnd(first + count - 1);
    java.util.BitSet skipped = null;
    long written = 0;
    long[] read = {0};
    ByteBuffer buffer = buffers.take(copyChunk);
    try {
      for (long pos = from; pos < to; ) {
        int n = (int) Math.min(copyChunk, to - pos);
        buffer.clear();
        long chunkStart = pos;
        long[] zeroes = sparse.sourceZeroes(pos, pos + n);
        sparse.forEachData(
            pos,
            pos + n,
            zeroes,
            (start, end) -> {
              for (long at = start; at < end; ) {
                int m = (int) Math.min(sourceLanes.awaitBackgroundTurn(), end - at);
                try {
                  readSource(at, buffer.slice((int) (at - chunkStart), m));
                } finally {
                  sourceLanes.backgroundDone();
                }
                read[0] += m;
                at += m;
              }
            });
        if (skipped == null) {
          skipped = new java.util.BitSet((int) count);
          for (long[] run : inFlight.startWriting(first)) {
            skipped.set((int) (run[0] - first), (int) (run[1] - first));
          }
        }
        long chunkEnd = pos + n;
        for (long r = geometry.regionOf(pos); r < first + count; ) {
          // A region larger than the chunk starts before it.
          long start = Math.max(pos, geometry.regionStart(r));
          if (start >= chunkEnd) {
            break;
          }
          int index = (int) (r - first);
          if (skipped.get(index)) {
            r = first + skipped.nextClearBit(index);
            continue;
          }
          int nextSkipped = skipped.nextSetBit(index);
          long runEndRegion = first + (nextSkipped < 0 ? count : Math.min(count, nextSkipped));
          long runTo = Math.min(chunkEnd, regionEnd(runEndRegion - 1));
          sparse.write(
              start,
              runTo,
              buffer,
              pos,
              zeroes,
              (at, data) -> writeInPieces(destinationBase + at, data),
              this::zeroInBackground);
          written += runTo - start;
          r = geometry.regionOf(runTo - 1) + 1;
        }
        pos += n;
      }
    } finally {
      buffers.give(buffer);
    }
    beforeMarking.run();
    for (int index = 0; index < count; ) {
      int skip = skipped.nextSetBit(index);
      int runEnd = skip < 0 ? (int) count : skip;
      if (runEnd > index) {
        markCopied(first + index, runEnd - index, "background copy");
      }
      index = skip < 0 ? (int) count : skipped.nextClearBit(skip);
    }
    return new BackgroundCopy(written, read[0]);
  }

  /** What one background copy did: bytes written to the destination, bytes read from the source. */
  record BackgroundCopy(long written, long read) {}

  /** The copier's zeroing of a clone range of the destination, as one of its write pieces. */
  private void zeroInBackground(long cloneOffset, long length) throws IOException {
    destinationPieces.acquireUninterruptibly();
    try {
      destination.writeZeroes(destinationBase + cloneOffset, length);
    } finally {
      destinationPieces.release();
    }
  }

  /** How the copier's batches skip the source's zeroes (issue 17, item 4). */
  SparseCopy sparseCopy() {
    return sparse;
  }

  /**
   * A background write of {@code data} at {@code at}, in pieces under {@link #destinationPieces}.
   */
  private void writeInPieces(long at, ByteBuffer data) throws IOException {
    for (int done = 0; done < data.remaining(); ) {
      int n = Math.min(SourceLanes.BACKGROUND_PIECE, data.remaining() - done);
      destinationPieces.acquireUninterruptibly();
      try {
        destination.write(at + done, data.slice(data.position() + done, n));
      } finally {
        destinationPieces.release();
      }
      done += n;
    }
  }

  /**
   * Copies regions {@code [first, first + count)} from the source to the destination for a user
   * request. The caller holds their claims. The buffer is as large as the copy, at most {@link
   * #copyChunk}: a partial write copies one region, and a 4 MiB chunk the pool does not hold (the
   * copier's batches hold theirs) cost the first such write about 2 ms of allocation and page
   * faults, most of what its one region read takes (issue 19).
   */
  void copyRegions(long first, long count) throws IOException {
    copyRegions(first, count, 0, null);
  }

  /**
   * {@link #copyRegions(long, long)} with {@code overlay}, when not null, laid over the source's
   * bytes from clone offset {@code overlayAt} before they are written.
   */
  private void copyRegions(long first, long count, long overlayAt, ByteBuffer overlay)
      throws IOException {
    long from = geometry.regionStart(first);
    long to = regionEnd(first + count - 1);
    ByteBuffer buffer = buffers.take((int) Math.min(copyChunk, to - from));
    try {
      for (long pos = from; pos < to; ) {
        int n = (int) Math.min(copyChunk, to - pos);
        buffer.clear().limit(n);
        readSourceForUser(pos, buffer);
        buffer.flip();
        if (overlay != null) {
          long start = Math.max(pos, overlayAt);
          long end = Math.min(pos + n, overlayAt + overlay.remaining());
          if (start < end) {
            buffer.put(
                (int) (start - pos),
                overlay,
                overlay.position() + (int) (start - overlayAt),
                (int) (end - start));
          }
        }
        destination.write(destinationBase + pos, buffer);
        pos += n;
      }
    } finally {
      buffers.give(buffer);
    }
  }

  /** Records regions as copied; the caller holds their claims and their data is written. */
  void markCopied(long first, long count, String operation) throws IOException {
    try {
      metadata.setHydrated(first, count);
    } catch (BlockIoException e) {
      throw readOnlyError(operation, geometry.regionStart(first));
    }
    if (metadata.hydratedCount() == regionCount) {
      scheduleCompletion();
    }
  }

  /** A user request's source read: the copier holds its next piece until this returns. */
  private void readSourceForUser(long cloneOffset, ByteBuffer dst) throws IOException {
    sourceLanes.userBegin();
    try {
      readSource(cloneOffset, dst);
    } finally {
      sourceLanes.userEnd();
    }
  }

  private void readSource(long cloneOffset, ByteBuffer dst) throws IOException {
    try {
      source.read(sourceBase + cloneOffset, dst);
    } catch (BlockIoException e) {
      throw e.kind() == Kind.IO
          ? e
          : new BlockIoException(
              Kind.IO, source.name(), "read", sourceBase + cloneOffset, e.getMessage(), e);
    } catch (IOException e) {
      throw new BlockIoException(
          Kind.IO, source.name(), "read", sourceBase + cloneOffset, String.valueOf(e), e);
    }
  }

  // ---------------------------------------------------------------- commits and completion

  /**
   * Commits the metadata, flushing the destination first (or alone when nothing changed). Once a
   * transaction was aborted (the metadata is not in WRITE mode) this always fails: the aborted
   * transaction's regions can never be made durable, so no flush may report success (dm-clone's
   * -EPERM from commit). A failed destination flush aborts the transaction too, as dm-clone's
   * "flush destination device" failure does: a retried fdatasync would report success for data the
   * kernel already dropped.
   */
  private void commitAndFlush(String operation, long offset) throws IOException {
    if (metadata.mode() != Mode.WRITE) {
      throw readOnlyError(operation, offset);
    }
    boolean[] destinationFlushed = {false};
    try {
      metadata.commit(
          () -> {
            destination.flush();
            destinationFlushed[0] = true;
          });
    } catch (IOException e) {
      fireStatusAfter(e);
      throw new BlockIoException(
          Kind.IO,
          mdName(),
          "commit for " + operation + " on clone " + name,
          offset,
          String.valueOf(e.getMessage()),
          e);
    }
    if (!destinationFlushed[0]) {
      try {
        destination.flush();
      } catch (IOException e) {
        metadata.abort("flush destination " + dst() + " for " + operation, e);
        fireStatusAfter(e);
        throw e;
      }
    }
  }

  private void fireStatusAfter(IOException e) {
    reportError(e.getMessage());
    log.error(
        "clone {}: {}; metadata {} is now {}", name, e.getMessage(), mdName(), metadata.mode());
    fireStatus();
  }

  private void periodicCommit() {
    if (passThrough || closed || metadata.mode() != Mode.WRITE) {
      return;
    }
    Lock lock = gate.readLock();
    lock.lock();
    try {
      if (!passThrough && !closed) {
        metadata.commit(destination::flush);
      }
    } catch (IOException | RuntimeException e) {
      reportError(e.getMessage());
      log.error(
          "clone {}: periodic commit of metadata {} failed, metadata is now {}: {}",
          name,
          mdName(),
          metadata.mode(),
          e.getMessage());
      fireStatus();
    } finally {
      lock.unlock();
    }
  }

  /** Commits now (used on pause and by tools); a no-op after cutover. */
  public void commit() throws IOException {
    Lock lock = enter();
    try {
      if (!passThrough && metadata.mode() == Mode.WRITE) {
        metadata.commit(destination::flush);
      }
    } finally {
      exit(lock);
    }
  }

  void scheduleCompletion() {
    if (completionScheduled.compareAndSet(false, true) && !closed) {
      try {
        maintenance.execute(this::completeCopy);
      } catch (java.util.concurrent.RejectedExecutionException e) {
        completionScheduled.set(false);
      }
    }
  }

  private void completeCopy() {
    if (state != State.COPYING || closed) {
      return;
    }
    if (metadata.mode() != Mode.WRITE || metadata.hydratedCount() != regionCount) {
      completionScheduled.set(false);
      return;
    }
    try {
      metadata.markComplete(destination::flush);
    } catch (IOException | RuntimeException e) {
      reportError(e.getMessage());
      log.error(
          "clone {}: recording completion in metadata {} failed: {}", name, mdName(), e.toString());
      completionScheduled.set(false);
      if (metadata.mode() == Mode.WRITE && !closed) {
        maintenance.schedule(
            this::scheduleCompletion, options.commitPeriod().toNanos(), TimeUnit.NANOSECONDS);
      }
      fireStatus();
      return;
    }
    log.info("clone {}: every region copied and committed ({} regions)", name, regionCount);
    state = State.COPIED;
    copied.complete(null);
    fireStatus();
    if (options.cutover() == CloneOptions.Cutover.AUTO || cutoverApproved) {
      cutoverOrFail();
    }
  }

  /** Cuts over; a failure completes the cutover future with it, so nobody waits forever. */
  private void cutoverOrFail() {
    try {
      cutover();
    } catch (IOException | RuntimeException e) {
      String message =
          "clone "
              + name
              + ": cutover to destination "
              + dst()
              + " failed: recording it in metadata "
              + mdName()
              + " failed: "
              + e.getMessage();
      reportError(message);
      log.error(message);
      cutOver.completeExceptionally(new IOException(message, e));
      fireStatus();
    }
  }

  /**
   * Approves the cutover of a clone with manual cutover. Cuts over at once when the copy is
   * complete, otherwise as soon as it is. Returns the future of the cutover.
   */
  public CompletableFuture<Void> approveCutover() {
    cutoverApproved = true;
    if (state == State.COPIED && !closed) {
      maintenance.execute(this::cutoverOrFail);
    }
    return cutOver;
  }

  private void cutover() throws IOException {
    if (passThrough || closed) {
      return;
    }
    copier.close();
    Lock lock = gate.writeLock();
    lock.lock();
    try {
      if (passThrough || closed) {
        return;
      }
      metadata.markCutOver();
      enterPassThrough();
    } finally {
      lock.unlock();
    }
  }

  private void enterPassThrough() {
    passThrough = true;
    state = State.CUT_OVER;
    closeQuietly(source, "source");
    closeQuietly(metadata, "metadata");
    log.info("clone {}: cut over; now a pass-through of {}", name, dst());
    copied.complete(null);
    cutOver.complete(null);
    fireStatus();
  }

  // ---------------------------------------------------------------- control and status

  /**
   * The one control surface of a running clone (dm-clone's messages): applies every knob that
   * {@code change} sets and leaves the others. A pause waits for the batches in flight and then
   * commits, so what was copied before the pause is on stable storage when this returns; a resume
   * restarts the copier; both notify the status listeners. The other knobs notify nobody: callers
   * may hold their own locks (the agent's node bandwidth share does). Returns the knobs as they are
   * now.
   *
   * @throws IOException when the commit of a pause fails (the copier stays paused)
   */
  public CloneTuning tune(CloneTuning change) throws IOException {
    synchronized (tuneLock) {
      if (change.bandwidth() != null) {
        copier.setBandwidth(change.bandwidth());
      }
      if (change.regionsInFlight() != null) {
        copier.setRegionsInFlight(change.regionsInFlight());
      }
      if (change.batchRegions() != null) {
        copier.setBatchRegions(change.batchRegions());
      }
      if (change.copyOnRead() != null) {
        setCopyOnRead(change.copyOnRead());
      }
      if (change.hotRegionsFirst() != null
          && change.hotRegionsFirst() != copier.hotRegionsFirst()) {
        copier.setHotRegionsFirst(change.hotRegionsFirst());
        log.info("clone {}: hot regions first {}", name, change.hotRegionsFirst() ? "on" : "off");
      }
      if (Boolean.TRUE.equals(change.paused())) {
        pause();
      } else if (Boolean.FALSE.equals(change.paused())) {
        resume();
      }
      return tuning();
    }
  }

  /** The knobs as they are now, every field set. */
  public CloneTuning tuning() {
    return new CloneTuning(
        copier.isPaused(),
        copier.bandwidth(),
        copier.regionsInFlight(),
        copier.batchRegions(),
        copyOnRead,
        copier.hotRegionsFirst());
  }

  /** Bytes the background copier copied since the clone was opened (not counting earlier runs). */
  public long bytesCopiedThisRun() {
    return copier.bytesCopied();
  }

  /** Pauses the background copy and commits. */
  void pause() throws IOException {
    copier.pause();
    commit();
    fireStatus();
  }

  void resume() {
    copier.resume();
    fireStatus();
  }

  /**
   * Switches copy-on-read while the clone runs. Reads that already decided where to read from
   * finish as they started; later reads of uncopied regions copy them only while this is on.
   */
  void setCopyOnRead(boolean enabled) {
    if (copyOnRead != enabled) {
      copyOnRead = enabled;
      log.info("clone {}: copy-on-read {}", name, enabled ? "on" : "off");
    }
  }

  /** Whether reads of uncopied regions also copy them now (starts as {@link CloneOptions}). */
  public boolean copyOnRead() {
    return copyOnRead;
  }

  /** The background copier; outside the engine, {@link #tune} is the way to change it. */
  Copier copier() {
    return copier;
  }

  /** Completes when every region is copied and the metadata says complete. */
  public CompletableFuture<Void> copiedFuture() {
    return copied;
  }

  /** Completes when the clone has become a pass-through of the destination. */
  public CompletableFuture<Void> cutOverFuture() {
    return cutOver;
  }

  /** Called with a fresh status on every state change, degradation and metadata error. */
  public void addListener(Consumer<CloneStatus> listener) {
    listeners.add(listener);
  }

  void fireStatus() {
    if (listeners.isEmpty()) {
      return;
    }
    CloneStatus status = status();
    for (Consumer<CloneStatus> listener : listeners) {
      try {
        listener.accept(status);
      } catch (RuntimeException e) {
        log.warn("clone {}: status listener failed: {}", name, e.toString());
      }
    }
  }

  /** Records {@code error} as the status's error: the newest error wins. */
  void reportError(String error) {
    lastError.set(error);
  }

  /**
   * Records {@code error} only when no error is shown: for errors that are the consequence of an
   * earlier one (the copier stopping because a failed commit left the metadata read-only), which
   * must not hide their cause.
   */
  void reportErrorUnlessOneIsShown(String error) {
    lastError.compareAndSet(null, error);
  }

  /** Clears {@code error} if it is still the one shown (a transient error that has gone away). */
  void clearError(String error) {
    if (error != null) {
      lastError.compareAndSet(error, null);
    }
  }

  public State state() {
    return state;
  }

  public CloneStatus status() {
    State s = state;
    boolean done = s == State.CUT_OVER || (s == State.CLOSED && passThrough);
    long copiedRegions = done ? regionCount : metadata.hydratedCount();
    long committed = done ? regionCount : metadata.committedCount();
    Mode mode = done ? Mode.WRITE : metadata.mode();
    long copiedBytes =
        copiedRegions == regionCount ? size : Math.min(size, copiedRegions * (long) regionSize);
    String error = lastError.get();
    if (error == null && mode != Mode.WRITE) {
      // The caller that got the abort's exception may not have reported it yet.
      error = metadata.failure();
    }
    return new CloneStatus(
        name,
        s,
        regionSize,
        regionCount,
        copiedRegions,
        committed,
        size,
        copiedBytes,
        mode,
        copier.isPaused(),
        copier.isDegraded(),
        copier.copyErrors(),
        error,
        done ? 0 : copier.bytesPerSecond());
  }

  public CloneOptions options() {
    return options;
  }

  public CloneGeometry cloneGeometry() {
    return geometry;
  }

  public boolean isPassThrough() {
    return passThrough;
  }

  /** Stops the copier, commits, and closes the devices and the metadata. */
  @Override
  public void close() throws IOException {
    if (closed) {
      return;
    }
    copier.close();
    maintenance.shutdown();
    try {
      maintenance.awaitTermination(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    IOException failure = null;
    Lock lock = gate.writeLock();
    lock.lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      if (!passThrough) {
        try {
          if (metadata.mode() == Mode.WRITE) {
            metadata.commit(destination::flush);
          }
        } catch (IOException e) {
          failure = e;
        }
        closeQuietly(metadata, "metadata");
        closeQuietly(source, "source");
      } else {
        try {
          destination.flush();
        } catch (IOException e) {
          failure = e;
        }
      }
      closeQuietly(destination, "destination");
      state = State.CLOSED;
    } finally {
      lock.unlock();
    }
    copied.completeExceptionally(new IOException("clone " + name + " was closed"));
    cutOver.completeExceptionally(new IOException("clone " + name + " was closed"));
    if (failure != null) {
      throw failure;
    }
  }

  // ---------------------------------------------------------------- helpers

  private Lock enter() throws BlockIoException {
    Lock lock = gate.readLock();
    lock.lock();
    if (closed) {
      lock.unlock();
      throw new BlockIoException(Kind.IO, name, "request", 0, "the clone is closed");
    }
    userIo.incrementAndGet();
    return lock;
  }

  private void exit(Lock lock) {
    userIo.decrementAndGet();
    lock.unlock();
  }

  private void checkRange(String operation, long offset, long length) throws BlockIoException {
    if (offset < 0 || length < 0 || offset > size || length > size - offset) {
      throw new BlockIoException(
          Kind.OUT_OF_RANGE,
          name,
          operation,
          offset,
          "range of " + length + " bytes does not fit the clone's " + size + " bytes");
    }
  }

  private void checkNotFailed(String operation, long offset) throws BlockIoException {
    if (metadata.mode() == Mode.FAIL) {
      throw new BlockIoException(
          Kind.IO,
          name,
          operation,
          offset,
          "metadata device " + mdName() + " failed; the clone refuses all I/O");
    }
  }

  private BlockIoException readOnlyError(String operation, long offset) {
    return new BlockIoException(
        Kind.IO,
        name,
        operation,
        offset,
        "metadata device "
            + mdName()
            + " is "
            + metadata.mode()
            + " after an error; cannot record copied regions");
  }

  private String mdName() {
    return metadata.deviceName();
  }

  private String dst() {
    return destination.name();
  }

  private void closeQuietly(java.io.Closeable closeable, String what) {
    try {
      closeable.close();
    } catch (IOException | RuntimeException e) {
      log.warn("clone {}: closing the {} failed: {}", name, what, e.toString());
    }
  }

  private static long roundUp(long value, long unit) {
    return (value + unit - 1) / unit * unit;
  }

  @Override
  public String toString() {
    return "Clone[" + name + "]";
  }
}
