package io.volumeclone.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Linux guest under qemu for the kernel data path (nbd, device-mapper, ext4), which this
 * machine's own kernel lacks. The kernel, its modules and the tools come from Debian packages at
 * test time ({@code src/test/guest/build-image.sh}, cached under {@code
 * ~/.cache/volume-clone/guest}); the host's JDK and this build's class path reach the guest over
 * 9p, the test's work directory is {@code /work} (read-write), and raw files are the virtio disks
 * {@code /dev/vda}, {@code /dev/vdb}, ... in the order they were added.
 *
 * <p>A run boots, runs the script as {@code bash /work/test.sh}, prints its exit code on the
 * console and powers off; qemu is killed at the hard timeout. The script can start the CLI as
 * {@code /work/vc ARGS...}. Emulation (TCG) runs code 10 to 50 times slower than the host, so guest
 * work must stay small.
 */
public final class Guest {

  static final Path QBOOT = Path.of("/usr/share/qemu/qboot.rom");
  private static final Pattern EXIT = Pattern.compile("GUEST-EXIT=(\\d+)");

  /** What a run left: the script's exit code (-1 if it never reported one) and the console. */
  public record Result(int exitCode, String console, Duration elapsed) {
    public Result assertPassed() {
      assertThat(exitCode).as("guest script exit code; console:\n%s", console).isEqualTo(0);
      return this;
    }
  }

  private final Path work;
  private final List<Path> disks = new ArrayList<>();
  private Duration timeout = Duration.ofMinutes(3);
  private int memoryMiB = 1536;
  private boolean network;
  private int cpus = 2;

  private Guest(Path work) {
    this.work = work;
  }

  /**
   * Skips (or with CI=true fails) unless this machine has what a guest needs, then returns a guest
   * whose {@code /work} is {@code work}.
   */
  public static Guest in(Path work) {
    require();
    return new Guest(work);
  }

  public static void require() {
    HostRequirements.require("qemu-system-x86_64", "qemu-system-x86");
    HostRequirements.require(Files.exists(QBOOT), QBOOT + " (apt-get install qemu-system-data)");
    HostRequirements.require("busybox", "busybox-static");
    HostRequirements.require("nbd-client", "nbd-client");
    HostRequirements.require("dmsetup", "dmsetup");
    HostRequirements.require("mkfs.ext4", "e2fsprogs");
    HostRequirements.require("fio", "fio");
    HostRequirements.require("depmod", "kmod");
    HostRequirements.require("cpio", "cpio");
    HostRequirements.require("xz", "xz-utils");
    HostRequirements.require("apt-get", "apt");
  }

  /** Adds a virtio disk backed by {@code file} (created sparse at {@code size} if absent). */
  public Guest disk(Path file, long size) throws IOException {
    if (!Files.exists(file)) {
      try (var raf = new java.io.RandomAccessFile(file.toFile(), "rw")) {
        raf.setLength(size);
      }
    }
    disks.add(file);
    return this;
  }

  /**
   * Gives the guest qemu's user network: {@code eth0} at 10.0.2.15, and the host's loopback
   * interface reachable at 10.0.2.2 (a guest connection to 10.0.2.2:P reaches the host's
   * 127.0.0.1:P).
   */
  public Guest network() {
    this.network = true;
    return this;
  }

  public Guest timeout(Duration hardLimit) {
    this.timeout = hardLimit;
    return this;
  }

  public Guest cpus(int count) {
    this.cpus = count;
    return this;
  }

  public Guest memoryMiB(int mib) {
    this.memoryMiB = mib;
    return this;
  }

  public Path work() {
    return work;
  }

  /** Boots the guest, runs {@code script} with bash and returns when the guest is off. */
  public Result run(String script) throws IOException, InterruptedException {
    Path image = image();
    Files.writeString(work.resolve("test.sh"), script);
    writeLauncher();
    Path console = work.resolve("console.log");
    List<String> command =
        new ArrayList<>(
            List.of(
                "qemu-system-x86_64",
                "-accel",
                "tcg,thread=multi",
                "-cpu",
                "max",
                "-machine",
                "q35",
                "-smp",
                String.valueOf(cpus),
                "-m",
                String.valueOf(memoryMiB),
                "-bios",
                QBOOT.toString(),
                "-kernel",
                image.resolve("vmlinux").toString(),
                "-initrd",
                image.resolve("initramfs.cpio").toString(),
                "-append",
                "console=ttyS0 panic=-1 quiet",
                "-display",
                "none",
                "-monitor",
                "none",
                "-serial",
                "file:" + console,
                "-no-reboot",
                "-virtfs",
                "local,path=" + javaHome() + ",mount_tag=jdk,security_model=none,readonly=on",
                "-virtfs",
                "local,path=" + work.toAbsolutePath() + ",mount_tag=work,security_model=none",
                "-virtfs",
                "local,path="
                    + Files.createDirectories(cacheDirectory().resolve("cds"))
                    + ",mount_tag=cds,security_model=none"));
    if (network) {
      command.addAll(List.of("-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0"));
    }
    for (Path disk : disks) {
      command.add("-drive");
      command.add("file=" + disk.toAbsolutePath() + ",format=raw,if=virtio,cache=none,aio=threads");
    }
    long start = System.nanoTime();
    Process qemu =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(work.resolve("qemu.log").toFile())
            .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
            .start();
    boolean ended = qemu.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
    if (!ended) {
      qemu.destroyForcibly();
      qemu.waitFor(10, TimeUnit.SECONDS);
    }
    Duration elapsed = Duration.ofNanos(System.nanoTime() - start);
    String text = Files.exists(console) ? Files.readString(console) : "";
    String qemuLog = Files.readString(work.resolve("qemu.log"));
    if (!qemuLog.isBlank()) {
      text = text + "\n--- qemu ---\n" + qemuLog;
    }
    if (!ended) {
      throw new AssertionError(
          "the guest did not power off within its hard limit of "
              + timeout.toSeconds()
              + " s; console:\n"
              + text);
    }
    Matcher m = EXIT.matcher(text);
    int code = -1;
    while (m.find()) {
      code = Integer.parseInt(m.group(1));
    }
    System.out.println(text);
    System.out.printf("guest run took %.1f s (exit %d)%n", elapsed.toMillis() / 1000.0, code);
    return new Result(code, text, elapsed);
  }

  /**
   * Builds the kernel's dm-clone for the guest's kernel (build-dm-clone.sh, cached) and copies it
   * to {@code /work/dm-clone.ko}, for {@code insmod} after {@code modprobe dm-persistent-data}.
   */
  public Guest withKernelDmClone() throws IOException, InterruptedException {
    HostRequirements.require("make", "make");
    HostRequirements.require("gcc-12", "gcc-12");
    Path image = image();
    Path script = guestDirectory().resolve("build-dm-clone.sh");
    Path log = Files.createTempFile("volume-clone-dm-clone", ".log");
    try {
      Process build =
          new ProcessBuilder(
                  "bash",
                  script.toString(),
                  cacheDirectory().toString(),
                  image.getFileName().toString())
              .redirectError(log.toFile())
              .start();
      String out = new String(build.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!build.waitFor(10, TimeUnit.MINUTES) || build.exitValue() != 0) {
        throw new IOException("building dm-clone failed: " + Files.readString(log) + out.strip());
      }
      Path module = Path.of(out.strip().lines().reduce((a, b) -> b).orElseThrow());
      Files.copy(module, work.resolve("dm-clone.ko"), StandardCopyOption.REPLACE_EXISTING);
      return this;
    } finally {
      Files.deleteIfExists(log);
    }
  }

  private static String javaHome() {
    return System.getProperty("java.home");
  }

  /** The kernel and initramfs, built (or found in the cache) by build-image.sh. */
  static Path image() throws IOException, InterruptedException {
    Path script = guestDirectory().resolve("build-image.sh");
    Path cache = cacheDirectory();
    Path log = Files.createTempFile("volume-clone-guest-image", ".log");
    try {
      Process build =
          new ProcessBuilder("bash", script.toString(), cache.toString(), javaHome())
              .redirectErrorStream(false)
              .redirectError(log.toFile())
              .start();
      String out = new String(build.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!build.waitFor(10, TimeUnit.MINUTES) || build.exitValue() != 0) {
        throw new IOException(
            "building the guest image failed: " + Files.readString(log) + out.strip());
      }
      return Path.of(out.strip().lines().reduce((a, b) -> b).orElseThrow());
    } finally {
      Files.deleteIfExists(log);
    }
  }

  private static Path guestDirectory() {
    return moduleDirectory().resolve("src").resolve("test").resolve("guest");
  }

  /**
   * node-agent: the working directory under Maven, its child when run from the root, or its sibling
   * when run from another module (e2e's guest node).
   */
  private static Path moduleDirectory() {
    Path here = Path.of("").toAbsolutePath();
    if (Files.isDirectory(here.resolve("src/test/guest"))
        && here.getFileName().toString().equals("node-agent")) {
      return here;
    }
    if (Files.isDirectory(here.resolve("node-agent/src/test/guest"))) {
      return here.resolve("node-agent");
    }
    return here.resolveSibling("node-agent");
  }

  private static Path cacheDirectory() {
    return Path.of(System.getProperty("user.home"), ".cache", "volume-clone", "guest");
  }

  /**
   * Writes {@code /work/vc}, which runs the CLI in the guest with the host's JDK: from this build's
   * shaded jar when there is one (copied with its modification time, so the class-data archive the
   * guest JVM keeps in the cache stays valid until the jar is rebuilt: start-up under emulation
   * takes half as long with it), otherwise from a copy of this JVM's class path.
   */
  private void writeLauncher() throws IOException {
    String classPath;
    String sharing = "";
    Path shaded = moduleDirectory().resolve("target").resolve("volume-clone.jar");
    if (Files.isRegularFile(shaded)) {
      Files.copy(
          shaded,
          work.resolve("volume-clone.jar"),
          StandardCopyOption.REPLACE_EXISTING,
          StandardCopyOption.COPY_ATTRIBUTES);
      classPath = "/work/volume-clone.jar";
      sharing = " -XX:SharedArchiveFile=/cds/volume-clone.jsa -XX:+AutoCreateSharedArchive";
    } else {
      classPath = copyClassPath();
    }
    String launcher =
        "#!/bin/bash\nexec /jdk/bin/java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xss512k"
            + " -Xmx192m -Djava.io.tmpdir=/tmp"
            + sharing
            + " -Xlog:cds=off -Xlog:cds+dynamic=off -cp "
            + classPath
            + " io.volumeclone.app.VolumeCloneMain \"$@\"\n";
    Path vc = work.resolve("vc");
    Files.writeString(vc, launcher);
    vc.toFile().setExecutable(true);
  }

  private String copyClassPath() throws IOException {
    Path cp = Files.createDirectories(work.resolve("cp"));
    List<String> entries = new ArrayList<>();
    int n = 0;
    for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
      Path p = Path.of(entry);
      if (!Files.exists(p) || entry.contains("junit") || entry.contains("surefire")) {
        continue;
      }
      if (Files.isDirectory(p) && p.toString().endsWith("test-classes")) {
        continue;
      }
      String name = (n++) + "-" + p.getFileName();
      Path target = cp.resolve(name);
      if (Files.isDirectory(p)) {
        copyTree(p, target);
      } else {
        Files.copy(p, target, StandardCopyOption.REPLACE_EXISTING);
      }
      entries.add("/work/cp/" + name);
    }
    return String.join(":", entries);
  }

  private static void copyTree(Path from, Path to) throws IOException {
    try (var files = Files.walk(from)) {
      files.forEach(
          f -> {
            try {
              Path t = to.resolve(from.relativize(f).toString());
              if (Files.isDirectory(f)) {
                Files.createDirectories(t);
              } else {
                Files.copy(f, t, StandardCopyOption.REPLACE_EXISTING);
              }
            } catch (IOException e) {
              throw new UncheckedIOException(e);
            }
          });
    }
  }
}
