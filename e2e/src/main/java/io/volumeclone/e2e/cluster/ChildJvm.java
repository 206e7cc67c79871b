package io.volumeclone.e2e.cluster;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Starts a Java main class in a new JVM with this JVM's class path: the operator and the agents run
 * as their own processes, as they would in Pods, so they can be killed with SIGKILL.
 */
public final class ChildJvm {

  private ChildJvm() {}

  /** This JVM's java launcher. */
  public static String java() {
    return ProcessHandle.current()
        .info()
        .command()
        .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
  }

  /** The class path of this JVM (the demo jar alone, or the test class path). */
  public static String classPath() {
    // Absolute entries: the child runs in another working directory.
    List<String> entries = new ArrayList<>();
    for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
      if (!entry.isEmpty()) {
        entries.add(Path.of(entry).toAbsolutePath().toString());
      }
    }
    return String.join(File.pathSeparator, entries);
  }

  /**
   * Starts {@code mainClass} with {@code args}; stdout and stderr are appended to {@code log}.
   * {@code environment} is added to this process's environment.
   */
  public static Process start(
      String mainClass,
      List<String> jvmOptions,
      List<String> args,
      Map<String, String> environment,
      Path log,
      Path workingDirectory)
      throws IOException {
    List<String> command = new ArrayList<>();
    command.add(java());
    command.add("-cp");
    command.add(classPath());
    command.add("--enable-native-access=ALL-UNNAMED");
    command.add("-XX:+UseSerialGC");
    command.add("-Xshare:auto");
    if (Runtime.version().feature() >= 23) {
      // netty and jffi still use sun.misc.Unsafe; say so once here instead of in every log.
      command.add("--sun-misc-unsafe-memory-access=allow");
    }
    command.addAll(jvmOptions);
    command.add(mainClass);
    command.addAll(args);
    Files.createDirectories(log.toAbsolutePath().getParent());
    Files.createDirectories(workingDirectory);
    ProcessBuilder builder = new ProcessBuilder(command);
    builder.environment().putAll(environment);
    builder.directory(workingDirectory.toFile());
    builder.redirectErrorStream(true);
    builder.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    builder.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
    return builder.start();
  }
}
