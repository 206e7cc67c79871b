package io.volumeclone.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/**
 * What an integration test needs from the machine: a Debian tool, root, a free loop device. The one
 * rule for all of them: with {@code CI=true} a missing requirement fails the test (CI installs the
 * tools and runs as root, so a skip there would hide a broken setup); elsewhere the test is skipped
 * with a message that says what to install or how to run it.
 */
public final class HostRequirements {

  /** {@code /usr/bin} first: nbdsh needs Debian's own python3, not another one on PATH. */
  public static final String PATH =
      "/usr/bin:/usr/sbin:/bin:/sbin:" + System.getenv().getOrDefault("PATH", "");

  private HostRequirements() {}

  public static boolean onCi() {
    return "true".equalsIgnoreCase(System.getenv("CI"));
  }

  /**
   * Fails (CI) or skips (elsewhere) unless {@code met}; {@code what} names the requirement, for
   * example "root (loop devices need CAP_SYS_ADMIN)".
   */
  public static void require(boolean met, String what) {
    if (met) {
      return;
    }
    if (onCi()) {
      fail("CI=true but this test cannot run without " + what);
    }
    Assumptions.abort("skipped: needs " + what);
  }

  /** Requires {@code tool} on {@link #PATH}, naming the Debian package that provides it. */
  public static void require(String tool, String debianPackage) {
    require(onPath(tool), tool + " (apt-get install " + debianPackage + ")");
  }

  public static void requireRoot(String why) {
    require("root".equals(System.getProperty("user.name")), "root (" + why + ")");
  }

  public static boolean onPath(String tool) {
    for (String dir : PATH.split(":")) {
      if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, tool))) {
        return true;
      }
    }
    return false;
  }
}
