package io.volumeclone.nbd;

import static io.volumeclone.nbd.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.volumeclone.engine.BlockIoException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Negotiation and transmission edge cases, driven byte by byte over a real Unix socket. */
@Timeout(60)
class NbdServerTest {

  static final int SIZE = 4 << 20;
  static final int REGION = 64 * 1024;

  @TempDir Path dir;
  Path image;
  byte[] original;
  TestingFileTarget target;
  NbdServer server;
  UnixDomainSocketAddress socket;

  @BeforeEach
  void start() throws IOException {
    image = dir.resolve("disk.img");
    original = new byte[SIZE];
    new Random(7).nextBytes(original);
    Files.write(image, original);
    target = new TestingFileTarget("disk", image, REGION, false);
    server =
        NbdServer.start(
            ExportAddress.unix(dir.resolve("run/nbd.sock")),
            NbdServer.Options.defaults().withNegotiationTimeout(Duration.ofSeconds(2)),
            List.of(target));
    socket = UnixDomainSocketAddress.of(dir.resolve("run/nbd.sock"));
  }

  @AfterEach
  void stop() throws IOException {
    server.close();
    target.close();
  }

  RawNbdConnection raw() throws IOException {
    return new RawNbdConnection(socket);
  }

  void assertImageUnchanged() throws IOException {
    assertThat(Files.readAllBytes(image)).isEqualTo(original);
  }

  /** A real client still works: reads the whole export and sees the image. */
  void assertServerStillServes() throws IOException {
    try (NbdBlockDevice d = NbdBlockDevice.open("nbd+unix:///disk?socket=" + socket.getPath())) {
      ByteBuffer all = ByteBuffer.allocate(SIZE);
      d.read(0, all);
      assertThat(all.array()).isEqualTo(Files.readAllBytes(image));
    }
  }

  @Test
  void socketIsCreatedMode0600AndRemovedOnClose() throws IOException {
    Path path = socket.getPath();
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(path)))
        .isEqualTo("rw-------");
    assertThat(Files.list(path.getParent())).containsExactly(path);
    server.close();
    assertThat(Files.exists(path)).isFalse();
  }

  @Test
  void secondServerOnALiveSocketIsRefusedAndAStaleSocketIsReplaced() throws IOException {
    assertThatThrownBy(() -> NbdServer.start(ExportAddress.unix(socket.getPath()), target))
        .hasMessageContaining("another server is listening");
    Path regular = dir.resolve("file");
    Files.writeString(regular, "x");
    assertThatThrownBy(() -> NbdServer.start(ExportAddress.unix(regular), target))
        .hasMessageContaining("in the way");
  }

  @Test
  void greetingAdvertisesFixedNewstyleAndNoZeroes() throws IOException {
    try (RawNbdConnection c = raw()) {
      assertThat(c.greeting()).isEqualTo(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
    }
  }

  @Test
  void unknownClientFlagsCloseTheConnection() throws IOException {
    try (RawNbdConnection c = raw()) {
      c.greeting();
      c.sendInt(0x80);
      assertThat(c.closedByServer()).isTrue();
    }
    assertServerStillServes();
  }

  @Test
  void unknownOptionsGetErrUnsupAndNegotiationContinues() throws IOException {
    try (RawNbdConnection c = raw()) {
      c.greeting();
      c.sendInt(FLAG_C_FIXED_NEWSTYLE);
      c.option(4242, ByteBuffer.wrap(new byte[] {1, 2, 3}));
      assertThat(c.optionReply().type()).isEqualTo(REP_ERR_UNSUP);
      c.option(OPT_STARTTLS, null);
      assertThat(c.optionReply().type()).isEqualTo(REP_ERR_UNSUP);
      c.option(OPT_LIST, null);
      var r = c.optionReply();
      assertThat(r.type()).isEqualTo(REP_SERVER);
      assertThat(r.data().getInt()).isEqualTo(4);
      assertThat(c.optionReply().type()).isEqualTo(REP_ACK);
    }
  }

  @Test
  void malformedOptionDataGetsErrInvalid() throws IOException {
    try (RawNbdConnection c = raw()) {
      c.greeting();
      c.sendInt(FLAG_C_FIXED_NEWSTYLE);
      c.option(OPT_LIST, ByteBuffer.wrap(new byte[] {0}));
      assertThat(c.optionReply().type()).isEqualTo(REP_ERR_INVALID);
      c.option(OPT_STRUCTURED_REPLY, ByteBuffer.wrap(new byte[] {0}));
      assertThat(c.optionReply().type()).isEqualTo(REP_ERR_INVALID);
      // Name length larger than the data.
      c.option(OPT_GO, ByteBuffer.allocate(6).putInt(1000).putShort((short) 0).flip());
      assertThat(c.optionReply().type()).isEqualTo(REP_ERR_INVALID);
      // Info count that does not match the data.
      c.option(OPT_INFO, ByteBuffer.allocate(6).putInt(0).putShort((short) 3).flip());
      assertThat(c.optionReply().type()).isEqualTo(REP_ERR_INVALID);
      // SET_META_CONTEXT before STRUCTURED_REPLY.
      c.option(OPT_SET_META_CONTEXT, RawNbdConnection.metaContextData("", CONTEXT_BASE_ALLOCATION));
      assertThat(c.optionReply().type()).isEqualTo(REP_ERR_INVALID);
      c.option(OPT_GO, RawNbdConnection.goData("no-such-export"));
      var unknown = c.optionReply();
      assertThat(unknown.type()).isEqualTo(REP_ERR_UNKNOWN);
      assertThat(unknown.text()).contains("no-such-export");
      c.option(OPT_ABORT, null);
      assertThat(c.optionReply().type()).isEqualTo(REP_ACK);
      assertThat(c.closedByServer()).isTrue();
    }
    assertServerStillServes();
  }

  @Test
  void goAnswersExportBlockSizeAndNameUnderBothNames() throws IOException {
    for (String name : new String[] {"", "disk"}) {
      try (RawNbdConnection c = raw()) {
        c.greeting();
        c.sendInt(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
        c.option(OPT_INFO, RawNbdConnection.goData(name, INFO_NAME, INFO_BLOCK_SIZE));
        var export = c.optionReply();
        assertThat(export.type()).isEqualTo(REP_INFO);
        assertThat(export.data().getShort()).isEqualTo((short) INFO_EXPORT);
        assertThat(export.data().getLong()).isEqualTo(SIZE);
        int flags = Short.toUnsignedInt(export.data().getShort());
        assertThat(
                flags
                    & (TFLAG_HAS_FLAGS
                        | TFLAG_SEND_FLUSH
                        | TFLAG_SEND_FUA
                        | TFLAG_SEND_TRIM
                        | TFLAG_SEND_WRITE_ZEROES
                        | TFLAG_SEND_FAST_ZERO
                        | TFLAG_CAN_MULTI_CONN))
            .isEqualTo(
                TFLAG_HAS_FLAGS
                    | TFLAG_SEND_FLUSH
                    | TFLAG_SEND_FUA
                    | TFLAG_SEND_TRIM
                    | TFLAG_SEND_WRITE_ZEROES
                    | TFLAG_SEND_FAST_ZERO
                    | TFLAG_CAN_MULTI_CONN);
        assertThat(flags & TFLAG_READ_ONLY).isZero();
        var nameInfo = c.optionReply();
        assertThat(nameInfo.data().getShort()).isEqualTo((short) INFO_NAME);
        assertThat(nameInfo.text()).isEqualTo("disk");
        var bs = c.optionReply();
        assertThat(bs.data().getShort()).isEqualTo((short) INFO_BLOCK_SIZE);
        assertThat(bs.data().getInt()).isEqualTo(512);
        assertThat(bs.data().getInt()).isEqualTo(REGION);
        assertThat(bs.data().getInt()).isEqualTo(32 << 20);
        assertThat(c.optionReply().type()).isEqualTo(REP_ACK);
      }
    }
  }

  @Test
  void exportNameEntersTransmissionWithTheOldReplyAndZeroPadding() throws IOException {
    try (RawNbdConnection c = raw()) {
      c.greeting();
      c.sendInt(FLAG_C_FIXED_NEWSTYLE);
      c.option(OPT_EXPORT_NAME, ByteBuffer.wrap("disk".getBytes()));
      ByteBuffer reply = readBytes(c.channel, 134);
      assertThat(reply.getLong()).isEqualTo(SIZE);
      reply.getShort();
      while (reply.hasRemaining()) {
        assertThat(reply.get()).isZero();
      }
      c.request(0, CMD_READ, 1, 4096, 4096);
      var r = c.simpleReply(4096);
      assertThat(r.error()).isZero();
      assertThat(r.payload().array()).isEqualTo(java.util.Arrays.copyOfRange(original, 4096, 8192));
    }
  }

  @Test
  void oversizedOptionClosesTheConnection() throws IOException {
    try (RawNbdConnection c = raw()) {
      c.greeting();
      c.sendInt(FLAG_C_FIXED_NEWSTYLE);
      c.send(ByteBuffer.allocate(16).putLong(IHAVEOPT).putInt(OPT_GO).putInt(0x7fffffff).flip());
      assertThat(c.closedByServer()).isTrue();
    }
    assertServerStillServes();
  }

  @Test
  void bigButBoundedOptionIsSkippedWithErrTooBig() throws IOException {
    try (RawNbdConnection c = raw()) {
      c.greeting();
      c.sendInt(FLAG_C_FIXED_NEWSTYLE);
      c.option(OPT_INFO, ByteBuffer.allocate(100_000));
      assertThat(c.optionReply().type()).isEqualTo(REP_ERR_TOO_BIG);
      c.option(OPT_LIST, null);
      assertThat(c.optionReply().type()).isEqualTo(REP_SERVER);
    }
  }

  @Test
  void badOptionMagicClosesTheConnection() throws IOException {
    try (RawNbdConnection c = raw()) {
      c.greeting();
      c.sendInt(FLAG_C_FIXED_NEWSTYLE);
      c.send(
          ByteBuffer.allocate(16).putLong(0x1122334455667788L).putInt(OPT_LIST).putInt(0).flip());
      assertThat(c.closedByServer()).isTrue();
    }
  }

  @Test
  void silentClientIsDisconnectedAtTheNegotiationDeadline() throws IOException {
    try (RawNbdConnection c = raw()) {
      c.greeting();
      // Say nothing: the 2 s deadline closes the connection.
      assertThat(c.closedByServer()).isTrue();
    }
    assertServerStillServes();
  }

  @Test
  void metaContextsAreListedAndSelected() throws IOException {
    try (RawNbdConnection c = raw()) {
      c.greeting();
      c.sendInt(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
      c.option(OPT_LIST_META_CONTEXT, RawNbdConnection.metaContextData(""));
      assertThat(c.optionReply().text()).endsWith(CONTEXT_BASE_ALLOCATION);
      assertThat(c.optionReply().text()).endsWith(CONTEXT_COPIED);
      assertThat(c.optionReply().type()).isEqualTo(REP_ACK);
      c.option(
          OPT_LIST_META_CONTEXT,
          RawNbdConnection.metaContextData("", "volume-clone:", "other:thing"));
      assertThat(c.optionReply().text()).endsWith(CONTEXT_COPIED);
      assertThat(c.optionReply().type()).isEqualTo(REP_ACK);
      c.option(OPT_LIST_META_CONTEXT, RawNbdConnection.metaContextData("nope"));
      assertThat(c.optionReply().type()).isEqualTo(REP_ERR_UNKNOWN);
    }
  }

  @Test
  void blockStatusReportsCopiedRegionsAndHonoursReqOne() throws IOException {
    target.markCopied(0, REGION);
    target.markCopied(3L * REGION, REGION);
    try (RawNbdConnection c = raw()) {
      c.negotiate(true, CONTEXT_COPIED);
      c.request(0, CMD_BLOCK_STATUS, 5, 0, 4L * REGION);
      var r = c.anyReply(0);
      assertThat(r.type()).isEqualTo(REPLY_TYPE_BLOCK_STATUS);
      assertThat(r.flags() & REPLY_FLAG_DONE).isEqualTo(REPLY_FLAG_DONE);
      ByteBuffer p = r.payload();
      assertThat(p.getInt()).isEqualTo(NbdNegotiation.CONTEXT_ID_COPIED);
      assertThat(
              new long[] {p.getInt(), p.getInt(), p.getInt(), p.getInt(), p.getInt(), p.getInt()})
          .containsExactly(REGION, 0, 2L * REGION, STATE_HOLE, REGION, 0);
      assertThat(p.hasRemaining()).isFalse();
      c.request(CMD_FLAG_REQ_ONE, CMD_BLOCK_STATUS, 6, REGION / 2, 4L * REGION);
      ByteBuffer one = c.anyReply(0).payload();
      one.getInt();
      assertThat(one.getInt()).isEqualTo(REGION / 2);
      assertThat(one.getInt()).isZero();
      assertThat(one.hasRemaining()).isFalse();
    }
  }

  @Test
  void invalidRequestsGetErrorsAndChangeNothing() throws IOException {
    try (RawNbdConnection c = raw()) {
      c.negotiate(false);
      c.request(0, CMD_READ, 1, SIZE - 512, 1024);
      assertThat(c.simpleReply(0).error()).isEqualTo(EINVAL);
      c.request(0, CMD_WRITE, 2, SIZE, 512);
      c.send(ByteBuffer.allocate(512));
      assertThat(c.simpleReply(0).error()).isEqualTo(ENOSPC);
      c.request(0, CMD_TRIM, 3, -4096, 4096);
      assertThat(c.simpleReply(0).error()).isEqualTo(EINVAL);
      c.request(0, 77, 4, 0, 512);
      assertThat(c.simpleReply(0).error()).isEqualTo(EINVAL);
      c.request(0, CMD_READ, 5, 0, 0);
      assertThat(c.simpleReply(0).error()).isEqualTo(EINVAL);
      c.request(0x8000, CMD_READ, 6, 0, 512);
      assertThat(c.simpleReply(0).error()).isEqualTo(EINVAL);
      c.request(0, CMD_READ, 7, 0, (32 << 20) + 1);
      assertThat(c.simpleReply(0).error()).isEqualTo(EINVAL);
      // BLOCK_STATUS without structured replies.
      c.request(0, CMD_BLOCK_STATUS, 8, 0, 512);
      assertThat(c.simpleReply(0).error()).isEqualTo(EINVAL);
      // A write larger than the maximum is drained and refused; the stream stays in step.
      c.request(0, CMD_WRITE, 9, 0, (32 << 20) + 512);
      c.send(ByteBuffer.allocate((32 << 20) + 512));
      assertThat(c.simpleReply(0).error()).isEqualTo(EINVAL);
      c.request(0, CMD_READ, 10, 0, 512);
      var ok = c.simpleReply(512);
      assertThat(ok.cookie()).isEqualTo(10);
      assertThat(ok.error()).isZero();
    }
    assertImageUnchanged();
    assertServerStillServes();
  }

  @Test
  void malformedRequestClosesOnlyItsConnectionWithALogNamingExportOffsetAndReason()
      throws Exception {
    PrintStream stderr = System.err;
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    OutputStream tee =
        new OutputStream() {
          @Override
          public void write(int b) {
            stderr.write(b);
            synchronized (log) {
              log.write(b);
            }
          }

          @Override
          public void write(byte[] b, int off, int len) {
            stderr.write(b, off, len);
            synchronized (log) {
              log.write(b, off, len);
            }
          }
        };
    System.setErr(new PrintStream(tee, true, StandardCharsets.UTF_8));
    try (RawNbdConnection bystander = raw();
        RawNbdConnection c = raw()) {
      bystander.negotiate(false);
      c.negotiate(false);
      byte[] data = new byte[512];
      c.request(0, CMD_WRITE, 1, 0, data.length);
      c.send(ByteBuffer.wrap(data));
      assertThat(c.simpleReply(0).error()).isZero();
      // The second header starts after the first header and its payload: 28 + 512 bytes in.
      c.send(ByteBuffer.allocate(REQUEST_HEADER_SIZE).putInt(0x0badf00d).rewind());
      assertThat(c.closedByServer()).isTrue();
      String expected =
          "malformed request header at byte 540 of the transmission on export 'disk': bad request"
              + " magic 0xbadf00d";
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (!capturedLog(log).contains(expected) && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertThat(capturedLog(log)).contains(expected);
      System.arraycopy(data, 0, original, 0, data.length);
      bystander.request(0, CMD_READ, 2, 0, 4096);
      var r = bystander.simpleReply(4096);
      assertThat(r.error()).isZero();
      assertThat(r.payload().array()).isEqualTo(java.util.Arrays.copyOf(original, 4096));
    } finally {
      System.setErr(stderr);
    }
    assertImageUnchanged();
    assertServerStillServes();
  }

  private static String capturedLog(ByteArrayOutputStream log) {
    synchronized (log) {
      return log.toString(StandardCharsets.UTF_8);
    }
  }

  @Test
  void structuredErrorsCarryAMessage() throws IOException {
    try (RawNbdConnection c = raw()) {
      c.negotiate(true);
      c.request(0, CMD_READ, 11, SIZE, 512);
      var r = c.anyReply(0);
      assertThat(r.type()).isEqualTo(REPLY_TYPE_ERROR);
      assertThat(r.error()).isEqualTo(EINVAL);
      ByteBuffer p = r.payload();
      p.getInt();
      byte[] msg = new byte[p.getShort()];
      p.get(msg);
      assertThat(new String(msg)).contains("READ at offset " + SIZE).contains("outside the export");
      // Fast zero of a partial region is refused with ENOTSUP and nothing is written.
      c.request(CMD_FLAG_FAST_ZERO, CMD_WRITE_ZEROES, 12, 100, 1000);
      assertThat(c.anyReply(0).error()).isEqualTo(ENOTSUP);
    }
    assertImageUnchanged();
  }

  @Test
  void halfClosedClientStillGetsItsReplies() throws IOException {
    try (RawNbdConnection c = raw()) {
      c.negotiate(true);
      for (int i = 0; i < 8; i++) {
        c.request(0, CMD_READ, 100 + i, i * 65536L, 65536);
      }
      c.channel.shutdownOutput();
      java.util.Set<Long> cookies = new java.util.HashSet<>();
      for (int i = 0; i < 8; i++) {
        var r = c.anyReply(0);
        assertThat(r.type()).isEqualTo(REPLY_TYPE_OFFSET_DATA);
        long offset = r.payload().getLong();
        byte[] data = new byte[65536];
        r.payload().get(data);
        assertThat(data)
            .isEqualTo(java.util.Arrays.copyOfRange(original, (int) offset, (int) offset + 65536));
        cookies.add(r.cookie());
      }
      assertThat(cookies).hasSize(8);
      assertThat(c.closedByServer()).isTrue();
    }
  }

  @Test
  void aSlowRequestDoesNotHoldBackTheRequestsReadAfterIt() throws IOException {
    CountDownLatch release = new CountDownLatch(1);
    target.heldReads.put(0L, release);
    try (RawNbdConnection c = raw()) {
      c.negotiate(true);
      c.request(0, CMD_READ, 1, 0, 4096);
      for (int i = 1; i <= 20; i++) {
        c.request(0, CMD_READ, 100 + i, i * 4096L, 4096);
      }
      java.util.Set<Long> answered = new java.util.HashSet<>();
      for (int i = 1; i <= 20; i++) {
        var r = c.anyReply(0);
        assertThat(r.type()).isEqualTo(REPLY_TYPE_OFFSET_DATA);
        int offset = (int) r.payload().getLong();
        byte[] data = new byte[4096];
        r.payload().get(data);
        assertThat(data).isEqualTo(java.util.Arrays.copyOfRange(original, offset, offset + 4096));
        answered.add(r.cookie());
      }
      assertThat(answered).hasSize(20).doesNotContain(1L);
      release.countDown();
      var slow = c.anyReply(0);
      assertThat(slow.cookie()).isEqualTo(1);
      assertThat(slow.payload().getLong()).isZero();
    } finally {
      release.countDown();
    }
  }

  @Test
  void pipelinedRequestsOfEverySizeStayInStep() throws IOException {
    // Around the connection's read-ahead: payloads that end inside it, fill it, straddle it and
    // dwarf it, and a refused write whose payload must be read past.
    int[] lengths = {1, 511, 512, 4096, 16_384 - 28, 16_384, 16_385, 100_000, 3};
    long[] offsets = new long[lengths.length];
    Random random = new Random(5);
    int bytes = 0;
    for (int length : lengths) {
      bytes += 2 * REQUEST_HEADER_SIZE + length;
    }
    ByteBuffer writes = ByteBuffer.allocate(bytes + REQUEST_HEADER_SIZE + 20_000);
    long offset = 333;
    for (int i = 0; i < lengths.length; i++) {
      offsets[i] = offset;
      byte[] data = new byte[lengths[i]];
      random.nextBytes(data);
      new Request(0, CMD_WRITE, i, offset, data.length).encode(writes);
      writes.put(data);
      System.arraycopy(data, 0, original, (int) offset, data.length);
      offset += data.length + 777;
      if (i == lengths.length / 2) {
        new Request(0, CMD_WRITE, 999, SIZE - 10_000, 20_000).encode(writes);
        writes.put(new byte[20_000]);
      }
    }
    try (RawNbdConnection c = raw()) {
      c.negotiate(true);
      c.send(writes.flip());
      java.util.Map<Long, Integer> errors = new java.util.HashMap<>();
      for (int i = 0; i <= lengths.length; i++) {
        var r = c.anyReply(0);
        errors.put(r.cookie(), r.error());
      }
      java.util.Map<Long, Integer> expected = new java.util.HashMap<>();
      for (int i = 0; i < lengths.length; i++) {
        expected.put((long) i, 0);
      }
      expected.put(999L, ENOSPC);
      assertThat(errors).isEqualTo(expected);
      ByteBuffer reads = ByteBuffer.allocate(lengths.length * REQUEST_HEADER_SIZE);
      for (int i = 0; i < lengths.length; i++) {
        new Request(0, CMD_READ, i, offsets[i], lengths[i]).encode(reads);
      }
      c.send(reads.flip());
      for (int i = 0; i < lengths.length; i++) {
        var r = c.anyReply(0);
        assertThat(r.type()).isEqualTo(REPLY_TYPE_OFFSET_DATA);
        int k = (int) r.cookie();
        assertThat(r.payload().getLong()).isEqualTo(offsets[k]);
        byte[] data = new byte[r.payload().remaining()];
        r.payload().get(data);
        assertThat(data)
            .isEqualTo(
                java.util.Arrays.copyOfRange(
                    original, (int) offsets[k], (int) offsets[k] + lengths[k]));
      }
    }
    assertImageUnchanged();
  }

  @Test
  void writesFlushAndFuaReachTheTarget() throws IOException {
    try (RawNbdConnection c = raw()) {
      c.negotiate(true);
      byte[] data = new byte[1000];
      new Random(1).nextBytes(data);
      c.request(CMD_FLAG_FUA, CMD_WRITE, 1, 777, data.length);
      c.send(ByteBuffer.wrap(data));
      assertThat(c.anyReply(0).error()).isZero();
      c.request(0, CMD_FLUSH, 2, 0, 0);
      assertThat(c.anyReply(0).error()).isZero();
      c.request(0, CMD_DISC, 3, 0, 0);
      assertThat(c.closedByServer()).isTrue();
      System.arraycopy(data, 0, original, 777, data.length);
    }
    assertThat(target.fuaWrites.get()).isEqualTo(1);
    assertThat(target.flushes.get()).isEqualTo(1);
    assertImageUnchanged();
  }

  @Test
  void readOnlyExportRefusesWritesWithEperm() throws IOException {
    TestingFileTarget ro = new TestingFileTarget("ro", image, REGION, true);
    try (NbdServer s = NbdServer.start(ExportAddress.unix(dir.resolve("ro.sock")), ro);
        RawNbdConnection c =
            new RawNbdConnection(UnixDomainSocketAddress.of(dir.resolve("ro.sock")))) {
      c.negotiate(false);
      c.request(0, CMD_WRITE, 1, 0, 512);
      c.send(ByteBuffer.allocate(512));
      assertThat(c.simpleReply(0).error()).isEqualTo(EPERM);
      c.request(0, CMD_TRIM, 2, 0, 512);
      assertThat(c.simpleReply(0).error()).isEqualTo(EPERM);
    } finally {
      ro.close();
    }
    assertImageUnchanged();
  }

  @Test
  void tcpExportOnAnExplicitAddress() throws IOException {
    try (NbdServer s = NbdServer.start(ExportAddress.parse("tcp:127.0.0.1:0"), target);
        NbdBlockDevice d = NbdBlockDevice.open(s.uri() + "/disk")) {
      assertThat(((ExportAddress.Tcp) s.address()).port()).isPositive();
      ByteBuffer b = ByteBuffer.allocate(10_000);
      d.read(12_345, b);
      assertThat(b.array()).isEqualTo(java.util.Arrays.copyOfRange(original, 12_345, 22_345));
    }
  }

  @Test
  void nbdBlockDeviceIsReadOnlyAndRefusesOutOfRange() throws IOException {
    try (NbdBlockDevice d = NbdBlockDevice.open("nbd+unix:///?socket=" + socket.getPath())) {
      assertThat(d.readOnly()).isTrue();
      assertThat(d.size()).isEqualTo(SIZE);
      assertThat(d.connectionLimit()).isEqualTo(4);
      assertThatThrownBy(() -> d.write(0, ByteBuffer.allocate(512)))
          .isInstanceOf(BlockIoException.class)
          .satisfies(
              e ->
                  assertThat(((BlockIoException) e).kind())
                      .isEqualTo(BlockIoException.Kind.READ_ONLY));
      assertThatThrownBy(() -> d.discard(0, 512)).isInstanceOf(BlockIoException.class);
      assertThatThrownBy(() -> d.writeZeroes(0, 512)).isInstanceOf(BlockIoException.class);
      assertThatThrownBy(() -> d.read(SIZE - 10, ByteBuffer.allocate(11)))
          .isInstanceOf(BlockIoException.class)
          .hasMessageContaining("offset " + (SIZE - 10));
      // Unaligned head, body and tail.
      ByteBuffer b = ByteBuffer.allocate(3 * 512 + 7);
      d.read(511, b);
      assertThat(b.array())
          .isEqualTo(java.util.Arrays.copyOfRange(original, 511, 511 + 3 * 512 + 7));
    }
    assertThat(target.writes.get()).isZero();
    assertImageUnchanged();
  }

  @Test
  void unknownExportIsAClearClientError() {
    assertThatThrownBy(() -> NbdBlockDevice.open("nbd+unix:///missing?socket=" + socket.getPath()))
        .hasMessageContaining("nbd+unix:///missing?socket=")
        .hasMessageContaining("no such export");
  }
}
