package io.volumeclone.nbd;

import static io.volumeclone.nbd.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.volumeclone.engine.BlockIoException;
import io.volumeclone.nbd.NbdProtocol.Request;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class NbdProtocolTest {

  @Test
  void requestRoundTripsWithUnsignedFields() throws Exception {
    Request r =
        new Request(
            CMD_FLAG_FUA | CMD_FLAG_FAST_ZERO, CMD_WRITE_ZEROES, -7L, 1L << 40, 0xFFFFFFFFL);
    ByteBuffer b = ByteBuffer.allocate(REQUEST_HEADER_SIZE);
    r.encode(b);
    assertThat(b.position()).isEqualTo(28);
    assertThat(b.getInt(0)).isEqualTo(0x25609513);
    assertThat(Request.decode(b.flip())).isEqualTo(r);
  }

  @Test
  void requestWithBadMagicIsAProtocolError() {
    ByteBuffer b = ByteBuffer.allocate(REQUEST_HEADER_SIZE).putInt(0x12345678);
    b.position(0);
    assertThatThrownBy(() -> Request.decode(b))
        .isInstanceOf(NbdProtocol.NbdProtocolException.class)
        .hasMessageContaining("bad request magic 0x12345678");
  }

  @Test
  void rangeCheckTreatsOffsetsAsUnsignedAndAvoidsOverflow() {
    assertThat(new Request(0, CMD_READ, 1, 0, 100).withinSize(100)).isTrue();
    assertThat(new Request(0, CMD_READ, 1, 1, 100).withinSize(100)).isFalse();
    assertThat(new Request(0, CMD_READ, 1, 100, 0).withinSize(100)).isTrue();
    // An offset with the top bit set is huge, not negative.
    assertThat(new Request(0, CMD_READ, 1, -512, 512).withinSize(100)).isFalse();
    assertThat(new Request(0, CMD_READ, 1, Long.MAX_VALUE, 0xFFFFFFFFL).withinSize(Long.MAX_VALUE))
        .isFalse();
  }

  @Test
  void simpleAndStructuredRepliesHaveTheWireLayout() {
    ByteBuffer s = simpleReply(EIO, 42);
    assertThat(s.remaining()).isEqualTo(16);
    assertThat(s.getInt()).isEqualTo(0x67446698);
    assertThat(s.getInt()).isEqualTo(5);
    assertThat(s.getLong()).isEqualTo(42);

    ByteBuffer e = structuredError(9, EINVAL, "bad range");
    assertThat(e.getInt()).isEqualTo(0x668e33ef);
    assertThat(e.getShort()).isEqualTo((short) REPLY_FLAG_DONE);
    assertThat(Short.toUnsignedInt(e.getShort())).isEqualTo(32769);
    assertThat(e.getLong()).isEqualTo(9);
    assertThat(e.getInt()).isEqualTo(6 + 9);
    assertThat(e.getInt()).isEqualTo(22);
    assertThat(e.getShort()).isEqualTo((short) 9);
    byte[] msg = new byte[9];
    e.get(msg);
    assertThat(new String(msg, StandardCharsets.UTF_8)).isEqualTo("bad range");
    assertThat(e.hasRemaining()).isFalse();
  }

  @Test
  void optionReplyCarriesMagicOptionTypeAndData() {
    ByteBuffer r = optionReply(OPT_GO, REP_ERR_UNKNOWN, "no export named 'x'");
    assertThat(r.getLong()).isEqualTo(0x3e889045565a9L);
    assertThat(r.getInt()).isEqualTo(OPT_GO);
    assertThat(r.getInt()).isEqualTo(0x80000006);
    assertThat(r.getInt()).isEqualTo(r.remaining()).isEqualTo(19);
  }

  @Test
  void messagesAreCutToTheProtocolLimitWithoutSplittingCharacters() {
    String longText = "ä".repeat(5000); // 2 bytes each
    byte[] cut = truncatedUtf8(longText, MAX_STRING);
    assertThat(cut.length).isEqualTo(MAX_STRING);
    assertThat(new String(cut, StandardCharsets.UTF_8)).isEqualTo("ä".repeat(2048));
    byte[] odd = truncatedUtf8("a" + longText, MAX_STRING);
    assertThat(odd.length).isEqualTo(MAX_STRING - 1);
  }

  @Test
  void engineFailuresMapToProtocolErrors() {
    assertThat(errnoOf(fail(BlockIoException.Kind.IO))).isEqualTo(EIO);
    assertThat(errnoOf(fail(BlockIoException.Kind.OUT_OF_RANGE))).isEqualTo(EINVAL);
    assertThat(errnoOf(fail(BlockIoException.Kind.READ_ONLY))).isEqualTo(EPERM);
    assertThat(errnoOf(fail(BlockIoException.Kind.NO_SPACE))).isEqualTo(ENOSPC);
    assertThat(errnoOf(fail(BlockIoException.Kind.NOT_SUPPORTED))).isEqualTo(ENOTSUP);
    assertThat(errnoOf(new IOException("disk on fire"))).isEqualTo(EIO);
    assertThat(errnoOf(new IllegalStateException("bug"))).isEqualTo(EIO);
  }

  private static BlockIoException fail(BlockIoException.Kind kind) {
    return new BlockIoException(kind, "/dev/x", "read", 0, "test");
  }
}
