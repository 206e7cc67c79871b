package io.volumeclone.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The documented command, {@code bin/volume-clone clone ...}, prints no JVM warnings: not on the
 * JDK the launcher finds by itself, and not on any other JDK 21+ installed under /usr/lib/jvm or
 * named by {@code VOLUME_CLONE_TEST_JAVA_HOMES} (jffi's sun.misc.Unsafe use warns from JDK 24 on
 * unless the launcher allows it).
 */
class LauncherIT {

  static final Path LAUNCHER = Path.of("..", "bin", "volume-clone").toAbsolutePath().normalize();

  /** Colon-separated Java homes checked besides those under /usr/lib/jvm. */
  static final String EXTRA_HOMES = "VOLUME_CLONE_TEST_JAVA_HOMES";

  @TempDir Path dir;

  /** stderr of {@code bin/volume-clone clone} on a small file, with JAVA_HOME as given. */
  String cloneStderr(String javaHome, String tag) throws Exception {
    return cloneStderr(List.of(LAUNCHER.toString()), javaHome, Map.of(), tag);
  }

  /** stderr of {@code clone} on a small file run by {@code launcher}, with JAVA_HOME as given. */
  String cloneStderr(
      List<String> launcher, String javaHome, Map<String, String> extraEnv, String tag)
      throws Exception {
    Path source = dir.resolve(tag + "-source.img");
    Path destination = dir.resolve(tag + "-destination.img");
    for (Path p : List.of(source, destination)) {
      try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
        f.setLength(4L << 20);
      }
    }
    Files.write(source, "some data".getBytes(StandardCharsets.UTF_8));
    List<String> command = new ArrayList<>(launcher);
    command.addAll(
        List.of(
            "clone",
            "--source",
            source.toString(),
            "--destination",
            destination.toString(),
            "--metadata",
            dir.resolve(tag + "-metadata.img").toString()));
    ProcessBuilder builder = new ProcessBuilder(command);
    Map<String, String> env = builder.environment();
    env.put(ControlPaths.ENV, dir.resolve("run").toString());
    if (javaHome == null) {
      env.remove("JAVA_HOME");
    } else {
      env.put("JAVA_HOME", javaHome);
    }
    env.putAll(extraEnv);
    Path err = dir.resolve(tag + "-err.txt");
    Process p =
        builder.redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(err.toFile()).start();
    assertThat(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
    String stderr = Files.readString(err);
    assertThat(p.exitValue()).as(stderr).isZero();
    return stderr;
  }

  static List<String> warnings(String stderr) {
    return stderr.lines().filter(l -> l.startsWith("WARNING:")).toList();
  }

  @Test
  void theDocumentedCommandPrintsNoJvmWarningOnTheJdkTheLauncherFinds() throws Exception {
    String inherited = System.getenv("JAVA_HOME");
    String stderr = cloneStderr(inherited, "found");
    assertThat(warnings(stderr)).as("JAVA_HOME=" + inherited + ", stderr:\n" + stderr).isEmpty();
    if (inherited != null) {
      // Without JAVA_HOME the launcher looks at PATH and /usr/lib/jvm itself.
      String searched = cloneStderr(null, "searched");
      assertThat(warnings(searched)).as(searched).isEmpty();
    }
  }

  @Test
  void noJvmWarningOnAnyInstalledJdk21OrNewer() throws Exception {
    List<Path> homes = new ArrayList<>();
    Path jvms = Path.of("/usr/lib/jvm");
    if (Files.isDirectory(jvms)) {
      try (Stream<Path> list = Files.list(jvms)) {
        list.filter(h -> Files.isExecutable(h.resolve("bin/java")))
            .filter(h -> major(h) >= 21)
            .sorted()
            .forEach(homes::add);
      }
    }
    // More Java homes to check, e.g. a JRE 21 where /usr/lib/jvm has only 25 (.ci/run adds one).
    String extra = System.getenv(EXTRA_HOMES);
    if (extra != null) {
      for (String home : extra.split(":")) {
        if (!home.isBlank()) {
          assertThat(Path.of(home, "bin", "java"))
              .as(EXTRA_HOMES + " names a Java home")
              .isExecutable();
          homes.add(Path.of(home));
        }
      }
    }
    assertThat(homes).as("a JDK 21+ under /usr/lib/jvm (./mvnw needs one)").isNotEmpty();
    for (Path home : homes) {
      String stderr = cloneStderr(home.toString(), home.getFileName().toString());
      System.out.println("no warnings on " + home + " (Java " + major(home) + ")");
      assertThat(warnings(stderr)).as(home + ", stderr:\n" + stderr).isEmpty();
    }
  }

  /**
   * The agent image's entry point, images/agent/volume-clone, with its /opt/volume-clone paths
   * pointed at the build's jar and flags script, prints no JVM warning on each JDK 21+ it may get
   * as {@code java}, with the image's VOLUME_CLONE_JAVA_OPTIONS.
   */
  @Test
  void theImageEntryPointPrintsNoJvmWarning() throws Exception {
    Path opt = dir.resolve("opt");
    Files.createDirectories(opt);
    Files.copy(Path.of("target", "volume-clone.jar"), opt.resolve("volume-clone.jar"));
    Files.copy(
        LAUNCHER.resolveSibling("volume-clone-jvm-flags"),
        opt.resolve("volume-clone-jvm-flags"),
        java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
    Path images = Path.of("..", "images", "agent").toAbsolutePath().normalize();
    Path entryPoint = dir.resolve("volume-clone");
    Files.writeString(
        entryPoint,
        Files.readString(images.resolve("volume-clone"))
            .replace("/opt/volume-clone/", opt.toString() + "/"));
    String dockerfile = Files.readString(images.resolve("Dockerfile"));
    java.util.regex.Matcher options =
        java.util.regex.Pattern.compile("(?m)^ENV VOLUME_CLONE_JAVA_OPTIONS=\"([^\"]*)\"")
            .matcher(dockerfile);
    assertThat(options.find()).as("the Dockerfile sets VOLUME_CLONE_JAVA_OPTIONS").isTrue();
    assertThat(dockerfile)
        .as("JAVA_TOOL_OPTIONS makes the JVM print 'Picked up JAVA_TOOL_OPTIONS'")
        .doesNotContainPattern("(?m)^ENV JAVA_TOOL_OPTIONS");
    List<Path> homes = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"))));
    String extra = System.getenv(EXTRA_HOMES);
    if (extra != null) {
      for (String home : extra.split(":")) {
        if (!home.isBlank()) {
          homes.add(Path.of(home));
        }
      }
    }
    for (Path home : homes) {
      String stderr =
          cloneStderr(
              List.of("sh", entryPoint.toString()),
              null,
              Map.of(
                  "PATH",
                  home.resolve("bin") + ":" + System.getenv("PATH"),
                  "VOLUME_CLONE_JAVA_OPTIONS",
                  options.group(1)),
              "image-" + homes.indexOf(home));
      System.out.println("image entry point: no JVM output on " + home);
      assertThat(stderr).as("stderr on " + home).isEmpty();
    }
  }

  /** The major version in a JDK's release file, or 0. */
  static int major(Path home) {
    try {
      for (String line : Files.readAllLines(home.resolve("release"))) {
        if (line.startsWith("JAVA_VERSION=\"")) {
          String v = line.substring("JAVA_VERSION=\"".length());
          int end = 0;
          while (end < v.length() && Character.isDigit(v.charAt(end))) {
            end++;
          }
          return end == 0 ? 0 : Integer.parseInt(v.substring(0, end));
        }
      }
    } catch (java.io.IOException e) {
      return 0;
    }
    return 0;
  }

  @Test
  void theLauncherKeepsAClassDataArchiveInTheCacheAndSaysNothingAboutIt() throws Exception {
    Path cache = dir.resolve("cache");
    for (int run = 1; run <= 2; run++) {
      Path source = dir.resolve("cds-source.img");
      try (RandomAccessFile f = new RandomAccessFile(source.toFile(), "rw")) {
        f.setLength(1L << 20);
      }
      Path destination = dir.resolve("cds-destination-" + run + ".img");
      try (RandomAccessFile f = new RandomAccessFile(destination.toFile(), "rw")) {
        f.setLength(1L << 20);
      }
      ProcessBuilder builder =
          new ProcessBuilder(
              LAUNCHER.toString(),
              "clone",
              "--source",
              source.toString(),
              "--destination",
              destination.toString(),
              "--metadata",
              dir.resolve("cds-metadata-" + run + ".img").toString());
      builder.environment().put(ControlPaths.ENV, dir.resolve("run").toString());
      builder.environment().put("XDG_CACHE_HOME", cache.toString());
      Path out = dir.resolve("cds-out-" + run + ".txt");
      Process p = builder.redirectErrorStream(true).redirectOutput(out.toFile()).start();
      assertThat(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
      String output = Files.readString(out);
      assertThat(p.exitValue()).as(output).isZero();
      assertThat(output.lines().filter(l -> l.startsWith("[") || l.startsWith("WARNING")))
          .as("run %d says nothing about class-data sharing:%n%s", run, output)
          .isEmpty();
      try (var files = Files.list(cache.resolve("volume-clone"))) {
        // JDK 19-24: a class-data archive; JDK 25+: the JDK's AOT cache.
        assertThat(files.filter(f -> f.toString().matches(".*\\.(jsa|aot)")))
            .as("the archive after run %d", run)
            .hasSize(1);
      }
    }
  }
}
