package io.volumeclone.engine;

import java.io.IOException;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.SaveError;
import jnr.ffi.byref.IntByReference;
import jnr.ffi.byref.LongLongByReference;

/**
 * The few Linux calls {@link FileBlockDevice} needs and {@code FileChannel} lacks: open flags
 * ({@code O_EXCL} on block devices), the block-device ioctls and {@code fallocate}.
 *
 * <p>Design note: everything native is here and nowhere else, bound through jnr-ffi to libc (jnr's
 * own JNI stub, so no {@code --enable-native-access} flags are required for correctness; the JDK
 * may print a warning). Data never goes through this class: reads and writes use {@code
 * FileChannel} (including O_DIRECT through {@code ExtendedOpenOption.DIRECT}), which is as fast as
 * a native {@code pread}/{@code pwrite} and handles heap buffers. Constants are the x86_64 and
 * aarch64 values, which agree for every number used here. Each call reports failure as a {@link
 * NativeException} carrying {@code errno}; callers add the device, operation and offset.
 */
final class LinuxIo {

  static final int O_RDONLY = 0;
  static final int O_RDWR = 2;
  static final int O_EXCL = 0200;
  static final int O_CLOEXEC = 02000000;

  static final int ENOENT = 2;
  static final int EBUSY = 16;
  static final int EINVAL = 22;
  static final int ENOTTY = 25;
  static final int ENOSPC = 28;
  static final int EOPNOTSUPP = 95;

  /** {@code _IOR(0x12, 114, size_t)}: device size in bytes. */
  static final long BLKGETSIZE64 = 0x80081272L;

  /** {@code _IO(0x12, 104)}: logical sector size. */
  static final long BLKSSZGET = 0x1268L;

  /** {@code _IO(0x12, 119)}: discard {@code uint64_t[2] = {offset, length}}. */
  static final long BLKDISCARD = 0x1277L;

  /** {@code _IO(0x12, 127)}: write zeroes over {@code uint64_t[2] = {offset, length}}. */
  static final long BLKZEROOUT = 0x127fL;

  static final int FALLOC_FL_KEEP_SIZE = 0x01;
  static final int FALLOC_FL_PUNCH_HOLE = 0x02;
  static final int FALLOC_FL_ZERO_RANGE = 0x10;

  static final int LOCK_EX = 2;
  static final int LOCK_NB = 4;
  static final int EWOULDBLOCK = 11;

  static final int SEEK_DATA = 3;

  /** A failed system call with its errno. */
  static final class NativeException extends IOException {
    private final int errno;

    NativeException(String call, int errno) {
      super(call + ": " + describe(errno));
      this.errno = errno;
    }

    int errno() {
      return errno;
    }

    /** The strerror text without the call name, for user messages. */
    String reason() {
      return describe(errno);
    }
  }

  /** libc as jnr-ffi binds it; overloads of ioctl bind the same symbol with the argument's type. */
  public interface LibC {
    @SaveError
    int open(String path, int flags, int mode);

    @SaveError
    int close(int fd);

    @SaveError
    int ioctl(int fd, long request, LongLongByReference result);

    @SaveError
    int ioctl(int fd, long request, IntByReference result);

    @SaveError
    int ioctl(int fd, long request, @In long[] range);

    @SaveError
    int fallocate(int fd, int mode, long offset, long length);

    @SaveError
    long lseek(int fd, long offset, int whence);

    @SaveError
    int flock(int fd, int operation);

    String strerror(int errnum);
  }

  /**
   * Bound on first use. The launchers pass {@code -Djnr.ffi.asm.enabled=false}
   * (bin/volume-clone-jvm-flags says why); a JVM started without it binds the same calls through
   * jnr-ffi's generated classes, only slower to start.
   */
  private static final class Holder {
    static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");
    static final Runtime RUNTIME = Runtime.getRuntime(LIBC);
  }

  private LinuxIo() {}

  /**
   * Binds libc now; for a thread that does it ahead of the first open. A failure is left for the
   * first real call to report, with its device.
   */
  static void bind() {
    try {
      libc();
    } catch (RuntimeException | LinkageError e) {
      // the first open reports it
    }
  }

  private static LibC libc() {
    return Holder.LIBC;
  }

  private static int errno() {
    return Holder.RUNTIME.getLastError();
  }

  static String describe(int errno) {
    String text;
    try {
      text = libc().strerror(errno);
    } catch (RuntimeException | LinkageError e) {
      text = null;
    }
    return (text == null ? "errno" : text) + " (errno " + errno + ")";
  }

  /** {@code open(2)}; returns the descriptor. */
  static int open(String path, int flags) throws NativeException {
    int fd = libc().open(path, flags | O_CLOEXEC, 0);
    if (fd < 0) {
      throw new NativeException("open", errno());
    }
    return fd;
  }

  static void close(int fd) throws NativeException {
    if (libc().close(fd) != 0) {
      throw new NativeException("close", errno());
    }
  }

  static long blockDeviceSize(int fd) throws NativeException {
    LongLongByReference size = new LongLongByReference(0L);
    if (libc().ioctl(fd, BLKGETSIZE64, size) != 0) {
      throw new NativeException("ioctl(BLKGETSIZE64)", errno());
    }
    return size.longValue();
  }

  static int logicalBlockSize(int fd) throws NativeException {
    IntByReference size = new IntByReference(0);
    if (libc().ioctl(fd, BLKSSZGET, size) != 0) {
      throw new NativeException("ioctl(BLKSSZGET)", errno());
    }
    return size.intValue();
  }

  static void blockDiscard(int fd, long offset, long length) throws NativeException {
    if (libc().ioctl(fd, BLKDISCARD, new long[] {offset, length}) != 0) {
      throw new NativeException("ioctl(BLKDISCARD)", errno());
    }
  }

  static void blockZeroOut(int fd, long offset, long length) throws NativeException {
    if (libc().ioctl(fd, BLKZEROOUT, new long[] {offset, length}) != 0) {
      throw new NativeException("ioctl(BLKZEROOUT)", errno());
    }
  }

  static void fallocate(int fd, int mode, long offset, long length) throws NativeException {
    if (libc().fallocate(fd, mode, offset, length) != 0) {
      throw new NativeException("fallocate", errno());
    }
  }

  /** Takes {@code flock(LOCK_EX | LOCK_NB)}; false when another open file holds it. */
  static boolean tryLockExclusive(int fd) throws NativeException {
    if (libc().flock(fd, LOCK_EX | LOCK_NB) == 0) {
      return true;
    }
    int errno = errno();
    if (errno == EWOULDBLOCK) {
      return false;
    }
    throw new NativeException("flock", errno);
  }

  /** {@code lseek(2)}, for SEEK_DATA/SEEK_HOLE; -1 with ENXIO means "none after offset". */
  static long seek(int fd, long offset, int whence) throws NativeException {
    long result = libc().lseek(fd, offset, whence);
    if (result < 0) {
      throw new NativeException("lseek", errno());
    }
    return result;
  }
}
