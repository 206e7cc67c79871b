package io.volumeclone.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import picocli.CommandLine.ITypeConverter;

/**
 * Reads a plain command line of a subcommand without building picocli's model, and without reading
 * its annotations either (issue 19, fast start).
 *
 * <p>Why: picocli's model of every subcommand is built by reflection in the interpreter, and even
 * reading the annotations directly costs about 0.1 s of a cold start (each annotation type is a
 * dynamic proxy class generated at run time, which the JDK's AOT cache does not archive): more than
 * everything else the process does before its export answers. So the option table of every command
 * this reader can handle is written from the annotations ahead of time, into {@value #TABLE} beside
 * this class; {@code PlainCommandLineTableTest} writes it and fails when it is stale, so the
 * annotations stay the one definition of every option, its default and its converter. This reader
 * knows only the plain forms, {@code --name value}, {@code --name=value} and boolean {@code
 * --flag}.
 *
 * <p>Anything else — help, version, an unknown or repeated option, a missing required one, a value
 * that does not convert, positional parameters, {@code arity}, argument groups, commands that use
 * their {@code Spec}, a command the table does not list — makes {@link #parse} return null, and
 * picocli reads the command line as before, with its messages. So this reader never says anything
 * to the user itself.
 */
final class PlainCommandLine {

  /** The option table, a resource beside this class (format: {@link Table#parse}). */
  static final String TABLE = "plain-command-lines.tsv";

  /** Main's own option, inherited by every subcommand; Main reads it from the raw arguments. */
  private static final Set<String> INHERITED_FLAGS = Set.of("-v", "--verbose");

  private PlainCommandLine() {}

  /**
   * The subcommand of {@code root} named by {@code args[0]}, created with {@code factory} and its
   * options set from the rest of {@code args}; null when the command line is not plain (see the
   * class comment).
   */
  static Object parse(Class<?> root, String[] args, Factory factory) {
    if (args.length == 0) {
      return null;
    }
    Table.Command entry = Table.LOADED.find(root.getName(), args[0]);
    if (entry == null) {
      return null;
    }
    try {
      Class<?> type = Class.forName(entry.type(), false, root.getClassLoader());
      Map<String, Table.Option> byName = new HashMap<>();
      for (Table.Option option : entry.options()) {
        for (String name : option.names()) {
          byName.put(name, option);
        }
      }
      Object command = factory.create(type);
      // By identity: each option is one object of the table, and a record's hashCode would
      // bootstrap its ObjectMethods call site here, some 20 ms of a cold start (issue 19).
      Set<Table.Option> given = Collections.newSetFromMap(new IdentityHashMap<>());
      for (int i = 1; i < args.length; i++) {
        String arg = args[i];
        if (INHERITED_FLAGS.contains(arg)) {
          continue;
        }
        int equals = arg.indexOf('=');
        String name = equals < 0 ? arg : arg.substring(0, equals);
        Table.Option option = byName.get(name);
        if (option == null || !given.add(option) || !option.plain()) {
          return null;
        }
        String value;
        if (option.kind().equals(Table.BOOLEAN)) {
          if (equals >= 0) {
            return null;
          }
          value = "true";
        } else if (equals >= 0) {
          value = arg.substring(equals + 1);
        } else if (i + 1 < args.length && !args[i + 1].startsWith("-")) {
          value = args[++i];
        } else {
          return null;
        }
        set(command, option, value);
      }
      for (Table.Option option : entry.options()) {
        if (given.contains(option)) {
          continue;
        }
        if (option.required()) {
          return null;
        }
        if (option.defaultValue() != null) {
          if (!option.plain()) {
            return null;
          }
          set(command, option, option.defaultValue());
        }
      }
      return command;
    } catch (Exception | LinkageError e) {
      // A value picocli would refuse with its own message, a stale table, or a reflective
      // surprise: let picocli say.
      return null;
    }
  }

  /** Creates command objects as Main's picocli factory does. */
  @FunctionalInterface
  interface Factory {
    Object create(Class<?> type) throws Exception;
  }

  private static void set(Object command, Table.Option option, String value) throws Exception {
    Object converted = convert(option, value, command.getClass().getClassLoader());
    if (command instanceof PlainOptions plain && plain.setOption(option.field(), converted)) {
      return;
    }
    Class<?> declaring =
        Class.forName(option.declaringClass(), false, command.getClass().getClassLoader());
    Field field = declaring.getDeclaredField(option.field());
    field.setAccessible(true);
    field.set(command, converted);
  }

  private static Object convert(Table.Option option, String value, ClassLoader loader)
      throws Exception {
    String kind = option.kind();
    if (kind.startsWith(Table.CONVERTER)
        && kind.substring(Table.CONVERTER.length()).equals(SizeConverter.class.getName())) {
      return new SizeConverter()
          .convert(value); // the CLI's sizes, without a reflective constructor
    }
    if (kind.startsWith(Table.CONVERTER)) {
      var constructor =
          Class.forName(kind.substring(Table.CONVERTER.length()), true, loader)
              .getDeclaredConstructor();
      constructor.setAccessible(true);
      return ((ITypeConverter<?>) constructor.newInstance()).convert(value);
    }
    return switch (kind) {
      case Table.STRING -> value;
      case Table.PATH -> Path.of(value);
      case Table.INT -> Integer.valueOf(decimal(value));
      case Table.LONG -> Long.valueOf(decimal(value));
      case Table.BOOLEAN -> Boolean.valueOf(value);
      default -> throw new IllegalStateException("unknown kind " + kind + " in " + TABLE);
    };
  }

  /** Plain decimal digits only: other spellings (hex, a plus sign) are picocli's to judge. */
  private static String decimal(String value) {
    int start = value.startsWith("-") ? 1 : 0;
    if (value.length() == start) {
      throw new NumberFormatException(value);
    }
    for (int i = start; i < value.length(); i++) {
      if (value.charAt(i) < '0' || value.charAt(i) > '9') {
        throw new NumberFormatException(value);
      }
    }
    return value;
  }

  /** The option table as {@code PlainCommandLineTableTest} writes it from the annotations. */
  record Table(List<Command> commands) {

    static final String STRING = "string";
    static final String PATH = "path";
    static final String INT = "int";
    static final String LONG = "long";
    static final String BOOLEAN = "boolean";
    static final String CONVERTER = "converter:";

    /** The table on the class path; empty when there is none (picocli then reads everything). */
    static final Table LOADED = load();

    /**
     * A subcommand the reader handles: {@code root}'s subcommand {@code name}, class {@code type}.
     */
    record Command(String root, String name, String type, List<Option> options) {}

    /**
     * One {@code @Option} field: its {@code --} names, its kind ({@link #STRING} .. {@link
     * #BOOLEAN}, or {@link #CONVERTER} and the converter's class), its default (null: none), and
     * whether this reader knows its form ({@code plain}: one value, no {@code arity}).
     */
    record Option(
        String declaringClass,
        String field,
        List<String> names,
        String kind,
        boolean required,
        boolean plain,
        String defaultValue) {}

    Command find(String root, String name) {
      for (Command c : commands) {
        if (c.root().equals(root) && c.name().equals(name)) {
          return c;
        }
      }
      return null;
    }

    private static Table load() {
      try (InputStream in = PlainCommandLine.class.getResourceAsStream(TABLE)) {
        return in == null
            ? new Table(List.of())
            : parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read " + TABLE, e);
      }
    }

    /**
     * Lines of tab-separated fields; {@code #} starts a comment line. {@code command ROOT NAME
     * TYPE} starts a command, each {@code option DECLARING FIELD NAMES KIND REQUIRED PLAIN
     * HAS-DEFAULT DEFAULT} line after it is one of its options (NAMES separated by commas).
     */
    static Table parse(String text) {
      List<Command> commands = new ArrayList<>();
      List<Option> options = null;
      String[] header = null;
      for (String line : text.split("\n")) {
        if (line.isEmpty() || line.startsWith("#")) {
          continue;
        }
        String[] f = line.split("\t", -1);
        switch (f[0]) {
          case "command" -> {
            if (header != null) {
              commands.add(new Command(header[1], header[2], header[3], List.copyOf(options)));
            }
            header = f;
            options = new ArrayList<>();
          }
          case "option" ->
              options.add(
                  new Option(
                      f[1],
                      f[2],
                      f[3].isEmpty() ? List.of() : Arrays.asList(f[3].split(",")),
                      f[4],
                      Boolean.parseBoolean(f[5]),
                      Boolean.parseBoolean(f[6]),
                      Boolean.parseBoolean(f[7]) ? f[8] : null));
          default -> throw new IllegalArgumentException(TABLE + ": unknown line " + line);
        }
      }
      if (header != null) {
        commands.add(new Command(header[1], header[2], header[3], List.copyOf(options)));
      }
      return new Table(List.copyOf(commands));
    }

    /** The table's text, the inverse of {@link #parse}. */
    String format() {
      StringBuilder out = new StringBuilder();
      out.append("# Written by PlainCommandLineTableTest from the commands' picocli annotations;")
          .append(" that test fails when this is stale.\n")
          .append("# Read by PlainCommandLine, so a plain command line needs no annotation")
          .append(" at run time (issue 19).\n");
      for (Command c : commands) {
        out.append(String.join("\t", "command", c.root(), c.name(), c.type())).append('\n');
        for (Option o : c.options()) {
          out.append(
                  String.join(
                      "\t",
                      "option",
                      o.declaringClass(),
                      o.field(),
                      String.join(",", o.names()),
                      o.kind(),
                      String.valueOf(o.required()),
                      String.valueOf(o.plain()),
                      String.valueOf(o.defaultValue() != null),
                      o.defaultValue() == null ? "" : o.defaultValue()))
              .append('\n');
        }
      }
      return out.toString();
    }
  }
}
