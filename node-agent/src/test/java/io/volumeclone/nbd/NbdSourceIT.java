package io.volumeclone.nbd;

import static io.volumeclone.testing.HostRequirements.require;
import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.engine.Clone;
import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.CloneOptions;
import io.volumeclone.engine.FileBlockDevice;
import io.volumeclone.engine.TestingMemoryCloneMetadata;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Reading a clone's source from a real NBD server (nbdkit's file plugin), including restarts. */
@Timeout(300)
class NbdSourceIT {

  static final long SIZE = 32L << 20;

  @TempDir Path dir;

  Process nbdkit(Path socket, Path image, String... filters) throws Exception {
    return nbdkit(socket, image, dir.resolve("nbdkit.log"), filters);
  }

  /**
   * Starts nbdkit in the foreground. Call it only from a thread that outlives the server: nbdkit
   * sets {@code PR_SET_PDEATHSIG(SIGTERM)} on itself at startup (strace shows it, without {@code
   * --exit-with-parent}), and Linux sends the parent-death signal when the <em>thread</em> that
   * spawned the process exits, not only the process. nbdkit then quits quietly with status 0,
   * leaving its socket file behind (clients get "Connection refused").
   */
  Process nbdkit(Path socket, Path image, Path log, String... filters) throws Exception {
    List<String> cmd =
        new java.util.ArrayList<>(List.of("nbdkit", "-f", "-r", "-U", socket.toString()));
    // Filters (--filter=...) go before the plugin, their parameters (key=value) after it.
    List<String> params = new java.util.ArrayList<>();
    for (String f : filters) {
      (f.startsWith("--") ? cmd : params).add(f);
    }
    cmd.addAll(List.of("file", image.toString()));
    cmd.addAll(params);
    Files.deleteIfExists(socket);
    Process p = ExternalTools.start(cmd, log);
    ExternalTools.awaitSocket(socket, p);
    return p;
  }

  @Test
  void readsAnNbdkitExportByteForByteAndClonesFromIt() throws Exception {
    require("nbdkit", "nbdkit");
    Path image = dir.resolve("backup.img");
    CloneExportFixture.writeRandom(image, SIZE, 11);
    Path socket = dir.resolve("kit.sock");
    Process kit = nbdkit(socket, image);
    try (NbdBlockDevice source = NbdBlockDevice.open("nbd+unix:///?socket=" + socket)) {
      assertThat(source.size()).isEqualTo(SIZE);
      assertThat(source.connectionLimit()).isEqualTo(4);
      ByteBuffer all = ByteBuffer.allocate((int) SIZE);
      source.read(0, all);
      assertThat(all.array()).isEqualTo(Files.readAllBytes(image));
      ByteBuffer odd = ByteBuffer.allocate(100_003);
      source.read(1_234_567, odd);
      assertThat(odd.array())
          .isEqualTo(java.util.Arrays.copyOfRange(Files.readAllBytes(image), 1_234_567, 1_334_570));

      // A whole clone with the NBD source, copied in the background.
      Path destination = dir.resolve("dest.img");
      try (var f =
          java.nio.channels.FileChannel.open(
              destination,
              java.nio.file.StandardOpenOption.CREATE_NEW,
              java.nio.file.StandardOpenOption.WRITE)) {
        f.write(ByteBuffer.allocate(1), SIZE - 1);
      }
      NbdBlockDevice cloneSource = NbdBlockDevice.open("nbd+unix:///?socket=" + socket);
      CloneGeometry g = new CloneGeometry(0, 0, SIZE, 1 << 20, SIZE, SIZE);
      try (Clone clone =
          Clone.open(
              cloneSource,
              FileBlockDevice.openExclusive(destination),
              new TestingMemoryCloneMetadata(g),
              CloneOptions.builder("from-nbd").build())) {
        clone.copiedFuture().get(120, TimeUnit.SECONDS);
        clone.flush();
      }
      assertThat(Files.mismatch(destination, image)).isEqualTo(-1);
    } finally {
      kit.destroy();
      kit.waitFor();
    }
  }

  @Test
  void reconnectsWhenTheServerIsKilledAndRestartedMidRead() throws Exception {
    require("nbdkit", "nbdkit");
    Path image = dir.resolve("backup.img");
    CloneExportFixture.writeRandom(image, SIZE, 12);
    Path socket = dir.resolve("kit.sock");
    // A slow server (rate filter) so the read is surely in flight when it is killed.
    String[] slow = {"--filter=rate", "rate=64M"};
    Process kit = nbdkit(socket, image, dir.resolve("nbdkit-first.log"), slow);
    Process restarted = null;
    try (NbdBlockDevice source =
        NbdBlockDevice.open(
            NbdUri.parse("nbd+unix:///?socket=" + socket),
            NbdBlockDevice.Options.defaults().withAttempts(10))) {
      ByteBuffer all = ByteBuffer.allocate((int) SIZE);
      // 32 MiB at 64 Mbit/s takes about 4 s: the kill lands in the middle. The read runs on its
      // own thread so that this (long-lived) thread starts both servers; see nbdkit(...).
      var read =
          java.util.concurrent.CompletableFuture.runAsync(
              () -> {
                try {
                  source.read(0, all);
                } catch (java.io.IOException e) {
                  throw new java.io.UncheckedIOException(e);
                }
              });
      Thread.sleep(1000);
      assertThat(read).as("the read is still in flight when the server is killed").isNotDone();
      kit.destroyForcibly().waitFor();
      Thread.sleep(300);
      assertThat(read).as("the read waits for a server instead of completing").isNotDone();
      restarted = nbdkit(socket, image, dir.resolve("nbdkit-restarted.log"), slow);
      read.get(120, TimeUnit.SECONDS);
      assertThat(kit.isAlive()).as("the first nbdkit was killed").isFalse();
      assertThat(restarted.isAlive())
          .as(
              "the restarted nbdkit still runs; log: %s",
              Files.readString(dir.resolve("nbdkit-restarted.log")))
          .isTrue();
      // Only the restarted server was up after the kill, so the data came from it.
      assertThat(all.array()).isEqualTo(Files.readAllBytes(image));
      ByteBuffer again = ByteBuffer.allocate(65536);
      source.read(SIZE - 65536, again);
      assertThat(again.array())
          .isEqualTo(
              java.util.Arrays.copyOfRange(
                  Files.readAllBytes(image), (int) SIZE - 65536, (int) SIZE));
    } finally {
      kit.destroyForcibly().waitFor();
      if (restarted != null) {
        restarted.destroy();
        restarted.waitFor();
      }
    }
  }

  @Test
  void givesUpWithAnErrorNamingTheUriAndOffsetWhenTheServerStaysDown() throws Exception {
    require("nbdkit", "nbdkit");
    Path image = dir.resolve("backup.img");
    CloneExportFixture.writeRandom(image, 1 << 20, 13);
    Path socket = dir.resolve("kit.sock");
    Process kit = nbdkit(socket, image);
    String uri = "nbd+unix:///?socket=" + socket;
    try (NbdBlockDevice source =
        NbdBlockDevice.open(NbdUri.parse(uri), NbdBlockDevice.Options.defaults().withAttempts(3))) {
      kit.destroyForcibly().waitFor();
      org.assertj.core.api.Assertions.assertThatThrownBy(
              () -> source.read(65536, ByteBuffer.allocate(4096)))
          .hasMessageContaining(uri)
          .hasMessageContaining("offset 65536")
          .hasMessageContaining("gave up after 3 attempts");
    }
  }
}
