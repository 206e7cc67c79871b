package io.volumeclone.bench;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;

/** Image files for the benchmarks. */
final class BenchFiles {

  private BenchFiles() {}

  /**
   * Fills {@code file} with {@code size} pseudo-random bytes (the same bytes for the same size) and
   * syncs it, so dirty pages do not disturb the timings. A file of that size is reused as it is.
   */
  static void writeRandom(Path file, long size) throws IOException {
    if (Files.isRegularFile(file) && Files.size(file) == size) {
      return;
    }
    Random random = new Random(size);
    byte[] chunk = new byte[4 << 20];
    try (FileChannel channel =
        FileChannel.open(
            file,
            StandardOpenOption.CREATE,
            StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING)) {
      for (long pos = 0; pos < size; ) {
        random.nextBytes(chunk);
        ByteBuffer buffer = ByteBuffer.wrap(chunk, 0, (int) Math.min(chunk.length, size - pos));
        while (buffer.hasRemaining()) {
          pos += channel.write(buffer, pos);
        }
      }
      channel.force(true);
    }
  }

  /** Makes {@code file} a sparse file of {@code size} bytes, creating or resizing it. */
  static void sparseFile(Path file, long size) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.setLength(size);
    }
  }
}
