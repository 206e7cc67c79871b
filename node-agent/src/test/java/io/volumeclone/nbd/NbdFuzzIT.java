package io.volumeclone.nbd;

import static io.volumeclone.nbd.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fuzzes negotiation and transmission: structured mutations of valid sessions plus random bytes,
 * {@code -Dnbd.fuzz.cases=N} of them (10,000 by default). Only read-type commands are sent after a
 * valid negotiation, and the export is read-only to the fuzzer's mutations of write commands, so
 * the image must be byte-for-byte unchanged; the server must still serve a real client (nbdinfo and
 * our own client) at the end.
 */
@Timeout(1800)
class NbdFuzzIT {

  @TempDir Path dir;

  @Test
  void serverSurvivesHostileInputAndDataIsUnchanged() throws Exception {
    int cases = Integer.getInteger("nbd.fuzz.cases", 10_000);
    long seed = Long.getLong("nbd.fuzz.seed", 20240611L);
    Path image = dir.resolve("disk.img");
    byte[] original = new byte[1 << 20];
    new Random(seed).nextBytes(original);
    Files.write(image, original);
    // Read-only target: whatever the fuzzer manages to send, nothing may change.
    TestingFileTarget target = new TestingFileTarget("disk", image, 65536, true);
    Path sock = dir.resolve("fuzz.sock");
    try (NbdServer server =
        NbdServer.start(
            ExportAddress.unix(sock),
            NbdServer.Options.defaults().withNegotiationTimeout(Duration.ofMillis(500)),
            List.of(target))) {
      Random random = new Random(seed);
      for (int i = 0; i < cases; i++) {
        fuzzOne(UnixDomainSocketAddress.of(sock), random, i);
      }
      try (NbdBlockDevice d = NbdBlockDevice.open("nbd+unix:///?socket=" + sock)) {
        ByteBuffer all = ByteBuffer.allocate(original.length);
        d.read(0, all);
        assertThat(all.array()).isEqualTo(original);
      }
      if (Files.isExecutable(Path.of("/usr/bin/nbdinfo"))) {
        var r =
            ExternalTools.run(
                Duration.ofSeconds(30), "nbdinfo", "--size", "nbd+unix:///?socket=" + sock);
        assertThat(r.ok().output().trim()).isEqualTo(String.valueOf(original.length));
      }
    } finally {
      target.close();
    }
    assertThat(Files.readAllBytes(image)).isEqualTo(original);
  }

  private static void fuzzOne(UnixDomainSocketAddress address, Random random, int index)
      throws IOException {
    try (RawNbdConnection c = new RawNbdConnection(address)) {
      c.greeting();
      ByteBuffer session = session(random);
      byte[] bytes = new byte[session.remaining()];
      session.get(bytes);
      int kind = index % 4;
      if (kind == 0) {
        random.nextBytes(bytes); // pure noise
      } else if (kind == 1) {
        for (int m = 0; m < 1 + random.nextInt(4); m++) {
          bytes[random.nextInt(bytes.length)] ^= (byte) (1 << random.nextInt(8)); // bit flips
        }
      } else if (kind == 2) {
        bytes = java.util.Arrays.copyOf(bytes, random.nextInt(bytes.length + 1)); // truncation
      }
      // kind 3: the valid session itself.
      try {
        c.send(ByteBuffer.wrap(bytes));
        c.channel.shutdownOutput();
        ByteBuffer sink = ByteBuffer.allocate(1 << 16);
        long deadline = System.nanoTime() + 2_000_000_000L;
        while (c.channel.read(sink.clear()) >= 0 && System.nanoTime() < deadline) {
          // Drain whatever the server answers until it closes.
        }
      } catch (IOException expected) {
        // The server may close on us mid-send; that is a legitimate answer to garbage.
      }
    }
  }

  /** A well-formed session: flags, options (some odd ones), GO, then read-type commands. */
  private static ByteBuffer session(Random random) {
    ByteBuffer b = ByteBuffer.allocate(4096);
    b.putInt(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
    b.put(optionRequest(OPT_STRUCTURED_REPLY, null));
    b.put(optionRequest(OPT_LIST, null));
    b.put(
        optionRequest(
            OPT_SET_META_CONTEXT,
            RawNbdConnection.metaContextData("", CONTEXT_BASE_ALLOCATION, CONTEXT_COPIED)));
    b.put(optionRequest(1000 + random.nextInt(100), ByteBuffer.allocate(random.nextInt(16))));
    b.put(
        optionRequest(
            OPT_GO, RawNbdConnection.goData(random.nextBoolean() ? "" : "disk", INFO_BLOCK_SIZE)));
    int commands = 1 + random.nextInt(6);
    for (int i = 0; i < commands; i++) {
      int type =
          switch (random.nextInt(5)) {
            case 0 -> CMD_READ;
            case 1 -> CMD_BLOCK_STATUS;
            case 2 -> CMD_FLUSH;
            case 3 -> CMD_WRITE; // refused with EPERM by the read-only export
            default -> random.nextInt(20);
          };
      long offset = random.nextBoolean() ? random.nextInt(1 << 20) : random.nextLong();
      long length =
          random.nextBoolean() ? random.nextInt(70_000) : Integer.toUnsignedLong(random.nextInt());
      if (type == CMD_WRITE) {
        length = random.nextInt(512);
      }
      new NbdProtocol.Request(random.nextInt(32), type, i, offset, length).encode(b);
      if (type == CMD_WRITE) {
        b.put(new byte[(int) length]);
      }
    }
    if (random.nextBoolean()) {
      new NbdProtocol.Request(0, CMD_DISC, 99, 0, 0).encode(b);
    }
    return b.flip();
  }
}
