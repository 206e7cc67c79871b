package io.volumeclone.nbd;

import static io.volumeclone.nbd.NbdProtocol.*;

import io.volumeclone.nbd.NbdProtocol.Request;
import java.io.Closeable;
import java.io.IOException;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

/**
 * A byte-level NBD peer for tests: it sends exactly what the test says, well-formed or not, and
 * decodes what the server answers, so negotiation and transmission edge cases can be driven without
 * a library that would refuse to send them.
 */
final class RawNbdConnection implements Closeable {

  final SocketChannel channel;

  RawNbdConnection(SocketAddress address) throws IOException {
    channel = SocketChannel.open(address);
  }

  /** Reads the server greeting; returns the handshake flags. */
  int greeting() throws IOException {
    ByteBuffer b = readBytes(channel, 18);
    if (b.getLong() != NBDMAGIC || b.getLong() != IHAVEOPT) {
      throw new IOException("not a fixed newstyle greeting");
    }
    return Short.toUnsignedInt(b.getShort());
  }

  void send(ByteBuffer b) throws IOException {
    writeFully(channel, b);
  }

  void sendInt(int v) throws IOException {
    send(ByteBuffer.allocate(4).putInt(v).flip());
  }

  void option(int option, ByteBuffer data) throws IOException {
    send(optionRequest(option, data));
  }

  record OptionReply(int option, int type, ByteBuffer data) {
    String text() {
      return StandardCharsets.UTF_8.decode(data.duplicate()).toString();
    }
  }

  OptionReply optionReply() throws IOException {
    ByteBuffer h = readBytes(channel, 20);
    if (h.getLong() != OPTION_REPLY_MAGIC) {
      throw new IOException("bad option reply magic");
    }
    int option = h.getInt();
    int type = h.getInt();
    int length = h.getInt();
    return new OptionReply(option, type, readBytes(channel, length));
  }

  static ByteBuffer goData(String name, int... infos) {
    byte[] n = name.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(4 + n.length + 2 + 2 * infos.length);
    b.putInt(n.length).put(n).putShort((short) infos.length);
    for (int i : infos) {
      b.putShort((short) i);
    }
    return b.flip();
  }

  static ByteBuffer metaContextData(String export, String... queries) {
    byte[] n = export.getBytes(StandardCharsets.UTF_8);
    int len = 4 + n.length + 4;
    for (String q : queries) {
      len += 4 + q.getBytes(StandardCharsets.UTF_8).length;
    }
    ByteBuffer b = ByteBuffer.allocate(len).putInt(n.length).put(n).putInt(queries.length);
    for (String q : queries) {
      byte[] qb = q.getBytes(StandardCharsets.UTF_8);
      b.putInt(qb.length).put(qb);
    }
    return b.flip();
  }

  /** Full negotiation: fixed newstyle, no zeroes, optional structured replies and contexts, GO. */
  long negotiate(boolean structured, String... contexts) throws IOException {
    greeting();
    sendInt(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
    if (structured) {
      option(OPT_STRUCTURED_REPLY, null);
      expect(optionReply(), REP_ACK);
    }
    if (contexts.length > 0) {
      option(OPT_SET_META_CONTEXT, metaContextData("", contexts));
      OptionReply r;
      while ((r = optionReply()).type() == REP_META_CONTEXT) {
        // Context ids are 1 and 2 in request order; tests know them.
      }
      expect(r, REP_ACK);
    }
    option(OPT_GO, goData(""));
    long size = -1;
    OptionReply r;
    while ((r = optionReply()).type() == REP_INFO) {
      if (r.data().getShort(0) == INFO_EXPORT) {
        size = r.data().getLong(2);
      }
    }
    expect(r, REP_ACK);
    return size;
  }

  private static void expect(OptionReply r, int type) throws IOException {
    if (r.type() != type) {
      throw new IOException(
          "expected reply type "
              + type
              + " but got 0x"
              + Integer.toHexString(r.type())
              + " "
              + r.text());
    }
  }

  void request(int flags, int type, long cookie, long offset, long length) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(REQUEST_HEADER_SIZE);
    new Request(flags, type, cookie, offset, length).encode(b);
    send(b.flip());
  }

  /** A decoded reply: simple (error, cookie, data for reads) or one structured chunk. */
  record Reply(
      boolean structured, int flags, int type, long cookie, int error, ByteBuffer payload) {}

  /** Reads one simple reply; {@code readLength} bytes of data follow a successful read. */
  Reply simpleReply(int readLength) throws IOException {
    ByteBuffer h = readBytes(channel, 16);
    int magic = h.getInt();
    if (magic != SIMPLE_REPLY_MAGIC) {
      throw new IOException("expected a simple reply, got magic 0x" + Integer.toHexString(magic));
    }
    int error = h.getInt();
    long cookie = h.getLong();
    ByteBuffer data =
        error == 0 && readLength > 0 ? readBytes(channel, readLength) : ByteBuffer.allocate(0);
    return new Reply(false, 0, 0, cookie, error, data);
  }

  /** Reads one reply of either kind (structured chunks carry their own length). */
  Reply anyReply(int readLengthIfSimple) throws IOException {
    ByteBuffer m = readBytes(channel, 4);
    int magic = m.getInt();
    if (magic == SIMPLE_REPLY_MAGIC) {
      ByteBuffer h = readBytes(channel, 12);
      int error = h.getInt();
      long cookie = h.getLong();
      ByteBuffer data =
          error == 0 && readLengthIfSimple > 0
              ? readBytes(channel, readLengthIfSimple)
              : ByteBuffer.allocate(0);
      return new Reply(false, 0, 0, cookie, error, data);
    }
    if (magic == STRUCTURED_REPLY_MAGIC) {
      ByteBuffer h = readBytes(channel, 16);
      int flags = Short.toUnsignedInt(h.getShort());
      int type = Short.toUnsignedInt(h.getShort());
      long cookie = h.getLong();
      int length = h.getInt();
      ByteBuffer payload = readBytes(channel, length);
      int error = (type & 0x8000) != 0 ? payload.getInt(0) : 0;
      return new Reply(true, flags, type, cookie, error, payload);
    }
    throw new IOException("bad reply magic 0x" + Integer.toHexString(magic));
  }

  /** True when the server closed the connection (reads EOF) within the socket's patience. */
  boolean closedByServer() {
    try {
      ByteBuffer b = ByteBuffer.allocate(1);
      return channel.read(b) < 0;
    } catch (IOException e) {
      return true;
    }
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
