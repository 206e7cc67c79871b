package io.volumeclone.cli;

import io.volumeclone.agent.AgentCommand;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.Arrays;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code volume-clone}: runs the clone engine without Kubernetes.
 *
 * <p>Exit codes: 0 success, 1 the command ran and failed (missing device, destination too small,
 * metadata of another clone, I/O error), 2 the command line is wrong (unknown option, bad size,
 * impossible combination). Errors go to stderr as one line a user can act on; stack traces only
 * with {@code --verbose}.
 */
@Command(
    name = "volume-clone",
    mixinStandardHelpOptions = true,
    version = "volume-clone 0.1.0",
    description = "Clone block volumes the way Linux dm-clone does.",
    subcommands = {
      CloneCommand.class,
      StatusCommand.class,
      ListCommand.class,
      TuneCommand.class,
      CutoverCommand.class,
      CancelCommand.class,
      AgentCommand.class
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
        "missing command: use clone, status, list, tune, cutover, cancel or agent (see --help)");
  }

  public static void main(String[] args) {
    if (args.length > 0 && (args[0].equals("clone") || args[0].equals("agent"))) {
      // Both open devices soon; a process's start is a consumer's wait (issue 19).
      io.volumeclone.engine.Devices.bindNativeCallsInBackground();
    }
    System.exit(run(System.out, System.err, args));
  }

  /** Runs the CLI with the given streams; returns the exit code. */
  public static int run(PrintStream out, PrintStream err, String... args) {
    boolean verbose =
        Arrays.asList(args).contains("--verbose") || Arrays.asList(args).contains("-v");
    // The engine logs through slf4j-simple to stderr: keep it to warnings unless asked.
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", verbose ? "info" : "warn");
    System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
    PlainCommandLine.Factory create = type -> withStreams(type.getDeclaredConstructor(), out, err);
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
    Object command = constructor.newInstance();
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
