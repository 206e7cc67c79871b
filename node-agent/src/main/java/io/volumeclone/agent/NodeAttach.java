package io.volumeclone.agent;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Presents a clone as a kernel block device on nodes that can: the NBD export is attached to a free
 * {@code /dev/nbdN} with {@code nbd-client}, and {@code /dev/mapper/volume-clone-<uid>} is a linear
 * device-mapper table over it. Consumers open the mapper device; at cutover its table is swapped to
 * a linear map of the destination ({@code dmsetup suspend}, {@code load}, {@code resume}: the
 * suspend drains every request still going through NBD, so nothing is lost) and NBD is detached.
 * Consumers never see the switch.
 *
 * <p>Needs the {@code nbd} kernel module ({@code /dev/nbd0} exists), {@code nbd-client} and {@code
 * dmsetup}. Where any is missing, {@link #detect} says which, and the agent stays export-only.
 */
public final class NodeAttach {

  /** Whether this node can attach, and if not, why. */
  public record Support(boolean available, String reason) {}

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
  public NodeAttach(CommandRunner runner, Path dev, Path sysBlock, String uid) {
    this.runner = runner;
    this.dev = dev;
    this.sysBlock = sysBlock;
    this.mapperName = "volume-clone-" + uid;
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
    return mapperDevice();
  }

  /**
   * Points the mapper device at {@code destination} (from {@code destinationOffset}, for {@code
   * size} bytes) and detaches NBD. On a failed load the device resumes on NBD, as it was.
   */
  public void cutover(String destination, long destinationOffset, long size) throws IOException {
    if (!mapped || cutOver) {
      return;
    }
    long sectors = sectors("clone size", size);
    long offset = sectors("destination offset", destinationOffset);
    run("suspend " + mapperDevice(), "dmsetup", "suspend", mapperName);
    try {
      run(
          "load the destination table into " + mapperDevice(),
          "dmsetup",
          "load",
          mapperName,
          "--table",
          "0 " + sectors + " linear " + destination + " " + offset);
    } catch (IOException e) {
      run(
          "resume " + mapperDevice() + " on NBD after the failed load",
          "dmsetup",
          "resume",
          mapperName);
      throw e;
    }
    run("resume " + mapperDevice() + " on " + destination, "dmsetup", "resume", mapperName);
    cutOver = true;
    detachNbd();
  }

  /** Removes the mapper device and detaches NBD (agent stopped before cutover). */
  public void detach() throws IOException {
    if (mapped && !cutOver) {
      run("remove " + mapperDevice(), "dmsetup", "remove", mapperName);
      mapped = false;
    }
    detachNbd();
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
