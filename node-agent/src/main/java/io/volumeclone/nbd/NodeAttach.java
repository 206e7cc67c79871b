package io.volumeclone.nbd;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Presents a clone as a kernel block device on nodes that can: the NBD export is attached to a free
 * {@code /dev/nbdN} with {@code nbd-client}, and {@code /dev/mapper/NAME} (the agent's {@code
 * volume-clone-<uid>}, the CLI's {@code --attach NAME}) is a linear device-mapper table over it.
 * Consumers open the mapper device; at cutover its table is swapped to a linear map of the
 * destination and NBD is detached. Consumers never see the switch.
 *
 * <p>The cutover order matters. {@code dmsetup suspend} drains every request still going through
 * NBD into the clone. Then the clone flushes its destination (and commits the metadata): writes
 * that reached it through a buffered descriptor sit in the page cache, and the direct mapping
 * loaded next would read past them, while their later writeback would overwrite newer writes. The
 * clone also lets go of the destination: it holds it with {@code O_EXCL}, and device-mapper cannot
 * open a device someone else holds exclusively (the load fails with EBUSY). Only then is the linear
 * table of the destination (named by major:minor) loaded and the device resumed. {@code dmsetup
 * mknodes} follows create and resume, since nodes without udev get no {@code /dev/mapper} entry
 * otherwise.
 *
 * <p>Needs the {@code nbd} kernel module ({@code /dev/nbd0} exists), {@code nbd-client} and {@code
 * dmsetup}. Where any is missing, {@link #detect} says which, and the agent stays export-only.
 */
public final class NodeAttach {

  /** Whether this node can attach, and if not, why. */
  public record Support(boolean available, String reason) {}

  /**
   * Makes what reached the clone durable on its destination (flush it, commit the metadata) and
   * closes the clone's exclusive hold on it, so that device-mapper can open it.
   */
  @FunctionalInterface
  public interface DestinationRelease {
    void flushAndRelease() throws IOException;
  }

  static final int SECTOR = 512;

  private final CommandRunner runner;
  private final Path dev;
  private final Path sysBlock;
  private final String mapperName;
  private String nbdDevice;
  private boolean mapped;
  private boolean cutOver;

  /**
   * @param dev the device directory ({@code /dev})
   * @param sysBlock where the kernel lists block devices ({@code /sys/block}); a {@code /dev/nbdN}
   *     is in use when {@code nbdN/pid} exists there
   * @param uid the VolumeClone's uid, which names the mapper device
   */
  public static NodeAttach forClone(CommandRunner runner, Path dev, Path sysBlock, String uid) {
    return named(runner, dev, sysBlock, "volume-clone-" + uid);
  }

  private NodeAttach(CommandRunner runner, Path dev, Path sysBlock, String mapperName) {
    this.runner = runner;
    this.dev = dev;
    this.sysBlock = sysBlock;
    this.mapperName = mapperName;
  }

  /** An attachment whose mapper device is {@code /dev/mapper/<mapperName>}, as the CLI names it. */
  public static NodeAttach named(CommandRunner runner, Path dev, Path sysBlock, String mapperName) {
    if (mapperName.isEmpty()
        || mapperName.length() > 127
        || mapperName.contains("/")
        || mapperName.equals(".")
        || mapperName.equals("..")) {
      throw new IllegalArgumentException(
          "invalid device-mapper name '"
              + mapperName
              + "': 1 to 127 characters, no '/', not '.' or '..'");
    }
    return new NodeAttach(runner, dev, sysBlock, mapperName);
  }

  /** The host's {@code /dev} and {@code /sys/block}, with tools run as child processes. */
  public static NodeAttach onHost(String mapperName) {
    return named(new ProcessCommandRunner(), Path.of("/dev"), Path.of("/sys/block"), mapperName);
  }

  public static Support detect(CommandRunner runner, Path dev) {
    List<String> missing = new ArrayList<>();
    if (!Files.exists(dev.resolve("nbd0"))) {
      missing.add("no " + dev.resolve("nbd0") + " (the nbd kernel module is not loaded)");
    }
    if (!runner.onPath("nbd-client")) {
      missing.add("no nbd-client on the PATH");
    }
    if (!runner.onPath("dmsetup")) {
      missing.add("no dmsetup on the PATH (device-mapper)");
    }
    return missing.isEmpty()
        ? new Support(true, "nbd and device-mapper are available")
        : new Support(false, String.join("; ", missing));
  }

  public String mapperDevice() {
    return dev.resolve("mapper").resolve(mapperName).toString();
  }

  /** The attached {@code /dev/nbdN}, or null. */
  public String nbdDevice() {
    return nbdDevice;
  }

  /**
   * Attaches the export at {@code socket} and creates the mapper device over it; returns the mapper
   * device's path. Undoes the NBD attachment when the mapper device cannot be created.
   */
  public String attach(Path socket, long size) throws IOException {
    long sectors = sectors("clone size", size);
    String nbd = freeNbdDevice();
    run("attach the export to " + nbd, "nbd-client", "-unix", socket.toString(), nbd);
    nbdDevice = nbd;
    try {
      run(
          "create " + mapperDevice(),
          "dmsetup",
          "create",
          mapperName,
          "--table",
          "0 " + sectors + " linear " + nbd + " 0");
    } catch (IOException e) {
      detachNbd();
      throw e;
    }
    mapped = true;
    run("create the node of " + mapperDevice(), "dmsetup", "mknodes", mapperName);
    return mapperDevice();
  }

  /**
   * Points the mapper device at {@code destination} (from {@code destinationOffset}, for {@code
   * size} bytes) and detaches NBD: suspend, {@code release}, load, resume. A block-device
   * destination is named by its major:minor in the table, so the mapping does not depend on a path
   * that may change. When the release or the load fails the device resumes on NBD and the error is
   * thrown; after a release that closed the clone, requests through NBD then fail until the
   * destination, complete and flushed, is used directly.
   */
  public void cutover(
      String destination, long destinationOffset, long size, DestinationRelease release)
      throws IOException {
    if (!mapped || cutOver) {
      return;
    }
    long sectors = sectors("clone size", size);
    long offset = sectors("destination offset", destinationOffset);
    String target = deviceNumber(Path.of(destination));
    run("suspend " + mapperDevice(), "dmsetup", "suspend", mapperName);
    try {
      release.flushAndRelease();
    } catch (IOException | RuntimeException e) {
      resumeOnNbd("the failed flush and release of " + destination);
      throw new IOException(
          "cannot flush and release destination "
              + destination
              + " before loading it into "
              + mapperDevice()
              + ": "
              + e.getMessage(),
          e);
    }
    try {
      run(
          "load the destination table into " + mapperDevice(),
          "dmsetup",
          "load",
          mapperName,
          "--table",
          "0 " + sectors + " linear " + target + " " + offset);
    } catch (IOException e) {
      resumeOnNbd("the failed load");
      throw e;
    }
    run("resume " + mapperDevice() + " on " + destination, "dmsetup", "resume", mapperName);
    cutOver = true;
    run("create the node of " + mapperDevice(), "dmsetup", "mknodes", mapperName);
    detachNbd();
  }

  private void resumeOnNbd(String after) throws IOException {
    run("resume " + mapperDevice() + " on NBD after " + after, "dmsetup", "resume", mapperName);
  }

  /**
   * {@code major:minor} of a block device, as device-mapper tables name devices; anything else (a
   * test's stand-in) unchanged, for dmsetup to accept or refuse with its own reason.
   */
  static String deviceNumber(Path device) {
    try {
      if (!isBlockDevice(device)) {
        return device.toString();
      }
      long rdev = ((Number) Files.getAttribute(device, "unix:rdev")).longValue();
      long major = ((rdev >>> 8) & 0xfff) | ((rdev >>> 32) & ~0xfffL);
      long minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xffL);
      return major + ":" + minor;
    } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
      return device.toString();
    }
  }

  /** True when {@code device} exists and is a block device (device-mapper maps only those). */
  public static boolean isBlockDevice(Path device) throws IOException {
    if (!Files.exists(device)) {
      return false;
    }
    int mode = ((Number) Files.getAttribute(device, "unix:mode")).intValue();
    return (mode & 0170000) == 0060000;
  }

  /** Removes the mapper device and detaches NBD (agent stopped before cutover). */
  public void detach() throws IOException {
    if (mapped && !cutOver) {
      removeMapper("remove " + mapperDevice());
    }
    detachNbd();
  }

  /**
   * Removes the mapper device after the cutover, where it maps the destination directly: the end of
   * the agent that held the device for a clone volume. Blocks for one {@code dmsetup remove}; fails
   * naming the device while anything holds it open (device-mapper refuses with EBUSY), and the
   * device then stays, still mapping the destination.
   */
  public void removeAfterCutover() throws IOException {
    if (mapped && cutOver) {
      removeMapper("remove " + mapperDevice() + " (it maps the destination directly)");
    }
  }

  private void removeMapper(String what) throws IOException {
    run(what, "dmsetup", "remove", mapperName);
    mapped = false;
    // without udev the node outlives the device; mknodes without a name drops stale nodes
    run("remove the node of " + mapperDevice(), "dmsetup", "mknodes");
  }

  private void detachNbd() throws IOException {
    if (nbdDevice != null) {
      String nbd = nbdDevice;
      nbdDevice = null;
      run("detach " + nbd, "nbd-client", "-d", nbd);
    }
  }

  private String freeNbdDevice() throws IOException {
    for (int i = 0; ; i++) {
      Path device = dev.resolve("nbd" + i);
      if (!Files.exists(device)) {
        throw new IOException(
            "no free NBD device: " + dev.resolve("nbd0") + " .. nbd" + (i - 1) + " are all in use");
      }
      if (!Files.exists(sysBlock.resolve("nbd" + i).resolve("pid"))) {
        return device.toString();
      }
    }
  }

  private static long sectors(String what, long bytes) throws IOException {
    if (bytes % SECTOR != 0) {
      throw new IOException(
          what + " " + bytes + " is not a multiple of 512 bytes: device-mapper cannot map it");
    }
    return bytes / SECTOR;
  }

  private void run(String what, String... command) throws IOException {
    CommandRunner.Result result = runner.run(List.of(command));
    if (!result.ok()) {
      throw new IOException(
          "cannot "
              + what
              + ": "
              + String.join(" ", command)
              + " exited with "
              + result.exitCode()
              + (result.output().isEmpty() ? "" : ": " + result.output()));
    }
  }
}
