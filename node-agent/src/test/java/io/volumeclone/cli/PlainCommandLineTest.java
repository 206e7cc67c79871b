package io.volumeclone.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/**
 * {@link PlainCommandLine} sets every option exactly as picocli does for the plain command lines it
 * reads, and leaves every other command line to picocli.
 */
class PlainCommandLineTest {

  static final String[] REQUIRED = {
    "clone",
    "--source",
    "nbd+unix:///?socket=/run/s.sock",
    "--destination",
    "/dev/d",
    "--metadata",
    "/var/m.img"
  };

  static String[] with(String... more) {
    List<String> all = new ArrayList<>(Arrays.asList(REQUIRED));
    all.addAll(Arrays.asList(more));
    return all.toArray(String[]::new);
  }

  static Object plain(String... args) {
    return PlainCommandLine.parse(
        Main.class,
        args,
        type -> {
          var constructor = type.getDeclaredConstructor();
          constructor.setAccessible(true);
          return constructor.newInstance();
        });
  }

  /** Every @Option field of {@code command} as name=value, for comparison. */
  static List<String> options(Object command) throws IllegalAccessException {
    List<String> values = new ArrayList<>();
    for (Field field : command.getClass().getDeclaredFields()) {
      if (field.isAnnotationPresent(Option.class)) {
        field.setAccessible(true);
        values.add(field.getName() + "=" + field.get(command));
      }
    }
    return values;
  }

  static List<String> picocli(String... args) throws IllegalAccessException {
    CloneCommand command = new CloneCommand();
    new CommandLine(command).parseArgs(Arrays.copyOfRange(args, 1, args.length));
    return options(command);
  }

  @Test
  void plainCloneCommandLinesGetPicocliValuesAndDefaults() throws Exception {
    List<String[]> lines =
        List.of(
            REQUIRED,
            with("--region-size", "1Mi", "--bandwidth=200M", "--export", "unix:/run/x.sock"),
            with("--copy-on-read", "--no-copy", "--cutover", "manual", "--force"),
            with("--size", "10Gi", "--source-offset", "4096", "--destination-offset=1Mi"),
            with("--regions-in-flight", "32", "--batch-regions", "8", "--name", "db"),
            with("--run-dir", "/tmp/run"));
    for (String[] line : lines) {
      Object command = plain(line);
      assertThat(command).as(String.join(" ", line)).isInstanceOf(CloneCommand.class);
      assertThat(options(command)).as(String.join(" ", line)).isEqualTo(picocli(line));
    }
    // Main's own --verbose, which Main reads from the raw arguments, may stand among them.
    assertThat(options(plain(with("-v", "--force")))).isEqualTo(picocli(with("--force")));
  }

  @Test
  void everythingElseIsLeftToPicocli() {
    List<String[]> lines =
        List.of(
            new String[] {"clone", "--help"},
            new String[] {"--version"},
            new String[] {"nosuchcommand"},
            new String[] {},
            new String[] {"clone", "--source", "s", "--destination", "d"},
            with("--attach"),
            with("--attach", "name"),
            with("--unknown-option", "x"),
            with("--region-size", "64 kilobytes"),
            with("--regions-in-flight", "0x10"),
            with("--name", "a", "--name", "b"),
            with("--copy-on-read=true"),
            with("--bandwidth"),
            with("--", "x"),
            new String[] {"cancel", "db"},
            new String[] {"agent", "--name", "x"});
    for (String[] line : lines) {
      assertThat(plain(line)).as(String.join(" ", line)).isNull();
    }
  }

  @Test
  void mainRunsAPlainCommandLikePicocliWithItsExitCodeAndMessage() {
    MainTest.Result result = MainTest.run(with("--cutover", "sometimes"));
    assertThat(result.code()).isEqualTo(Main.EXIT_USAGE);
    assertThat(result.err()).contains("invalid --cutover 'sometimes': expected auto or manual");
  }
}
