package io.volumeclone.api.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.mockwebserver.dsl.HttpMethod;
import io.fabric8.mockwebserver.http.Buffer;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The CRUD mock with the part of server-side apply that the status writers rely on. The stock mock
 * treats an apply as a JSON merge patch, which replaces the whole {@code conditions} list and never
 * removes a field; a real API server instead merges the list-map {@code conditions} by {@code
 * type}, and removes a field that the applying field manager sent before, no longer sends, and no
 * other manager's last apply holds. This dispatcher does the same for the status subresource, with
 * a condition as one unit of ownership (the real server owns each of its fields; the writers always
 * send a condition whole). Conflicts are not modelled: both writers apply with force. Shared by the
 * operator's and the agent's unit tests through the crds test jar.
 */
public class TestingApplyCrudDispatcher extends KubernetesCrudDispatcher {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String CONDITIONS = "conditions";

  /** Per object path, per field manager: the status fields of its last apply. */
  private final Map<String, Map<String, Set<String>>> applied = new HashMap<>();

  @Override
  public synchronized MockResponse handlePatch(RecordedRequest request) {
    String type = request.getHeader("Content-Type");
    if (type == null || !type.startsWith("application/apply-patch")) {
      return super.handlePatch(request);
    }
    String path = request.getPath();
    int query = path.indexOf('?');
    String bare = query < 0 ? path : path.substring(0, query);
    if (!bare.endsWith("/status")) {
      return failure(400, "BadRequest", "the testing dispatcher applies only to /status: " + bare);
    }
    String manager = parameter(query < 0 ? "" : path.substring(query + 1), "fieldManager");
    if (manager == null) {
      return failure(400, "BadRequest", "fieldManager is required for apply patch");
    }
    String objectPath = bare.substring(0, bare.length() - "/status".length());
    Map.Entry<?, String> stored = findResource(getKey(objectPath));
    if (stored == null) {
      return failure(404, "NotFound", objectPath + " not found");
    }
    try {
      Map<String, JsonNode> fields = flatten(JSON.readTree(stored.getValue()).path("status"));
      Map<String, JsonNode> sent =
          flatten(JSON.readTree(request.getBody().getBytes()).path("status"));
      Map<String, Set<String>> managers = applied.computeIfAbsent(objectPath, k -> new HashMap<>());
      for (String field : managers.getOrDefault(manager, Set.of())) {
        boolean heldByAnother =
            managers.entrySet().stream()
                .anyMatch(e -> !e.getKey().equals(manager) && e.getValue().contains(field));
        if (!sent.containsKey(field) && !heldByAnother) {
          fields.remove(field);
        }
      }
      fields.putAll(sent);
      managers.put(manager, Set.copyOf(sent.keySet()));
      ArrayNode patch = JSON.createArrayNode();
      patch.addObject().put("op", "add").put("path", "/status").set("value", unflatten(fields));
      RecordedRequest asJsonPatch =
          new RecordedRequest(
              request.getHttpVersion(),
              HttpMethod.PATCH,
              bare,
              request
                  .getHeaders()
                  .newBuilder()
                  .set("Content-Type", "application/json-patch+json")
                  .build(),
              new Buffer(JSON.writeValueAsBytes(patch)));
      return super.handlePatch(asJsonPatch);
    } catch (Exception e) {
      return failure(400, "BadRequest", String.valueOf(e.getMessage()));
    }
  }

  private static String parameter(String query, String name) {
    for (String pair : query.split("&")) {
      int eq = pair.indexOf('=');
      if (eq > 0 && pair.substring(0, eq).equals(name)) {
        return URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
      }
    }
    return null;
  }

  /** Leaf fields by path ("progress.bytesCopied"); each condition is one field, by its type. */
  private static Map<String, JsonNode> flatten(JsonNode status) {
    Map<String, JsonNode> out = new LinkedHashMap<>();
    flatten("", status, out);
    return out;
  }

  private static void flatten(String prefix, JsonNode node, Map<String, JsonNode> out) {
    if (!node.isObject()) {
      return;
    }
    for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      String path = prefix + e.getKey();
      if (prefix.isEmpty() && e.getKey().equals(CONDITIONS) && e.getValue().isArray()) {
        for (JsonNode condition : e.getValue()) {
          out.put(CONDITIONS + "[" + condition.path("type").asText() + "]", condition);
        }
      } else if (e.getValue().isObject()) {
        flatten(path + ".", e.getValue(), out);
      } else if (!e.getValue().isNull()) {
        out.put(path, e.getValue());
      }
    }
  }

  private static ObjectNode unflatten(Map<String, JsonNode> fields) {
    ObjectNode status = JSON.createObjectNode();
    for (Map.Entry<String, JsonNode> e : fields.entrySet()) {
      if (e.getKey().startsWith(CONDITIONS + "[")) {
        JsonNode list = status.get(CONDITIONS);
        (list == null ? status.putArray(CONDITIONS) : (ArrayNode) list).add(e.getValue());
        continue;
      }
      String[] parts = e.getKey().split("\\.");
      ObjectNode at = status;
      for (int i = 0; i < parts.length - 1; i++) {
        JsonNode next = at.get(parts[i]);
        at = next instanceof ObjectNode o ? o : at.putObject(parts[i]);
      }
      at.set(parts[parts.length - 1], e.getValue());
    }
    return status;
  }

  private static MockResponse failure(int code, String reason, String message) {
    return new MockResponse()
        .setResponseCode(code)
        .setBody(
            "{\"apiVersion\":\"v1\",\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\""
                + reason
                + "\",\"code\":"
                + code
                + ",\"message\":"
                + JSON.valueToTree(message)
                + "}");
  }
}
