package io.volumeclone.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The exact nbd-client and dmsetup command sequences, against a recorder and a fake /dev. */
class NodeAttachTest {

  @TempDir Path dir;
  Path dev;
  Path sys;

  @BeforeEach
  void node() throws IOException {
    dev = Files.createDirectories(dir.resolve("dev"));
    sys = Files.createDirectories(dir.resolve("sys"));
    for (int i = 0; i < 3; i++) {
      Files.createFile(dev.resolve("nbd" + i));
      Files.createDirectories(sys.resolve("nbd" + i));
    }
    Files.createFile(sys.resolve("nbd0").resolve("pid")); // nbd0 is in use
  }

  @Test
  void attachUsesTheFirstFreeNbdDeviceAndALinearTable() throws IOException {
    TestingCommandRunner runner = new TestingCommandRunner("nbd-client", "dmsetup");
    NodeAttach attach = NodeAttach.forClone(runner, dev, sys, "1234-abcd");

    String device = attach.attach(Path.of("/var/lib/volume-clone/db/c/nbd.sock"), 64L << 20);

    assertThat(device).isEqualTo(dev.resolve("mapper/volume-clone-1234-abcd").toString());
    assertThat(runner.commands())
        .containsExactly(
            "nbd-client -unix /var/lib/volume-clone/db/c/nbd.sock " + dev.resolve("nbd1"),
            "dmsetup create volume-clone-1234-abcd --table 0 131072 linear "
                + dev.resolve("nbd1")
                + " 0",
            "dmsetup mknodes volume-clone-1234-abcd");
    assertThat(attach.nbdDevice()).isEqualTo(dev.resolve("nbd1").toString());
  }

  @Test
  void cutoverReleasesTheDestinationWhileSuspendedThenLoadsItAndDetachesNbd() throws IOException {
    TestingCommandRunner runner = new TestingCommandRunner("nbd-client", "dmsetup");
    NodeAttach attach = NodeAttach.forClone(runner, dev, sys, "u1");
    attach.attach(Path.of("/s/nbd.sock"), 1L << 20);

    attach.cutover(
        "/dev/volume-clone/destination", 4096, 1L << 20, () -> runner.note("flush destination"));

    assertThat(runner.commands().subList(3, runner.commands().size()))
        .containsExactly(
            "dmsetup suspend volume-clone-u1",
            "flush destination",
            "dmsetup load volume-clone-u1 --table 0 2048 linear /dev/volume-clone/destination 8",
            "dmsetup resume volume-clone-u1",
            "dmsetup mknodes volume-clone-u1",
            "nbd-client -d " + dev.resolve("nbd1"));
    assertThat(attach.nbdDevice()).isNull();
  }

  @Test
  void aFailedReleaseResumesOnNbdWithoutLoadingTheDestination() throws IOException {
    TestingCommandRunner runner = new TestingCommandRunner("nbd-client", "dmsetup");
    NodeAttach attach = NodeAttach.forClone(runner, dev, sys, "u7");
    attach.attach(Path.of("/s/nbd.sock"), 1L << 20);

    assertThatThrownBy(
            () ->
                attach.cutover(
                    "/dev/sdz",
                    0,
                    1L << 20,
                    () -> {
                      throw new IOException("flush of destination /dev/sdz at offset 0 failed");
                    }))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("cannot flush and release destination /dev/sdz")
        .hasMessageContaining("at offset 0 failed");

    assertThat(runner.commands().subList(3, runner.commands().size()))
        .containsExactly("dmsetup suspend volume-clone-u7", "dmsetup resume volume-clone-u7");
    assertThat(attach.nbdDevice()).isEqualTo(dev.resolve("nbd1").toString());
  }

  @Test
  void blockDevicesAreNamedByMajorAndMinor() {
    // /dev/null is a character device: not a block device, so it stays a path
    assertThat(NodeAttach.deviceNumber(Path.of("/dev/null"))).isEqualTo("/dev/null");
    assertThat(NodeAttach.deviceNumber(Path.of("/no/such/device"))).isEqualTo("/no/such/device");
  }

  @Test
  void mapperNamesDeviceMapperCannotTakeAreRefused() {
    assertThatThrownBy(() -> NodeAttach.named(new TestingCommandRunner(), dev, sys, "a/b"))
        .hasMessageContaining("invalid device-mapper name 'a/b'");
    assertThatThrownBy(() -> NodeAttach.named(new TestingCommandRunner(), dev, sys, ""))
        .hasMessageContaining("invalid device-mapper name ''");
  }

  @Test
  void aFailedLoadResumesOnNbdAndKeepsItAttached() throws IOException {
    TestingCommandRunner runner =
        new TestingCommandRunner("nbd-client", "dmsetup")
            .failing("dmsetup load", "device-mapper: reload ioctl failed: Invalid argument");
    NodeAttach attach = NodeAttach.forClone(runner, dev, sys, "u2");
    attach.attach(Path.of("/s/nbd.sock"), 1L << 20);

    assertThatThrownBy(() -> attach.cutover("/dev/sdz", 0, 1L << 20, () -> {}))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("dmsetup load volume-clone-u2")
        .hasMessageContaining("reload ioctl failed");

    List<String> after = runner.commands().subList(3, runner.commands().size());
    assertThat(after)
        .containsExactly(
            "dmsetup suspend volume-clone-u2",
            "dmsetup load volume-clone-u2 --table 0 2048 linear /dev/sdz 0",
            "dmsetup resume volume-clone-u2");
    assertThat(attach.nbdDevice()).isEqualTo(dev.resolve("nbd1").toString());
  }

  @Test
  void aFailedCreateDetachesNbdAgain() {
    TestingCommandRunner runner =
        new TestingCommandRunner("nbd-client", "dmsetup").failing("dmsetup create", "busy");
    NodeAttach attach = NodeAttach.forClone(runner, dev, sys, "u3");

    assertThatThrownBy(() -> attach.attach(Path.of("/s/nbd.sock"), 1L << 20))
        .hasMessageContaining("cannot create " + dev.resolve("mapper/volume-clone-u3"));
    assertThat(runner.commands()).last().isEqualTo("nbd-client -d " + dev.resolve("nbd1"));
  }

  @Test
  void stopBeforeCutoverRemovesTheMapperDeviceAndDetaches() throws IOException {
    TestingCommandRunner runner = new TestingCommandRunner("nbd-client", "dmsetup");
    NodeAttach attach = NodeAttach.forClone(runner, dev, sys, "u4");
    attach.attach(Path.of("/s/nbd.sock"), 1L << 20);

    attach.detach();

    assertThat(runner.commands().subList(3, runner.commands().size()))
        .containsExactly(
            "dmsetup remove volume-clone-u4",
            "dmsetup mknodes",
            "nbd-client -d " + dev.resolve("nbd1"));
  }

  @Test
  void sizesThatAreNotWholeSectorsAreRefusedBeforeAnyCommand() {
    TestingCommandRunner runner = new TestingCommandRunner("nbd-client", "dmsetup");
    NodeAttach attach = NodeAttach.forClone(runner, dev, sys, "u5");

    assertThatThrownBy(() -> attach.attach(Path.of("/s/nbd.sock"), 1000))
        .hasMessageContaining("clone size 1000 is not a multiple of 512 bytes");
    assertThat(runner.commands()).isEmpty();
  }

  @Test
  void allNbdDevicesBusyIsAnError() throws IOException {
    for (int i = 1; i < 3; i++) {
      Files.createFile(sys.resolve("nbd" + i).resolve("pid"));
    }
    NodeAttach attach = NodeAttach.forClone(new TestingCommandRunner(), dev, sys, "u6");

    assertThatThrownBy(() -> attach.attach(Path.of("/s/nbd.sock"), 1L << 20))
        .hasMessageContaining("no free NBD device");
  }

  @Test
  void detectionNamesWhatTheNodeLacks() throws IOException {
    Path bare = Files.createDirectories(dir.resolve("bare-dev"));

    NodeAttach.Support none = NodeAttach.detect(new TestingCommandRunner(), bare);
    NodeAttach.Support all =
        NodeAttach.detect(new TestingCommandRunner("nbd-client", "dmsetup"), dev);
    NodeAttach.Support noDm = NodeAttach.detect(new TestingCommandRunner("nbd-client"), dev);

    assertThat(none.available()).isFalse();
    assertThat(none.reason())
        .contains("nbd kernel module is not loaded")
        .contains("no nbd-client")
        .contains("no dmsetup");
    assertThat(all.available()).isTrue();
    assertThat(noDm.available()).isFalse();
    assertThat(noDm.reason()).isEqualTo("no dmsetup on the PATH (device-mapper)");
  }
}
