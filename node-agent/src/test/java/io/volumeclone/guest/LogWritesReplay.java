package io.volumeclone.guest;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads a dm-log-writes log (the kernel's Documentation/admin-guide/device-mapper/log-writes.rst):
 * a super block in the first logical block (magic, version, entry count, sector size, little
 * endian), then one entry per logical block (sector, sector count, flags, data length), each write
 * entry followed by its data and each mark entry carrying its name in the rest of its block. Writes
 * are logged in completion order and the writes completed before a flush are logged before it, so
 * the device's content after the entries up to any FLUSH or FUA entry is a state a power cut there
 * could have left.
 */
final class LogWritesReplay {

  static final long MAGIC = 0x6a736677736872L;
  static final long FLUSH = 1;
  static final long FUA = 2;
  static final long DISCARD = 4;
  static final long MARK = 8;

  /** One logged operation; {@code data} is null for flushes, discards and marks. */
  record Entry(int index, long offset, long length, long flags, byte[] data, String mark) {
    boolean isFlushOrFua() {
      return (flags & (FLUSH | FUA)) != 0;
    }
  }

  private LogWritesReplay() {}

  static List<Entry> read(Path log) throws IOException {
    try (FileChannel ch = FileChannel.open(log, StandardOpenOption.READ)) {
      ByteBuffer superBlock = read(ch, 0, 512);
      long magic = superBlock.getLong();
      long version = superBlock.getLong();
      long count = superBlock.getLong();
      int sectorSize = superBlock.getInt();
      if (magic != MAGIC || version != 1) {
        throw new IOException(
            log + ": not a dm-log-writes log (magic " + Long.toHexString(magic) + ")");
      }
      List<Entry> entries = new ArrayList<>();
      long position = sectorSize;
      for (int i = 0; i < count; i++) {
        ByteBuffer header = read(ch, position, sectorSize);
        long sector = header.getLong();
        long sectors = header.getLong();
        long flags = header.getLong();
        long dataLength = header.getLong();
        position += sectorSize;
        String mark = null;
        byte[] data = null;
        if ((flags & MARK) != 0) {
          byte[] name = new byte[(int) dataLength];
          header.get(name);
          mark = new String(name, StandardCharsets.UTF_8);
        } else if ((flags & DISCARD) == 0 && sectors > 0) {
          data = new byte[(int) (sectors * sectorSize)];
          ByteBuffer b = read(ch, position, data.length);
          b.get(data);
          position += data.length;
        }
        entries.add(new Entry(i, sector * sectorSize, sectors * sectorSize, flags, data, mark));
      }
      return entries;
    }
  }

  /** Applies one entry to {@code image}: writes copy their data, discards zero their range. */
  static void apply(Entry e, byte[] image) {
    if (e.data() != null) {
      System.arraycopy(e.data(), 0, image, (int) e.offset(), e.data().length);
    } else if ((e.flags() & DISCARD) != 0) {
      java.util.Arrays.fill(image, (int) e.offset(), (int) (e.offset() + e.length()), (byte) 0);
    }
  }

  private static ByteBuffer read(FileChannel ch, long position, int length) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
    while (b.hasRemaining()) {
      if (ch.read(b, position + b.position()) < 0) {
        throw new IOException("the log ends at byte " + (position + b.position()));
      }
    }
    return b.flip();
  }
}
