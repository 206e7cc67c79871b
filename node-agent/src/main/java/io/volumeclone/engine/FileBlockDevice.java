package io.volumeclone.engine;

import com.sun.nio.file.ExtendedOpenOption;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A regular file or a Linux block device as a {@link BlockDevice}.
 *
 * <p>Design note. Data moves through {@link FileChannel} positional I/O; the things FileChannel
 * cannot do go through {@link LinuxIo} on a second descriptor of the same file, held for the
 * device's lifetime:
 *
 * <ul>
 *   <li>Exclusivity. {@link #openExclusive} opens a block device with {@code O_EXCL}: the kernel
 *       then refuses a mount or another {@code O_EXCL} open (a second clone) with EBUSY for as long
 *       as the descriptor lives, and we refuse to start if someone already holds it. Regular files
 *       have no such kernel claim, so they get {@code flock(LOCK_EX|LOCK_NB)}, which every
 *       volume-clone process takes (flock, unlike fcntl locks, is not dropped when some other
 *       descriptor of the same file in this process is closed).
 *   <li>Geometry. Block devices report their size with {@code BLKGETSIZE64} and their logical block
 *       size with {@code BLKSSZGET}; a file's size is its length and its logical block size 512.
 *   <li>Discard. {@code BLKDISCARD} on the aligned inner part of the range (discard is advisory, so
 *       the unaligned head and tail are left alone) or {@code fallocate(PUNCH_HOLE|KEEP_SIZE)}. A
 *       device without discard support ignores discards (logged once).
 *   <li>Write zeroes. {@code BLKZEROOUT} (which never unmaps) on the aligned middle plus written
 *       zeroes for the unaligned head and tail; for files {@code PUNCH_HOLE}, else {@code
 *       ZERO_RANGE}, else written zeroes. Every path leaves the range reading as zeroes. When the
 *       range must stay allocated (NBD's NO_HOLE) files skip the hole punching. When zeroing must
 *       be fast (NBD's FAST_ZERO) a file without {@code PUNCH_HOLE}/{@code ZERO_RANGE} and every
 *       block device refuse with NOT_SUPPORTED before writing anything: {@code BLKZEROOUT} falls
 *       back to writing zeroes inside the kernel where the device cannot zero by itself, and
 *       userspace has no way to ask for zeroing that keeps the range mapped without that fallback.
 * </ul>
 *
 * <p>Direct I/O. With {@code direct = true} a third descriptor is opened with {@code O_DIRECT} (the
 * JDK's {@link ExtendedOpenOption#DIRECT}). A read or write takes the direct path only when it pays
 * and is legal: a direct (off-heap) buffer whose address, the offset and the length are all
 * multiples of {@link #directAlignment()} (the larger of the logical block size and the file
 * system's block size, which is what the JDK checks). The copier's 4 KiB-aligned pool buffers and
 * region-aligned offsets meet that, so bulk copies bypass the page cache like {@code dd
 * oflag=direct}; everything else (small, unaligned or heap-buffered user I/O) uses the buffered
 * descriptor. Linux keeps the two coherent: an O_DIRECT write writes back and invalidates cached
 * pages of its range, and an O_DIRECT read writes back dirty pages first; the clone never issues
 * concurrent overlapping I/O to one region, which is the one case the kernel leaves undefined. When
 * the file system refuses O_DIRECT (tmpfs) the device silently stays buffered; {@link #directIo()}
 * says which it got.
 *
 * <p>Errors. Every failure is a {@link BlockIoException} naming the device, the operation and the
 * offset; a missing path is a {@link NoSuchDeviceException} ("no such device or file: PATH").
 */
public final class FileBlockDevice implements BlockDevice {

  private static final Logger LOG = LoggerFactory.getLogger(FileBlockDevice.class);

  private static final int S_IFMT = 0170000;
  private static final int S_IFBLK = 0060000;
  private static final int S_IFREG = 0100000;
  private static final int FILE_LOGICAL_BLOCK_SIZE = 512;
  private static final int ZERO_CHUNK = 1 << 20;

  /** Zeroes written where no zeroing call works; shared read-only, duplicated per use. */
  private static final ByteBuffer ZEROES = ByteBuffer.allocateDirect(ZERO_CHUNK).asReadOnlyBuffer();

  /** The path names nothing: "no such device or file: PATH". */
  public static final class NoSuchDeviceException extends NoSuchFileException {
    public NoSuchDeviceException(String path) {
      super(path);
    }

    @Override
    public String getMessage() {
      return "no such device or file: " + getFile();
    }
  }

  private final String name;
  private final boolean blockDevice;
  private final boolean readOnly;
  private final long size;
  private final int logicalBlockSize;
  private final FileChannel channel;
  private final FileChannel directChannel;
  private final int directAlignment;
  private final int fd;
  private volatile boolean closed;
  private volatile boolean discardUnsupported;
  private volatile boolean zeroOffloadUnsupported;
  private volatile boolean punchHoleUnsupported;
  private volatile boolean zeroRangeUnsupported;
  private volatile boolean fiemapUnsupported;

  /** How {@link #writeZeroes} zeroes: through the kernel's zeroing calls, or by writing zeroes. */
  enum Zeroing {
    /** {@code BLKZEROOUT}, {@code PUNCH_HOLE} or {@code ZERO_RANGE}, falling back as they fail. */
    OFFLOAD,
    /** Written zeroes only, as on a file system without fallocate modes. */
    WRITTEN
  }

  private FileBlockDevice(
      String name,
      boolean blockDevice,
      boolean readOnly,
      long size,
      int logicalBlockSize,
      FileChannel channel,
      FileChannel directChannel,
      int directAlignment,
      int fd,
      Zeroing zeroing) {
    boolean written = zeroing == Zeroing.WRITTEN;
    this.zeroOffloadUnsupported = written;
    this.punchHoleUnsupported = written;
    this.zeroRangeUnsupported = written;
    this.name = name;
    this.blockDevice = blockDevice;
    this.readOnly = readOnly;
    this.size = size;
    this.logicalBlockSize = logicalBlockSize;
    this.channel = channel;
    this.directChannel = directChannel;
    this.directAlignment = directAlignment;
    this.fd = fd;
  }

  /** Opens a source: read-only ({@code O_RDONLY}), never writable, not claimed. */
  public static FileBlockDevice openReadOnly(Path path) throws IOException {
    return open(path, false, false, Zeroing.OFFLOAD);
  }

  /** Opens a source read-only, with O_DIRECT reads for aligned bulk copies when {@code direct}. */
  public static FileBlockDevice openReadOnly(Path path, boolean direct) throws IOException {
    return open(path, false, direct, Zeroing.OFFLOAD);
  }

  /**
   * Opens a destination or metadata device read-write and claims it: {@code O_EXCL} on a block
   * device (a mount or a second clone cannot open it), an exclusive {@code flock} on a file.
   */
  public static FileBlockDevice openExclusive(Path path) throws IOException {
    return open(path, true, false, Zeroing.OFFLOAD);
  }

  /** {@link #openExclusive(Path)}, with O_DIRECT for aligned bulk I/O when {@code direct}. */
  public static FileBlockDevice openExclusive(Path path, boolean direct) throws IOException {
    return open(path, true, direct, Zeroing.OFFLOAD);
  }

  /** {@link #openExclusive(Path, boolean)}, zeroing as {@code zeroing} says. */
  static FileBlockDevice openExclusive(Path path, boolean direct, Zeroing zeroing)
      throws IOException {
    return open(path, true, direct, zeroing);
  }

  private static FileBlockDevice open(Path path, boolean writable, boolean direct, Zeroing zeroing)
      throws IOException {
    String name = path.toString();
    String operation = writable ? "open exclusively" : "open read-only";
    int mode;
    try {
      mode = (Integer) Files.getAttribute(path, "unix:mode");
    } catch (NoSuchFileException e) {
      throw new NoSuchDeviceException(name);
    } catch (IOException e) {
      throw new BlockIoException(BlockIoException.Kind.IO, name, operation, 0, describe(e), e);
    }
    boolean blockDevice = (mode & S_IFMT) == S_IFBLK;
    if (!blockDevice && (mode & S_IFMT) != S_IFREG) {
      throw new BlockIoException(
          BlockIoException.Kind.IO, name, operation, 0, "not a regular file or block device");
    }

    List<AutoCloseable> opened = new ArrayList<>();
    try {
      int flags = writable ? LinuxIo.O_RDWR : LinuxIo.O_RDONLY;
      if (writable && blockDevice) {
        flags |= LinuxIo.O_EXCL;
      }
      int fd;
      try {
        fd = LinuxIo.open(name, flags);
      } catch (LinuxIo.NativeException e) {
        throw openFailure(name, operation, e);
      }
      opened.add(() -> LinuxIo.close(fd));
      if (writable && !blockDevice && !LinuxIo.tryLockExclusive(fd)) {
        throw busy(name, operation);
      }

      long size;
      int logicalBlockSize;
      if (blockDevice) {
        try {
          size = LinuxIo.blockDeviceSize(fd);
          logicalBlockSize = LinuxIo.logicalBlockSize(fd);
        } catch (LinuxIo.NativeException e) {
          throw new BlockIoException(
              BlockIoException.Kind.IO, name, "query size", 0, e.getMessage(), e);
        }
      } else {
        size = -1;
        logicalBlockSize = FILE_LOGICAL_BLOCK_SIZE;
      }

      OpenOption[] options =
          writable
              ? new OpenOption[] {StandardOpenOption.READ, StandardOpenOption.WRITE}
              : new OpenOption[] {StandardOpenOption.READ};
      FileChannel channel = FileChannel.open(path, options);
      opened.add(channel);
      if (size < 0) {
        size = channel.size();
      }

      FileChannel directChannel = null;
      int alignment = Math.max(logicalBlockSize, 4096);
      if (direct) {
        try {
          alignment = Math.max(logicalBlockSize, (int) Files.getFileStore(path).getBlockSize());
          OpenOption[] directOptions = new OpenOption[options.length + 1];
          System.arraycopy(options, 0, directOptions, 0, options.length);
          directOptions[options.length] = ExtendedOpenOption.DIRECT;
          directChannel = FileChannel.open(path, directOptions);
          opened.add(directChannel);
        } catch (IOException | UnsupportedOperationException e) {
          LOG.info("{}: O_DIRECT not available ({}), using buffered I/O", name, describe(e));
          directChannel = null;
        }
      }
      return new FileBlockDevice(
          name,
          blockDevice,
          !writable,
          size,
          logicalBlockSize,
          channel,
          directChannel,
          alignment,
          fd,
          zeroing);
    } catch (IOException | RuntimeException e) {
      for (int i = opened.size() - 1; i >= 0; i--) {
        try {
          opened.get(i).close();
        } catch (Exception suppressed) {
          e.addSuppressed(suppressed);
        }
      }
      if (e instanceof BlockIoException || e instanceof NoSuchFileException) {
        throw e;
      }
      if (e instanceof IOException io) {
        throw new BlockIoException(BlockIoException.Kind.IO, name, operation, 0, describe(io), io);
      }
      throw e;
    }
  }

  private static IOException openFailure(String name, String operation, LinuxIo.NativeException e) {
    return switch (e.errno()) {
      case LinuxIo.ENOENT -> new NoSuchDeviceException(name);
      case LinuxIo.EBUSY -> busy(name, operation);
      default -> new BlockIoException(BlockIoException.Kind.IO, name, operation, 0, e.reason(), e);
    };
  }

  private static BlockIoException busy(String name, String operation) {
    return new BlockIoException(
        BlockIoException.Kind.IO,
        name,
        operation,
        0,
        "device is busy: it is mounted, or another clone or program holds it open exclusively");
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public int logicalBlockSize() {
    return logicalBlockSize;
  }

  @Override
  public boolean readOnly() {
    return readOnly;
  }

  /** True for a block device, false for a regular file. */
  public boolean isBlockDevice() {
    return blockDevice;
  }

  /** True when aligned bulk I/O goes through an O_DIRECT descriptor. */
  public boolean directIo() {
    return directChannel != null;
  }

  /** Offsets, lengths and buffer addresses must be multiples of this for the direct path. */
  public int directAlignment() {
    return directAlignment;
  }

  private void checkRange(String operation, long offset, long length) throws BlockIoException {
    if (closed) {
      throw new BlockIoException(
          BlockIoException.Kind.IO, name, operation, offset, "device is closed");
    }
    if (offset < 0 || length < 0 || offset > size || length > size - offset) {
      throw new BlockIoException(
          BlockIoException.Kind.OUT_OF_RANGE,
          name,
          operation,
          offset,
          "range of " + length + " bytes is outside the device's " + size + " bytes");
    }
  }

  private void checkWritable(String operation, long offset) throws BlockIoException {
    if (readOnly) {
      throw new BlockIoException(
          BlockIoException.Kind.READ_ONLY, name, operation, offset, "device is opened read-only");
    }
  }

  private FileChannel channelFor(long offset, ByteBuffer buffer) {
    if (directChannel == null || !buffer.isDirect()) {
      return channel;
    }
    long mask = directAlignment - 1L;
    if ((offset & mask) != 0
        || (buffer.remaining() & mask) != 0
        || (buffer.alignmentOffset(buffer.position(), directAlignment)) != 0) {
      return channel;
    }
    return directChannel;
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    int length = dst.remaining();
    checkRange("read", offset, length);
    FileChannel source = channelFor(offset, dst);
    long position = offset;
    boolean interrupted = Thread.interrupted();
    try {
      while (dst.hasRemaining()) {
        int n = source.read(dst, position);
        if (n < 0) {
          throw new BlockIoException(
              BlockIoException.Kind.IO,
              name,
              "read",
              offset,
              "device ended after " + (position - offset) + " of " + length + " bytes");
        }
        position += n;
      }
    } catch (BlockIoException e) {
      throw e;
    } catch (IOException e) {
      throw failure("read", position, e);
    } finally {
      restoreInterrupt(interrupted);
    }
  }

  @Override
  public void write(long offset, ByteBuffer src) throws IOException {
    checkWritable("write", offset);
    checkRange("write", offset, src.remaining());
    writeFully(channelFor(offset, src), offset, src, "write");
  }

  private void writeFully(FileChannel target, long offset, ByteBuffer src, String operation)
      throws BlockIoException {
    long position = offset;
    boolean interrupted = Thread.interrupted();
    try {
      while (src.hasRemaining()) {
        position += target.write(src, position);
      }
    } catch (IOException e) {
      throw failure(operation, position, e);
    } finally {
      restoreInterrupt(interrupted);
    }
  }

  /**
   * Sets the interrupt status that a data call cleared on entry. A FileChannel closes itself, for
   * every thread, when a thread with a pending interrupt enters it, so each data call clears the
   * status first and sets it again when it returns: an interrupt meant for something else (a
   * cancelled task on a pooled thread) must not take the device with it. One that arrives during a
   * call still closes the channel; nothing in the clone interrupts a thread doing device I/O.
   */
  private static void restoreInterrupt(boolean interrupted) {
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void flush() throws IOException {
    checkRange("flush", 0, 0);
    if (readOnly) {
      return;
    }
    boolean interrupted = Thread.interrupted();
    try {
      // fdatasync; on a block device this also flushes the device's volatile write cache.
      channel.force(false);
    } catch (IOException e) {
      throw failure("flush", 0, e);
    } finally {
      restoreInterrupt(interrupted);
    }
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    checkWritable("discard", offset);
    checkRange("discard", offset, length);
    if (length == 0 || discardUnsupported) {
      return;
    }
    try {
      if (blockDevice) {
        long start = roundUp(offset, logicalBlockSize);
        long end = roundDown(offset + length, logicalBlockSize);
        if (end > start) {
          LinuxIo.blockDiscard(fd, start, end - start);
        }
      } else {
        LinuxIo.fallocate(
            fd, LinuxIo.FALLOC_FL_PUNCH_HOLE | LinuxIo.FALLOC_FL_KEEP_SIZE, offset, length);
      }
    } catch (LinuxIo.NativeException e) {
      if (e.errno() == LinuxIo.EOPNOTSUPP || e.errno() == LinuxIo.ENOTTY) {
        discardUnsupported = true;
        LOG.info("{} does not support discard ({}); discards are ignored", name, e.reason());
        return;
      }
      throw new BlockIoException(kindOf(e), name, "discard", offset, e.getMessage(), e);
    }
  }

  @Override
  public void writeZeroes(long offset, long length) throws IOException {
    writeZeroes(offset, length, false, false);
  }

  @Override
  public void writeZeroes(long offset, long length, boolean keepAllocated, boolean fastOnly)
      throws IOException {
    checkWritable("write-zeroes", offset);
    checkRange("write-zeroes", offset, length);
    if (length == 0) {
      return;
    }
    if (fastOnly && blockDevice) {
      throw slowZeroing(offset, "a block device may fall back to writing zeroes");
    }
    if (blockDevice) {
      long start = roundUp(offset, logicalBlockSize);
      long end = roundDown(offset + length, logicalBlockSize);
      if (end <= start) {
        writeZeroBytes(offset, length);
        return;
      }
      writeZeroBytes(offset, start - offset);
      if (!zeroOffloadUnsupported) {
        try {
          LinuxIo.blockZeroOut(fd, start, end - start);
        } catch (LinuxIo.NativeException e) {
          if (e.errno() != LinuxIo.EOPNOTSUPP
              && e.errno() != LinuxIo.ENOTTY
              && e.errno() != LinuxIo.EINVAL) {
            throw new BlockIoException(kindOf(e), name, "write-zeroes", start, e.getMessage(), e);
          }
          zeroOffloadUnsupported = true;
          LOG.info("{}: BLKZEROOUT unsupported ({}), writing zeroes", name, e.reason());
          writeZeroBytes(start, end - start);
        }
      } else {
        writeZeroBytes(start, end - start);
      }
      writeZeroBytes(end, offset + length - end);
      return;
    }
    if (!keepAllocated && !punchHoleUnsupported) {
      try {
        LinuxIo.fallocate(
            fd, LinuxIo.FALLOC_FL_PUNCH_HOLE | LinuxIo.FALLOC_FL_KEEP_SIZE, offset, length);
        return;
      } catch (LinuxIo.NativeException e) {
        if (e.errno() != LinuxIo.EOPNOTSUPP) {
          throw new BlockIoException(kindOf(e), name, "write-zeroes", offset, e.getMessage(), e);
        }
        punchHoleUnsupported = true;
      }
    }
    if (!zeroRangeUnsupported) {
      try {
        LinuxIo.fallocate(
            fd, LinuxIo.FALLOC_FL_ZERO_RANGE | LinuxIo.FALLOC_FL_KEEP_SIZE, offset, length);
        return;
      } catch (LinuxIo.NativeException e) {
        if (e.errno() != LinuxIo.EOPNOTSUPP) {
          throw new BlockIoException(kindOf(e), name, "write-zeroes", offset, e.getMessage(), e);
        }
        zeroRangeUnsupported = true;
        LOG.info("{}: cannot zero ranges in place, writing zeroes", name);
      }
    }
    if (fastOnly) {
      throw slowZeroing(offset, "the file system cannot zero a range without writing zeroes");
    }
    writeZeroBytes(offset, length);
  }

  private BlockIoException slowZeroing(long offset, String why) {
    return new BlockIoException(
        BlockIoException.Kind.NOT_SUPPORTED, name, "fast write-zeroes", offset, why);
  }

  private void writeZeroBytes(long offset, long length) throws BlockIoException {
    if (length <= 0) {
      return;
    }
    ByteBuffer zeroes = ZEROES.duplicate();
    long position = offset;
    long end = offset + length;
    while (position < end) {
      zeroes.clear().limit((int) Math.min(ZERO_CHUNK, end - position));
      writeFully(channel, position, zeroes, "write-zeroes");
      position += zeroes.limit();
    }
  }

  /**
   * The next data byte at or after {@code offset} ({@code SEEK_DATA}), or {@link #size()} when only
   * a hole follows. For files; used by tests and tools to see punched holes.
   */
  public long nextData(long offset) throws IOException {
    checkRange("seek data", offset, 0);
    try {
      return LinuxIo.seek(fd, offset, LinuxIo.SEEK_DATA);
    } catch (LinuxIo.NativeException e) {
      if (e.errno() == LinuxIo.ENXIO) { // no data after offset
        return size;
      }
      throw new BlockIoException(kindOf(e), name, "seek data", offset, e.getMessage(), e);
    }
  }

  /**
   * A writable file (a destination, written by the copier with direct I/O while it asks) answers
   * from its extent map: SEEK_DATA waits for the inode lock that every allocating direct write
   * holds (ext4), FIEMAP does not. Only a range without any extent is zero; unwritten and delayed
   * extents count as data, since their pages may hold written data not yet on disk. Null when the
   * file system has no FIEMAP.
   */
  private Run extentMapRun(long offset, long length) throws IOException {
    long[] extent;
    try {
      extent = LinuxIo.firstExtent(fd, offset, length);
    } catch (LinuxIo.NativeException e) {
      if (e.errno() == LinuxIo.EOPNOTSUPP || e.errno() == LinuxIo.ENOTTY) {
        fiemapUnsupported = true;
        return null;
      }
      throw new BlockIoException(kindOf(e), name, "fiemap", offset, e.getMessage(), e);
    }
    if (extent == null) {
      return new Run(length, true);
    }
    if (extent[0] > offset) {
      return new Run(Math.min(extent[0] - offset, length), true);
    }
    return new Run(Math.max(1, Math.min(extent[0] + extent[1] - offset, length)), false);
  }

  /**
   * For a regular file, holes from {@code SEEK_DATA}/{@code SEEK_HOLE} (a hole, and an unwritten
   * extent that the file system reports as one, reads back as zeroes); a block device has no such
   * query and reports data. A file system without the seek modes answers EINVAL or reports the
   * whole file as data, both of which mean "data" here.
   */
  @Override
  public Run allocation(long offset, long length) throws IOException {
    checkRange("allocation", offset, length);
    if (blockDevice || length == 0) {
      return new Run(length, false);
    }
    if (!readOnly && !fiemapUnsupported) {
      Run run = extentMapRun(offset, length);
      if (run != null) {
        return run;
      }
    }
    long data;
    try {
      data = LinuxIo.seek(fd, offset, LinuxIo.SEEK_DATA);
    } catch (LinuxIo.NativeException e) {
      if (e.errno() == LinuxIo.ENXIO) {
        return new Run(length, true);
      }
      if (e.errno() == LinuxIo.EINVAL) {
        return new Run(length, false);
      }
      throw new BlockIoException(kindOf(e), name, "seek data", offset, e.getMessage(), e);
    }
    if (data > offset) {
      return new Run(Math.min(data - offset, length), true);
    }
    long hole;
    try {
      hole = LinuxIo.seek(fd, offset, LinuxIo.SEEK_HOLE);
    } catch (LinuxIo.NativeException e) {
      throw new BlockIoException(kindOf(e), name, "seek hole", offset, e.getMessage(), e);
    }
    return new Run(Math.max(1, Math.min(hole - offset, length)), false);
  }

  @Override
  public void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    IOException first = null;
    for (AutoCloseable resource :
        new AutoCloseable[] {directChannel, channel, () -> LinuxIo.close(fd)}) {
      if (resource == null) {
        continue;
      }
      try {
        resource.close();
      } catch (Exception e) {
        if (first == null) {
          first = new BlockIoException(BlockIoException.Kind.IO, name, "close", 0, describe(e), e);
        }
      }
    }
    if (first != null) {
      throw first;
    }
  }

  private BlockIoException failure(String operation, long offset, IOException e) {
    if (e instanceof ClosedChannelException) {
      return new BlockIoException(
          BlockIoException.Kind.IO, name, operation, offset, "device is closed", e);
    }
    String detail = describe(e);
    BlockIoException.Kind kind =
        detail.contains("No space left")
            ? BlockIoException.Kind.NO_SPACE
            : BlockIoException.Kind.IO;
    return new BlockIoException(kind, name, operation, offset, detail, e);
  }

  private static BlockIoException.Kind kindOf(LinuxIo.NativeException e) {
    return switch (e.errno()) {
      case LinuxIo.ENOSPC -> BlockIoException.Kind.NO_SPACE;
      case LinuxIo.EOPNOTSUPP -> BlockIoException.Kind.NOT_SUPPORTED;
      default -> BlockIoException.Kind.IO;
    };
  }

  private static String describe(Exception e) {
    String message = e.getMessage();
    return message == null ? e.getClass().getSimpleName() : message;
  }

  private static long roundUp(long value, int unit) {
    return (value + unit - 1) / unit * unit;
  }

  private static long roundDown(long value, int unit) {
    return value / unit * unit;
  }
}
