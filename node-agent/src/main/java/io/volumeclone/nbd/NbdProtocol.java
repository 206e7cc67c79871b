package io.volumeclone.nbd;

import io.volumeclone.engine.BlockIoException;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;

/**
 * Constants and small encode/decode helpers of the NBD protocol (fixed newstyle negotiation, simple
 * and structured replies), shared by {@link NbdServer} and {@link NbdClient}. Everything is
 * big-endian, as on the wire; {@link ByteBuffer}'s default order.
 */
public final class NbdProtocol {

  private NbdProtocol() {}

  public static final int DEFAULT_PORT = 10809;

  // Handshake.
  public static final long NBDMAGIC = 0x4e42444d41474943L;
  public static final long IHAVEOPT = 0x49484156454F5054L;
  public static final long OPTION_REPLY_MAGIC = 0x0003e889045565a9L;

  public static final int FLAG_FIXED_NEWSTYLE = 1;
  public static final int FLAG_NO_ZEROES = 1 << 1;
  public static final int FLAG_C_FIXED_NEWSTYLE = 1;
  public static final int FLAG_C_NO_ZEROES = 1 << 1;

  // Options.
  public static final int OPT_EXPORT_NAME = 1;
  public static final int OPT_ABORT = 2;
  public static final int OPT_LIST = 3;
  public static final int OPT_STARTTLS = 5;
  public static final int OPT_INFO = 6;
  public static final int OPT_GO = 7;
  public static final int OPT_STRUCTURED_REPLY = 8;
  public static final int OPT_LIST_META_CONTEXT = 9;
  public static final int OPT_SET_META_CONTEXT = 10;

  // Option reply types.
  public static final int REP_ACK = 1;
  public static final int REP_SERVER = 2;
  public static final int REP_INFO = 3;
  public static final int REP_META_CONTEXT = 4;
  public static final int REP_ERR_UNSUP = 0x80000001;
  public static final int REP_ERR_POLICY = 0x80000002;
  public static final int REP_ERR_INVALID = 0x80000003;
  public static final int REP_ERR_PLATFORM = 0x80000004;
  public static final int REP_ERR_TLS_REQD = 0x80000005;
  public static final int REP_ERR_UNKNOWN = 0x80000006;
  public static final int REP_ERR_SHUTDOWN = 0x80000007;
  public static final int REP_ERR_BLOCK_SIZE_REQD = 0x80000008;
  public static final int REP_ERR_TOO_BIG = 0x80000009;

  // NBD_REP_INFO types.
  public static final int INFO_EXPORT = 0;
  public static final int INFO_NAME = 1;
  public static final int INFO_DESCRIPTION = 2;
  public static final int INFO_BLOCK_SIZE = 3;

  // Transmission flags.
  public static final int TFLAG_HAS_FLAGS = 1;
  public static final int TFLAG_READ_ONLY = 1 << 1;
  public static final int TFLAG_SEND_FLUSH = 1 << 2;
  public static final int TFLAG_SEND_FUA = 1 << 3;
  public static final int TFLAG_ROTATIONAL = 1 << 4;
  public static final int TFLAG_SEND_TRIM = 1 << 5;
  public static final int TFLAG_SEND_WRITE_ZEROES = 1 << 6;
  public static final int TFLAG_SEND_DF = 1 << 7;
  public static final int TFLAG_CAN_MULTI_CONN = 1 << 8;
  public static final int TFLAG_SEND_FAST_ZERO = 1 << 11;

  // Requests.
  public static final int REQUEST_MAGIC = 0x25609513;
  public static final int REQUEST_HEADER_SIZE = 28;

  public static final int CMD_READ = 0;
  public static final int CMD_WRITE = 1;
  public static final int CMD_DISC = 2;
  public static final int CMD_FLUSH = 3;
  public static final int CMD_TRIM = 4;
  public static final int CMD_CACHE = 5;
  public static final int CMD_WRITE_ZEROES = 6;
  public static final int CMD_BLOCK_STATUS = 7;

  public static final int CMD_FLAG_FUA = 1;
  public static final int CMD_FLAG_NO_HOLE = 1 << 1;
  public static final int CMD_FLAG_DF = 1 << 2;
  public static final int CMD_FLAG_REQ_ONE = 1 << 3;
  public static final int CMD_FLAG_FAST_ZERO = 1 << 4;
  public static final int CMD_FLAGS_KNOWN =
      CMD_FLAG_FUA | CMD_FLAG_NO_HOLE | CMD_FLAG_DF | CMD_FLAG_REQ_ONE | CMD_FLAG_FAST_ZERO;

  // Replies.
  public static final int SIMPLE_REPLY_MAGIC = 0x67446698;
  public static final int SIMPLE_REPLY_HEADER_SIZE = 16;
  public static final int STRUCTURED_REPLY_MAGIC = 0x668e33ef;
  public static final int STRUCTURED_REPLY_HEADER_SIZE = 20;

  public static final int REPLY_FLAG_DONE = 1;
  public static final int REPLY_TYPE_NONE = 0;
  public static final int REPLY_TYPE_OFFSET_DATA = 1;
  public static final int REPLY_TYPE_OFFSET_HOLE = 2;
  public static final int REPLY_TYPE_BLOCK_STATUS = 5;
  public static final int REPLY_TYPE_ERROR = (1 << 15) + 1;
  public static final int REPLY_TYPE_ERROR_OFFSET = (1 << 15) + 2;

  // base:allocation flags.
  public static final int STATE_HOLE = 1;
  public static final int STATE_ZERO = 2;

  public static final String CONTEXT_BASE_ALLOCATION = "base:allocation";
  public static final String CONTEXT_COPIED = "volume-clone:copied";

  // Errors (Linux errno values, as the protocol defines them).
  public static final int EPERM = 1;
  public static final int EIO = 5;
  public static final int ENOMEM = 12;
  public static final int EINVAL = 22;
  public static final int ENOSPC = 28;
  public static final int EOVERFLOW = 75;
  public static final int ENOTSUP = 95;
  public static final int ESHUTDOWN = 108;

  /** The protocol's limit on strings (export names, messages, context names). */
  public static final int MAX_STRING = 4096;

  /** Maps an engine failure to the error a client sees. */
  public static int errnoOf(Throwable failure) {
    if (failure instanceof BlockIoException e) {
      return switch (e.kind()) {
        case IO -> EIO;
        case OUT_OF_RANGE -> EINVAL;
        case READ_ONLY -> EPERM;
        case NO_SPACE -> ENOSPC;
        case NOT_SUPPORTED -> ENOTSUP;
      };
    }
    return EIO;
  }

  public static String errnoName(int errno) {
    return switch (errno) {
      case 0 -> "OK";
      case EPERM -> "EPERM";
      case EIO -> "EIO";
      case ENOMEM -> "ENOMEM";
      case EINVAL -> "EINVAL";
      case ENOSPC -> "ENOSPC";
      case EOVERFLOW -> "EOVERFLOW";
      case ENOTSUP -> "ENOTSUP";
      case ESHUTDOWN -> "ESHUTDOWN";
      default -> "errno " + errno;
    };
  }

  public static String commandName(int type) {
    return switch (type) {
      case CMD_READ -> "READ";
      case CMD_WRITE -> "WRITE";
      case CMD_DISC -> "DISC";
      case CMD_FLUSH -> "FLUSH";
      case CMD_TRIM -> "TRIM";
      case CMD_CACHE -> "CACHE";
      case CMD_WRITE_ZEROES -> "WRITE_ZEROES";
      case CMD_BLOCK_STATUS -> "BLOCK_STATUS";
      default -> "command " + type;
    };
  }

  public static String optionName(int option) {
    return switch (option) {
      case OPT_EXPORT_NAME -> "EXPORT_NAME";
      case OPT_ABORT -> "ABORT";
      case OPT_LIST -> "LIST";
      case OPT_STARTTLS -> "STARTTLS";
      case OPT_INFO -> "INFO";
      case OPT_GO -> "GO";
      case OPT_STRUCTURED_REPLY -> "STRUCTURED_REPLY";
      case OPT_LIST_META_CONTEXT -> "LIST_META_CONTEXT";
      case OPT_SET_META_CONTEXT -> "SET_META_CONTEXT";
      default -> "option " + option;
    };
  }

  /** A transmission request header as sent by the client. */
  public record Request(int flags, int type, long cookie, long offset, long length) {

    public static Request decode(ByteBuffer header) throws NbdProtocolException {
      int magic = header.getInt();
      if (magic != REQUEST_MAGIC) {
        throw new NbdProtocolException(
            "bad request magic 0x" + Integer.toHexString(magic) + ", closing the connection");
      }
      int flags = Short.toUnsignedInt(header.getShort());
      int type = Short.toUnsignedInt(header.getShort());
      long cookie = header.getLong();
      long offset = header.getLong();
      long length = Integer.toUnsignedLong(header.getInt());
      return new Request(flags, type, cookie, offset, length);
    }

    public void encode(ByteBuffer out) {
      out.putInt(REQUEST_MAGIC);
      out.putShort((short) flags);
      out.putShort((short) type);
      out.putLong(cookie);
      out.putLong(offset);
      out.putInt((int) length);
    }

    /** True when {@code [offset, offset + length)} lies within {@code size} (unsigned offset). */
    public boolean withinSize(long size) {
      return offset >= 0 && offset <= size && length <= size - offset;
    }
  }

  public static ByteBuffer simpleReply(int error, long cookie) {
    ByteBuffer b = ByteBuffer.allocate(SIMPLE_REPLY_HEADER_SIZE);
    b.putInt(SIMPLE_REPLY_MAGIC).putInt(error).putLong(cookie);
    return b.flip();
  }

  public static ByteBuffer structuredHeader(int flags, int type, long cookie, int length) {
    ByteBuffer b = ByteBuffer.allocate(STRUCTURED_REPLY_HEADER_SIZE);
    b.putInt(STRUCTURED_REPLY_MAGIC)
        .putShort((short) flags)
        .putShort((short) type)
        .putLong(cookie)
        .putInt(length);
    return b.flip();
  }

  /** A complete NBD_REPLY_TYPE_ERROR chunk with the DONE flag. */
  public static ByteBuffer structuredError(long cookie, int error, String message) {
    byte[] text = truncatedUtf8(message, MAX_STRING);
    ByteBuffer b = ByteBuffer.allocate(STRUCTURED_REPLY_HEADER_SIZE + 6 + text.length);
    b.putInt(STRUCTURED_REPLY_MAGIC)
        .putShort((short) REPLY_FLAG_DONE)
        .putShort((short) REPLY_TYPE_ERROR)
        .putLong(cookie)
        .putInt(6 + text.length)
        .putInt(error)
        .putShort((short) text.length)
        .put(text);
    return b.flip();
  }

  /** An option reply: magic, option, reply type, length, data. */
  public static ByteBuffer optionReply(int option, int replyType, ByteBuffer data) {
    int length = data == null ? 0 : data.remaining();
    ByteBuffer b = ByteBuffer.allocate(20 + length);
    b.putLong(OPTION_REPLY_MAGIC).putInt(option).putInt(replyType).putInt(length);
    if (data != null) {
      b.put(data.duplicate());
    }
    return b.flip();
  }

  public static ByteBuffer optionReply(int option, int replyType, String message) {
    return optionReply(option, replyType, ByteBuffer.wrap(truncatedUtf8(message, MAX_STRING)));
  }

  /** A client option request: IHAVEOPT, option, length, data. */
  public static ByteBuffer optionRequest(int option, ByteBuffer data) {
    int length = data == null ? 0 : data.remaining();
    ByteBuffer b = ByteBuffer.allocate(16 + length);
    b.putLong(IHAVEOPT).putInt(option).putInt(length);
    if (data != null) {
      b.put(data.duplicate());
    }
    return b.flip();
  }

  public static byte[] truncatedUtf8(String s, int max) {
    byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
    if (bytes.length <= max) {
      return bytes;
    }
    int end = max;
    // Never split a multi-byte sequence: back up to a leading byte.
    while (end > 0 && (bytes[end] & 0xC0) == 0x80) {
      end--;
    }
    return java.util.Arrays.copyOf(bytes, end);
  }

  /** Reads exactly {@code dst.remaining()} bytes or throws {@link EOFException}. */
  public static void readFully(ReadableByteChannel channel, ByteBuffer dst) throws IOException {
    while (dst.hasRemaining()) {
      if (channel.read(dst) < 0) {
        throw new EOFException("peer closed the connection");
      }
    }
  }

  public static ByteBuffer readBytes(ReadableByteChannel channel, int n) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(n);
    readFully(channel, b);
    return b.flip();
  }

  /** Reads and throws away {@code n} bytes without holding them all in memory. */
  public static void skip(ReadableByteChannel channel, long n) throws IOException {
    ByteBuffer scratch = ByteBuffer.allocate((int) Math.min(n, 1 << 20));
    while (n > 0) {
      scratch.clear().limit((int) Math.min(n, scratch.capacity()));
      readFully(channel, scratch);
      n -= scratch.limit();
    }
  }

  public static void writeFully(WritableByteChannel channel, ByteBuffer... buffers)
      throws IOException {
    for (ByteBuffer b : buffers) {
      while (b.hasRemaining()) {
        channel.write(b);
      }
    }
  }

  /** A protocol violation by the peer; the connection cannot continue. */
  public static class NbdProtocolException extends IOException {
    public NbdProtocolException(String message) {
      super(message);
    }
  }
}
