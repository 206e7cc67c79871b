package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** FAST_ZERO on a file destination (issue 11, item 5): fail fast instead of writing zeroes. */
class CloneZeroingTest {

  static final int R = 64 * 1024;
  static final int REGIONS = 16;

  @TempDir Path dir;

  @Test
  void fastZeroWhereTheDestinationWouldWriteZeroesIsNotSupportedAndChangesNothing()
      throws IOException {
    byte[] sourceData = new byte[REGIONS * R];
    new Random(3).nextBytes(sourceData);
    byte[] destinationData = new byte[REGIONS * R];
    Arrays.fill(destinationData, (byte) 0x5a);
    Path destinationFile = dir.resolve("destination.img");
    Files.write(destinationFile, destinationData);
    // A file system without fallocate modes.
    FileBlockDevice destination =
        FileBlockDevice.openExclusive(destinationFile, false, FileBlockDevice.Zeroing.WRITTEN);
    CloneGeometry geometry =
        new CloneGeometry(0, 0, REGIONS * R, R, sourceData.length, destinationData.length);
    TestingMemoryCloneMetadata metadata = new TestingMemoryCloneMetadata(geometry);
    try (Clone clone =
        Clone.open(
            TestingMemoryBlockDevice.readOnly("src", sourceData),
            destination,
            metadata,
            CloneOptions.builder("zeroing")
                .noCopy(true)
                .commitPeriod(Duration.ofHours(1))
                .build())) {
      clone.write(0, ByteBuffer.wrap(new byte[R]), false); // region 0 copied
      assertThatThrownBy(() -> clone.writeZeroes(2 * R, 4 * R, false, true))
          .isInstanceOfSatisfying(
              BlockIoException.class,
              e -> assertThat(e.kind()).isEqualTo(BlockIoException.Kind.NOT_SUPPORTED));
      assertThatThrownBy(() -> clone.writeZeroes(100, R - 200, false, true))
          .isInstanceOfSatisfying(
              BlockIoException.class,
              e -> assertThat(e.kind()).isEqualTo(BlockIoException.Kind.NOT_SUPPORTED));
      assertThat(metadata.isRangeHydrated(2, 4)).isFalse();
      // Without FAST_ZERO the same request writes the zeroes.
      clone.writeZeroes(2 * R, 4 * R, false, false);
      ByteBuffer zeroes = ByteBuffer.allocate(4 * R);
      clone.read(2 * R, zeroes);
      assertThat(zeroes.array()).containsOnly(0);
    }
    byte[] after = Files.readAllBytes(destinationFile);
    assertThat(Arrays.copyOfRange(after, 100, R - 100)).containsOnly(0);
    assertThat(Arrays.copyOfRange(after, 6 * R, 7 * R)).containsOnly(0x5a);
  }
}
