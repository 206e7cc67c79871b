package io.volumeclone.images;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.volumeclone.testing.HostRequirements;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The images as CI builds them: {@code images/build.sh --base debootstrap} runs the Dockerfiles
 * through buildah ({@code bud --isolation chroot}, vfs storage) on Debian trixie bootstrapped from
 * the Debian archive, into OCI archives; each archive is then loaded into a store of its own and
 * its entry point started with {@code buildah run} as the image's user. {@code --version} answering
 * with this build's version shows that the entry point, the JRE and the jar inside the image work
 * together and that the image carries this build, not a stale jar.
 */
class ImagesIT {

  private static final ObjectMapper JSON = new ObjectMapper();

  private static String version;
  private static Path out;
  private static Path archives;

  @BeforeAll
  static void buildTheImages() throws Exception {
    HostRequirements.require("buildah", "buildah");
    HostRequirements.require("debootstrap", "debootstrap");
    HostRequirements.requireRoot("buildah's chroot isolation and debootstrap run as root");
    version = setByThePom("volumeclone.version");
    Path build = Path.of(setByThePom("volumeclone.images.build"));
    out = Path.of(setByThePom("volumeclone.images.out"));

    Result built =
        run(
            out.resolve("build.log"),
            40,
            build.toString(),
            "--base",
            "debootstrap",
            "--out",
            out.toString());
    assertThat(built.exitCode()).as("images/build.sh failed:%n%s", built.tail()).isZero();
    archives = Path.of(built.lastLine());
  }

  @Test
  void agentImageEntryPointRunsThisBuildsVolumeClone() throws Exception {
    assertThat(versionFromEntryPoint("volume-clone.oci.tar")).isEqualTo("volume-clone " + version);
  }

  /**
   * The agent image maps the class-data sharing archive its build trained (issue 19: a restarted
   * agent is a consumer's outage): {@code -Xshare:on} makes the JVM refuse to start when it cannot
   * map the archive, and the class-load log says where the entry point's class came from.
   */
  @Test
  void agentImageStartsFromTheClassDataArchiveItsBuildTrained() throws Exception {
    Result run =
        entryPoint(
            "volume-clone.oci.tar",
            List.of("VOLUME_CLONE_JAVA_OPTIONS=-Xshare:on -Xlog:class+load=info"),
            "--version");
    assertThat(run.exitCode())
        .as("volume-clone --version with -Xshare:on in the agent image:%n%s", run.tail())
        .isZero();
    // The class-load log goes on after the version line: the JVM loads classes to shut down.
    assertThat(run.output())
        .as("the class-load log of volume-clone --version in the agent image")
        .contains("volume-clone " + version)
        .anyMatch(
            line ->
                line.contains("io.volumeclone.app.VolumeCloneMain source: shared objects file"));
  }

  @Test
  void operatorImageEntryPointRunsThisBuildsOperator() throws Exception {
    assertThat(versionFromEntryPoint("volume-clone-operator.oci.tar"))
        .isEqualTo("volume-clone-operator " + version);
  }

  /**
   * The system property e2e/pom.xml's failsafe configuration sets; run from an IDE or by surefire
   * it is missing, which fails the class with its name instead of a NullPointerException at load.
   */
  private static String setByThePom(String name) {
    String value = System.getProperty(name);
    assertThat(value)
        .as(
            "system property %s, set by e2e/pom.xml for failsafe: run ./mvnw -B -pl e2e -am verify"
                + " -Dit.test=ImagesIT",
            name)
        .isNotBlank();
    return value;
  }

  /**
   * Starts the image's ENTRYPOINT with {@code --version} (in place of its CMD), as its USER, and
   * returns the last line it printed.
   */
  private static String versionFromEntryPoint(String archive) throws Exception {
    Result version = entryPoint(archive, List.of(), "--version");
    assertThat(version.exitCode())
        .as("the entry point with --version in %s:%n%s", archive, version.tail())
        .isZero();
    return version.lastLine();
  }

  /**
   * Starts the image's ENTRYPOINT with {@code args} (in place of its CMD), as its USER, with the
   * environment's {@code NAME=value} additions, and returns what it printed.
   */
  private static Result entryPoint(String archive, List<String> environment, String... args)
      throws Exception {
    Path image = archives.resolve(archive);
    assertThat(image).as("OCI archive written by images/build.sh").isRegularFile();
    String name = archive.substring(0, archive.indexOf('.'));
    Path store = out.resolve("it-" + name);
    List<String> buildah =
        List.of(
            "buildah",
            "--root",
            store.resolve("storage").toString(),
            "--runroot",
            store.resolve("run").toString(),
            "--storage-driver",
            "vfs");
    Path log = out.resolve("it-" + name + ".log");
    discard(store, log);

    Result from = run(log, 5, concat(buildah, "from", "--quiet", "oci-archive:" + image));
    assertThat(from.exitCode()).as("buildah from %s:%n%s", image, from.tail()).isZero();
    String container = from.lastLine();
    try {
      Result inspect = run(log, 1, concat(buildah, "inspect", container));
      assertThat(inspect.exitCode()).as("buildah inspect:%n%s", inspect.tail()).isZero();
      JsonNode config =
          JSON.readTree(String.join("\n", inspect.output())).path("OCIv1").path("config");
      List<String> entryPoint = new ArrayList<>();
      config.path("Entrypoint").forEach(e -> entryPoint.add(e.asText()));
      assertThat(entryPoint).as("ENTRYPOINT of %s", archive).isNotEmpty();

      List<String> command = new ArrayList<>(buildah);
      command.addAll(List.of("run", "--isolation", "chroot"));
      String user = config.path("User").asText("");
      if (!user.isEmpty()) {
        command.addAll(List.of("--user", user));
      }
      for (String variable : environment) {
        command.addAll(List.of("--env", variable));
      }
      command.add(container);
      command.add("--");
      command.addAll(entryPoint);
      command.addAll(List.of(args));
      return run(log, 2, command);
    } finally {
      run(log, 2, concat(buildah, "rm", container));
      discard(store, log);
    }
  }

  /** vfs keeps a full copy of the image per store: one store per test, gone after it. */
  private static void discard(Path store, Path log) throws IOException, InterruptedException {
    Result rm = run(log, 2, "rm", "-rf", "--one-file-system", store.toString());
    assertThat(rm.exitCode()).as("rm -rf %s:%n%s", store, rm.tail()).isZero();
  }

  private static List<String> concat(List<String> head, String... tail) {
    List<String> all = new ArrayList<>(head);
    all.addAll(List.of(tail));
    return all;
  }

  private record Result(int exitCode, List<String> output) {
    String lastLine() {
      return output.isEmpty() ? "" : output.getLast().trim();
    }

    String tail() {
      return String.join("\n", output.subList(Math.max(0, output.size() - 30), output.size()));
    }
  }

  private static Result run(Path log, int timeoutMinutes, String... command)
      throws IOException, InterruptedException {
    return run(log, timeoutMinutes, List.of(command));
  }

  /** Runs {@code command}, stdout and stderr appended to {@code log}; returns what it printed. */
  private static Result run(Path log, int timeoutMinutes, List<String> command)
      throws IOException, InterruptedException {
    Files.createDirectories(log.getParent());
    Path output = Files.createTempFile(log.getParent(), "command-", ".out");
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.redirectOutput(output.toFile());
    builder.environment().put("PATH", HostRequirements.PATH);
    Process process = builder.start();
    if (!process.waitFor(timeoutMinutes, TimeUnit.MINUTES)) {
      process.destroyForcibly().waitFor();
      throw new AssertionError(
          "timed out after " + timeoutMinutes + " min: " + String.join(" ", command));
    }
    List<String> lines = Files.readAllLines(output);
    Files.writeString(
        log,
        "$ " + String.join(" ", command) + "\n" + String.join("\n", lines) + "\n",
        StandardOpenOption.CREATE,
        StandardOpenOption.APPEND);
    Files.delete(output);
    return new Result(process.exitValue(), lines);
  }
}
