package io.volumeclone.cli;

import io.volumeclone.engine.Clone;
import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.nbd.ExportAddress;
import io.volumeclone.nbd.NodeAttach;
import io.volumeclone.nbd.ProcessCommandRunner;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * {@code clone --attach [NAME]}: the clone served on a Unix socket, attached to a {@code /dev/nbdN}
 * and stacked as {@code /dev/mapper/NAME} the moment it starts, and at cutover moved live onto the
 * destination (see {@link NodeAttach} for the order), after which NBD is detached and the export
 * closed. The same {@link NodeAttach} the agent uses.
 *
 * <p>Everything that can be checked before a device is opened is: the node's nbd module and tools,
 * a block-device destination (device-mapper maps devices, not files), a Unix-socket export.
 */
final class KernelAttach {

  private final NodeAttach node;
  private final Path destination;
  private final Path socket;
  private final Path socketDirectory;
  private boolean attached;

  private KernelAttach(NodeAttach node, Path destination, Path socket, Path socketDirectory) {
    this.node = node;
    this.destination = destination;
    this.socket = socket;
    this.socketDirectory = socketDirectory;
  }

  /**
   * Checks that this node can attach {@code destination}'s clone as {@code /dev/mapper/<name>} and
   * picks the socket: {@code export}'s when it is a Unix socket, otherwise a private one.
   */
  static KernelAttach prepare(String name, Path destination, ExportAddress export)
      throws IOException {
    String mapperName = name.isEmpty() ? "volume-clone-" + destination.getFileName() : name;
    NodeAttach node;
    try {
      node = NodeAttach.onHost(mapperName);
    } catch (IllegalArgumentException e) {
      throw new Main.UsageException("invalid --attach: " + e.getMessage());
    }
    if (export != null && !(export instanceof ExportAddress.Unix)) {
      throw new Main.UsageException(
          "--attach needs a Unix-socket export (--export unix:PATH, or none): the kernel's"
              + " nbd-client attaches it locally");
    }
    NodeAttach.Support support = NodeAttach.detect(new ProcessCommandRunner(), Path.of("/dev"));
    if (!support.available()) {
      throw new IOException(
          "cannot --attach "
              + node.mapperDevice()
              + ": this node has "
              + support.reason()
              + ". Load it with 'modprobe nbd' and 'modprobe dm-mod', install nbd-client and"
              + " dmsetup (apt-get install nbd-client dmsetup), or serve the clone with --export.");
    }
    if (!NodeAttach.isBlockDevice(destination)) {
      throw new IOException(
          "cannot --attach with destination "
              + destination
              + ": it is not a block device, and device-mapper maps only block devices at"
              + " cutover (attach a file with 'losetup --find --show FILE' and use that device)");
    }
    if (export instanceof ExportAddress.Unix unix) {
      return new KernelAttach(node, destination, unix.path(), null);
    }
    Path dir =
        Files.createTempDirectory(
            "volume-clone-attach",
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    return new KernelAttach(node, destination, dir.resolve("nbd.sock"), dir);
  }

  /** Where the clone must be served for {@link #attach}. */
  ExportAddress export() {
    return new ExportAddress.Unix(socket.toAbsolutePath());
  }

  /** Attaches the served clone; returns {@code /dev/mapper/NAME}. */
  String attach(Clone clone) throws IOException {
    String device = node.attach(socket, clone.size());
    attached = true;
    return device;
  }

  /**
   * The live swap onto the destination. The clone is cut over (a pass-through): under the suspended
   * mapper device it flushes the destination and is closed, which releases the destination's O_EXCL
   * for device-mapper.
   */
  void cutover(Clone clone) throws IOException {
    CloneGeometry g = clone.cloneGeometry();
    node.cutover(
        destination.toString(),
        g.destinationOffset(),
        g.size(),
        () -> {
          clone.flush();
          clone.close();
        });
    attached = false;
  }

  /** Before a stop or after a failure: removes the mapper device and detaches NBD. */
  void detach() throws IOException {
    if (attached) {
      attached = false;
      node.detach();
    }
  }

  String mapperDevice() {
    return node.mapperDevice();
  }

  /** Removes the private socket's directory, if this attachment made one. */
  void cleanUp() {
    if (socketDirectory != null) {
      try {
        Files.deleteIfExists(socket);
        Files.deleteIfExists(socketDirectory);
      } catch (IOException e) {
        // a leftover empty directory in /tmp is harmless
      }
    }
  }
}
