package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The metadata is bound to its clone and destination; a device of another clone is refused. */
class DiskCloneMetadataIdentityTest {

  private static final int BLOCK = DiskCloneMetadata.BLOCK_SIZE;
  private static final String NAME = "/dev/test-metadata";
  private static final CloneGeometry GEOMETRY =
      new CloneGeometry(0, 0, 1000L * 4096, 4096, 1000L * 4096, 1000L * 4096);
  private static final CloneIdentity FIRST =
      new CloneIdentity("VolumeClone db/restore uid 1111", "PersistentVolumeClaim db/data");
  private static final CloneIdentity SECOND =
      new CloneIdentity("VolumeClone db/restore uid 2222", "PersistentVolumeClaim db/data");

  @TempDir Path dir;

  private static TestingMemoryBlockDevice deviceWith(byte[] image) {
    return new TestingMemoryBlockDevice(NAME, image, false, 512);
  }

  /** A device formatted and committed for {@code identity}, with regions 0..9 copied. */
  private static byte[] committedFor(CloneIdentity identity, boolean complete) throws IOException {
    TestingMemoryBlockDevice dev =
        new TestingMemoryBlockDevice(NAME, (int) DiskCloneMetadata.requiredSize(GEOMETRY));
    try (DiskCloneMetadata metadata = DiskCloneMetadata.open(dev, GEOMETRY, identity, false)) {
      metadata.setHydrated(0, complete ? GEOMETRY.regionCount() : 10);
      if (complete) {
        metadata.markComplete(() -> {});
      } else {
        metadata.commit(() -> {});
      }
    }
    return dev.durableContents();
  }

  @Test
  void aDeviceOfAnotherCloneIsRefusedNamingBothAndLeftUntouched() throws IOException {
    byte[] image = committedFor(FIRST, true);
    TestingMemoryBlockDevice dev = deviceWith(image.clone());

    assertThatThrownBy(() -> DiskCloneMetadata.open(dev, GEOMETRY, SECOND, false))
        .isInstanceOf(MetadataMismatchException.class)
        .hasMessageContaining(NAME)
        .hasMessageContaining("uid 1111")
        .hasMessageContaining("uid 2222")
        .hasMessageContaining("never resumed");
    assertThat(dev.contents()).isEqualTo(image);
  }

  @Test
  void anotherDestinationOfTheSameCloneIsRefusedToo() throws IOException {
    byte[] image = committedFor(FIRST, false);
    CloneIdentity moved = new CloneIdentity(FIRST.owner(), "file /data/other.img inode 42");

    assertThatThrownBy(() -> DiskCloneMetadata.open(deviceWith(image), GEOMETRY, moved, false))
        .isInstanceOf(MetadataMismatchException.class)
        .hasMessageContaining("PersistentVolumeClaim db/data")
        .hasMessageContaining("file /data/other.img inode 42");
  }

  @Test
  void theSameCloneResumesWithItsCommittedRegions() throws IOException {
    byte[] image = committedFor(FIRST, false);
    try (DiskCloneMetadata metadata =
        DiskCloneMetadata.open(deviceWith(image), GEOMETRY, FIRST, false)) {
      assertThat(metadata.identity()).isEqualTo(FIRST);
      assertThat(metadata.committedCount()).isEqualTo(10);
      assertThat(metadata.isRangeHydrated(0, 10)).isTrue();
    }
  }

  @Test
  void aVersion1DeviceIsAcceptedAndBoundAtItsFirstCommit() throws IOException {
    byte[] v1 = asVersion1(committedFor(null, false));
    TestingMemoryBlockDevice dev = deviceWith(v1);
    try (DiskCloneMetadata metadata = DiskCloneMetadata.open(dev, GEOMETRY, FIRST, false)) {
      assertThat(metadata.committedCount()).isEqualTo(10);
      long before = metadata.transactionId();
      // nothing changed, yet the commit happens: it records the identity
      metadata.commit(() -> {});
      assertThat(metadata.transactionId()).isEqualTo(before + 1);
    }
    byte[] bound = dev.durableContents();
    assertThatThrownBy(() -> DiskCloneMetadata.open(deviceWith(bound), GEOMETRY, SECOND, false))
        .isInstanceOf(MetadataMismatchException.class)
        .hasMessageContaining("uid 1111");
    try (DiskCloneMetadata metadata =
        DiskCloneMetadata.open(deviceWith(bound), GEOMETRY, FIRST, false)) {
      assertThat(metadata.committedCount()).isEqualTo(10);
      assertThat(metadata.identity()).isEqualTo(FIRST);
    }
  }

  @Test
  void aVersion1DeviceThatIsNeverCommittedStaysUnbound() throws IOException {
    byte[] v1 = asVersion1(committedFor(null, false));
    DiskCloneMetadata.open(deviceWith(v1), GEOMETRY, FIRST, false).close();
    // closing without a commit writes nothing, so another clone may still claim it
    try (DiskCloneMetadata metadata =
        DiskCloneMetadata.open(deviceWith(v1), GEOMETRY, SECOND, false)) {
      assertThat(metadata.identity()).isEqualTo(SECOND);
    }
  }

  @Test
  void aFileIsNamedByItsPathAndInodeSoAFreshFileIsAnotherDestination() throws IOException {
    Path file = dir.resolve("destination.img");
    Files.write(file, new byte[4096]);
    String first = CloneIdentity.describeDevice(file);
    assertThat(first).startsWith("file " + file.toRealPath() + " inode ");
    assertThat(CloneIdentity.describeDevice(file)).isEqualTo(first);

    Path moved = dir.resolve("moved.img");
    Files.move(file, moved);
    Files.write(file, new byte[4096]); // a fresh destination at the same path
    Files.delete(moved);

    assertThat(CloneIdentity.describeDevice(file)).isNotEqualTo(first);
  }

  @Test
  void anIdentityLongerThanASlotHoldsIsRefused() {
    assertThatThrownBy(() -> new CloneIdentity("x".repeat(1001), "d"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("longer than 1000 bytes");
  }

  /** The device as format v1 wrote it: versions 1 in the label and the slots, no identity. */
  private static byte[] asVersion1(byte[] image) {
    ByteBuffer buffer = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
    for (int block = 0; block < 3; block++) {
      if (buffer.getLong(block * BLOCK + 8) != 0) {
        buffer.putInt(block * BLOCK + 4, 1);
        CRC32C crc = new CRC32C();
        crc.update(image, block * BLOCK + 4, BLOCK - 4);
        buffer.putInt(block * BLOCK, (int) crc.getValue());
      }
    }
    return image;
  }
}
