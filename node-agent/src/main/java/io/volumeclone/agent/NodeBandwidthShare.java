package io.volumeclone.agent;

import io.volumeclone.contract.AgentPaths;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jnr.posix.FileStat;
import jnr.posix.POSIX;
import jnr.posix.POSIXFactory;

/**
 * Shares one node-wide copy bandwidth budget between the clones copying on a node, although every
 * clone's agent is its own process (its own Pod).
 *
 * <p>Design note. Agents are one clone per process, so they coordinate through the node state root
 * they all mount: no daemon, no socket, only files and kernel locks.
 *
 * <ul>
 *   <li>Lease. While its clone copies (not paused, not copied, not stopped) an agent holds an
 *       exclusive {@code flock(2)} on {@code <stateRoot>/.copying/<namespace>_<name>.lock}; the
 *       kernel drops it when the process dies, SIGKILL included ({@link LeaseFile} says why flock
 *       and not {@code FileChannel.lock}). The file carries the holder's pid and its own spec limit
 *       (its "demand"), fixed width so a rewrite is one short write that readers see whole.
 *   <li>Count. Every second (and at once on every change of its own) each agent tries to lock the
 *       other lease files: one it cannot lock is held by a live copier and counts, with the demand
 *       it carries; one it can lock is stale (its holder died), is deleted and does not count.
 *   <li>Share. The budget is shared max-min fairly: clones whose own limit is below an equal share
 *       get their limit, the rest split what remains equally. With no own limits that is budget /
 *       n. The effective limit handed to the copier is the smaller of the clone's own limit and its
 *       share, at least 1 byte/s. A clone that does not copy is told the share it would get on
 *       joining, so a resumed copy starts fair before the next rebalance.
 *   <li>Races. A lease file is deleted only by a process holding its lock (the owner when it stops,
 *       or whoever found it stale). Whoever locks a file therefore checks that the path still names
 *       the file it locked (same device and inode); if not (it was deleted meanwhile) the owner
 *       retries with a fresh file and a cleaner leaves it alone.
 * </ul>
 *
 * <p>Limits: the share is recomputed once a second, so for up to a second after a clone starts or
 * stops the node may run above or below its budget. A clone that does not use its share (slow
 * source, yielding to user I/O) does not give it to the others. The lease directory must be on a
 * local filesystem (flock over NFS is emulated with fcntl locks).
 */
public final class NodeBandwidthShare implements AutoCloseable {

  /** The lease directory's name below the node state root. */
  public static final String LEASE_DIRECTORY = AgentPaths.LEASE_DIRECTORY;

  static final String LEASE_SUFFIX = ".lock";
  static final Duration REBALANCE_PERIOD = Duration.ofSeconds(1);

  private static final Pattern DEMAND = Pattern.compile("bandwidth=([0-9]+)");

  /** Told the effective limit whenever it changes, and about scan failures. */
  public interface Listener {
    /**
     * The copier's limit is now {@code bytesPerSecond} (0 = unlimited), {@code copyingClones}
     * clones copying on the node counting this one.
     */
    void limitChanged(long bytesPerSecond, int copyingClones);

    /** The lease directory could not be read or written; the previous limit stays. */
    default void failed(String message) {}
  }

  private final Path directory;
  private final String leaseName;
  private final long budget;
  private final Listener listener;

  private long demand;
  private boolean copying;
  private LeaseFile lease;
  private long limit = -1;
  private int copyingClones;
  private boolean closed;
  private ScheduledExecutorService timer;

  /**
   * @param directory the lease directory, {@code <stateRoot>/.copying}
   * @param namespace the clone's namespace
   * @param name the clone's name
   * @param nodeBudget bytes per second for all clones of the node together, 0 for no budget (then
   *     the clone's own limit applies alone and no file is touched)
   * @param demand the clone's own limit, 0 for none
   */
  public NodeBandwidthShare(
      Path directory,
      String namespace,
      String name,
      long nodeBudget,
      long demand,
      Listener listener) {
    if (nodeBudget < 0) {
      throw new IllegalArgumentException(
          "the node bandwidth budget must be >= 0 (0 = none), got " + nodeBudget);
    }
    checkDemand(demand);
    this.directory = directory;
    // namespaces and names are DNS labels: no '_', so the name is unambiguous
    this.leaseName = namespace + "_" + name + LEASE_SUFFIX;
    this.budget = nodeBudget;
    this.demand = demand;
    this.listener = listener;
  }

  /** The lease file of this clone. */
  public Path leaseFile() {
    return directory.resolve(leaseName);
  }

  public long nodeBudget() {
    return budget;
  }

  /** The clone's own limit (spec.copy.bandwidth), 0 for none. */
  public synchronized long demand() {
    return demand;
  }

  /** The effective limit last handed to the listener; -1 before the first rebalance. */
  public synchronized long limit() {
    return limit;
  }

  /** Clones copying on the node at the last rebalance, this one included when it copies. */
  public synchronized int copyingClones() {
    return copyingClones;
  }

  /** True while this clone holds its lease. */
  public synchronized boolean holdsLease() {
    return lease != null;
  }

  /** Rebalances every second on a daemon thread until {@link #close()}. */
  public synchronized void start() {
    if (timer != null || closed) {
      return;
    }
    timer =
        Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("node-bandwidth-share").factory());
    long period = REBALANCE_PERIOD.toMillis();
    timer.scheduleWithFixedDelay(this::rebalance, 0, period, TimeUnit.MILLISECONDS);
  }

  /**
   * The clone's own limit (spec.copy.bandwidth), at start or changed; the first call always
   * computes a limit, which is the one the copier starts at.
   */
  public synchronized void setDemand(long bytesPerSecond) {
    checkDemand(bytesPerSecond);
    if (bytesPerSecond == demand && limit >= 0) {
      return;
    }
    demand = bytesPerSecond;
    if (lease != null) {
      try {
        lease.write(leaseText());
      } catch (IOException e) {
        listener.failed("rewriting " + leaseFile() + " failed: " + e.getMessage());
      }
    }
    rebalance();
  }

  /** The clone started or stopped copying: takes or gives back its lease, then rebalances. */
  public synchronized void setCopying(boolean nowCopying) {
    if (closed || nowCopying == copying) {
      return;
    }
    copying = nowCopying;
    if (!nowCopying) {
      releaseLease();
    }
    rebalance();
  }

  /**
   * Counts the clones copying on the node, computes this clone's share and tells the listener when
   * its effective limit changed. Returns the effective limit.
   */
  public synchronized long rebalance() {
    if (closed) {
      return limit;
    }
    if (budget == 0) {
      publish(demand, copying ? 1 : 0);
      return limit;
    }
    try {
      if (copying && lease == null) {
        acquireLease();
      }
      List<Long> demands = liveDemandsOfOthers();
      int clones = demands.size() + 1;
      // Not copying: the limit is what this clone would get on joining, so a resume starts fair.
      demands.add(demand);
      long effective = limitFor(budget, demand, demands);
      publish(effective, copying ? clones : clones - 1);
    } catch (IOException | RuntimeException e) {
      listener.failed(
          "sharing the node bandwidth through " + directory + " failed: " + e.getMessage());
    }
    return limit;
  }

  private void publish(long effective, int clones) {
    boolean changed = effective != limit || clones != copyingClones;
    limit = effective;
    copyingClones = clones;
    if (changed) {
      listener.limitChanged(effective, clones);
    }
  }

  /**
   * The max-min fair limit of a clone demanding {@code own} (0 = no own limit) among {@code
   * demands} (every copying clone's, {@code own} included) under {@code budget}.
   */
  static long limitFor(long budget, long own, List<Long> demands) {
    List<Long> limited = new ArrayList<>();
    for (long d : demands) {
      if (d > 0) {
        limited.add(d);
      }
    }
    limited.sort(null);
    long remaining = budget;
    int sharing = demands.size();
    for (long d : limited) {
      if (d > remaining / sharing) {
        break;
      }
      remaining -= d;
      sharing--;
    }
    // sharing == 0: every copying clone's own limit fits in the budget, so each gets its own.
    long share = sharing == 0 ? Long.MAX_VALUE : remaining / sharing;
    long effective = own > 0 ? Math.min(own, share) : share;
    return Math.max(1, effective);
  }

  // ---------------------------------------------------------------- leases

  private void acquireLease() throws IOException {
    Files.createDirectories(directory);
    Path file = leaseFile();
    for (int attempt = 0; attempt < 3; attempt++) {
      LeaseFile candidate = LeaseFile.open(file, true);
      if (!candidate.tryLock()) {
        // An earlier agent of this same clone (a Pod still terminating) holds it; try next time.
        candidate.close();
        return;
      }
      if (candidate.isAt(file)) {
        candidate.write(leaseText());
        lease = candidate;
        return;
      }
      // Someone who found the file stale deleted it between our open and our lock: start over.
      candidate.close();
    }
    throw new IOException("could not take the lease " + file + " after 3 attempts");
  }

  private void releaseLease() {
    if (lease == null) {
      return;
    }
    try {
      // delete while holding the lock: nobody deletes a file without holding its lock
      Files.deleteIfExists(leaseFile());
    } catch (IOException e) {
      listener.failed("removing the lease " + leaseFile() + " failed: " + e.getMessage());
    }
    lease.close();
    lease = null;
  }

  /** The demands of the other clones whose lease is held by a live process; deletes stale ones. */
  private List<Long> liveDemandsOfOthers() throws IOException {
    List<Long> demands = new ArrayList<>();
    if (!Files.isDirectory(directory)) {
      return demands;
    }
    List<Path> files = new ArrayList<>();
    try (DirectoryStream<Path> stream = Files.newDirectoryStream(directory, "*" + LEASE_SUFFIX)) {
      stream.forEach(files::add);
    }
    for (Path file : files) {
      if (file.getFileName().toString().equals(leaseName)) {
        continue;
      }
      Long d = liveDemand(file);
      if (d != null) {
        demands.add(d);
      }
    }
    return demands;
  }

  private static Long liveDemand(Path file) throws IOException {
    LeaseFile other = LeaseFile.open(file, false);
    if (other == null) {
      return null; // its owner stopped meanwhile
    }
    try {
      if (!other.tryLock()) {
        return demandIn(other.read());
      }
      // Stale: its holder died. Delete it if the path still names the file we locked.
      if (other.isAt(file)) {
        Files.deleteIfExists(file);
      }
      return null;
    } finally {
      other.close();
    }
  }

  private String leaseText() {
    return String.format("pid=%010d bandwidth=%019d%n", ProcessHandle.current().pid(), demand);
  }

  /** The demand a live lease carries; 0 (no own limit) when it cannot be read. */
  private static long demandIn(String text) {
    Matcher m = DEMAND.matcher(text);
    try {
      return m.find() ? Long.parseLong(m.group(1)) : 0;
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  /**
   * One open lease file, locked with {@code flock(2)} through jnr-posix. Not {@link
   * java.nio.channels.FileChannel#lock()}: on Linux that is an fcntl record lock, which belongs to
   * the process and is dropped when the process closes any descriptor of the file, as merely
   * reading it does; a flock belongs to this one open file and only its holder's death or close
   * drops it, so several shares in one JVM behave exactly like several processes.
   */
  static final class LeaseFile {
    private static final int O_RDWR = 2;
    private static final int O_CREAT = 0100;
    private static final int O_CLOEXEC = 02000000;
    private static final int LOCK_EX = 2;
    private static final int LOCK_NB = 4;
    private static final int ENOENT = 2;
    private static final int EWOULDBLOCK = 11;

    private static volatile POSIX posix;

    private final Path path;
    private final int fd;

    private LeaseFile(Path path, int fd) {
      this.path = path;
      this.fd = fd;
    }

    private static POSIX posix() {
      POSIX p = posix;
      if (p == null) {
        p = POSIXFactory.getNativePOSIX();
        posix = p;
      }
      return p;
    }

    /** Null when {@code create} is false and the file does not exist. */
    static LeaseFile open(Path path, boolean create) throws IOException {
      POSIX p = posix();
      int fd = p.open(path.toString(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
      if (fd < 0) {
        int errno = p.errno();
        if (errno == ENOENT && !create) {
          return null;
        }
        throw new IOException("open " + path + ": errno " + errno);
      }
      return new LeaseFile(path, fd);
    }

    /** False when another open file (another process, or another share) holds the lock. */
    boolean tryLock() throws IOException {
      POSIX p = posix();
      if (p.flock(fd, LOCK_EX | LOCK_NB) == 0) {
        return true;
      }
      int errno = p.errno();
      if (errno == EWOULDBLOCK) {
        return false;
      }
      throw new IOException("flock " + path + ": errno " + errno);
    }

    /** True when {@code file} names the very file this one has open (same device and inode). */
    boolean isAt(Path file) throws IOException {
      POSIX p = posix();
      FileStat open = p.allocateStat();
      if (p.fstat(fd, open) != 0) {
        throw new IOException("fstat " + path + ": errno " + p.errno());
      }
      FileStat named = p.allocateStat();
      if (p.stat(file.toString(), named) != 0) {
        return false; // deleted
      }
      return open.dev() == named.dev() && open.ino() == named.ino();
    }

    /** Overwrites the content; fixed-width text keeps one short write whole for readers. */
    void write(String text) throws IOException {
      byte[] bytes = text.getBytes(StandardCharsets.US_ASCII);
      POSIX p = posix();
      if (p.pwrite(fd, bytes, bytes.length, 0) != bytes.length
          || p.ftruncate(fd, bytes.length) != 0) {
        throw new IOException("write " + path + ": errno " + p.errno());
      }
    }

    String read() {
      byte[] bytes = new byte[256];
      long n = posix().pread(fd, bytes, bytes.length, 0);
      return n <= 0 ? "" : new String(bytes, 0, (int) n, StandardCharsets.US_ASCII);
    }

    /** Closing the last descriptor of the open file drops its flock. */
    void close() {
      posix().close(fd);
    }
  }

  private static void checkDemand(long bytesPerSecond) {
    if (bytesPerSecond < 0) {
      throw new IllegalArgumentException(
          "bandwidth must be >= 0 (0 = unlimited), got " + bytesPerSecond);
    }
  }

  /** Stops rebalancing and gives the lease back. */
  @Override
  public void close() {
    ScheduledExecutorService t;
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
      t = timer;
      releaseLease();
    }
    if (t != null) {
      t.shutdownNow();
    }
  }
}
