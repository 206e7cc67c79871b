package io.volumeclone.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The clones running on this machine, found through their control sockets under one run directory.
 * A socket nobody listens on belongs to a process that died: it is reported and removed.
 */
final class RunningClones {

  /** A running clone and its status. */
  record Entry(String name, Path socket, JsonNode status) {}

  /** What a scan found: the running clones, and one message per stale or silent socket. */
  record Scan(List<Entry> running, List<String> problems) {}

  private RunningClones() {}

  static Scan scan(Path runDir) {
    List<Entry> running = new ArrayList<>();
    List<String> problems = new ArrayList<>();
    List<Path> dirs = new ArrayList<>();
    try (DirectoryStream<Path> stream = Files.newDirectoryStream(runDir)) {
      stream.forEach(dirs::add);
    } catch (NoSuchFileException e) {
      return new Scan(running, problems);
    } catch (IOException e) {
      problems.add("cannot read the run directory " + runDir + ": " + e);
      return new Scan(running, problems);
    }
    dirs.sort(null);
    for (Path dir : dirs) {
      Path socket = dir.resolve(ControlPaths.SOCKET);
      if (!Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
        continue;
      }
      String name = dir.getFileName().toString();
      try {
        JsonNode reply =
            ControlClient.call(socket, ControlProtocol.request(ControlProtocol.STATUS));
        running.add(new Entry(name, socket, ControlProtocol.cloneOf(reply)));
      } catch (ControlClient.StaleSocketException e) {
        problems.add("clone '" + name + "' is not running: " + removeStale(name, socket));
      } catch (IOException | ControlProtocol.RefusedException e) {
        problems.add("clone '" + name + "': control socket " + socket + " did not answer: " + e);
      }
    }
    return new Scan(running, problems);
  }

  /**
   * The reply of the clone called {@code name} to {@code request}: its status after the command. An
   * unknown name, or a stale socket (removed), is an error naming the clones that do run.
   */
  static JsonNode call(Path runDir, String name, ObjectNode request) throws IOException {
    String invalid = ControlPaths.invalidName(name);
    if (invalid != null) {
      throw new Main.UsageException("invalid clone name '" + name + "': " + invalid);
    }
    Path socket = ControlPaths.socket(runDir, name);
    try {
      return ControlProtocol.cloneOf(ControlClient.call(socket, request));
    } catch (NoSuchFileException e) {
      throw new IOException("no clone named '" + name + "' is running; " + othersRunning(runDir));
    } catch (ControlClient.StaleSocketException e) {
      throw new IOException(
          "clone '"
              + name
              + "' is not running: "
              + removeStale(name, socket)
              + "; "
              + othersRunning(runDir));
    } catch (ControlProtocol.RefusedException e) {
      throw new IOException("clone '" + name + "': " + e.getMessage());
    }
  }

  private static String othersRunning(Path runDir) {
    List<String> names = scan(runDir).running().stream().map(Entry::name).toList();
    return names.isEmpty()
        ? "no clone is running under " + runDir
        : "running under " + runDir + ": " + String.join(", ", names);
  }

  private static String removeStale(String name, Path socket) {
    try {
      Files.deleteIfExists(socket);
      Files.deleteIfExists(socket.getParent());
      return "its control socket "
          + socket
          + " was stale (the process that made it is no longer running) and has been removed";
    } catch (IOException e) {
      return "its control socket "
          + socket
          + " is stale (the process that made it is no longer running); removing it failed: "
          + e;
    }
  }
}
