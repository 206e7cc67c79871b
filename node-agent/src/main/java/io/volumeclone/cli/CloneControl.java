package io.volumeclone.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.volumeclone.api.Sizes;
import io.volumeclone.engine.Clone;
import io.volumeclone.engine.CloneOptions;
import io.volumeclone.engine.CloneStatus;
import io.volumeclone.engine.CloneTuning;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * What a running {@code volume-clone clone} answers on its control socket: its status, and the
 * commands {@code tune} (through {@link Clone#tune}, the engine's one control surface), {@code
 * cutover} (approves a manual cutover) and {@code cancel} (commit, close, exit; the next {@code
 * clone} resumes from the metadata).
 */
final class CloneControl implements ControlServer.Handler {

  /** What the clone was started on, for {@code list} and {@code status}. */
  record Description(
      String source, String destination, String metadata, String export, String cutover) {}

  private final Clone clone;
  private final Description description;
  private final Runnable cancel;
  private final long pid = ProcessHandle.current().pid();

  CloneControl(Clone clone, Description description, Runnable cancel) {
    this.clone = clone;
    this.description = description;
    this.cancel = cancel;
  }

  /**
   * Serves {@code clone}'s control socket under {@code runDir}, or returns null, saying so on
   * {@code err}, when it cannot be made (the clone runs on without it). A name a live clone holds
   * is an error.
   */
  static ControlServer serve(
      Path runDir, Clone clone, Description description, Runnable cancel, java.io.PrintStream err)
      throws ControlServer.NameInUseException {
    try {
      return ControlServer.start(
          runDir, clone.name(), new CloneControl(clone, description, cancel));
    } catch (ControlServer.NameInUseException e) {
      throw e;
    } catch (IOException e) {
      err.println(
          "volume-clone: clone "
              + clone.name()
              + " runs without a control socket (list, tune, cutover, cancel cannot reach it): "
              + e.getMessage()
              + "; set --run-dir or "
              + ControlPaths.ENV
              + " to a writable directory");
      return null;
    }
  }

  @Override
  public ObjectNode handle(ObjectNode request) throws ControlProtocol.RefusedException {
    String command = request.get("command").asText();
    return switch (command) {
      case ControlProtocol.STATUS -> ControlProtocol.ok(status());
      case ControlProtocol.TUNE -> ControlProtocol.ok(tune(request));
      case ControlProtocol.CUTOVER -> ControlProtocol.ok(cutover());
      case ControlProtocol.CANCEL -> ControlProtocol.ok(cancel());
      default ->
          throw new ControlProtocol.RefusedException(
              "unknown command '" + command + "': expected status, tune, cutover or cancel");
    };
  }

  /** The clone's in-memory status (copied, and committed to the metadata) and its knobs. */
  ObjectNode status() {
    CloneStatus s = clone.status();
    ObjectNode node;
    try {
      // the progress line's fields, so that status and progress never disagree
      node = (ObjectNode) ControlProtocol.JSON.readTree(ProgressReporter.json("status", s));
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException("a progress line is not JSON: " + e.getMessage(), e);
    }
    node.remove("event");
    node.put("phase", phase(s));
    node.put("pid", pid);
    node.put("source", description.source());
    node.put("destination", description.destination());
    node.put("metadata", description.metadata());
    if (description.export() != null) {
      node.put("export", description.export());
    }
    node.put("cutover", description.cutover());
    CloneTuning t = clone.tuning();
    ObjectNode tuning = node.putObject("tuning");
    tuning.put("paused", t.paused());
    tuning.put("bandwidth", t.bandwidth());
    tuning.put("regionsInFlight", t.regionsInFlight());
    tuning.put("batchRegions", t.batchRegions());
    tuning.put("copyOnRead", t.copyOnRead());
    tuning.put("hotRegionsFirst", t.hotRegionsFirst());
    return node;
  }

  /** COPYING, PAUSED, COPIED (waiting for a manual cutover), CUT_OVER or CLOSED. */
  static String phase(CloneStatus s) {
    if (s.state() == CloneStatus.State.COPYING && s.paused()) {
      return "PAUSED";
    }
    return s.state().name();
  }

  private ObjectNode tune(ObjectNode request) throws ControlProtocol.RefusedException {
    CloneTuning change;
    try {
      change = tuningOf(request);
    } catch (IllegalArgumentException e) {
      throw new ControlProtocol.RefusedException(e.getMessage());
    }
    if (clone.state() != CloneStatus.State.COPYING && !change.isEmpty()) {
      throw new ControlProtocol.RefusedException(
          "clone " + clone.name() + " is " + phase(clone.status()) + ": there is nothing to tune");
    }
    try {
      clone.tune(change);
    } catch (IOException e) {
      throw new ControlProtocol.RefusedException(
          "paused, but committing the metadata failed: " + e.getMessage());
    }
    return status();
  }

  /** The {@link CloneTuning} a {@code tune} request asks for; bad values name the field. */
  static CloneTuning tuningOf(JsonNode request) {
    CloneTuning change = CloneTuning.NONE;
    if (request.has("paused")) {
      change = change.withPaused(bool(request, "paused"));
    }
    if (request.has("bandwidth")) {
      JsonNode value = request.get("bandwidth");
      long bytes;
      if (value.isIntegralNumber()) {
        bytes = value.asLong();
      } else if (value.isTextual()) {
        bytes = Sizes.parse(value.asText());
      } else {
        throw new IllegalArgumentException("bandwidth must be a size such as 100Mi, got " + value);
      }
      change = change.withBandwidth(bytes);
    }
    if (request.has("regionsInFlight")) {
      change = change.withRegionsInFlight(integer(request, "regionsInFlight"));
    }
    if (request.has("batchRegions")) {
      change = change.withBatchRegions(integer(request, "batchRegions"));
    }
    if (request.has("copyOnRead")) {
      change = change.withCopyOnRead(bool(request, "copyOnRead"));
    }
    if (request.has("hotRegionsFirst")) {
      change = change.withHotRegionsFirst(bool(request, "hotRegionsFirst"));
    }
    return change;
  }

  private static boolean bool(JsonNode request, String field) {
    JsonNode value = request.get(field);
    if (!value.isBoolean()) {
      throw new IllegalArgumentException(field + " must be true or false, got " + value);
    }
    return value.asBoolean();
  }

  private static int integer(JsonNode request, String field) {
    JsonNode value = request.get(field);
    if (!value.isIntegralNumber() || !value.canConvertToInt()) {
      throw new IllegalArgumentException(field + " must be a whole number, got " + value);
    }
    return value.asInt();
  }

  private ObjectNode cutover() throws ControlProtocol.RefusedException {
    if (clone.options().cutover() != CloneOptions.Cutover.MANUAL) {
      throw new ControlProtocol.RefusedException(
          "clone "
              + clone.name()
              + " was started with --cutover auto: it cuts over by itself once copied");
    }
    CloneStatus.State state = clone.state();
    if (state == CloneStatus.State.COPIED) {
      try {
        clone.approveCutover().get(60, TimeUnit.SECONDS);
      } catch (ExecutionException e) {
        throw new ControlProtocol.RefusedException(
            "cutover of clone " + clone.name() + " failed: " + e.getCause().getMessage());
      } catch (TimeoutException e) {
        throw new ControlProtocol.RefusedException(
            "cutover of clone " + clone.name() + " approved but not done after 60 s");
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    } else if (state == CloneStatus.State.COPYING) {
      clone.approveCutover(); // cuts over as soon as the copy completes
    }
    return status();
  }

  private ObjectNode cancel() {
    cancel.run(); // commits and closes; the in-memory figures stay readable
    return status();
  }
}
