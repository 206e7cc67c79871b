package io.volumeclone.cli;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * Reads a plain command line of a subcommand straight from its picocli annotations, without
 * building picocli's model (issue 19, fast start).
 *
 * <p>Why: picocli's classes are Java 5 bytecode, which class-data sharing and the JDK's AOT cache
 * do not archive, and its model of every subcommand is built by reflection in the interpreter:
 * about 0.15 s of a cold start for {@code clone} alone, more than everything else the process does
 * before its export answers. So {@link Main} first tries this reader, which knows only the plain
 * forms, {@code --name value}, {@code --name=value} and boolean {@code --flag}; the annotations
 * stay the one definition of every option, its default and its converter.
 *
 * <p>Anything else — help, version, an unknown or repeated option, a missing required one, a value
 * that does not convert, positional parameters, {@code arity}, argument groups, commands that use
 * their {@link Spec} — makes {@link #parse} return null, and picocli reads the command line as
 * before, with its messages. So this reader never says anything to the user itself.
 */
final class PlainCommandLine {

  /** picocli's marker for "no default value" in {@link Option#defaultValue()}. */
  private static final String NO_DEFAULT = "__no_default_value__";

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
    Class<?> type = subcommand(root, args[0]);
    if (type == null) {
      return null;
    }
    try {
      Map<String, Field> byName = new HashMap<>();
      List<Field> options = new ArrayList<>();
      if (!collectOptions(type, byName, options)) {
        return null;
      }
      Object command = factory.create(type);
      Set<Field> given = new HashSet<>();
      for (int i = 1; i < args.length; i++) {
        String arg = args[i];
        if (INHERITED_FLAGS.contains(arg)) {
          continue;
        }
        int equals = arg.indexOf('=');
        String name = equals < 0 ? arg : arg.substring(0, equals);
        Field field = byName.get(name);
        if (field == null || !given.add(field) || !plain(field)) {
          return null;
        }
        String value;
        if (isBoolean(field)) {
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
        field.set(command, convert(field, value));
      }
      for (Field field : options) {
        if (given.contains(field)) {
          continue;
        }
        Option option = field.getAnnotation(Option.class);
        if (option.required()) {
          return null;
        }
        if (!NO_DEFAULT.equals(option.defaultValue())) {
          if (!plain(field)) {
            return null;
          }
          field.set(command, convert(field, option.defaultValue()));
        }
      }
      return command;
    } catch (Exception e) {
      // A value picocli would refuse with its own message, or a reflective surprise: let it say.
      return null;
    }
  }

  /** Creates command objects as Main's picocli factory does. */
  @FunctionalInterface
  interface Factory {
    Object create(Class<?> type) throws Exception;
  }

  private static Class<?> subcommand(Class<?> root, String name) {
    Command rootCommand = root.getAnnotation(Command.class);
    if (rootCommand == null) {
      return null;
    }
    for (Class<?> candidate : rootCommand.subcommands()) {
      Command command = candidate.getAnnotation(Command.class);
      if (command != null && command.name().equals(name)) {
        return candidate;
      }
    }
    return null;
  }

  /**
   * The options of {@code type} and its superclasses by each of their names; false when the class
   * uses anything this reader does not know.
   */
  private static boolean collectOptions(
      Class<?> type, Map<String, Field> byName, List<Field> options) {
    for (Class<?> c = type; c != null && c != Object.class; c = c.getSuperclass()) {
      for (Field field : c.getDeclaredFields()) {
        if (field.isAnnotationPresent(Parameters.class)
            || field.isAnnotationPresent(ArgGroup.class)
            || field.isAnnotationPresent(Mixin.class)
            || field.isAnnotationPresent(Spec.class)) {
          return false;
        }
        Option option = field.getAnnotation(Option.class);
        if (option == null) {
          continue;
        }
        if (Modifier.isFinal(field.getModifiers())) {
          return false;
        }
        field.setAccessible(true);
        options.add(field);
        for (String name : option.names()) {
          // Short names stay unknown here: clustered short options are picocli's to read.
          if (name.startsWith("--")) {
            byName.put(name, field);
          }
        }
      }
    }
    return true;
  }

  /**
   * Whether this reader knows the option's form: one value of a known type or through a converter,
   * no {@code arity}. The others are picocli's to read when they are given.
   */
  private static boolean plain(Field field) {
    Option option = field.getAnnotation(Option.class);
    if (!option.arity().isEmpty()) {
      return false;
    }
    Class<?>[] converters = option.converter();
    if (converters.length > 1) {
      return false;
    }
    if (converters.length == 1) {
      return ITypeConverter.class.isAssignableFrom(converters[0]);
    }
    Class<?> t = field.getType();
    return t == String.class
        || t == Path.class
        || t == int.class
        || t == Integer.class
        || t == long.class
        || t == Long.class
        || isBoolean(field);
  }

  private static boolean isBoolean(Field field) {
    return field.getType() == boolean.class || field.getType() == Boolean.class;
  }

  private static Object convert(Field field, String value) throws Exception {
    Class<?>[] converters = field.getAnnotation(Option.class).converter();
    if (converters.length == 1) {
      var constructor = converters[0].getDeclaredConstructor();
      constructor.setAccessible(true);
      return ((ITypeConverter<?>) constructor.newInstance()).convert(value);
    }
    Class<?> t = field.getType();
    if (t == String.class) {
      return value;
    }
    if (t == Path.class) {
      return Path.of(value);
    }
    if (t == int.class || t == Integer.class) {
      return Integer.valueOf(decimal(value));
    }
    if (t == long.class || t == Long.class) {
      return Long.valueOf(decimal(value));
    }
    return Boolean.valueOf(value);
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
}
