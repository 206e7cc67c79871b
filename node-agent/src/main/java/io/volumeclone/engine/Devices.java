package io.volumeclone.engine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Opening a clone's local devices by role, with the messages a user sees. Shared by the CLI and the
 * agent so both say the same thing about the same mistake.
 */
public final class Devices {

  private Devices() {}

  /**
   * Starts binding the native calls that opening a device makes on a daemon thread, for a process
   * that will open devices soon: jnr-ffi generates its glue at run time (about 0.1 s on a small
   * machine even with the JDK's AOT cache), which then overlaps with what the process does first,
   * such as connecting to an NBD source (issue 19, fast start). An open that comes earlier waits
   * for the binding as for any class initialisation.
   */
  public static void bindNativeCallsInBackground() {
    Thread.ofPlatform().name("volume-clone-native-binding").daemon().start(LinuxIo::bind);
  }

  /**
   * Opens {@code path} for {@code role} ("source", "destination", "metadata"): read-only for the
   * source, exclusively for the others.
   */
  public static BlockDevice open(String role, Path path, boolean writable, boolean direct)
      throws IOException {
    try {
      return writable
          ? FileBlockDevice.openExclusive(path, direct)
          : FileBlockDevice.openReadOnly(path, direct);
    } catch (NoSuchFileException e) {
      throw new IOException(role + " " + path + ": no such device or file", e);
    } catch (IOException e) {
      throw new IOException("cannot open " + role + " " + path + ": " + e.getMessage(), e);
    }
  }

  /**
   * Makes a metadata file ready for {@link DiskCloneMetadata#open}: a missing file is created
   * sparse at the size {@code geometry} needs; an unformatted (all-zero first block) regular file
   * that is too small is extended. Block devices and formatted files are left alone, so the
   * metadata's own validation judges them.
   */
  public static void prepareMetadataFile(Path metadata, CloneGeometry geometry) throws IOException {
    long needed = DiskCloneMetadata.requiredSize(geometry);
    if (!Files.exists(metadata)) {
      Path parent = metadata.toAbsolutePath().getParent();
      if (parent != null && !Files.isDirectory(parent)) {
        throw new IOException("metadata " + metadata + ": directory " + parent + " does not exist");
      }
      try (FileChannel channel =
          FileChannel.open(metadata, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
        channel.write(ByteBuffer.allocate(1), needed - 1);
        channel.force(true);
      }
      return;
    }
    if (Files.isRegularFile(metadata) && Files.size(metadata) < needed) {
      try (FileChannel channel =
          FileChannel.open(metadata, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
        ByteBuffer first = ByteBuffer.allocate(DiskCloneMetadata.BLOCK_SIZE);
        channel.read(first, 0);
        first.flip();
        while (first.hasRemaining()) {
          if (first.get() != 0) {
            return;
          }
        }
        channel.write(ByteBuffer.allocate(1), needed - 1);
      }
    }
  }
}
