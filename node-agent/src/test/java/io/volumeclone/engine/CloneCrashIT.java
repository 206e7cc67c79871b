package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.fail;

import io.volumeclone.engine.CloneCrashChild.CrashLayout;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Crash test: a child JVM ({@link CloneCrashChild}) runs a clone on files under random writes, FUA
 * writes, flushes and discards while copying, and is killed with SIGKILL at random moments. After
 * every kill this test reopens the clone (resuming from its metadata), reads the whole clone and
 * checks it against a reference model built from the child's journal: every byte must hold a value
 * it may hold, which means no write acknowledged before a completed flush, or as FUA, is lost, and
 * no uncopied region is read from the destination (the destination starts as a poison pattern that
 * no model value contains). Then the next child resumes the same clone; a campaign of kills ends
 * when the clone is cut over, and the next starts on fresh files.
 *
 * <p>{@code -Dcrash.kills=1000} for a long run (default 50).
 */
class CloneCrashIT {

  @TempDir Path dir;

  @Test
  void noAcknowledgedDataIsLostAndNoUncopiedRegionIsReadFromTheDestination() throws Exception {
    int kills = Integer.getInteger("crash.kills", 50);
    long seed = Long.getLong("crash.seed", System.nanoTime());
    System.out.println("crash test seed " + seed + ", " + kills + " kills");
    Random random = new Random(seed);
    CrashLayout layout = CrashLayout.DEFAULT;
    int done = 0;
    int campaigns = 0;
    int cutOvers = 0;
    while (done < kills) {
      campaigns++;
      Path campaign = Files.createDirectories(dir.resolve("campaign-" + campaigns));
      byte[] source = createFiles(campaign, layout, random.nextLong());
      // What the clone shows, as last observed and checked: starts as the source range.
      byte[] baseline =
          Arrays.copyOfRange(
              source, (int) layout.sourceOffset(), (int) (layout.sourceOffset() + layout.size()));
      for (int k = 0; k < 12 && done < kills; k++) {
        runAndKill(campaign, random);
        done++;
        baseline = verify(campaign, layout, baseline, done, seed);
        if (Files.readString(campaign.resolve("state")).equals("CUT_OVER")) {
          cutOvers++;
          break;
        }
      }
    }
    System.out.println(
        "crash test: " + done + " kills in " + campaigns + " campaigns, " + cutOvers + " cut over");
    assertThat(done).isGreaterThanOrEqualTo(kills);
  }

  private static byte[] createFiles(Path campaign, CrashLayout layout, long seed)
      throws IOException {
    byte[] source = CrashLayout.data(seed, (int) layout.sourceSize());
    Files.write(campaign.resolve("source"), source);
    byte[] poison = new byte[(int) layout.destinationSize()];
    Arrays.fill(poison, CloneCrashChild.POISON);
    Files.write(campaign.resolve("destination"), poison);
    try (FileChannel md =
        FileChannel.open(
            campaign.resolve("metadata"),
            StandardOpenOption.CREATE_NEW,
            StandardOpenOption.WRITE)) {
      md.write(ByteBuffer.allocate(1), DiskCloneMetadata.requiredSize(layout.geometry()) - 1);
    }
    return source;
  }

  private void runAndKill(Path campaign, Random random) throws Exception {
    String java = ProcessHandle.current().info().command().orElse("java");
    String classPath =
        System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    Process child =
        new ProcessBuilder(
                java,
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Xshare:auto",
                "--enable-native-access=ALL-UNNAMED",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-cp",
                classPath,
                CloneCrashChild.class.getName(),
                campaign.toString(),
                Long.toString(random.nextLong()))
            .redirectErrorStream(false)
            .redirectError(campaign.resolve("child.err").toFile())
            .start();
    BufferedReader out =
        new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
    String ready = out.readLine();
    if (ready == null || !ready.startsWith("READY")) {
      child.waitFor(10, TimeUnit.SECONDS);
      fail(
          "child did not start (exit "
              + child.exitValue()
              + "): "
              + Files.readString(campaign.resolve("child.err")));
    }
    Files.writeString(campaign.resolve("state"), ready.substring("READY ".length()));
    Thread.sleep(random.nextInt(500));
    if (!child.isAlive()) {
      fail(
          "child exited by itself with status "
              + child.exitValue()
              + ": "
              + Files.readString(campaign.resolve("child.err")));
    }
    child.destroyForcibly(); // SIGKILL on Linux
    child.waitFor();
  }

  /** One journal entry: an operation the child issued (and maybe completed). */
  private record Op(long seq, char kind, long offset, int length, long seed, boolean completed) {}

  private static List<Op> readJournal(Path campaign) throws IOException {
    List<Op> ops = new ArrayList<>();
    java.util.Map<Long, Integer> index = new java.util.HashMap<>();
    for (String line : Files.readAllLines(campaign.resolve("journal"))) {
      String[] f = line.split(" ");
      if (f[0].equals("I") && f.length == 6) {
        index.put(Long.parseLong(f[1]), ops.size());
        ops.add(
            new Op(
                Long.parseLong(f[1]),
                f[2].charAt(0),
                Long.parseLong(f[3]),
                Integer.parseInt(f[4]),
                Long.parseLong(f[5]),
                false));
      } else if (f[0].equals("C") && f.length == 2) {
        Integer at = index.get(Long.parseLong(f[1]));
        if (at != null) {
          Op op = ops.get(at);
          ops.set(at, new Op(op.seq, op.kind, op.offset, op.length, op.seed, true));
        }
      }
      // A torn last line (killed mid-append) is ignored: its operation was not acknowledged.
    }
    return ops;
  }

  /**
   * Checks the reopened clone against the model and returns what it shows now as the next baseline
   * (after a SIGKILL the page cache survives, so what the clone shows is what later runs continue
   * from).
   */
  private static byte[] verify(
      Path campaign, CrashLayout layout, byte[] baseline, int kill, long seed) throws IOException {
    List<Op> ops = readJournal(campaign);
    int size = (int) layout.size();
    // durable[i]: the value byte i must have unless a later candidate explains it.
    byte[] durable = baseline.clone();
    boolean[] zeroOk = new boolean[size];
    int[] durableSince = new int[size]; // index into ops after which candidates count
    // Apply completed flushes and FUA writes: everything before a completed flush is durable.
    int lastFlush = -1;
    for (int i = 0; i < ops.size(); i++) {
      Op op = ops.get(i);
      if (op.kind == 'S' && op.completed) {
        for (int j = lastFlush + 1; j < i; j++) {
          apply(ops.get(j), durable, zeroOk);
        }
        lastFlush = i;
      }
    }
    Arrays.fill(durableSince, lastFlush + 1);
    for (int i = lastFlush + 1; i < ops.size(); i++) {
      Op op = ops.get(i);
      if (op.kind == 'F' && op.completed) {
        byte[] data = CrashLayout.data(op.seed, op.length);
        for (int b = 0; b < op.length; b++) {
          int at = (int) op.offset + b;
          durable[at] = data[b];
          zeroOk[at] = false;
          durableSince[at] = i + 1;
        }
      }
    }
    byte[] actual = new byte[size];
    try (Clone clone = layout.open(campaign, 1000, true)) {
      ByteBuffer buffer = ByteBuffer.wrap(actual);
      clone.read(0, buffer);
    }
    byte[][] opData = new byte[ops.size()][];
    for (int i = 0; i < size; i++) {
      byte value = actual[i];
      if (value == durable[i] || (zeroOk[i] && value == 0)) {
        continue;
      }
      boolean explained = false;
      for (int j = ops.size() - 1; j >= durableSince[i] && !explained; j--) {
        Op op = ops.get(j);
        if (i < op.offset || i >= op.offset + op.length) {
          continue;
        }
        if (op.kind == 'D') {
          explained = value == 0;
        } else if (op.kind == 'W' || op.kind == 'F') {
          if (opData[j] == null) {
            opData[j] = CrashLayout.data(op.seed, op.length);
          }
          explained = opData[j][(int) (i - op.offset)] == value;
        }
      }
      if (!explained) {
        fail(
            String.format(
                "after kill %d (seed %d): clone byte %d is 0x%02x, expected 0x%02x%s or a later"
                    + " unflushed write; %s",
                kill,
                seed,
                i,
                value,
                durable[i],
                zeroOk[i] ? " or 0" : "",
                value == CloneCrashChild.POISON
                    ? "0xEE is the destination's poison: an uncopied region was read from the"
                        + " destination"
                    : "an acknowledged, flushed write was lost"));
      }
    }
    // Outside the clone range the destination is never written.
    byte[] destination = Files.readAllBytes(campaign.resolve("destination"));
    int from = (int) layout.destinationOffset();
    for (int i = 0; i < destination.length; i++) {
      if ((i < from || i >= from + size) && destination[i] != CloneCrashChild.POISON) {
        fail("destination byte " + i + " outside the clone range was written");
      }
    }
    return actual;
  }

  private static void apply(Op op, byte[] durable, boolean[] zeroOk) {
    switch (op.kind) {
      case 'W', 'F' -> {
        byte[] data = CrashLayout.data(op.seed, op.length);
        System.arraycopy(data, 0, durable, (int) op.offset, op.length);
        Arrays.fill(zeroOk, (int) op.offset, (int) op.offset + op.length, false);
      }
      case 'D' -> Arrays.fill(zeroOk, (int) op.offset, (int) op.offset + op.length, true);
      default -> {}
    }
  }
}
