package io.volumeclone.engine;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/**
 * Whose metadata this is: the clone it belongs to and the destination it fills, recorded in the
 * metadata's commit slots. A metadata device that records another clone or another destination is
 * refused: resuming it would report regions copied that the destination in front of us never
 * received.
 *
 * <p>The agent's clone identity is the VolumeClone's uid, which a deleted and re-created
 * VolumeClone of the same name never shares; the CLI has no such object, so its clone identity is
 * its destination's. A destination is named by what survives a restart and changes when the device
 * is replaced: a file by its real path and inode (a file removed and created again has a new
 * inode), a block device by the serial or WWID the kernel reports for it (a path such as {@code
 * /dev/sdb} can name another disk after a reboot), or by its path when the kernel reports neither.
 *
 * @param owner who the clone is, e.g. {@code VolumeClone db/restore uid 7f3c...}
 * @param destination what the destination is, e.g. {@code file /data/dst.img inode 1234}
 */
public record CloneIdentity(String owner, String destination) {

  /** Each field is at most this many UTF-8 bytes, so both fit in a commit slot. */
  public static final int MAX_BYTES = 1000;

  public CloneIdentity {
    check("clone", owner);
    check("destination", destination);
  }

  private static void check(String what, String value) {
    if (value == null || value.isBlank()) {
      throw new IllegalArgumentException("the " + what + " identity must not be empty");
    }
    if (value.getBytes(StandardCharsets.UTF_8).length > MAX_BYTES) {
      throw new IllegalArgumentException(
          "the " + what + " identity is longer than " + MAX_BYTES + " bytes: " + value);
    }
  }

  /** The identity of the CLI's clone: its destination's. */
  public static CloneIdentity ofDestination(Path destination) throws IOException {
    String id = describeDevice(destination);
    return new CloneIdentity("destination " + id, id);
  }

  @Override
  public String toString() {
    return "clone " + owner + " on destination " + destination;
  }

  /**
   * What a device or file is, robust across restarts: {@code file <real path> inode <n>}, {@code
   * block device serial <s>} (or {@code wwid}), or {@code block device <real path>}.
   *
   * @param sysDevBlock where sysfs's {@code dev/block} is, {@code /sys/dev/block} on a node
   */
  public static String describeDevice(Path path, Path sysDevBlock) throws IOException {
    Path real = path.toRealPath();
    if (Files.isRegularFile(real)) {
      Object inode = Files.getAttribute(real, "unix:ino", LinkOption.NOFOLLOW_LINKS);
      return "file " + real + " inode " + inode;
    }
    Object rdev = Files.getAttribute(real, "unix:rdev");
    if (rdev instanceof Long dev) {
      // glibc's encoding of dev_t
      long major = ((dev >>> 8) & 0xfff) | ((dev >>> 32) & ~0xfffL);
      long minor = (dev & 0xff) | ((dev >>> 12) & ~0xffL);
      Path sys = sysDevBlock.resolve(major + ":" + minor);
      for (String attribute : new String[] {"device/wwid", "device/serial", "serial", "dm/uuid"}) {
        Path file = sys.resolve(attribute);
        if (Files.isReadable(file)) {
          String value = Files.readString(file).trim();
          if (!value.isEmpty()) {
            return "block device " + attribute.replaceFirst(".*/", "") + " " + value;
          }
        }
      }
    }
    return "block device " + real;
  }

  public static String describeDevice(Path path) throws IOException {
    return describeDevice(path, Path.of("/sys/dev/block"));
  }
}
