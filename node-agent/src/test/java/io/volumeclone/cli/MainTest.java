package io.volumeclone.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CLI in-process: exit codes, messages and output forms. */
class MainTest {

  @TempDir Path dir;

  record Result(int code, String out, String err) {}

  static Result run(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code =
        Main.run(
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8),
            args);
    return new Result(
        code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  Path file(String name, int size, boolean random) throws Exception {
    byte[] data = new byte[size];
    if (random) {
      new Random(size).nextBytes(data);
    }
    return Files.write(dir.resolve(name), data);
  }

  @Test
  void theCloneHelpSaysThatKmgtArePowersOfTwo() {
    Result help = run("clone", "--help");
    assertThat(help.code()).isZero();
    assertThat(help.out().replaceAll("\\s+", " "))
        .contains("K, M, G, T are powers of two here (64K = 64Ki, 1G = 1Gi = 2^30 bytes)");
  }

  @Test
  void theCliReads1GAsAPowerOfTwo() throws Exception {
    Path source = file("src", 1 << 20, true);
    Path destination = file("dst", 1 << 20, false);
    // 1G = 2^30 under the CLI's rule: far past the 1 MiB source, and the message says so
    Result clone =
        run(
            "clone",
            "--source",
            source.toString(),
            "--destination",
            destination.toString(),
            "--metadata",
            dir.resolve("md").toString(),
            "--size",
            "1G");
    assertThat(clone.code()).isNotZero();
    assertThat(clone.err()).contains("1073741824");
  }

  @Test
  void clonesAndReportsStatusAsJsonAndText() throws Exception {
    Path source = file("src", 3 << 20, true);
    Path destination = file("dst", 4 << 20, false);
    Path metadata = dir.resolve("md");
    Result clone =
        run(
            "clone",
            "--source",
            source.toString(),
            "--destination",
            destination.toString(),
            "--metadata",
            metadata.toString(),
            "--region-size",
            "64Ki");
    assertThat(clone.code()).as(clone.err()).isZero();
    // Not a terminal here: one JSON object per line, the last says cut over.
    String[] lines = clone.out().strip().split("\n");
    assertThat(lines[lines.length - 1])
        .contains("\"event\":\"cut-over\"")
        .contains("\"regionsCopied\":48");
    byte[] copied = java.util.Arrays.copyOf(Files.readAllBytes(destination), 3 << 20);
    assertThat(copied).isEqualTo(Files.readAllBytes(source));

    Result json = run("status", "--metadata", metadata.toString(), "--json");
    assertThat(json.code()).isZero();
    assertThat(json.out())
        .contains("\"regionsTotal\":48")
        .contains("\"regionsCopied\":48")
        .contains("\"complete\":true")
        .contains("\"cutOver\":true");
    Result text = run("status", "--metadata", metadata.toString());
    assertThat(text.out()).contains("48/48 regions, 100.0%").contains("cut over:     yes");
  }

  @Test
  void usageErrorsExitWithTwo() throws Exception {
    Path source = file("src", 1 << 20, true);
    Result badSize =
        run(
            "clone",
            "--source",
            source.toString(),
            "--destination",
            dir.resolve("d").toString(),
            "--metadata",
            dir.resolve("m").toString(),
            "--bandwidth",
            "fast");
    assertThat(badSize.code()).isEqualTo(2);
    assertThat(badSize.err()).contains("--bandwidth").contains("\"fast\"");
    assertThat(run().code()).isEqualTo(2);
    Result noCopy =
        run(
            "clone",
            "--source",
            source.toString(),
            "--destination",
            dir.resolve("d").toString(),
            "--metadata",
            dir.resolve("m").toString(),
            "--no-copy");
    assertThat(noCopy.code()).isEqualTo(2);
    assertThat(noCopy.err()).contains("--no-copy");
    assertThat(Files.exists(dir.resolve("m"))).isFalse();
  }

  @Test
  void runtimeFailuresExitWithOneAndNameTheDevice() throws Exception {
    Path source = file("src", 1 << 20, true);
    Path small = file("small", 1 << 19, false);
    Result tooSmall =
        run(
            "clone",
            "--source",
            source.toString(),
            "--destination",
            small.toString(),
            "--metadata",
            dir.resolve("m").toString());
    assertThat(tooSmall.code()).isEqualTo(1);
    assertThat(tooSmall.err()).contains("destination too small").doesNotContain("\tat ");
    Result missing = run("status", "--metadata", dir.resolve("nothing").toString());
    assertThat(missing.code()).isEqualTo(1);
    assertThat(missing.err()).contains("nothing").contains("no such device or file");
    Result unformatted = run("status", "--metadata", file("zeros", 8192, false).toString());
    assertThat(unformatted.code()).isEqualTo(1);
    assertThat(unformatted.out()).contains("unformatted");
  }
}
