package io.volumeclone.cli;

import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * Where the control sockets of the clones running on this machine live: {@code
 * RUN_DIR/NAME/control.sock}, with RUN_DIR {@code /run/volume-clone} unless {@code --run-dir} or
 * the environment variable {@code VOLUME_CLONE_RUN_DIR} says otherwise. {@code list} reads every
 * clone under one RUN_DIR, so the clone and the commands that steer it must agree on it.
 */
final class ControlPaths {

  static final String ENV = "VOLUME_CLONE_RUN_DIR";
  static final Path DEFAULT_RUN_DIR = Path.of("/run/volume-clone");
  static final String SOCKET = "control.sock";

  /** Names become directory names: no slashes, no dot-names, nothing a shell must quote. */
  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

  private ControlPaths() {}

  static Path runDir(Path option) {
    if (option != null) {
      return option;
    }
    String env = System.getenv(ENV);
    return env == null || env.isBlank() ? DEFAULT_RUN_DIR : Path.of(env);
  }

  static Path socket(Path runDir, String name) {
    return runDir.resolve(name).resolve(SOCKET);
  }

  /** The reason {@code name} cannot name a clone, or null when it can. */
  static String invalidName(String name) {
    if (name == null || !NAME.matcher(name).matches()) {
      return "a clone name is 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or"
          + " digit";
    }
    return null;
  }

  /** The default name of a clone: the destination's file name, made a valid name. */
  static String nameFromDestination(Path destination) {
    Path file = destination.toAbsolutePath().normalize().getFileName();
    String name = file == null ? "clone" : file.toString().replaceAll("[^A-Za-z0-9._-]", "_");
    if (name.isEmpty() || !Character.isLetterOrDigit(name.charAt(0))) {
      name = "clone" + name;
    }
    return name.length() > 128 ? name.substring(0, 128) : name;
  }
}
