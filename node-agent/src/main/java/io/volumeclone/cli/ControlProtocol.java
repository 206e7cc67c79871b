package io.volumeclone.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The control socket's protocol: one JSON object per line each way. A request names its {@code
 * command} ({@code status}, {@code tune}, {@code cutover}, {@code cancel}) and carries that
 * command's fields; the reply is {@code {"ok":true,"clone":{...}}} with the clone's status after
 * the command, or {@code {"ok":false,"error":"..."}} with a message for the user. A connection may
 * carry several requests; a line that is not a JSON object gets an error reply and the connection
 * stays usable. Lines are at most {@link #MAX_LINE} bytes.
 */
final class ControlProtocol {

  static final ObjectMapper JSON = new ObjectMapper();
  static final int VERSION = 1;
  static final int MAX_LINE = 64 * 1024;

  static final String STATUS = "status";
  static final String TUNE = "tune";
  static final String CUTOVER = "cutover";
  static final String CANCEL = "cancel";

  private ControlProtocol() {}

  /** A request the server refuses, with the message the client shows. */
  static final class RefusedException extends Exception {
    RefusedException(String message) {
      super(message);
    }
  }

  static ObjectNode request(String command) {
    ObjectNode node = JSON.createObjectNode();
    node.put("command", command);
    return node;
  }

  /** Parses one request line; a line that is no JSON object, or has no command, is refused. */
  static ObjectNode parseRequest(String line) throws RefusedException {
    JsonNode node;
    try {
      node = JSON.readTree(line);
    } catch (JsonProcessingException e) {
      throw new RefusedException("request is not JSON: " + e.getOriginalMessage());
    }
    if (node == null || !node.isObject()) {
      throw new RefusedException("request must be a JSON object, got: " + abbreviate(line));
    }
    JsonNode command = node.get("command");
    if (command == null || !command.isTextual()) {
      throw new RefusedException(
          "request has no \"command\" (status, tune, cutover or cancel): " + abbreviate(line));
    }
    return (ObjectNode) node;
  }

  static ObjectNode ok(ObjectNode clone) {
    ObjectNode node = JSON.createObjectNode();
    node.put("ok", true);
    node.put("version", VERSION);
    node.set("clone", clone);
    return node;
  }

  static ObjectNode error(String message) {
    ObjectNode node = JSON.createObjectNode();
    node.put("ok", false);
    node.put("version", VERSION);
    node.put("error", message);
    return node;
  }

  /** The reply's clone, or a {@link RefusedException} with the server's error. */
  static JsonNode cloneOf(JsonNode reply) throws RefusedException {
    if (reply == null || !reply.isObject()) {
      throw new RefusedException("the clone answered something that is not a JSON object");
    }
    if (!reply.path("ok").asBoolean(false)) {
      throw new RefusedException(reply.path("error").asText("the clone refused the request"));
    }
    return reply.path("clone");
  }

  static String line(JsonNode node) {
    try {
      return JSON.writeValueAsString(node);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String abbreviate(String line) {
    return line.length() <= 80 ? line : line.substring(0, 80) + "...";
  }
}
