package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** FileBlockDevice on sparse regular files (loop devices are in {@code FileBlockDeviceIT}). */
class FileBlockDeviceTest {

  private static final int MIB = 1 << 20;

  @TempDir Path dir;

  private Path sparseFile(String name, long size) throws IOException {
    Path file = dir.resolve(name);
    try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
      raf.setLength(size);
    }
    return file;
  }

  private Path dataFile(String name, byte[] data) throws IOException {
    Path file = dir.resolve(name);
    Files.write(file, data);
    return file;
  }

  private static byte[] random(int size, long seed) {
    byte[] data = new byte[size];
    new Random(seed).nextBytes(data);
    return data;
  }

  /** Bytes allocated on disk: {@code stat -c %b} (blocks of {@code %B} bytes). */
  static long allocatedBytes(Path file) throws IOException {
    Process stat =
        new ProcessBuilder("stat", "-c", "%b %B", file.toString())
            .redirectErrorStream(true)
            .start();
    String out = new String(stat.getInputStream().readAllBytes()).trim();
    try {
      if (stat.waitFor() != 0) {
        throw new IOException("stat " + file + " failed: " + out);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(e);
    }
    String[] fields = out.split(" ");
    return Long.parseLong(fields[0]) * Long.parseLong(fields[1]);
  }

  @Test
  void aThreadWithAPendingInterruptDoesItsIoAndKeepsTheDeviceOpenForEveryone() throws Exception {
    Path file = sparseFile("interrupted", 4 * MIB);
    try (FileBlockDevice device = FileBlockDevice.openExclusive(file, true)) {
      int alignment = device.directAlignment();
      ByteBuffer direct = ByteBuffer.allocateDirect(MIB + alignment).alignedSlice(alignment);
      direct.limit(MIB);
      direct.put(random(MIB, 21)).flip();
      byte[] small = {1, 2, 3, 4, 5};

      Thread.currentThread().interrupt();
      try {
        device.write(0, direct); // the direct descriptor
        device.write(MIB + 3, ByteBuffer.wrap(small)); // the buffered one
        device.flush();
        ByteBuffer back = ByteBuffer.allocate(5);
        device.read(MIB + 3, back);
        assertThat(back.array()).containsExactly(small);
        assertThat(Thread.currentThread().isInterrupted())
            .as("the interrupt is still pending for its owner")
            .isTrue();
      } finally {
        Thread.interrupted();
      }

      // Another thread still finds the device open.
      byte[] first =
          java.util.concurrent.CompletableFuture.supplyAsync(
                  () -> {
                    ByteBuffer b = ByteBuffer.allocate(MIB);
                    try {
                      device.read(0, b);
                    } catch (IOException e) {
                      throw new java.io.UncheckedIOException(e);
                    }
                    return b.array();
                  })
              .get();
      assertThat(first).isEqualTo(random(MIB, 21));
    }
  }

  @Test
  void readsAndWritesAtOffsetsAndReportsSize() throws IOException {
    Path file = sparseFile("dev", 4 * MIB);
    try (FileBlockDevice device = FileBlockDevice.openExclusive(file)) {
      assertThat(device.size()).isEqualTo(4 * MIB);
      assertThat(device.logicalBlockSize()).isEqualTo(512);
      assertThat(device.readOnly()).isFalse();
      assertThat(device.isBlockDevice()).isFalse();
      assertThat(device.name()).isEqualTo(file.toString());

      byte[] data = random(10_000, 1);
      ByteBuffer src = ByteBuffer.wrap(data);
      device.write(12_345, src);
      assertThat(src.hasRemaining()).isFalse();
      device.flush();

      ByteBuffer dst = ByteBuffer.allocate(10_000);
      device.read(12_345, dst);
      assertThat(dst.position()).isEqualTo(10_000);
      assertThat(dst.array()).isEqualTo(data);

      // Up to the very last byte is fine.
      device.write(4 * MIB - 1, ByteBuffer.wrap(new byte[] {7}));
      ByteBuffer last = ByteBuffer.allocate(1);
      device.read(4 * MIB - 1, last);
      assertThat(last.get(0)).isEqualTo((byte) 7);
    }
    byte[] onDisk = Files.readAllBytes(file);
    assertThat(Arrays.copyOfRange(onDisk, 12_345, 22_345)).isEqualTo(random(10_000, 1));
  }

  @Test
  void outOfRangeRequestsAreRefusedBeforeAnyIo() throws IOException {
    Path file = sparseFile("dev", MIB);
    try (FileBlockDevice device = FileBlockDevice.openExclusive(file)) {
      assertThatThrownBy(() -> device.read(MIB - 10, ByteBuffer.allocate(11)))
          .isInstanceOfSatisfying(
              BlockIoException.class,
              e -> {
                assertThat(e.kind()).isEqualTo(BlockIoException.Kind.OUT_OF_RANGE);
                assertThat(e.offset()).isEqualTo(MIB - 10);
                assertThat(e.operation()).isEqualTo("read");
                assertThat(e.device()).isEqualTo(file.toString());
              })
          .hasMessageContaining(file.toString())
          .hasMessageContaining("read")
          .hasMessageContaining(String.valueOf(MIB - 10));
      assertThatThrownBy(() -> device.write(-1, ByteBuffer.allocate(1)))
          .isInstanceOfSatisfying(
              BlockIoException.class,
              e -> assertThat(e.kind()).isEqualTo(BlockIoException.Kind.OUT_OF_RANGE));
      assertThatThrownBy(() -> device.discard(0, MIB + 1))
          .isInstanceOfSatisfying(
              BlockIoException.class,
              e -> assertThat(e.kind()).isEqualTo(BlockIoException.Kind.OUT_OF_RANGE));
      assertThatThrownBy(() -> device.writeZeroes(Long.MAX_VALUE, 10))
          .isInstanceOfSatisfying(
              BlockIoException.class,
              e -> assertThat(e.kind()).isEqualTo(BlockIoException.Kind.OUT_OF_RANGE));
      // Zero-length requests at the end are valid and do nothing.
      device.read(MIB, ByteBuffer.allocate(0));
      device.writeZeroes(MIB, 0);
    }
    assertThat(Files.size(file)).isEqualTo(MIB);
  }

  @Test
  void readOnlyDevicesRefuseEveryMutation() throws IOException {
    byte[] data = random(MIB, 2);
    Path file = dataFile("source", data);
    try (FileBlockDevice device = FileBlockDevice.openReadOnly(file)) {
      assertThat(device.readOnly()).isTrue();
      ByteBuffer dst = ByteBuffer.allocate(4096);
      device.read(8192, dst);
      assertThat(dst.array()).isEqualTo(Arrays.copyOfRange(data, 8192, 8192 + 4096));

      for (ThrowingCall call :
          new ThrowingCall[] {
            () -> device.write(0, ByteBuffer.allocate(512)),
            () -> device.discard(0, 4096),
            () -> device.writeZeroes(0, 4096)
          }) {
        assertThatThrownBy(call::run)
            .isInstanceOfSatisfying(
                BlockIoException.class,
                e -> assertThat(e.kind()).isEqualTo(BlockIoException.Kind.READ_ONLY))
            .hasMessageContaining(file.toString());
      }
      device.flush();
    }
    assertThat(Files.readAllBytes(file)).isEqualTo(data);
  }

  @Test
  void missingPathSaysNoSuchDeviceOrFile() {
    Path missing = dir.resolve("nope");
    assertThatThrownBy(() -> FileBlockDevice.openReadOnly(missing))
        .isInstanceOf(FileBlockDevice.NoSuchDeviceException.class)
        .hasMessage("no such device or file: " + missing);
    assertThatThrownBy(() -> FileBlockDevice.openExclusive(missing))
        .hasMessage("no such device or file: " + missing);
  }

  @Test
  void directoriesAreRefused() {
    assertThatThrownBy(() -> FileBlockDevice.openReadOnly(dir))
        .isInstanceOf(BlockIoException.class)
        .hasMessageContaining(dir.toString())
        .hasMessageContaining("not a regular file or block device");
  }

  @Test
  void secondExclusiveOpenOfAFileIsRefusedUntilTheFirstCloses() throws IOException {
    Path file = sparseFile("dest", MIB);
    try (FileBlockDevice first = FileBlockDevice.openExclusive(file)) {
      assertThatThrownBy(() -> FileBlockDevice.openExclusive(file))
          .isInstanceOf(BlockIoException.class)
          .hasMessageContaining(file.toString())
          .hasMessageContaining("busy");
      // Readers are not excluded: the source of another clone may be this file.
      try (FileBlockDevice reader = FileBlockDevice.openReadOnly(file)) {
        assertThat(reader.size()).isEqualTo(MIB);
      }
      // Closing an unrelated descriptor of the file must not drop the claim (flock, not fcntl).
      assertThatThrownBy(() -> FileBlockDevice.openExclusive(file)).hasMessageContaining("busy");
      first.write(0, ByteBuffer.wrap(new byte[] {1}));
    }
    try (FileBlockDevice again = FileBlockDevice.openExclusive(file)) {
      assertThat(again.size()).isEqualTo(MIB);
    }
  }

  @Test
  void discardPunchesHolesInFiles() throws IOException {
    Path file = dataFile("dest", random(8 * MIB, 4));
    long before = allocatedBytes(file);
    assertThat(before).isGreaterThanOrEqualTo(8L * MIB);
    try (FileBlockDevice device = FileBlockDevice.openExclusive(file)) {
      device.discard(2 * MIB, 4 * MIB);
      device.flush();
      assertThat(device.nextData(2 * MIB)).isEqualTo(6 * MIB);
      ByteBuffer dst = ByteBuffer.allocate(MIB);
      device.read(3 * MIB, dst);
      assertThat(dst.array()).containsOnly(0);
    }
    assertThat(allocatedBytes(file)).isLessThanOrEqualTo(before - 4L * MIB);
    assertThat(Files.size(file)).isEqualTo(8L * MIB);
  }

  @Test
  void writeZeroesZeroesUnalignedRangesAndFreesSpace() throws IOException {
    byte[] data = random(4 * MIB, 5);
    Path file = dataFile("dest", data);
    long before = allocatedBytes(file);
    try (FileBlockDevice device = FileBlockDevice.openExclusive(file)) {
      device.writeZeroes(1000, 3 * MIB);
    }
    byte[] after = Files.readAllBytes(file);
    byte[] expected = data.clone();
    Arrays.fill(expected, 1000, 1000 + 3 * MIB, (byte) 0);
    assertThat(after).isEqualTo(expected);
    assertThat(allocatedBytes(file)).isLessThan(before);
  }

  @Test
  void writeZeroesFallsBackToWritingZeroesWithoutFallocate() throws IOException {
    byte[] data = random(3 * MIB, 6);
    Path file = dataFile("dest", data);
    try (FileBlockDevice device =
        FileBlockDevice.openExclusive(file, false, FileBlockDevice.Zeroing.WRITTEN)) {
      device.writeZeroes(777, 2 * MIB + 5);
      ByteBuffer dst = ByteBuffer.allocate(2 * MIB + 5);
      device.read(777, dst);
      assertThat(dst.array()).containsOnly(0);
    }
    byte[] expected = data.clone();
    Arrays.fill(expected, 777, 777 + 2 * MIB + 5, (byte) 0);
    assertThat(Files.readAllBytes(file)).isEqualTo(expected);
  }

  @Test
  void directIoCarriesAlignedBulkCopiesAndBufferedIoTheRest() throws IOException {
    Path file = sparseFile("dest", 8 * MIB);
    try (FileBlockDevice device = FileBlockDevice.openExclusive(file, true)) {
      // /tmp may be tmpfs, which refuses O_DIRECT: then the device says so and stays buffered.
      int alignment = device.directAlignment();
      assertThat(alignment % 512).isZero();

      ByteBuffer aligned = ByteBuffer.allocateDirect(MIB + alignment).alignedSlice(alignment);
      aligned.limit(MIB);
      byte[] data = random(MIB, 7);
      aligned.put(data).flip();
      device.write(2 * MIB, aligned);

      // Unaligned, heap-buffered write next to it: goes through the buffered descriptor.
      device.write(2 * MIB - 3, ByteBuffer.wrap(new byte[] {1, 2, 3}));

      ByteBuffer readBack = ByteBuffer.allocateDirect(MIB + alignment).alignedSlice(alignment);
      readBack.limit(MIB);
      device.read(2 * MIB, readBack);
      readBack.flip();
      byte[] got = new byte[MIB];
      readBack.get(got);
      assertThat(got).isEqualTo(data);

      ByteBuffer head = ByteBuffer.allocate(3);
      device.read(2 * MIB - 3, head);
      assertThat(head.array()).containsExactly(1, 2, 3);
      device.flush();
    }
    byte[] onDisk = Files.readAllBytes(file);
    assertThat(Arrays.copyOfRange(onDisk, 2 * MIB, 3 * MIB)).isEqualTo(random(MIB, 7));
  }

  @Test
  void closedDeviceNamesItselfAndTheOperation() throws IOException {
    Path file = sparseFile("dev", MIB);
    FileBlockDevice device = FileBlockDevice.openExclusive(file);
    device.close();
    device.close(); // idempotent
    assertThatThrownBy(() -> device.read(4096, ByteBuffer.allocate(10)))
        .isInstanceOf(BlockIoException.class)
        .hasMessageContaining(file.toString())
        .hasMessageContaining("closed")
        .hasMessageContaining("4096");
  }

  @FunctionalInterface
  interface ThrowingCall {
    void run() throws Exception;
  }
}
