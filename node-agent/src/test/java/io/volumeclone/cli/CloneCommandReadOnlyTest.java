package io.volumeclone.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.volumeclone.engine.BlockIoException;
import io.volumeclone.engine.Clone;
import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.CloneMetadata;
import io.volumeclone.engine.CloneOptions;
import io.volumeclone.engine.DiskCloneMetadata;
import io.volumeclone.engine.FileBlockDevice;
import io.volumeclone.engine.TestingFaultyBlockDevice;
import io.volumeclone.engine.TestingMemoryBlockDevice;
import io.volumeclone.nbd.NbdBlockDevice;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * With {@code --export}, a metadata device that turns READ_ONLY does not end the process (issue 11,
 * item 3): the export keeps serving reads, the status says why, and only a stop ends it.
 */
class CloneCommandReadOnlyTest {

  static final int R = 64 * 1024;
  static final int SIZE = 32 * R;

  @TempDir Path dir;

  /** The CLI with its metadata on a device that fails the writes a test chooses. */
  static final class FailingMetadataCommand extends CloneCommand {
    final Path sourcePath;
    final Path destinationPath;
    TestingFaultyBlockDevice metadataDevice;
    volatile Clone clone;

    FailingMetadataCommand(Path source, Path destination) {
      this.sourcePath = source;
      this.destinationPath = destination;
    }

    @Override
    Clone openClone(CloneOptions options) throws IOException {
      CloneGeometry g = new CloneGeometry(0, 0, SIZE, R, SIZE, SIZE);
      metadataDevice =
          new TestingFaultyBlockDevice(
              new TestingMemoryBlockDevice("md", (int) DiskCloneMetadata.requiredSize(g)));
      clone =
          Clone.open(
              FileBlockDevice.openReadOnly(sourcePath),
              FileBlockDevice.openExclusive(destinationPath),
              DiskCloneMetadata.open(metadataDevice, g, false),
              options);
      return clone;
    }
  }

  @Test
  void aReadOnlyMetadataKeepsTheExportServingUntilStopped() throws Exception {
    byte[] data = new byte[SIZE];
    new Random(11).nextBytes(data);
    Path source = Files.write(dir.resolve("src"), data);
    Path destination = Files.write(dir.resolve("dst"), new byte[SIZE]);
    Path socket = dir.resolve("nbd.sock");
    FailingMetadataCommand command = new FailingMetadataCommand(source, destination);
    new CommandLine(command)
        .parseArgs(
            "--source",
            source.toString(),
            "--destination",
            destination.toString(),
            "--metadata",
            dir.resolve("md").toString(),
            "--export",
            "unix:" + socket,
            "--no-copy");
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    command.out = new PrintStream(out, true, StandardCharsets.UTF_8);
    command.err = new PrintStream(err, true, StandardCharsets.UTF_8);
    command.terminal = false;
    CompletableFuture<Integer> exit = new CompletableFuture<>();
    Thread runner =
        new Thread(
            () -> {
              try {
                exit.complete(command.call());
              } catch (Exception e) {
                exit.completeExceptionally(e);
              }
            });
    runner.start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!err.toString(StandardCharsets.UTF_8).contains("serving clone")) {
      assertThat(exit.isDone()).as(err.toString(StandardCharsets.UTF_8)).isFalse();
      assertThat(System.nanoTime()).as("export within 60 s").isLessThan(deadline);
      Thread.sleep(20);
    }

    Clone clone = command.clone;
    clone.write(R + 1, ByteBuffer.wrap(filled(10, 0x11)), false);
    command.metadataDevice.fail(TestingFaultyBlockDevice.Op.WRITE);
    assertThatThrownBy(clone::flush).isInstanceOf(BlockIoException.class);
    assertThat(clone.status().metadataMode()).isEqualTo(CloneMetadata.Mode.READ_ONLY);

    // The CLI looks at the status once a second: give it a few looks.
    Thread.sleep(3500);
    assertThat(exit.isDone())
        .as("the command is still running: " + err.toString(StandardCharsets.UTF_8))
        .isFalse();
    try (NbdBlockDevice nbd = NbdBlockDevice.open("nbd+unix:///?socket=" + socket)) {
      ByteBuffer written = ByteBuffer.allocate(10);
      nbd.read(R + 1, written);
      assertThat(written.array()).isEqualTo(filled(10, 0x11));
      ByteBuffer uncopied = ByteBuffer.allocate(100);
      nbd.read(5 * R, uncopied);
      assertThat(uncopied.array()).isEqualTo(Arrays.copyOfRange(data, 5 * R, 5 * R + 100));
    }
    String said = out.toString(StandardCharsets.UTF_8) + err.toString(StandardCharsets.UTF_8);
    assertThat(said).contains("READ_ONLY").contains("md");

    command.stop();
    assertThat(exit.get(1, TimeUnit.MINUTES))
        .as(err.toString(StandardCharsets.UTF_8))
        .isEqualTo(CloneCommand.STOPPED);
    assertThat(socket).as("the export is closed").doesNotExist();
  }

  static byte[] filled(int length, int value) {
    byte[] bytes = new byte[length];
    Arrays.fill(bytes, (byte) value);
    return bytes;
  }
}
