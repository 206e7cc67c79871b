package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The one open sequence of a clone: what it opens, what it validates, and that a failure at any
 * step closes everything opened before it (and leaves no device claimed for the next attempt).
 */
class CloneLauncherTest {

  private static final int REGION = 4096;
  private static final int SIZE = 16 * REGION;

  @TempDir Path dir;

  /** Records its close, so a test can see what a failed launch released. */
  private static final class ClosingDevice extends TestingForwardingBlockDevice {
    volatile boolean closed;

    ClosingDevice(BlockDevice inner) {
      super(inner);
    }

    @Override
    public void close() throws IOException {
      closed = true;
      super.close();
    }
  }

  private final List<String> opened = new ArrayList<>();

  private ClosingDevice memory(String name, int size) {
    opened.add(name);
    return new ClosingDevice(new TestingMemoryBlockDevice(name, size));
  }

  private static CloneOptions options() {
    return CloneOptions.builder("launcher-test").noCopy(true).build();
  }

  @Test
  void aFailingMetadataOpenClosesTheOpenedSourceAndDestination() {
    ClosingDevice source = memory("source", SIZE);
    ClosingDevice destination = memory("destination", SIZE);

    assertThatThrownBy(
            () ->
                CloneLauncher.of(options())
                    .source("source", () -> source)
                    .destination("destination", () -> destination)
                    .metadata(
                        (geometry, identity) -> {},
                        () -> {
                          throw new IOException("cannot open metadata /dev/md: device busy");
                        })
                    .regionSize(REGION)
                    .launch())
        .isInstanceOf(IOException.class)
        .hasMessage("cannot open metadata /dev/md: device busy");
    assertThat(source.closed).as("source closed").isTrue();
    assertThat(destination.closed).as("destination closed").isTrue();
  }

  @Test
  void aMetadataOfAnotherCloneIsRefusedAndEverythingOpenedIsClosed() throws IOException {
    CloneGeometry geometry = new CloneGeometry(0, 0, SIZE, REGION, SIZE, SIZE);
    TestingMemoryBlockDevice formatted =
        new TestingMemoryBlockDevice("/dev/md", (int) DiskCloneMetadata.requiredSize(geometry));
    CloneIdentity first = new CloneIdentity("clone one", "destination one");
    DiskCloneMetadata.open(formatted, geometry, first, false).close();
    ClosingDevice metadata =
        new ClosingDevice(
            new TestingMemoryBlockDevice(
                "/dev/md", formatted.durableContents(), false, formatted.logicalBlockSize()));
    ClosingDevice source = memory("source", SIZE);
    ClosingDevice destination = memory("destination", SIZE);

    assertThatThrownBy(
            () ->
                CloneLauncher.of(options())
                    .source("source", () -> source)
                    .destination("destination", () -> destination)
                    .metadata((g, identity) -> {}, () -> metadata)
                    .identity(() -> new CloneIdentity("clone two", "destination one"))
                    .regionSize(REGION)
                    .launch())
        .isInstanceOf(MetadataMismatchException.class)
        .hasMessageContaining("/dev/md")
        .hasMessageContaining("clone one");
    assertThat(List.of(source.closed, destination.closed, metadata.closed))
        .as("source, destination, metadata closed")
        .containsExactly(true, true, true);
  }

  @Test
  void aRangeTheDestinationCannotHoldNamesBothDevicesAndNeverTouchesTheMetadata() {
    ClosingDevice source = memory("source", SIZE);
    ClosingDevice destination = memory("destination", SIZE / 2);
    List<String> metadataSteps = new ArrayList<>();

    assertThatThrownBy(
            () ->
                CloneLauncher.of(options())
                    .source("/dev/src", () -> source)
                    .destination("/dev/dst", () -> destination)
                    .metadata(
                        (g, identity) -> metadataSteps.add("prepare"),
                        () -> {
                          metadataSteps.add("open");
                          return memory("metadata", SIZE);
                        })
                    .regionSize(REGION)
                    .launch())
        .isInstanceOf(CloneLauncher.InvalidGeometryException.class)
        .hasMessageStartingWith("cannot clone /dev/src to /dev/dst: ");
    assertThat(metadataSteps).isEmpty();
    assertThat(source.closed).isTrue();
    assertThat(destination.closed).isTrue();
  }

  @Test
  void aMissingSourceIsReportedBeforeTheDestinationIsOpened() {
    Path missing = dir.resolve("no-such-source");

    assertThatThrownBy(
            () ->
                CloneLauncher.of(options())
                    .source(missing)
                    .destination("destination", () -> memory("destination", SIZE))
                    .metadataFile(dir.resolve("md"))
                    .launch())
        .isInstanceOf(IOException.class)
        .hasMessage("source " + missing + ": no such device or file");
    assertThat(opened).isEmpty();
    assertThat(dir.resolve("md")).doesNotExist();
  }

  /**
   * The whole sequence on files, twice: the first launch creates and formats the metadata file,
   * copies and closes; the second resumes it, which proves the first released every claim.
   */
  @Test
  void launchesOnFilesAndTheNextLaunchResumesTheSameMetadata() throws Exception {
    byte[] data = new byte[SIZE];
    new Random(5).nextBytes(data);
    Path source = Files.write(dir.resolve("source.img"), data);
    Path destination = Files.write(dir.resolve("destination.img"), new byte[SIZE]);
    Path metadata = dir.resolve("metadata.img");
    CloneIdentity identity = CloneIdentity.ofDestination(destination);

    try (Clone clone =
        CloneLauncher.of(CloneOptions.builder("files").build())
            .source(source)
            .destination(destination)
            .metadataFile(metadata)
            .identity(() -> identity)
            .regionSize(REGION)
            .launch()) {
      clone.cutOverFuture().get(30, TimeUnit.SECONDS);
      assertThat(clone.status().regionsTotal()).isEqualTo(SIZE / REGION);
    }
    assertThat(Files.readAllBytes(destination)).isEqualTo(data);

    try (Clone again =
        CloneLauncher.of(CloneOptions.builder("files").build())
            .source(source)
            .destination(destination)
            .metadataFile(metadata)
            .identity(() -> identity)
            .regionSize(REGION)
            .launch()) {
      assertThat(again.status().state()).isEqualTo(CloneStatus.State.CUT_OVER);
      ByteBuffer first = ByteBuffer.allocate(REGION);
      again.read(0, first);
      assertThat(first.array()).isEqualTo(java.util.Arrays.copyOf(data, REGION));
    }
  }
}
