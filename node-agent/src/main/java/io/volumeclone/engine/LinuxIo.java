package io.volumeclone.engine;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import jnr.ffi.LibraryLoader;
import jnr.ffi.LibraryOption;
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

  /** {@code _IOWR('f', 11, struct fiemap)}: the extent map of a file. */
  static final long FS_IOC_FIEMAP = 0xC020660BL;

  static final int FIEMAP_HEADER = 32;
  static final int FIEMAP_EXTENT = 56;

  static final int SEEK_DATA = 3;
  static final int SEEK_HOLE = 4;
  static final int ENXIO = 6;

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
    int ioctl(int fd, long request, java.nio.ByteBuffer inOut);

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
    static final LibC LIBC = loadLibc();
    static final Runtime RUNTIME = Runtime.getRuntime(LIBC);
  }

  /**
   * The directory the launcher names for jffi's JNI stub ({@code -D}{@value #STUB_CACHE_PROPERTY},
   * bin/volume-clone), where the stub is kept between runs.
   */
  static final String STUB_CACHE_PROPERTY = "volume-clone.jffi-stub-dir";

  /** jffi's JNI stub in its jar, for this platform (jffi's own naming: arch-OS). */
  static String stubResource() {
    String arch = System.getProperty("os.arch", "");
    if (arch.equals("amd64")) {
      arch = "x86_64";
    }
    return "jni/" + arch + "-Linux/" + System.mapLibraryName("jffi-1.2");
  }

  /**
   * libc through jnr-ffi, made cheap to start (issue 19, fast start). jffi loads its JNI stub from
   * {@code jffi.boot.library.path} when the stub is there, and otherwise copies it out of the jar
   * into a fresh temporary file on every start (a SecureRandom for the name, 0.1 MB written, a
   * delete-on-exit hook); with the launcher's cache directory the copy is made once. And
   * "libc.so.6" is opened by that name at once, where "c" first fails to open and then sends
   * jnr-ffi listing the library directories to find a file that matches; "c" remains for a libc by
   * another name.
   */
  private static LibC loadLibc() {
    keepStubInCache();
    try {
      return LibraryLoader.create(LibC.class).option(LibraryOption.LoadNow, true).load("libc.so.6");
    } catch (LinkageError | RuntimeException e) {
      return LibraryLoader.create(LibC.class).load("c");
    }
  }

  /**
   * Points jffi at the launcher's copy of its stub; any failure leaves jffi to its temporary file.
   */
  private static void keepStubInCache() {
    String dir = System.getProperty(STUB_CACHE_PROPERTY);
    if (dir == null || System.getProperty("jffi.boot.library.path") != null) {
      return;
    }
    try {
      Path stub = cachedStub(Path.of(dir));
      if (stub != null) {
        System.setProperty("jffi.boot.library.path", stub.getParent().toString());
      }
    } catch (IOException | RuntimeException e) {
      // jffi copies its stub out of the jar as before
    }
  }

  /**
   * jffi's stub in {@code dir}, copied there from the class path when it is not there yet (the
   * launcher removes a copy older than the jar); null when the class path has no stub for this
   * platform.
   */
  static Path cachedStub(Path dir) throws IOException {
    String resource = stubResource();
    Path stub = dir.resolve(resource.substring(resource.lastIndexOf('/') + 1));
    if (Files.isRegularFile(stub)) {
      return stub;
    }
    try (InputStream in = LinuxIo.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        return null;
      }
      Files.createDirectories(dir);
      // Written aside and renamed: a concurrent start sees the whole stub or none.
      Path partial = Files.createTempFile(dir, "jffi", ".partial");
      try {
        Files.copy(in, partial, StandardCopyOption.REPLACE_EXISTING);
        Files.move(partial, stub, StandardCopyOption.ATOMIC_MOVE);
      } finally {
        Files.deleteIfExists(partial);
      }
    }
    return stub;
  }

  private LinuxIo() {}

  /**
   * Binds libc now, and the calls every exclusive open makes ({@code open}, {@code flock}, {@code
   * close}, errno); for a thread that does it ahead of the first open. jnr-ffi's reflective loader
   * binds each call on its first use, about 25 ms of the destination's open on a small machine
   * (issue 19), so each is made here once on a descriptor or path that cannot exist, which fails
   * without touching anything. A failure is left for the first real call to report, with its
   * device.
   */
  static void bind() {
    try {
      LibC libc = libc();
      libc.open("", O_RDONLY | O_CLOEXEC, 0);
      libc.flock(-1, LOCK_EX | LOCK_NB);
      libc.close(-1);
      errno();
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

  /**
   * {@code FS_IOC_FIEMAP} for the first extent overlapping {@code [offset, offset + length)}: its
   * {@code {logical, length, flags}}, or null when the range has no extent (a hole).
   */
  static long[] firstExtent(int fd, long offset, long length) throws NativeException {
    java.nio.ByteBuffer map =
        java.nio.ByteBuffer.allocate(FIEMAP_HEADER + FIEMAP_EXTENT)
            .order(java.nio.ByteOrder.nativeOrder());
    map.putLong(0, offset).putLong(8, length).putInt(16, 0).putInt(24, 1);
    if (libc().ioctl(fd, FS_IOC_FIEMAP, map) != 0) {
      throw new NativeException("ioctl(FS_IOC_FIEMAP)", errno());
    }
    if (map.getInt(20) == 0) {
      return null;
    }
    return new long[] {
      map.getLong(FIEMAP_HEADER), map.getLong(FIEMAP_HEADER + 16), map.getInt(FIEMAP_HEADER + 40)
    };
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
