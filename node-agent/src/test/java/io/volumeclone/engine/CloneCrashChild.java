package io.volumeclone.engine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Random;

/**
 * The child JVM of {@link CloneCrashIT}: opens (or resumes) a clone on files and runs a random mix
 * of writes, FUA writes, flushes, discards and reads against it while the copier runs, until it is
 * killed. Before an operation is issued its intent is appended to the journal and fsync'd; after it
 * returns, its completion is, so the parent knows which writes may have landed and which flushes
 * completed. A read that returns the destination's poison pattern (an uncopied region read from the
 * destination) exits with status 3 at once.
 *
 * <p>Journal lines: {@code I seq op offset length seed} (op = W, F for FUA write, D discard, S
 * flush) and {@code C seq}.
 */
public final class CloneCrashChild {

  static final byte POISON = (byte) 0xEE;

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    long seed = Long.parseLong(args[1]);
    CrashLayout layout = CrashLayout.DEFAULT;
    Random random = new Random(seed);
    Clone clone = layout.open(dir, random.nextInt(200) + 50, false);
    try (FileChannel journal =
        FileChannel.open(
            dir.resolve("journal"),
            StandardOpenOption.CREATE,
            StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING)) {
      System.out.println("READY " + clone.state());
      System.out.flush();
      long size = clone.size();
      for (long seq = 1; ; seq++) {
        int dice = random.nextInt(100);
        long offset = (long) (random.nextDouble() * size);
        int length = (int) Math.min(size - offset, 1 + random.nextInt(3 * layout.regionSize()));
        if (dice < 35) {
          ByteBuffer buffer = ByteBuffer.allocate(length);
          clone.read(offset, buffer);
          checkNoPoison(buffer.array(), offset);
          continue;
        }
        long dataSeed = random.nextLong();
        String op;
        if (dice < 75) {
          op = "W";
        } else if (dice < 83) {
          op = "F";
        } else if (dice < 92) {
          op = "D";
        } else {
          op = "S";
        }
        log(journal, "I " + seq + " " + op + " " + offset + " " + length + " " + dataSeed);
        switch (op) {
          case "W", "F" ->
              clone.write(
                  offset, ByteBuffer.wrap(CrashLayout.data(dataSeed, length)), op.equals("F"));
          case "D" -> clone.discard(offset, length, false);
          default -> clone.flush();
        }
        log(journal, "C " + seq);
      }
    } catch (Throwable e) {
      System.err.println("child failed: " + e);
      e.printStackTrace();
      System.exit(2);
    }
  }

  static void checkNoPoison(byte[] data, long offset) {
    int run = 0;
    for (int i = 0; i < data.length; i++) {
      run = data[i] == POISON ? run + 1 : 0;
      if (run == 32) {
        System.err.println(
            "POISON: read returned destination poison at clone offset " + (offset + i));
        System.err.flush();
        Runtime.getRuntime().halt(3);
      }
    }
  }

  private static void log(FileChannel journal, String line) throws IOException {
    journal.write(ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.US_ASCII)));
    journal.force(false);
  }

  /** Files and geometry shared by the parent and the child. */
  record CrashLayout(
      long sourceSize,
      long destinationSize,
      long sourceOffset,
      long destinationOffset,
      long size,
      int regionSize,
      long bandwidth) {

    static final CrashLayout DEFAULT =
        new CrashLayout(7L << 20, 7L << 20, 3 * 4096, 8192, (6L << 20) + 5000, 16384, 2L << 20);

    CloneGeometry geometry() {
      return new CloneGeometry(
          sourceOffset, destinationOffset, size, regionSize, sourceSize, destinationSize);
    }

    Clone open(Path dir, int commitMillis, boolean verifier) throws IOException {
      BlockDevice source = FileBlockDevice.openReadOnly(dir.resolve("source"), true);
      BlockDevice destination = FileBlockDevice.openExclusive(dir.resolve("destination"), true);
      BlockDevice metadataDevice = FileBlockDevice.openExclusive(dir.resolve("metadata"));
      CloneMetadata metadata = DiskCloneMetadata.open(metadataDevice, geometry(), false);
      CloneOptions.Builder options =
          CloneOptions.builder("crash")
              .commitPeriod(Duration.ofMillis(commitMillis))
              .bandwidth(bandwidth)
              .batchRegions(4)
              .regionsInFlight(16);
      if (verifier) {
        options.noCopy(true).cutover(CloneOptions.Cutover.MANUAL);
      }
      return Clone.open(source, destination, metadata, options.build());
    }

    static byte[] data(long seed, int length) {
      byte[] data = new byte[length];
      new Random(seed).nextBytes(data);
      return data;
    }
  }
}
