package io.volumeclone.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code clone --attach} refuses before it opens anything when the node cannot attach. */
class CloneAttachTest {

  @TempDir Path dir;

  @Test
  void withoutTheNbdModuleAttachIsRefusedNamingWhatIsMissing() throws Exception {
    assumeFalse(
        Files.exists(Path.of("/dev/nbd0")),
        "skipped: this machine has the nbd module; GuestFilesystemIT covers attaching");
    Path source = Files.write(dir.resolve("src"), new byte[1 << 20]);
    Path destination = Files.write(dir.resolve("dst"), new byte[1 << 20]);
    Path metadata = dir.resolve("md");

    MainTest.Result r =
        MainTest.run(
            "clone",
            "--source",
            source.toString(),
            "--destination",
            destination.toString(),
            "--metadata",
            metadata.toString(),
            "--attach");

    assertThat(r.code()).as(r.err()).isEqualTo(1);
    assertThat(r.err())
        .contains("cannot --attach /dev/mapper/volume-clone-dst")
        .contains("the nbd kernel module is not loaded")
        .contains("modprobe nbd");
    assertThat(metadata).as("nothing was opened or created").doesNotExist();
  }

  @Test
  void attachNeedsAUnixSocketExport() throws Exception {
    Path source = Files.write(dir.resolve("src"), new byte[1 << 20]);
    Path destination = Files.write(dir.resolve("dst"), new byte[1 << 20]);

    MainTest.Result r =
        MainTest.run(
            "clone",
            "--source",
            source.toString(),
            "--destination",
            destination.toString(),
            "--metadata",
            dir.resolve("md").toString(),
            "--export",
            "tcp:127.0.0.1:10809",
            "--attach",
            "db");

    assertThat(r.code()).as(r.err()).isEqualTo(2);
    assertThat(r.err()).contains("--attach needs a Unix-socket export");
  }

  @Test
  void anInvalidMapperNameIsAUsageError() throws Exception {
    Path source = Files.write(dir.resolve("src"), new byte[1 << 20]);
    Path destination = Files.write(dir.resolve("dst"), new byte[1 << 20]);

    MainTest.Result r =
        MainTest.run(
            "clone",
            "--source",
            source.toString(),
            "--destination",
            destination.toString(),
            "--metadata",
            dir.resolve("md").toString(),
            "--attach=a/b");

    assertThat(r.code()).as(r.err()).isEqualTo(2);
    assertThat(r.err()).contains("invalid --attach").contains("'a/b'");
  }
}
