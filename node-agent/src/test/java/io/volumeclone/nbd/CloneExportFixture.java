package io.volumeclone.nbd;

import io.volumeclone.engine.Clone;
import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.CloneOptions;
import io.volumeclone.engine.FileBlockDevice;
import io.volumeclone.engine.TestingMemoryCloneMetadata;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

/**
 * A real {@link Clone} (file source, file destination, in-memory metadata) served by an {@link
 * NbdServer} on a Unix socket: what the export integration tests talk to.
 */
final class CloneExportFixture implements AutoCloseable {

  final Path source;
  final Path destination;
  final Path socket;
  final long size;
  final int regionSize;
  final Clone clone;
  final NbdServer server;

  CloneExportFixture(Path dir, long size, int regionSize, CloneOptions.Builder options)
      throws IOException {
    this(dir, size, regionSize, options, false);
  }

  /**
   * @param allocatedDestination write every byte of the destination first (0xff), so that tests can
   *     see whether the export deallocates any of it
   */
  CloneExportFixture(
      Path dir,
      long size,
      int regionSize,
      CloneOptions.Builder options,
      boolean allocatedDestination)
      throws IOException {
    this.size = size;
    this.regionSize = regionSize;
    source = dir.resolve("source.img");
    destination = dir.resolve("destination.img");
    socket = dir.resolve("run/nbd.sock");
    writeRandom(source, size, 42);
    try (var f =
        java.nio.channels.FileChannel.open(
            destination,
            java.nio.file.StandardOpenOption.CREATE_NEW,
            java.nio.file.StandardOpenOption.WRITE)) {
      f.truncate(size);
      f.write(java.nio.ByteBuffer.allocate(1), size - 1);
      if (allocatedDestination) {
        byte[] ones = new byte[1 << 20];
        java.util.Arrays.fill(ones, (byte) 0xff);
        for (long at = 0; at < size; at += ones.length) {
          f.write(java.nio.ByteBuffer.wrap(ones, 0, (int) Math.min(ones.length, size - at)), at);
        }
        f.force(true);
      }
    }
    CloneGeometry geometry = new CloneGeometry(0, 0, size, regionSize, size, size);
    clone =
        Clone.open(
            FileBlockDevice.openReadOnly(source),
            FileBlockDevice.openExclusive(destination),
            new TestingMemoryCloneMetadata(geometry),
            options.build());
    server =
        NbdServer.start(ExportAddress.unix(socket), NbdServer.Options.defaults(), List.of(clone));
  }

  String uri() {
    return "nbd+unix:///?socket=" + socket;
  }

  String uri(String export) {
    return "nbd+unix:///" + export + "?socket=" + socket;
  }

  static void writeRandom(Path file, long size, long seed) throws IOException {
    Random random = new Random(seed);
    byte[] chunk = new byte[1 << 20];
    try (OutputStream out = Files.newOutputStream(file)) {
      for (long done = 0; done < size; done += chunk.length) {
        random.nextBytes(chunk);
        out.write(chunk, 0, (int) Math.min(chunk.length, size - done));
      }
    }
  }

  @Override
  public void close() throws IOException {
    server.close();
    clone.close();
  }
}
