package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link FileBlockDevice#allocation}: a sparse file's holes through SEEK_DATA/SEEK_HOLE. */
class FileBlockDeviceAllocationTest {

  static final int MIB = 1 << 20;

  @TempDir Path dir;

  /** 8 MiB, data at [1 MiB, 1 MiB + 64 KiB) and [5 MiB, 6 MiB), holes elsewhere. */
  Path sparseFile() throws Exception {
    Path file = dir.resolve("sparse.img");
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.setLength(8 * MIB);
      byte[] ones = new byte[MIB];
      Arrays.fill(ones, (byte) 1);
      f.seek(MIB);
      f.write(ones, 0, 64 * 1024);
      f.seek(5 * MIB);
      f.write(ones);
    }
    return file;
  }

  @Test
  void reportsHolesAndDataRunsCappedAtTheQueriedLength() throws Exception {
    try (FileBlockDevice device = FileBlockDevice.openReadOnly(sparseFile())) {
      assertThat(device.allocation(0, 8 * MIB)).isEqualTo(new BlockDevice.Run(MIB, true));
      assertThat(device.allocation(4096, 4096)).isEqualTo(new BlockDevice.Run(4096, true));
      assertThat(device.allocation(MIB, 8 * MIB - MIB))
          .isEqualTo(new BlockDevice.Run(64 * 1024, false));
      assertThat(device.allocation(MIB + 4096, 4096)).isEqualTo(new BlockDevice.Run(4096, false));
      assertThat(device.allocation(MIB + 64 * 1024, 7 * MIB - 64 * 1024))
          .isEqualTo(new BlockDevice.Run(4 * MIB - 64 * 1024, true));
      assertThat(device.allocation(5 * MIB, 3 * MIB)).isEqualTo(new BlockDevice.Run(MIB, false));
      assertThat(device.allocation(6 * MIB, 2 * MIB))
          .as("no data after the offset (ENXIO)")
          .isEqualTo(new BlockDevice.Run(2 * MIB, true));
    }
  }

  @Test
  void aWritableFileAnswersFromItsExtentMapAlike() throws Exception {
    try (FileBlockDevice device = FileBlockDevice.openExclusive(sparseFile(), true)) {
      assertThat(device.allocation(0, 8 * MIB)).isEqualTo(new BlockDevice.Run(MIB, true));
      assertThat(device.allocation(MIB, 7 * MIB)).isEqualTo(new BlockDevice.Run(64 * 1024, false));
      assertThat(device.allocation(MIB + 64 * 1024, 7 * MIB - 64 * 1024))
          .isEqualTo(new BlockDevice.Run(4 * MIB - 64 * 1024, true));
      assertThat(device.allocation(5 * MIB, 3 * MIB)).isEqualTo(new BlockDevice.Run(MIB, false));
      assertThat(device.allocation(6 * MIB, 2 * MIB)).isEqualTo(new BlockDevice.Run(2 * MIB, true));
      // A buffered write not yet written back is data at once (a delayed extent).
      ByteBuffer ones = ByteBuffer.allocate(4096);
      while (ones.hasRemaining()) {
        ones.put((byte) 1);
      }
      device.write(7 * MIB, ones.flip());
      assertThat(device.allocation(7 * MIB, MIB)).isEqualTo(new BlockDevice.Run(4096, false));
      assertThat(device.allocation(6 * MIB, 2 * MIB)).isEqualTo(new BlockDevice.Run(MIB, true));
    }
  }

  @Test
  void holesReadAsZeroesAndPunchedRangesBecomeHoles() throws Exception {
    Path file = sparseFile();
    try (FileBlockDevice device = FileBlockDevice.openExclusive(file)) {
      ByteBuffer hole = ByteBuffer.allocate(MIB);
      device.read(2 * MIB, hole);
      assertThat(hole.array()).containsOnly(0);
      device.writeZeroes(5 * MIB, MIB);
      assertThat(device.allocation(5 * MIB, 3 * MIB)).isEqualTo(new BlockDevice.Run(3 * MIB, true));
    }
  }

  @Test
  void anOutOfRangeQueryIsRefusedNamingTheDevice() throws Exception {
    Path file = sparseFile();
    try (FileBlockDevice device = FileBlockDevice.openReadOnly(file)) {
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> device.allocation(7 * MIB, 2 * MIB))
          .isInstanceOfSatisfying(
              BlockIoException.class,
              e -> {
                assertThat(e.kind()).isEqualTo(BlockIoException.Kind.OUT_OF_RANGE);
                assertThat(e.getMessage()).contains(file.toString()).contains("allocation");
              });
    }
  }
}
