package io.volumeclone.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.volumeclone.engine.Clone;
import io.volumeclone.engine.CloneLauncher;
import io.volumeclone.engine.CloneOptions;
import io.volumeclone.engine.TestingMemoryBlockDevice;
import io.volumeclone.nbd.ExportAddress;
import io.volumeclone.nbd.NbdClient;
import io.volumeclone.nbd.NbdUri;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CLI's export listens while the clone opens (issue 19, fast start): what needs the clone waits
 * for the open and then sees the clone; a failed open fails what waits with its reason, and the
 * command closes the export it started.
 */
class OpeningTargetTest {

  private static final int REGION = 4096;
  private static final int SIZE = 8 * REGION;

  @TempDir Path dir;

  private static Clone memoryClone(String name, byte[] data) throws IOException {
    return CloneLauncher.of(CloneOptions.builder(name).noCopy(true).build())
        .source("source", () -> TestingMemoryBlockDevice.readOnly("source", data))
        .destination("destination", () -> new TestingMemoryBlockDevice("destination", SIZE))
        .metadata(
            (geometry, identity) -> {}, () -> new TestingMemoryBlockDevice("metadata", 1 << 20))
        .regionSize(REGION)
        .launch();
  }

  @Test
  void aReadBeforeTheOpenWaitsForItAndGetsTheClonesData() throws Exception {
    byte[] data = new byte[SIZE];
    new Random(19).nextBytes(data);
    OpeningTarget opening = new OpeningTarget("c");
    assertThat(opening.name()).isEqualTo("c");
    CompletableFuture<byte[]> read =
        CompletableFuture.supplyAsync(
            () -> {
              ByteBuffer buffer = ByteBuffer.allocate(REGION);
              try {
                opening.read(REGION, buffer);
              } catch (IOException e) {
                throw new UncheckedIOException(e);
              }
              return buffer.array();
            });
    Thread.sleep(100);
    assertThat(read).as("waits for the open").isNotDone();

    try (Clone clone = memoryClone("c", data)) {
      opening.opened(clone);
      assertThat(read.get(10, TimeUnit.SECONDS))
          .isEqualTo(Arrays.copyOfRange(data, REGION, 2 * REGION));
      assertThat(opening.size()).isEqualTo(SIZE);
    }
  }

  @Test
  void aFailedOpenFailsWhatWaitsWithItsReason() {
    OpeningTarget opening = new OpeningTarget("c");
    opening.failed(new IOException("source /dev/missing: no such device or file"));

    assertThatThrownBy(() -> opening.read(0, ByteBuffer.allocate(REGION)))
        .isInstanceOf(IOException.class)
        .hasMessage("clone c could not be opened: source /dev/missing: no such device or file");
    assertThatThrownBy(opening::size)
        .isInstanceOf(UncheckedIOException.class)
        .hasMessageContaining("source /dev/missing: no such device or file");
  }

  @Test
  void aCloneOfAnotherNameIsRefused() throws Exception {
    OpeningTarget opening = new OpeningTarget("c");
    try (Clone other = memoryClone("other", new byte[SIZE])) {
      assertThatThrownBy(() -> opening.opened(other))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("'c'")
          .hasMessageContaining("'other'");
    }
  }

  @Test
  void aClientConnectedWhileTheCloneOpensReadsItOnceItIsOpen() throws Exception {
    byte[] data = new byte[SIZE];
    new Random(20).nextBytes(data);
    OpeningTarget opening = new OpeningTarget("c");
    Path socket = dir.resolve("nbd.sock");
    try (var server = io.volumeclone.nbd.NbdServer.start(ExportAddress.unix(socket), opening)) {
      CompletableFuture<byte[]> client =
          CompletableFuture.supplyAsync(
              () -> {
                try (NbdClient nbd =
                    NbdClient.connect(NbdUri.parse(server.uri()), Duration.ofSeconds(10))) {
                  ByteBuffer buffer = ByteBuffer.allocate(REGION);
                  nbd.read(0, buffer);
                  return buffer.array();
                } catch (IOException e) {
                  throw new UncheckedIOException(e);
                }
              });
      Thread.sleep(100);
      assertThat(client).as("negotiation waits for the open").isNotDone();
      try (Clone clone = memoryClone("c", data)) {
        opening.opened(clone);
        assertThat(client.get(10, TimeUnit.SECONDS)).isEqualTo(Arrays.copyOfRange(data, 0, REGION));
      }
    }
  }

  @Test
  void aCloneThatCannotOpenClosesTheExportItListenedOn() throws Exception {
    Path socket = dir.resolve("export.sock");
    Path destination = Files.write(dir.resolve("dst"), new byte[SIZE]);
    MainTest.Result result =
        MainTest.run(
            "clone",
            "--source",
            dir.resolve("missing-source").toString(),
            "--destination",
            destination.toString(),
            "--metadata",
            dir.resolve("md").toString(),
            "--export",
            "unix:" + socket,
            "--run-dir",
            dir.resolve("run").toString());

    assertThat(result.code()).isEqualTo(Main.EXIT_FAILURE);
    assertThat(result.err()).contains("missing-source: no such device or file");
    assertThat(result.err()).doesNotContain("serving clone");
    assertThatThrownBy(
            () -> {
              try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                channel.connect(UnixDomainSocketAddress.of(socket));
              }
            })
        .as("nothing listens on %s any more", socket)
        .isInstanceOf(IOException.class);
  }
}
