package io.volumeclone.cli;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.Arrays;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code volume-clone}: runs the clone engine without Kubernetes. The binary's entry point ({@code
 * io.volumeclone.app.VolumeCloneMain}) adds the agent Pod's {@code agent} command, so the CLI never
 * imports the agent.
 *
 * <p>Exit codes: 0 success, 1 the command ran and failed (missing device, destination too small,
 * metadata of another clone, I/O error), 2 the command line is wrong (unknown option, bad size,
 * impossible combination). Errors go to stderr as one line a user can act on; stack traces only
 * with {@code --verbose}.
 */
@Command(
    name = "volume-clone",
    mixinStandardHelpOptions = true,
    versionProvider = Main.JarVersion.class,
    description = "Clone block volumes the way Linux dm-clone does.",
    subcommands = {
      CloneCommand.class,
      StatusCommand.class,
      ListCommand.class,
      TuneCommand.class,
      CutoverCommand.class,
      CancelCommand.class,
      ForgetCommand.class
    },
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:success",
      "1:the command failed: missing device, destination too small, metadata of another clone,"
          + " I/O error",
      "2:usage error: unknown option, bad size, impossible combination"
    })
public final class Main implements Runnable {

  public static final int EXIT_FAILURE = 1;
  public static final int EXIT_USAGE = 2;

  @Option(
      names = {"-v", "--verbose"},
      description = "Log engine progress and print stack traces of errors.",
      scope = CommandLine.ScopeType.INHERIT)
  boolean verbose;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(
        spec.commandLine(),
        "missing command: use " + String.join(", ", spec.subcommands().keySet()) + " (see --help)");
  }

  /**
   * The version the Maven build writes into the shaded jar's manifest, so that {@code --version}
   * names the build the image or the node runs rather than a number someone forgot to bump.
   */
  static final class JarVersion implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String version = Main.class.getPackage().getImplementationVersion();
      return new String[] {
        "volume-clone "
            + (version != null ? version : "(unknown: not run from the volume-clone jar)")
      };
    }
  }

  /** Runs the CLI's own commands with the given streams; returns the exit code. */
  public static int run(PrintStream out, PrintStream err, String... args) {
    return run(out, err, List.of(), args);
  }

  /**
   * Runs the CLI with the given streams and more subcommands (picocli {@code @Command} classes);
   * returns the exit code.
   */
  public static int run(
      PrintStream out, PrintStream err, List<Class<?>> moreCommands, String... args) {
    boolean verbose =
        Arrays.asList(args).contains("--verbose") || Arrays.asList(args).contains("-v");
    // The engine logs through slf4j-simple to stderr: keep it to warnings unless asked.
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", verbose ? "info" : "warn");
    System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
    // clone without a reflective constructor: its start is a consumer's wait (issue 19)
    PlainCommandLine.Factory create =
        type ->
            type == CloneCommand.class
                ? withStreams(new CloneCommand(), out, err)
                : withStreams(type.getDeclaredConstructor(), out, err);
    Object plain = PlainCommandLine.parse(Main.class, args, create);
    if (plain != null) {
      return execute(plain, new PrintWriter(err, true), verbose);
    }
    CommandLine.IFactory factory =
        new CommandLine.IFactory() {
          @Override
          public <K> K create(Class<K> type) throws Exception {
            K command = CommandLine.defaultFactory().create(type);
            setStreams(command, out, err);
            return command;
          }
        };
    CommandLine commandLine = new CommandLine(new Main(), factory);
    for (Class<?> command : moreCommands) {
      commandLine.addSubcommand(new CommandLine(command, factory));
    }
    commandLine.setOut(new PrintWriter(out, true));
    commandLine.setErr(new PrintWriter(err, true));
    commandLine.setExitCodeExceptionMapper(e -> EXIT_FAILURE);
    commandLine.setParameterExceptionHandler(
        (e, arguments) -> {
          PrintWriter w = e.getCommandLine().getErr();
          w.println("volume-clone: " + e.getMessage());
          w.println("Run '" + e.getCommandLine().getCommandSpec().qualifiedName() + " --help'.");
          w.flush();
          return EXIT_USAGE;
        });
    commandLine.setExecutionExceptionHandler(
        (e, cmd, parseResult) -> failed(e, cmd.getErr(), verbose));
    return commandLine.execute(args);
  }

  private static Object withStreams(
      java.lang.reflect.Constructor<?> constructor, PrintStream out, PrintStream err)
      throws Exception {
    constructor.setAccessible(true);
    return withStreams(constructor.newInstance(), out, err);
  }

  private static Object withStreams(Object command, PrintStream out, PrintStream err) {
    setStreams(command, out, err);
    return command;
  }

  private static void setStreams(Object command, PrintStream out, PrintStream err) {
    if (command instanceof CloneCommand clone) {
      clone.out = out;
      clone.err = err;
    } else if (command instanceof ControlCommand control) {
      control.out = out;
      control.err = err;
    } else if (command instanceof ForgetCommand forget) {
      forget.out = out;
    }
  }

  /**
   * Runs a command that {@link PlainCommandLine} read, with the exit codes and messages picocli's
   * execution gives it.
   */
  private static int execute(Object command, PrintWriter err, boolean verbose) {
    try {
      if (command instanceof java.util.concurrent.Callable<?> callable) {
        Object result = callable.call();
        return result instanceof Integer code ? code : 0;
      }
      ((Runnable) command).run();
      return 0;
    } catch (Exception e) {
      return failed(e, err, verbose);
    }
  }

  /** A command failed: one line on stderr (and the trace with --verbose), exit 2 or 1. */
  private static int failed(Exception e, PrintWriter w, boolean verbose) {
    if (e instanceof UsageException) {
      w.println("volume-clone: " + e.getMessage());
      w.flush();
      return EXIT_USAGE;
    }
    w.println("volume-clone: " + describe(e));
    if (verbose) {
      e.printStackTrace(w);
    }
    w.flush();
    return EXIT_FAILURE;
  }

  static String describe(Throwable e) {
    String message = e.getMessage();
    if (e instanceof java.nio.file.NoSuchFileException
        && message != null
        && !message.contains(" ")) {
      return "no such device or file: " + message;
    }
    return message != null ? message : e.toString();
  }

  /** A command line that parses but cannot work; exit code 2. */
  static final class UsageException extends RuntimeException {
    UsageException(String message) {
      super(message);
    }
  }
}
