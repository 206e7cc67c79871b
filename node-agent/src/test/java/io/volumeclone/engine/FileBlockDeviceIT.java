package io.volumeclone.engine;

import static io.volumeclone.testing.HostRequirements.require;
import static io.volumeclone.testing.HostRequirements.requireRoot;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * FileBlockDevice on real loop devices: BLKGETSIZE64, BLKSSZGET, BLKDISCARD, BLKZEROOUT, O_DIRECT
 * and O_EXCL against a second exclusive open and a mount. Needs root and {@code losetup} (Debian
 * package {@code mount}); the mount test also needs {@code mkfs.ext4} ({@code e2fsprogs}).
 */
class FileBlockDeviceIT {

  private static final int MIB = 1 << 20;

  @TempDir Path dir;

  private final List<String> loops = new ArrayList<>();
  private final List<Path> mounts = new ArrayList<>();

  @BeforeEach
  void needRootAndLosetup() throws Exception {
    requireRoot("loop devices need CAP_SYS_ADMIN");
    require("losetup", "mount");
  }

  private static String run(String... command) throws IOException, InterruptedException {
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(process.getInputStream().readAllBytes());
    if (!process.waitFor(60, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      throw new IOException(String.join(" ", command) + " timed out");
    }
    if (process.exitValue() != 0) {
      throw new IOException(
          String.join(" ", command) + " exited " + process.exitValue() + ": " + out.trim());
    }
    return out;
  }

  private String attach(Path file) throws Exception {
    String loop = run("losetup", "--find", "--show", file.toString()).trim();
    loops.add(loop);
    return loop;
  }

  @AfterEach
  void detach() throws Exception {
    for (Path mount : mounts) {
      try {
        run("umount", mount.toString());
      } catch (IOException e) {
        System.err.println("cleanup: " + e.getMessage());
      }
    }
    for (String loop : loops) {
      try {
        run("losetup", "-d", loop);
      } catch (IOException e) {
        System.err.println("cleanup: " + e.getMessage());
      }
    }
  }

  private Path backingFile(long size, boolean randomData) throws IOException {
    Path file = dir.resolve("backing-" + loops.size() + ".img");
    if (randomData) {
      byte[] data = new byte[(int) size];
      new Random(size).nextBytes(data);
      Files.write(file, data);
    } else {
      try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
        raf.setLength(size);
      }
    }
    return file;
  }

  @Test
  void sizeAndBlockSizeComeFromTheIoctls() throws Exception {
    String loop = attach(backingFile(48 * MIB, false));
    try (FileBlockDevice device = FileBlockDevice.openExclusive(Path.of(loop))) {
      assertThat(device.isBlockDevice()).isTrue();
      assertThat(device.size()).isEqualTo(48L * MIB);
      assertThat(device.logicalBlockSize()).isEqualTo(512);
      assertThat(device.name()).isEqualTo(loop);
    }
    try (FileBlockDevice source = FileBlockDevice.openReadOnly(Path.of(loop))) {
      assertThat(source.size()).isEqualTo(48L * MIB);
      assertThatThrownBy(() -> source.write(0, ByteBuffer.allocate(512)))
          .isInstanceOfSatisfying(
              BlockIoException.class,
              e -> assertThat(e.kind()).isEqualTo(BlockIoException.Kind.READ_ONLY));
      assertThatThrownBy(() -> source.read(48L * MIB - 511, ByteBuffer.allocate(512)))
          .isInstanceOfSatisfying(
              BlockIoException.class,
              e -> {
                assertThat(e.kind()).isEqualTo(BlockIoException.Kind.OUT_OF_RANGE);
                assertThat(e.getMessage()).contains(loop);
              });
    }
  }

  @Test
  void writesReachTheBackingFileAfterFlush() throws Exception {
    Path file = backingFile(16 * MIB, false);
    String loop = attach(file);
    byte[] data = new byte[3 * MIB + 100];
    new Random(1).nextBytes(data);
    try (FileBlockDevice device = FileBlockDevice.openExclusive(Path.of(loop))) {
      device.write(MIB + 7, ByteBuffer.wrap(data));
      device.flush();
    }
    byte[] onDisk = Files.readAllBytes(file);
    assertThat(Arrays.copyOfRange(onDisk, MIB + 7, MIB + 7 + data.length)).isEqualTo(data);
  }

  @Test
  void blkDiscardPunchesTheBackingFileAndReadsZeroes() throws Exception {
    Path file = backingFile(32 * MIB, true);
    long before = FileBlockDeviceTest.allocatedBytes(file);
    String loop = attach(file);
    try (FileBlockDevice device = FileBlockDevice.openExclusive(Path.of(loop))) {
      // Unaligned edges: only the 512-aligned inside is discarded.
      device.discard(4 * MIB - 100, 16 * MIB + 200);
      device.flush();
      ByteBuffer middle = ByteBuffer.allocate(MIB);
      device.read(10 * MIB, middle);
      assertThat(middle.array()).containsOnly(0);
      ByteBuffer edge = ByteBuffer.allocate(100);
      device.read(4 * MIB - 100, edge);
      byte[] original = Files.readAllBytes(file);
      assertThat(edge.array()).isEqualTo(Arrays.copyOfRange(original, 4 * MIB - 100, 4 * MIB));
    }
    assertThat(FileBlockDeviceTest.allocatedBytes(file)).isLessThanOrEqualTo(before - 15L * MIB);
  }

  @Test
  void blkZeroOutZeroesUnalignedRanges() throws Exception {
    Path file = backingFile(8 * MIB, true);
    byte[] original = Files.readAllBytes(file);
    String loop = attach(file);
    try (FileBlockDevice device = FileBlockDevice.openExclusive(Path.of(loop))) {
      device.writeZeroes(1000, 5 * MIB + 33);
      device.flush();
    }
    byte[] expected = original.clone();
    Arrays.fill(expected, 1000, 1000 + 5 * MIB + 33, (byte) 0);
    assertThat(Files.readAllBytes(file)).isEqualTo(expected);
  }

  @Test
  void directIoOnABlockDevice() throws Exception {
    String loop = attach(backingFile(16 * MIB, false));
    try (FileBlockDevice device = FileBlockDevice.openExclusive(Path.of(loop), true)) {
      assertThat(device.directIo()).isTrue();
      int alignment = device.directAlignment();
      ByteBuffer buffer = ByteBuffer.allocateDirect(2 * MIB + alignment).alignedSlice(alignment);
      buffer.limit(2 * MIB);
      byte[] data = new byte[2 * MIB];
      new Random(2).nextBytes(data);
      buffer.put(data).flip();
      device.write(4 * MIB, buffer);
      device.flush();
      ByteBuffer back = ByteBuffer.allocate(2 * MIB);
      device.read(4 * MIB, back); // heap buffer: the buffered path sees the direct write
      assertThat(back.array()).isEqualTo(data);
    }
  }

  @Test
  void exclusiveOpenRefusesASecondClaimAndIsRefusedWhileAnotherHoldsIt() throws Exception {
    require("mkfs.ext4", "e2fsprogs");
    String loop = attach(backingFile(16 * MIB, false));
    run("mkfs.ext4", "-q", "-F", loop);
    try (FileBlockDevice first = FileBlockDevice.openExclusive(Path.of(loop))) {
      assertThatThrownBy(() -> FileBlockDevice.openExclusive(Path.of(loop)))
          .isInstanceOf(BlockIoException.class)
          .hasMessageContaining(loop)
          .hasMessageContaining("busy");
      // Read-only opens (a source) are not excluded.
      try (FileBlockDevice reader = FileBlockDevice.openReadOnly(Path.of(loop))) {
        assertThat(reader.size()).isEqualTo(16L * MIB);
      }
      // Nor is it mountable while we hold it.
      Path target = Files.createDirectory(dir.resolve("held"));
      assertThatThrownBy(() -> run("mount", loop, target.toString()))
          .isInstanceOf(IOException.class)
          .hasMessageContaining("busy");
    }
    try (FileBlockDevice again = FileBlockDevice.openExclusive(Path.of(loop))) {
      assertThat(again.size()).isEqualTo(16L * MIB);
    }
  }

  @Test
  void aMountedDeviceCannotBeOpenedExclusively() throws Exception {
    require("mkfs.ext4", "e2fsprogs");
    String loop = attach(backingFile(32 * MIB, false));
    run("mkfs.ext4", "-q", "-F", loop);
    Path target = Files.createDirectory(dir.resolve("mnt"));
    run("mount", loop, target.toString());
    mounts.add(target);
    assertThatThrownBy(() -> FileBlockDevice.openExclusive(Path.of(loop)))
        .isInstanceOf(BlockIoException.class)
        .hasMessageContaining(loop)
        .hasMessageContaining("busy: it is mounted");
    run("umount", target.toString());
    mounts.clear();
    try (FileBlockDevice device = FileBlockDevice.openExclusive(Path.of(loop))) {
      assertThat(device.size()).isEqualTo(32L * MIB);
    }
  }
}
