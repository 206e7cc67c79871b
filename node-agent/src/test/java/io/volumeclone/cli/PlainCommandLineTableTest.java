package io.volumeclone.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * The option table {@link PlainCommandLine} reads at run time is what the picocli annotations say
 * now: this test computes it from them and compares it with the checked-in resource. With {@code
 * -Dvolume-clone.write-plain-table=true} it writes the resource instead (after changing an option:
 * {@code ./mvnw -B -q -pl node-agent -am test -Dtest=PlainCommandLineTableTest
 * -Dsurefire.failIfNoSpecifiedTests=false -Dvolume-clone.write-plain-table=true}).
 */
class PlainCommandLineTableTest {

  private static final Path RESOURCE =
      Path.of("src/main/resources/io/volumeclone/cli", PlainCommandLine.TABLE);

  /** picocli's marker for "no default value" in {@link Option#defaultValue()}. */
  private static final String NO_DEFAULT = "__no_default_value__";

  @Test
  void theCheckedInTableIsWhatTheAnnotationsSay() throws IOException {
    String expected = fromAnnotations(Main.class).format();
    if (Boolean.getBoolean("volume-clone.write-plain-table")) {
      Files.createDirectories(RESOURCE.getParent());
      Files.writeString(RESOURCE, expected, StandardCharsets.UTF_8);
    }
    assertThat(RESOURCE).exists();
    assertThat(Files.readString(RESOURCE, StandardCharsets.UTF_8))
        .as(
            "%s is stale: rerun this test with -Dvolume-clone.write-plain-table=true and commit"
                + " the file",
            RESOURCE)
        .isEqualTo(expected);
    assertThat(PlainCommandLine.Table.LOADED)
        .as("the table on the class path")
        .isEqualTo(PlainCommandLine.Table.parse(expected));
  }

  @Test
  void theTableListsTheCommandsThatTakeOnlyOptionsAndLeavesTheOthersToPicocli() {
    PlainCommandLine.Table table = fromAnnotations(Main.class);
    assertThat(table.commands()).extracting(PlainCommandLine.Table.Command::name).contains("clone");
    // status takes a positional NAME: picocli's to read
    assertThat(table.find(Main.class.getName(), "status")).isNull();
    PlainCommandLine.Table.Option attach =
        table.find(Main.class.getName(), "clone").options().stream()
            .filter(o -> o.names().contains("--attach"))
            .findFirst()
            .orElseThrow();
    assertThat(attach.plain()).as("--attach has an arity").isFalse();
    assertThat(PlainCommandLine.Table.parse(table.format())).isEqualTo(table);
  }

  /**
   * A command that sets its options without reflection ({@link PlainOptions}) sets every option of
   * the table, into the field the table names: a new option without a case fails here.
   */
  @Test
  void plainOptionsCommandsSetEveryOptionOfTheTableIntoItsField() throws Exception {
    PlainCommandLine.Table table = fromAnnotations(Main.class);
    int checked = 0;
    for (PlainCommandLine.Table.Command command : table.commands()) {
      Class<?> type = Class.forName(command.type());
      if (!PlainOptions.class.isAssignableFrom(type)) {
        continue;
      }
      var constructor = type.getDeclaredConstructor();
      constructor.setAccessible(true);
      PlainOptions instance = (PlainOptions) constructor.newInstance();
      for (PlainCommandLine.Table.Option option : command.options()) {
        Field field = Class.forName(option.declaringClass()).getDeclaredField(option.field());
        field.setAccessible(true);
        Object value = sample(field.getType());
        assertThat(instance.setOption(option.field(), value))
            .as("%s sets %s", type.getSimpleName(), option.field())
            .isTrue();
        assertThat(field.get(instance))
            .as("%s.%s", type.getSimpleName(), field.getName())
            .isEqualTo(value);
        checked++;
      }
      assertThat(instance.setOption("noSuchOption", "x")).isFalse();
    }
    assertThat(checked).as("options checked (clone's at least)").isGreaterThanOrEqualTo(18);
  }

  private static Object sample(Class<?> type) {
    if (type == String.class) {
      return "text";
    }
    if (type == Path.class) {
      return Path.of("/some/path");
    }
    if (type == int.class || type == Integer.class) {
      return 7;
    }
    if (type == long.class || type == Long.class) {
      return 123_456_789L;
    }
    if (type == boolean.class || type == Boolean.class) {
      return true;
    }
    throw new AssertionError("no sample value for " + type);
  }

  /** The table of {@code root}'s subcommands, from their annotations. */
  static PlainCommandLine.Table fromAnnotations(Class<?> root) {
    List<PlainCommandLine.Table.Command> commands = new ArrayList<>();
    for (Class<?> type : root.getAnnotation(Command.class).subcommands()) {
      List<PlainCommandLine.Table.Option> options = options(type);
      if (options != null) {
        commands.add(
            new PlainCommandLine.Table.Command(
                root.getName(), type.getAnnotation(Command.class).name(), type.getName(), options));
      }
    }
    return new PlainCommandLine.Table(List.copyOf(commands));
  }

  /** The options of {@code type} and its superclasses; null when it uses more than options. */
  private static List<PlainCommandLine.Table.Option> options(Class<?> type) {
    List<PlainCommandLine.Table.Option> options = new ArrayList<>();
    for (Class<?> c = type; c != null && c != Object.class; c = c.getSuperclass()) {
      Field[] fields = c.getDeclaredFields();
      Arrays.sort(fields, (a, b) -> a.getName().compareTo(b.getName()));
      for (Field field : fields) {
        if (field.isAnnotationPresent(Parameters.class)
            || field.isAnnotationPresent(ArgGroup.class)
            || field.isAnnotationPresent(Mixin.class)
            || field.isAnnotationPresent(Spec.class)) {
          return null;
        }
        Option option = field.getAnnotation(Option.class);
        if (option == null) {
          continue;
        }
        if (Modifier.isFinal(field.getModifiers())) {
          return null;
        }
        // Short names stay unknown to the reader: clustered short options are picocli's to read.
        List<String> names = Arrays.stream(option.names()).filter(n -> n.startsWith("--")).toList();
        options.add(
            new PlainCommandLine.Table.Option(
                c.getName(),
                field.getName(),
                names,
                kind(field, option),
                option.required(),
                plain(field, option),
                NO_DEFAULT.equals(option.defaultValue()) ? null : option.defaultValue()));
      }
    }
    return List.copyOf(options);
  }

  private static String kind(Field field, Option option) {
    if (option.converter().length == 1) {
      return PlainCommandLine.Table.CONVERTER + option.converter()[0].getName();
    }
    Class<?> t = field.getType();
    if (t == String.class) {
      return PlainCommandLine.Table.STRING;
    }
    if (t == Path.class) {
      return PlainCommandLine.Table.PATH;
    }
    if (t == int.class || t == Integer.class) {
      return PlainCommandLine.Table.INT;
    }
    if (t == long.class || t == Long.class) {
      return PlainCommandLine.Table.LONG;
    }
    if (t == boolean.class || t == Boolean.class) {
      return PlainCommandLine.Table.BOOLEAN;
    }
    return "other:" + t.getName();
  }

  /**
   * Whether the reader knows the option's form: one value of a known type or through a converter,
   * no {@code arity}. The others are picocli's to read when they are given.
   */
  private static boolean plain(Field field, Option option) {
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
    return !kind(field, option).startsWith("other:");
  }
}
