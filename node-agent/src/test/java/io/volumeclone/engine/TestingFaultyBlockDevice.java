package io.volumeclone.engine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Wraps a {@link BlockDevice} and fails chosen operations, for fault-injection tests of the source,
 * destination and metadata paths.
 *
 * <p>Faults are rules: which operations ({@link Op}), which byte range (a request matches when it
 * overlaps the range; flushes match every range), how many matching calls pass first, how many then
 * fail, and with which {@link BlockIoException.Kind}. A failing write can be made torn: the first
 * {@code n} bytes reach the device before the error, as a power cut in the middle of a write would
 * leave them.
 *
 * <pre>{@code
 * var dev = new TestingFaultyBlockDevice(inner);
 * dev.fail(Op.READ).range(65536, 65536).always();           // bad sectors
 * dev.fail(Op.WRITE).afterCalls(2).times(1);                // the third write fails once
 * dev.fail(Op.FLUSH).always().kind(BlockIoException.Kind.IO);
 * dev.heal();                                               // remove every rule
 * }</pre>
 *
 * <p>Every call, failed or not, is appended to {@link #log()} (operation, offset, length, failed),
 * so tests can also assert the order of operations. Thread-safe.
 */
public final class TestingFaultyBlockDevice extends TestingForwardingBlockDevice {

  /** The operations a rule can match. */
  public enum Op {
    READ,
    WRITE,
    FLUSH,
    DISCARD,
    WRITE_ZEROES
  }

  /** One call as seen by the wrapper. */
  public record Call(Op op, long offset, long length, boolean failed) {}

  /** A fault rule; configure it with the fluent setters right after {@link #fail}. */
  public static final class Fault {
    private final EnumSet<Op> ops;
    private volatile long rangeStart = 0;
    private volatile long rangeEnd = Long.MAX_VALUE;
    private volatile long passFirst = 0;
    private volatile long failCount = Long.MAX_VALUE;
    private volatile BlockIoException.Kind kind = BlockIoException.Kind.IO;
    private volatile int tornBytes = -1;
    private final AtomicLong matched = new AtomicLong();
    private final AtomicLong triggered = new AtomicLong();

    private Fault(EnumSet<Op> ops) {
      this.ops = ops;
    }

    /** Only requests overlapping {@code [offset, offset + length)} match (flushes always do). */
    public Fault range(long offset, long length) {
      this.rangeStart = offset;
      this.rangeEnd = offset + length;
      return this;
    }

    /** The first {@code n} matching calls succeed; the rule fails the ones after. */
    public Fault afterCalls(long n) {
      this.passFirst = n;
      return this;
    }

    /** Fails {@code n} matching calls, then lets the rest pass. */
    public Fault times(long n) {
      this.failCount = n;
      return this;
    }

    /** Fails every matching call (the default). */
    public Fault always() {
      this.failCount = Long.MAX_VALUE;
      return this;
    }

    public Fault kind(BlockIoException.Kind kind) {
      this.kind = kind;
      return this;
    }

    /** A failing write first writes its first {@code bytes} bytes through, then fails. */
    public Fault torn(int bytes) {
      this.tornBytes = bytes;
      return this;
    }

    /** How many calls this rule has failed so far. */
    public long triggered() {
      return triggered.get();
    }

    private boolean matches(Op op, long offset, long length) {
      if (!ops.contains(op)) {
        return false;
      }
      if (op == Op.FLUSH) {
        return true;
      }
      long end = length == 0 ? offset + 1 : offset + length;
      return offset < rangeEnd && end > rangeStart;
    }

    /** Counts a matching call and says whether this one fails. */
    private boolean fires() {
      long n = matched.getAndIncrement();
      if (n < passFirst) {
        return false;
      }
      if (failCount != Long.MAX_VALUE && n - passFirst >= failCount) {
        return false;
      }
      triggered.incrementAndGet();
      return true;
    }
  }

  private final List<Fault> faults = new CopyOnWriteArrayList<>();
  private final List<Call> log = new ArrayList<>();

  public TestingFaultyBlockDevice(BlockDevice inner) {
    super(inner);
  }

  /** Adds a rule failing the given operations (every call, anywhere, until narrowed). */
  public Fault fail(Op first, Op... more) {
    Fault fault = new Fault(EnumSet.of(first, more));
    faults.add(fault);
    return fault;
  }

  /** Removes one rule. */
  public void remove(Fault fault) {
    faults.remove(fault);
  }

  /** Removes every rule: the device works again. */
  public void heal() {
    faults.clear();
  }

  /** A copy of the calls seen so far, in order. */
  public List<Call> log() {
    synchronized (log) {
      return List.copyOf(log);
    }
  }

  public void clearLog() {
    synchronized (log) {
      log.clear();
    }
  }

  private Fault firing(Op op, long offset, long length) {
    for (Fault fault : faults) {
      if (fault.matches(op, offset, length) && fault.fires()) {
        return fault;
      }
    }
    return null;
  }

  private void record(Op op, long offset, long length, boolean failed) {
    synchronized (log) {
      log.add(new Call(op, offset, length, failed));
    }
  }

  private BlockIoException injected(Fault fault, String operation, long offset) {
    return new BlockIoException(
        fault.kind, inner.name(), operation, offset, "injected fault (" + fault.kind + ")");
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    int length = dst.remaining();
    Fault fault = firing(Op.READ, offset, length);
    record(Op.READ, offset, length, fault != null);
    if (fault != null) {
      throw injected(fault, "read", offset);
    }
    inner.read(offset, dst);
  }

  @Override
  public void write(long offset, ByteBuffer src) throws IOException {
    int length = src.remaining();
    Fault fault = firing(Op.WRITE, offset, length);
    record(Op.WRITE, offset, length, fault != null);
    if (fault != null) {
      int torn = Math.min(fault.tornBytes, length);
      if (torn > 0) {
        ByteBuffer head = src.slice(src.position(), torn);
        inner.write(offset, head);
      }
      throw injected(fault, "write", offset);
    }
    inner.write(offset, src);
  }

  @Override
  public void flush() throws IOException {
    Fault fault = firing(Op.FLUSH, 0, 0);
    record(Op.FLUSH, 0, 0, fault != null);
    if (fault != null) {
      throw injected(fault, "flush", 0);
    }
    inner.flush();
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    Fault fault = firing(Op.DISCARD, offset, length);
    record(Op.DISCARD, offset, length, fault != null);
    if (fault != null) {
      throw injected(fault, "discard", offset);
    }
    inner.discard(offset, length);
  }

  @Override
  public void writeZeroes(long offset, long length) throws IOException {
    Fault fault = firing(Op.WRITE_ZEROES, offset, length);
    record(Op.WRITE_ZEROES, offset, length, fault != null);
    if (fault != null) {
      throw injected(fault, "write-zeroes", offset);
    }
    inner.writeZeroes(offset, length);
  }

  @Override
  public void writeZeroes(long offset, long length, boolean keepAllocated, boolean fastOnly)
      throws IOException {
    Fault fault = firing(Op.WRITE_ZEROES, offset, length);
    record(Op.WRITE_ZEROES, offset, length, fault != null);
    if (fault != null) {
      throw injected(fault, "write-zeroes", offset);
    }
    inner.writeZeroes(offset, length, keepAllocated, fastOnly);
  }
}
