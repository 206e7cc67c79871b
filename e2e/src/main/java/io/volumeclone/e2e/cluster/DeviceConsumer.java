package io.volumeclone.e2e.cluster;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * The workload of the local node's consumer Pods (command {@value NodeRunner#CONSUMER_COMMAND}):
 * reads every block device the Pod was given (its {@code volumeDevices}, as the node runner links
 * them into {@code --pvc-device-directory}) from start to end, prints one line per device with its
 * size and SHA-256, and then keeps running, holding the devices open, as a database would, until
 * the Pod is deleted. A test compares the digest with the data it expects on the device. With a
 * Filesystem claim it writes through the mounted file system instead ({@link #writeThrough}).
 */
public final class DeviceConsumer {

  private DeviceConsumer() {}

  public static void main(String[] args) throws Exception {
    Path directory = null;
    for (int i = 0; i + 1 < args.length; i++) {
      if (args[i].equals("--pvc-device-directory")) {
        directory = Path.of(args[i + 1]);
      } else if (args[i].equals("--write-through")) {
        writeThrough(Path.of(args[i + 1]));
        return;
      }
    }
    if (directory == null) {
      System.err.println("consumer: no --pvc-device-directory: the Pod has no volumeDevices");
      System.exit(2);
    }
    List<Path> devices;
    try (Stream<Path> files = Files.list(directory)) {
      devices = files.sorted().toList();
    }
    List<FileChannel> held = new java.util.ArrayList<>();
    for (Path device : devices) {
      FileChannel channel = FileChannel.open(device, StandardOpenOption.READ);
      held.add(channel);
      System.out.println(
          "consumer: read "
              + device.getFileName()
              + " size "
              + channel.size()
              + " sha256 "
              + digest(channel, device));
    }
    System.out.flush();
    Thread.sleep(Long.MAX_VALUE);
  }

  /**
   * The workload of a Pod with a Filesystem claim (args {@code --write-through MOUNT}): prints the
   * first line of {@code MOUNT/etc/motd}, then appends {@code write N} to {@code
   * MOUNT/written.txt}, fsyncs it and prints {@code consumer: wrote N}, every 200 ms until it is
   * stopped, so that a test can check the file holds every write reported, across a cutover.
   */
  private static void writeThrough(Path mount) throws IOException, InterruptedException {
    String motd = Files.readAllLines(mount.resolve("etc/motd")).stream().findFirst().orElse("");
    System.out.println("consumer: read " + mount.resolve("etc/motd") + ": " + motd);
    System.out.flush();
    try (FileChannel file =
        FileChannel.open(
            mount.resolve("written.txt"),
            StandardOpenOption.CREATE,
            StandardOpenOption.WRITE,
            StandardOpenOption.APPEND)) {
      for (long n = 1; ; n++) {
        file.write(ByteBuffer.wrap(("write " + n + "\n").getBytes(StandardCharsets.US_ASCII)));
        file.force(true);
        System.out.println("consumer: wrote " + n);
        System.out.flush();
        Thread.sleep(200);
      }
    }
  }

  private static final java.util.regex.Pattern WROTE =
      java.util.regex.Pattern.compile("consumer: wrote (\\d+)");

  /** The last write a {@link #writeThrough} workload reported in its log; 0 before the first. */
  public static long writesReported(Path log) {
    try {
      if (!Files.exists(log)) {
        return 0;
      }
      java.util.regex.Matcher m = WROTE.matcher(Files.readString(log));
      long last = 0;
      while (m.find()) {
        last = Long.parseLong(m.group(1));
      }
      return last;
    } catch (IOException e) {
      return 0;
    }
  }

  private static String digest(FileChannel channel, Path device) throws IOException {
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    ByteBuffer buffer = ByteBuffer.allocate(1 << 20);
    long offset = 0;
    while (true) {
      buffer.clear();
      int n = channel.read(buffer, offset);
      if (n < 0) {
        break;
      }
      if (n == 0 && offset >= channel.size()) {
        break;
      }
      buffer.flip();
      sha.update(buffer);
      offset += n;
    }
    if (offset != channel.size()) {
      throw new IOException(
          "consumer: read " + offset + " of " + channel.size() + " bytes of " + device);
    }
    return HexFormat.of().formatHex(sha.digest());
  }
}
