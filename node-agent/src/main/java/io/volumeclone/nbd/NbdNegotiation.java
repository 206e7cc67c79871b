package io.volumeclone.nbd;

import static io.volumeclone.nbd.NbdProtocol.*;

import io.volumeclone.engine.BlockTarget;
import io.volumeclone.nbd.NbdProtocol.NbdProtocolException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The first room of an NBD connection: the fixed newstyle handshake and the option haggling that
 * ends when the client picks an export (NBD_OPT_GO or NBD_OPT_EXPORT_NAME) or gives up.
 *
 * <p>Design note. One thread, the connection's, drives it from the greeting to the {@link
 * Agreement} that transmission starts from; nothing here is shared, so no lock. An option this
 * server does not know, or whose data is malformed, gets an error reply and negotiation goes on, as
 * the protocol asks; only what cannot be answered in step (unknown client flags, bad option magic,
 * an option too long even to skip) throws {@link NbdProtocolException}, which closes this one
 * connection. Meta contexts chosen with NBD_OPT_SET_META_CONTEXT hold for the export they were set
 * on: a GO for another export drops them.
 */
final class NbdNegotiation {

  private static final Logger log = LoggerFactory.getLogger(NbdNegotiation.class);

  /** Longest option we buffer; longer ones are skipped (up to {@link #MAX_SKIPPED_OPTION}). */
  static final int MAX_OPTION_LENGTH = 64 * 1024;

  /** Longer options than this are not worth reading: the connection is closed. */
  static final int MAX_SKIPPED_OPTION = 16 << 20;

  static final int CONTEXT_ID_ALLOCATION = 1;
  static final int CONTEXT_ID_COPIED = 2;

  /**
   * What transmission starts from: the export, whether replies may be structured, and the ids of
   * the meta contexts BLOCK_STATUS reports, in the order the client's query listed them.
   */
  record Agreement(BlockTarget target, boolean structuredReplies, List<Integer> metaContexts) {}

  private final NbdServer server;
  private final SocketChannel channel;
  private final String peer;

  private boolean structuredReplies;
  private List<Integer> selectedContexts = List.of();
  private BlockTarget contextExport;

  NbdNegotiation(NbdServer server, SocketChannel channel, String peer) {
    this.server = server;
    this.channel = channel;
    this.peer = peer;
  }

  static String contextName(int id) {
    return id == CONTEXT_ID_ALLOCATION ? CONTEXT_BASE_ALLOCATION : CONTEXT_COPIED;
  }

  /**
   * @return the agreement to enter transmission with, or null when the client aborted
   */
  Agreement negotiate() throws IOException {
    ByteBuffer hello = ByteBuffer.allocate(18);
    hello
        .putLong(NBDMAGIC)
        .putLong(IHAVEOPT)
        .putShort((short) (FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES));
    send(hello.flip());
    int clientFlags = readBytes(channel, 4).getInt();
    if ((clientFlags & ~(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)) != 0) {
      throw new NbdProtocolException(
          "unknown client flags 0x"
              + Integer.toHexString(clientFlags)
              + ", closing the connection");
    }
    boolean noZeroes = (clientFlags & FLAG_C_NO_ZEROES) != 0;
    while (true) {
      ByteBuffer header = readBytes(channel, 16);
      long magic = header.getLong();
      if (magic != IHAVEOPT) {
        throw new NbdProtocolException(
            "bad option magic 0x" + Long.toHexString(magic) + ", closing the connection");
      }
      int option = header.getInt();
      long length = Integer.toUnsignedLong(header.getInt());
      if (length > MAX_OPTION_LENGTH) {
        if (length > MAX_SKIPPED_OPTION || option == OPT_EXPORT_NAME) {
          throw new NbdProtocolException(
              "option "
                  + optionName(option)
                  + " has length "
                  + length
                  + ", over the limit of "
                  + MAX_OPTION_LENGTH
                  + " bytes, closing the connection");
        }
        skip(channel, length);
        log.warn("NBD client {}: option {} of {} bytes refused as too big", peer, option, length);
        send(
            optionReply(option, REP_ERR_TOO_BIG, "option data of " + length + " bytes is too big"));
        continue;
      }
      ByteBuffer data = readBytes(channel, (int) length);
      switch (option) {
        case OPT_EXPORT_NAME -> {
          String name = StandardCharsets.UTF_8.decode(data).toString();
          BlockTarget t = server.export(name);
          if (t == null) {
            throw new NbdProtocolException(
                "NBD_OPT_EXPORT_NAME asked for unknown export '" + name + "', closing");
          }
          ByteBuffer reply = ByteBuffer.allocate(noZeroes ? 10 : 134);
          reply.putLong(t.size()).putShort((short) transmissionFlags(t));
          reply.position(reply.capacity());
          send(reply.flip());
          log.info("NBD client {} attached to export '{}' (EXPORT_NAME)", peer, t.name());
          return agreementFor(t);
        }
        case OPT_ABORT -> {
          send(optionReply(option, REP_ACK, (ByteBuffer) null));
          log.debug("NBD client {} aborted negotiation", peer);
          return null;
        }
        case OPT_LIST -> {
          if (length != 0) {
            send(optionReply(option, REP_ERR_INVALID, "NBD_OPT_LIST takes no data"));
            continue;
          }
          for (BlockTarget t : server.exports()) {
            byte[] name = t.name().getBytes(StandardCharsets.UTF_8);
            ByteBuffer entry = ByteBuffer.allocate(4 + name.length).putInt(name.length).put(name);
            send(optionReply(option, REP_SERVER, entry.flip()));
          }
          send(optionReply(option, REP_ACK, (ByteBuffer) null));
        }
        case OPT_STRUCTURED_REPLY -> {
          if (length != 0) {
            send(optionReply(option, REP_ERR_INVALID, "NBD_OPT_STRUCTURED_REPLY takes no data"));
            continue;
          }
          structuredReplies = true;
          send(optionReply(option, REP_ACK, (ByteBuffer) null));
        }
        case OPT_INFO, OPT_GO -> {
          BlockTarget described = handleInfo(option, data);
          if (described != null && option == OPT_GO) {
            log.info("NBD client {} attached to export '{}'", peer, described.name());
            return agreementFor(described);
          }
        }
        case OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT -> handleMetaContext(option, data);
        default ->
            send(
                optionReply(
                    option,
                    REP_ERR_UNSUP,
                    optionName(option) + " is not supported by this server"));
      }
    }
  }

  private Agreement agreementFor(BlockTarget t) {
    List<Integer> contexts = contextExport == t ? selectedContexts : List.of();
    return new Agreement(t, structuredReplies, contexts);
  }

  private int transmissionFlags(BlockTarget t) {
    int flags =
        TFLAG_HAS_FLAGS
            | TFLAG_SEND_FLUSH
            | TFLAG_SEND_FUA
            | TFLAG_SEND_TRIM
            | TFLAG_SEND_WRITE_ZEROES
            | TFLAG_SEND_FAST_ZERO
            | TFLAG_CAN_MULTI_CONN;
    if (structuredReplies) {
      flags |= TFLAG_SEND_DF;
    }
    if (t.readOnly()) {
      flags |= TFLAG_READ_ONLY;
    }
    return flags;
  }

  /** Reads a length-prefixed (32-bit) string, or returns null when the data is malformed. */
  private static String readString(ByteBuffer data) {
    if (data.remaining() < 4) {
      return null;
    }
    long len = Integer.toUnsignedLong(data.getInt());
    if (len > data.remaining() || len > MAX_STRING) {
      return null;
    }
    byte[] bytes = new byte[(int) len];
    data.get(bytes);
    return new String(bytes, StandardCharsets.UTF_8);
  }

  /** NBD_OPT_INFO / NBD_OPT_GO. Returns the export when it was found and described, else null. */
  private BlockTarget handleInfo(int option, ByteBuffer data) throws IOException {
    String name = readString(data);
    if (name == null || data.remaining() < 2) {
      send(optionReply(option, REP_ERR_INVALID, optionName(option) + " data is malformed"));
      return null;
    }
    int requests = Short.toUnsignedInt(data.getShort());
    if (data.remaining() != requests * 2) {
      send(
          optionReply(
              option,
              REP_ERR_INVALID,
              optionName(option)
                  + " announces "
                  + requests
                  + " info requests but carries "
                  + data.remaining()
                  + " bytes"));
      return null;
    }
    Set<Integer> wanted = new LinkedHashSet<>();
    for (int i = 0; i < requests; i++) {
      wanted.add(Short.toUnsignedInt(data.getShort()));
    }
    BlockTarget t = server.export(name);
    if (t == null) {
      send(optionReply(option, REP_ERR_UNKNOWN, "no export named '" + name + "'"));
      return null;
    }
    ByteBuffer export = ByteBuffer.allocate(12);
    export.putShort((short) INFO_EXPORT).putLong(t.size()).putShort((short) transmissionFlags(t));
    send(optionReply(option, REP_INFO, export.flip()));
    if (wanted.contains(INFO_NAME)) {
      byte[] n = t.name().getBytes(StandardCharsets.UTF_8);
      send(
          optionReply(
              option,
              REP_INFO,
              ByteBuffer.allocate(2 + n.length).putShort((short) INFO_NAME).put(n).flip()));
    }
    String description = server.options().description();
    if (wanted.contains(INFO_DESCRIPTION) && description != null) {
      byte[] d = truncatedUtf8(description, MAX_STRING);
      send(
          optionReply(
              option,
              REP_INFO,
              ByteBuffer.allocate(2 + d.length).putShort((short) INFO_DESCRIPTION).put(d).flip()));
    }
    int[] sizes = blockSizes(t);
    ByteBuffer bs = ByteBuffer.allocate(14);
    bs.putShort((short) INFO_BLOCK_SIZE).putInt(sizes[0]).putInt(sizes[1]).putInt(sizes[2]);
    send(optionReply(option, REP_INFO, bs.flip()));
    send(optionReply(option, REP_ACK, (ByteBuffer) null));
    return t;
  }

  /** Minimum, preferred and maximum block size advertised for {@code t}. */
  int[] blockSizes(BlockTarget t) {
    int max = server.options().maxBlockSize();
    int min = t.minimumBlockSize();
    // Clients refuse requests that are not multiples of the minimum, so a size that is not one
    // would leave the export's last bytes unreachable; the export serves any byte range.
    if (min < 1 || min > 65536 || Integer.bitCount(min) != 1 || t.size() % min != 0) {
      min = 1;
    }
    int preferred = Math.max(4096, Math.max(min, t.preferredBlockSize()));
    if (Integer.bitCount(preferred) != 1) {
      preferred = Integer.highestOneBit(preferred);
    }
    preferred = Math.min(preferred, max);
    return new int[] {min, preferred, max};
  }

  private void handleMetaContext(int option, ByteBuffer data) throws IOException {
    boolean set = option == OPT_SET_META_CONTEXT;
    if (set && !structuredReplies) {
      send(
          optionReply(
              option,
              REP_ERR_INVALID,
              "NBD_OPT_SET_META_CONTEXT needs NBD_OPT_STRUCTURED_REPLY first"));
      return;
    }
    String name = readString(data);
    if (name == null || data.remaining() < 4) {
      send(optionReply(option, REP_ERR_INVALID, optionName(option) + " data is malformed"));
      return;
    }
    long count = Integer.toUnsignedLong(data.getInt());
    List<String> queries = new ArrayList<>();
    for (long i = 0; i < count; i++) {
      String q = readString(data);
      if (q == null) {
        send(
            optionReply(
                option, REP_ERR_INVALID, optionName(option) + " query " + i + " is malformed"));
        return;
      }
      queries.add(q);
    }
    if (data.hasRemaining()) {
      send(optionReply(option, REP_ERR_INVALID, optionName(option) + " has trailing bytes"));
      return;
    }
    BlockTarget t = server.export(name);
    if (t == null) {
      send(optionReply(option, REP_ERR_UNKNOWN, "no export named '" + name + "'"));
      return;
    }
    Set<Integer> matched = new LinkedHashSet<>();
    if (!set && queries.isEmpty()) {
      matched.add(CONTEXT_ID_ALLOCATION);
      matched.add(CONTEXT_ID_COPIED);
    }
    for (String q : queries) {
      if (q.equals(CONTEXT_BASE_ALLOCATION) || (!set && q.equals("base:"))) {
        matched.add(CONTEXT_ID_ALLOCATION);
      } else if (q.equals(CONTEXT_COPIED) || (!set && q.equals("volume-clone:"))) {
        matched.add(CONTEXT_ID_COPIED);
      }
    }
    for (int id : matched) {
      byte[] n = contextName(id).getBytes(StandardCharsets.UTF_8);
      ByteBuffer reply = ByteBuffer.allocate(4 + n.length).putInt(set ? id : 0).put(n);
      send(optionReply(option, REP_META_CONTEXT, reply.flip()));
    }
    if (set) {
      selectedContexts = List.copyOf(matched);
      contextExport = t;
    }
    send(optionReply(option, REP_ACK, (ByteBuffer) null));
  }

  private void send(ByteBuffer buffer) throws IOException {
    writeFully(channel, buffer);
  }
}
