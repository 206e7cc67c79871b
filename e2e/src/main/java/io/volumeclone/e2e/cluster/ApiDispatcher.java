package io.volumeclone.e2e.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.mockwebserver.dsl.HttpMethod;
import io.fabric8.mockwebserver.http.Buffer;
import io.fabric8.mockwebserver.http.Dispatcher;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.fabric8.zjsonpatch.JsonPatch;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The embedded API server's request handling: the fabric8 CRUD mock stores and watches objects;
 * this wrapper adds what {@code kubectl} and controllers expect of a real API server and the mock
 * lacks.
 *
 * <ul>
 *   <li>Discovery ({@code /api}, {@code /apis}, {@code /api/v1}, one document per group version),
 *       built from a fixed table of built-in resources plus every stored CRD. Aggregated discovery
 *       is not offered: answering with plain {@code application/json} makes kubectl fall back to
 *       the legacy documents.
 *   <li>OpenAPI v3 ({@code /openapi/v3} and one document per CRD group version carrying the CRD's
 *       schema), which kubectl uses for client-side validation and apply. OpenAPI v2 is asked for
 *       as protobuf only; it answers 404, which kubectl accepts once v3 is there.
 *   <li>Server-side printing: {@code Accept: ...;as=Table;g=meta.k8s.io} gets a Table built from a
 *       CRD's {@code additionalPrinterColumns} (dates shown as ages, like the API server), or a
 *       short built-in table for Pods and Nodes.
 *   <li>{@code metadata.generation}: 1 on create, +1 when a write changes {@code spec} of a
 *       resource with a status subresource; writes to {@code /status} never touch it. PATCHes of
 *       such resources (merge and JSON patch) are applied here and stored as a PUT so the rule
 *       holds.
 *   <li>Field selectors on any field ({@code involvedObject.name=...} for {@code kubectl describe},
 *       {@code spec.nodeName=...} for the node runner): lists are filtered here.
 * </ul>
 */
public class ApiDispatcher extends Dispatcher {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
  private static final String TRACE = System.getenv("VOLUME_CLONE_API_TRACE");

  private final KubernetesCrudDispatcher crud = new KubernetesCrudDispatcher();
  private final Object writeLock = new Object();

  /** A built-in resource kubectl and the operator use. */
  private record Builtin(
      String groupVersion,
      String plural,
      String kind,
      boolean namespaced,
      List<String> shortNames,
      boolean statusSubresource) {}

  private static final List<Builtin> BUILTINS =
      List.of(
          new Builtin("v1", "pods", "Pod", true, List.of("po"), true),
          new Builtin("v1", "nodes", "Node", false, List.of("no"), true),
          new Builtin("v1", "namespaces", "Namespace", false, List.of("ns"), true),
          new Builtin("v1", "persistentvolumes", "PersistentVolume", false, List.of("pv"), true),
          new Builtin(
              "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true, List.of("pvc"), true),
          new Builtin("v1", "events", "Event", true, List.of("ev"), false),
          new Builtin("v1", "configmaps", "ConfigMap", true, List.of("cm"), false),
          new Builtin("v1", "secrets", "Secret", true, List.of(), false),
          new Builtin("v1", "serviceaccounts", "ServiceAccount", true, List.of("sa"), false),
          new Builtin("v1", "services", "Service", true, List.of("svc"), true),
          new Builtin(
              "apiextensions.k8s.io/v1",
              "customresourcedefinitions",
              "CustomResourceDefinition",
              false,
              List.of("crd", "crds"),
              true),
          new Builtin("coordination.k8s.io/v1", "leases", "Lease", true, List.of(), false),
          new Builtin("events.k8s.io/v1", "events", "Event", true, List.of("ev"), false));

  private static final List<String> ALL_VERBS =
      List.of("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch");

  @Override
  public MockResponse dispatch(RecordedRequest request) {
    MockResponse response;
    try {
      response = handle(request);
    } catch (RuntimeException e) {
      response = status(500, "InternalError", "embedded API server: " + e);
    }
    if (TRACE != null) {
      System.err.println(
          "[api] "
              + request.getMethod()
              + " "
              + request.getPath()
              + " accept="
              + request.getHeader("Accept")
              + " content-type="
              + request.getHeader("Content-Type")
              + " -> "
              + response.code());
    }
    return response;
  }

  private MockResponse handle(RecordedRequest request) {
    String fullPath = request.getPath();
    int q = fullPath.indexOf('?');
    String path = q < 0 ? fullPath : fullPath.substring(0, q);
    Map<String, String> query = query(q < 0 ? "" : fullPath.substring(q + 1));
    if (path.length() > 1 && path.endsWith("/")) {
      path = path.substring(0, path.length() - 1);
    }
    HttpMethod method = request.method();

    if (method == HttpMethod.GET) {
      MockResponse fixed = fixedDocument(path);
      if (fixed != null) {
        return fixed;
      }
    }

    ResourcePath resource = ResourcePath.parse(path);
    if (resource == null) {
      return crud.dispatch(request);
    }
    if (method == HttpMethod.POST && resource.name() == null) {
      return create(request, resource);
    }
    if ((method == HttpMethod.PUT || method == HttpMethod.PATCH)
        && resource.name() != null
        && (resource.subresource() == null || resource.subresource().equals("status"))
        && hasStatusSubresource(resource)) {
      return update(request, resource, resource.subresource() != null);
    }
    boolean list = method == HttpMethod.GET && !"true".equals(query.get("watch"));
    if (list && query.containsKey("fieldSelector")) {
      // The mock answers an empty list to field selectors it does not know; filter here instead.
      StringBuilder rest = new StringBuilder();
      query.forEach(
          (k, v) -> {
            if (!k.equals("fieldSelector")) {
              rest.append(rest.length() == 0 ? "?" : "&")
                  .append(k)
                  .append('=')
                  .append(java.net.URLEncoder.encode(v, StandardCharsets.UTF_8));
            }
          });
      request = rewritePath(request, path + rest);
    }
    MockResponse response = crud.dispatch(request);
    if (list && resource.name() == null) {
      response = typedList(resource, response);
    }
    if (list) {
      response = filterByFields(response, query.get("fieldSelector"));
      String accept = Objects.toString(request.getHeader("Accept"), "");
      if (accept.contains("as=Table") && response.code() == 200) {
        response = table(resource, response);
      }
    }
    return response;
  }

  // ---------------------------------------------------------------- writes and generation

  private MockResponse create(RecordedRequest request, ResourcePath resource) {
    ObjectNode body = parseObject(request.getUtf8Body());
    if (body == null) {
      return crud.dispatch(request);
    }
    ObjectNode metadata = child(body, "metadata");
    if (!metadata.has("generation")) {
      metadata.put("generation", 1);
    }
    if (hasStatusSubresource(resource)) {
      body.remove("status"); // the API server drops status on create when it is a subresource
    }
    return crud.dispatch(rewrite(request, HttpMethod.POST, request.getPath(), body));
  }

  /**
   * A PUT or PATCH of a resource with a status subresource, of its main resource or of {@code
   * /status}. The new object is computed here (patches applied), checked against the stored
   * resourceVersion (409 on a stale one, as the API server does), given its generation, and stored
   * by a plain PUT: the mock's own PUT keeps status on the main resource and keeps everything but
   * status on {@code /status}.
   */
  private MockResponse update(RecordedRequest request, ResourcePath resource, boolean status) {
    synchronized (writeLock) {
      MockResponse current = crud.handleGet(resource.path());
      if (current.code() != 200) {
        return current;
      }
      ObjectNode old = parseObject(current.getBody().readUtf8());
      String storedVersion = old.path("metadata").path("resourceVersion").asText("");
      ObjectNode updated;
      if (request.method() == HttpMethod.PUT) {
        updated = parseObject(request.getUtf8Body());
        if (updated == null) {
          return status(400, "BadRequest", "the request body is not a JSON object");
        }
      } else {
        String type = Objects.toString(request.getHeader("Content-Type"), "");
        JsonNode patch;
        try {
          patch = JSON.readTree(request.getUtf8Body());
          if (type.startsWith("application/json-patch+json")) {
            updated = (ObjectNode) JsonPatch.apply(patch, old.deepCopy());
          } else if (type.startsWith("application/merge-patch+json")) {
            updated = (ObjectNode) mergePatch(old.deepCopy(), patch);
          } else {
            return status(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include:"
                    + " application/json-patch+json, application/merge-patch+json (custom"
                    + " resources do not support strategic merge patch or, here, apply patch)");
          }
        } catch (IOException | RuntimeException e) {
          return status(422, "Invalid", "the patch cannot be applied: " + e.getMessage());
        }
        if (!patch.path("metadata").has("resourceVersion")) {
          child(updated, "metadata").put("resourceVersion", storedVersion);
        }
      }
      String requested = updated.path("metadata").path("resourceVersion").asText("");
      if (!requested.isEmpty() && !requested.equals(storedVersion)) {
        return status(
            409,
            "Conflict",
            "Operation cannot be fulfilled on "
                + resource.plural()
                + "."
                + resource.group()
                + " \""
                + resource.name()
                + "\": the object has been modified; please apply your changes to the latest"
                + " version and try again");
      }
      ObjectNode stored;
      if (status) {
        // Only status changes; metadata and spec stay as stored.
        stored = old.deepCopy();
        if (updated.has("status")) {
          stored.set("status", updated.get("status"));
        } else {
          stored.remove("status");
        }
      } else {
        stored = updated;
        if (old.has("status")) {
          stored.set("status", old.get("status"));
        } else {
          stored.remove("status");
        }
        long generation = old.path("metadata").path("generation").asLong(1);
        if (!Objects.equals(old.get("spec"), updated.get("spec"))) {
          generation++;
        }
        child(stored, "metadata").put("generation", generation);
      }
      child(stored, "metadata").put("resourceVersion", storedVersion);
      return crud.dispatch(
          rewrite(request, HttpMethod.PUT, resource.path() + (status ? "/status" : ""), stored));
    }
  }

  /** RFC 7386 JSON merge patch. */
  static JsonNode mergePatch(JsonNode target, JsonNode patch) {
    if (!patch.isObject()) {
      return patch;
    }
    ObjectNode result =
        target != null && target.isObject() ? (ObjectNode) target : NODES.objectNode();
    Iterator<Map.Entry<String, JsonNode>> fields = patch.fields();
    while (fields.hasNext()) {
      Map.Entry<String, JsonNode> field = fields.next();
      if (field.getValue().isNull()) {
        result.remove(field.getKey());
      } else {
        result.set(field.getKey(), mergePatch(result.get(field.getKey()), field.getValue()));
      }
    }
    return result;
  }

  private static RecordedRequest rewritePath(RecordedRequest original, String path) {
    return new RecordedRequest(
        original.getHttpVersion(),
        original.method(),
        path,
        original.getHeaders(),
        original.getBody() == null ? new Buffer() : original.getBody());
  }

  private static RecordedRequest rewrite(
      RecordedRequest original, HttpMethod method, String path, JsonNode body) {
    byte[] bytes;
    try {
      bytes = JSON.writeValueAsBytes(body);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return new RecordedRequest(
        original.getHttpVersion(),
        method,
        path,
        original
            .getHeaders()
            .newBuilder()
            .set("Content-Type", "application/json")
            .set("Content-Length", Integer.toString(bytes.length))
            .build(),
        new Buffer(bytes));
  }

  private boolean hasStatusSubresource(ResourcePath resource) {
    if (!resource.group().isEmpty() && !isBuiltinGroup(resource.groupVersion())) {
      ObjectNode crd = crdFor(resource.group(), resource.plural());
      if (crd == null) {
        return false;
      }
      for (JsonNode version : crd.path("spec").path("versions")) {
        if (version.path("name").asText().equals(resource.version())
            && version.path("subresources").has("status")) {
          return true;
        }
      }
      return false;
    }
    return false; // built-in resources keep the mock's own semantics
  }

  private static boolean isBuiltinGroup(String groupVersion) {
    return BUILTINS.stream().anyMatch(b -> b.groupVersion().equals(groupVersion));
  }

  /**
   * The mock calls every list {@code List}; typed clients (kubectl describe reads events into an
   * EventList) want {@code <Kind>List} of the resource's group version.
   */
  private MockResponse typedList(ResourcePath resource, MockResponse response) {
    if (response.code() != 200) {
      return response;
    }
    String kind = null;
    for (Builtin b : BUILTINS) {
      if (b.groupVersion().equals(resource.groupVersion())
          && b.plural().equals(resource.plural())) {
        kind = b.kind();
      }
    }
    if (kind == null && !resource.group().isEmpty()) {
      ObjectNode crd = crdFor(resource.group(), resource.plural());
      if (crd != null) {
        kind = crd.path("spec").path("names").path("kind").asText();
      }
    }
    ObjectNode body = parseObject(response.getBody().readUtf8());
    if (body == null) {
      return response;
    }
    if (kind != null && "List".equals(body.path("kind").asText())) {
      body.put("kind", kind + "List");
      body.put("apiVersion", resource.groupVersion());
    }
    return json(200, body);
  }

  // ---------------------------------------------------------------- field selectors

  private static MockResponse filterByFields(MockResponse response, String selector) {
    if (selector == null || selector.isBlank() || response.code() != 200) {
      return response;
    }
    ObjectNode list = parseObject(response.getBody().readUtf8());
    if (list == null || !list.has("items")) {
      return response;
    }
    List<String[]> requirements = new ArrayList<>();
    for (String part : selector.split(",")) {
      boolean negate = part.contains("!=");
      String[] kv = part.split(negate ? "!=" : "==?", 2);
      if (kv.length == 2) {
        requirements.add(new String[] {kv[0].trim(), kv[1].trim(), negate ? "!" : "="});
      }
    }
    ArrayNode kept = NODES.arrayNode();
    for (JsonNode item : list.path("items")) {
      boolean matches = true;
      for (String[] r : requirements) {
        JsonNode value = item;
        for (String segment : r[0].split("\\.")) {
          value = value.path(segment);
        }
        String actual = value.isValueNode() ? value.asText() : "";
        matches &= r[2].equals("=") == actual.equals(r[1]);
      }
      if (matches) {
        kept.add(item);
      }
    }
    list.set("items", kept);
    return json(200, list);
  }

  // ---------------------------------------------------------------- tables

  private MockResponse table(ResourcePath resource, MockResponse response) {
    ObjectNode body = parseObject(response.getBody().readUtf8());
    if (body == null) {
      return response;
    }
    List<JsonNode> objects = new ArrayList<>();
    if (body.has("items")) {
      body.path("items").forEach(objects::add);
    } else {
      objects.add(body);
    }
    List<Column> columns = columnsFor(resource);
    ObjectNode table = NODES.objectNode();
    table.put("kind", "Table");
    table.put("apiVersion", "meta.k8s.io/v1");
    table.set("metadata", body.path("metadata").deepCopy());
    ArrayNode definitions = table.putArray("columnDefinitions");
    for (Column c : columns) {
      ObjectNode d = definitions.addObject();
      d.put("name", c.name());
      d.put("type", c.type().equals("date") ? "string" : c.type());
      d.put("format", c.name().equals("Name") ? "name" : "");
      d.put("description", c.description());
      d.put("priority", c.priority());
    }
    ArrayNode rows = table.putArray("rows");
    Instant now = Instant.now();
    for (JsonNode object : objects) {
      ObjectNode row = rows.addObject();
      ArrayNode cells = row.putArray("cells");
      for (Column c : columns) {
        JsonNode value = c.jsonPath() == null ? null : jsonPath(object, c.jsonPath());
        if (c.computed() != null) {
          cells.add(c.computed().apply(object));
        } else if (value == null || value.isMissingNode() || value.isNull()) {
          cells.add(c.type().equals("string") || c.type().equals("date") ? "" : null);
        } else if (c.type().equals("date")) {
          cells.add(age(value.asText(), now));
        } else if (value.isValueNode()) {
          cells.add(value);
        } else {
          cells.add(value.toString());
        }
      }
      ObjectNode partial = NODES.objectNode();
      partial.put("kind", "PartialObjectMetadata");
      partial.put("apiVersion", "meta.k8s.io/v1");
      partial.set("metadata", object.path("metadata").deepCopy());
      row.set("object", partial);
    }
    return json(200, table);
  }

  private record Column(
      String name,
      String type,
      String description,
      int priority,
      String jsonPath,
      java.util.function.Function<JsonNode, String> computed) {}

  private List<Column> columnsFor(ResourcePath resource) {
    List<Column> columns = new ArrayList<>();
    columns.add(new Column("Name", "string", "Name of the object", 0, ".metadata.name", null));
    ObjectNode crd =
        resource.group().isEmpty() ? null : crdFor(resource.group(), resource.plural());
    if (crd != null) {
      for (JsonNode version : crd.path("spec").path("versions")) {
        if (version.path("name").asText().equals(resource.version())) {
          boolean hasAge = false;
          for (JsonNode c : version.path("additionalPrinterColumns")) {
            columns.add(
                new Column(
                    c.path("name").asText(),
                    c.path("type").asText("string"),
                    c.path("description").asText(""),
                    c.path("priority").asInt(0),
                    c.path("jsonPath").asText(),
                    null));
            hasAge |= c.path("jsonPath").asText().equals(".metadata.creationTimestamp");
          }
          if (!hasAge) {
            columns.add(age());
          }
        }
      }
      return columns;
    }
    switch (resource.plural()) {
      case "pods" -> {
        columns.add(new Column("Status", "string", "Phase", 0, null, o -> podStatus(o)));
        columns.add(
            new Column(
                "Restarts",
                "string",
                "Container restarts",
                0,
                null,
                o ->
                    Integer.toString(
                        o.path("status")
                            .path("containerStatuses")
                            .path(0)
                            .path("restartCount")
                            .asInt(0))));
        columns.add(age());
        columns.add(new Column("Node", "string", "Node", 0, ".spec.nodeName", null));
      }
      case "nodes" -> {
        columns.add(
            new Column(
                "Status",
                "string",
                "Ready condition",
                0,
                null,
                o -> {
                  for (JsonNode c : o.path("status").path("conditions")) {
                    if (c.path("type").asText().equals("Ready")) {
                      return c.path("status").asText().equals("True") ? "Ready" : "NotReady";
                    }
                  }
                  return "Unknown";
                }));
        columns.add(age());
      }
      case "persistentvolumeclaims" -> {
        columns.add(new Column("Status", "string", "Phase", 0, ".status.phase", null));
        columns.add(new Column("Volume", "string", "Bound PV", 0, ".spec.volumeName", null));
        columns.add(new Column("Mode", "string", "Volume mode", 0, ".spec.volumeMode", null));
        columns.add(age());
      }
      case "events" -> {
        columns.add(new Column("Type", "string", "Type", 0, ".type", null));
        columns.add(new Column("Reason", "string", "Reason", 0, ".reason", null));
        columns.add(
            new Column(
                "Object",
                "string",
                "Involved object",
                0,
                null,
                o ->
                    o.path("involvedObject").path("kind").asText().toLowerCase()
                        + "/"
                        + o.path("involvedObject").path("name").asText()));
        columns.add(new Column("Message", "string", "Message", 0, ".message", null));
      }
      default -> columns.add(age());
    }
    return columns;
  }

  private static Column age() {
    return new Column("Age", "date", "Time since creation", 0, ".metadata.creationTimestamp", null);
  }

  private static String podStatus(JsonNode pod) {
    JsonNode state = pod.path("status").path("containerStatuses").path(0).path("state");
    if (state.has("waiting") && state.path("waiting").has("reason")) {
      return state.path("waiting").path("reason").asText();
    }
    if (state.has("terminated")) {
      return state.path("terminated").path("reason").asText("Terminated");
    }
    return pod.path("status").path("phase").asText("Pending");
  }

  private static JsonNode jsonPath(JsonNode object, String path) {
    JsonNode value = object;
    for (String segment : path.replaceFirst("^\\.", "").split("\\.")) {
      if (segment.isEmpty()) {
        continue;
      }
      value = value.path(segment);
    }
    return value;
  }

  /** The API server's short ages: 42s, 5m10s, 3h, 2d. */
  static String age(String timestamp, Instant now) {
    try {
      Duration d = Duration.between(Instant.parse(timestamp), now);
      long s = Math.max(0, d.toSeconds());
      if (s < 120) {
        return s + "s";
      }
      if (s < 600) {
        return (s / 60) + "m" + (s % 60 == 0 ? "" : (s % 60) + "s");
      }
      if (s < 3 * 3600) {
        return (s / 60) + "m";
      }
      if (s < 48 * 3600) {
        return (s / 3600) + "h";
      }
      return (s / 86400) + "d";
    } catch (RuntimeException e) {
      return "<unknown>";
    }
  }

  // ---------------------------------------------------------------- discovery and OpenAPI

  private MockResponse fixedDocument(String path) {
    switch (path) {
      case "/version":
        return json(200, version());
      case "/api":
        {
          ObjectNode v = NODES.objectNode();
          v.put("kind", "APIVersions");
          v.putArray("versions").add("v1");
          ObjectNode cidr = v.putArray("serverAddressByClientCIDRs").addObject();
          cidr.put("clientCIDR", "0.0.0.0/0");
          cidr.put("serverAddress", "127.0.0.1");
          return json(200, v);
        }
      case "/apis":
        return json(200, groupList());
      case "/openapi/v2":
        return status(404, "NotFound", "OpenAPI v2 is not served here; use /openapi/v3");
      case "/openapi/v3":
        return json(200, openApiIndex());
      default:
        break;
    }
    if (path.equals("/api/v1")) {
      return json(200, resourceList("v1"));
    }
    if (path.startsWith("/openapi/v3/apis/")) {
      String gv = path.substring("/openapi/v3/apis/".length());
      ObjectNode doc = openApiDocument(gv);
      return doc == null
          ? status(404, "NotFound", "no OpenAPI document for " + gv)
          : json(200, doc);
    }
    if (path.startsWith("/apis/")) {
      String[] parts = path.substring(6).split("/");
      if (parts.length == 1) {
        for (JsonNode g : groupList().path("groups")) {
          if (g.path("name").asText().equals(parts[0])) {
            ObjectNode group = ((ObjectNode) g).deepCopy();
            group.put("kind", "APIGroup");
            group.put("apiVersion", "v1");
            return json(200, group);
          }
        }
        return status(404, "NotFound", "the server could not find the requested resource");
      }
      if (parts.length == 2) {
        ObjectNode list = resourceList(parts[0] + "/" + parts[1]);
        if (list.path("resources").isEmpty()) {
          return status(404, "NotFound", "the server could not find the requested resource");
        }
        return json(200, list);
      }
    }
    return null;
  }

  private static ObjectNode version() {
    ObjectNode v = NODES.objectNode();
    v.put("major", "1");
    v.put("minor", "32");
    v.put("gitVersion", "v1.32.0-volume-clone-embedded");
    v.put("gitCommit", "0000000000000000000000000000000000000000");
    v.put("gitTreeState", "clean");
    v.put("buildDate", "2025-01-01T00:00:00Z");
    v.put("goVersion", "go1.23");
    v.put("compiler", "gc");
    v.put("platform", "linux/amd64");
    return v;
  }

  private ObjectNode groupList() {
    Map<String, List<String>> groups = new LinkedHashMap<>();
    for (Builtin b : BUILTINS) {
      if (b.groupVersion().contains("/")) {
        String[] gv = b.groupVersion().split("/");
        List<String> versions = groups.computeIfAbsent(gv[0], k -> new ArrayList<>());
        if (!versions.contains(gv[1])) {
          versions.add(gv[1]);
        }
      }
    }
    for (JsonNode crd : crds()) {
      String group = crd.path("spec").path("group").asText();
      List<String> versions = groups.computeIfAbsent(group, k -> new ArrayList<>());
      for (JsonNode v : crd.path("spec").path("versions")) {
        if (v.path("served").asBoolean(true) && !versions.contains(v.path("name").asText())) {
          versions.add(v.path("name").asText());
        }
      }
    }
    ObjectNode list = NODES.objectNode();
    list.put("kind", "APIGroupList");
    list.put("apiVersion", "v1");
    ArrayNode array = list.putArray("groups");
    groups.forEach(
        (name, versions) -> {
          ObjectNode g = array.addObject();
          g.put("name", name);
          ArrayNode vs = g.putArray("versions");
          for (String v : versions) {
            ObjectNode gv = vs.addObject();
            gv.put("groupVersion", name + "/" + v);
            gv.put("version", v);
          }
          ObjectNode preferred = g.putObject("preferredVersion");
          preferred.put("groupVersion", name + "/" + versions.get(0));
          preferred.put("version", versions.get(0));
        });
    return list;
  }

  private ObjectNode resourceList(String groupVersion) {
    ObjectNode list = NODES.objectNode();
    list.put("kind", "APIResourceList");
    list.put("apiVersion", "v1");
    list.put("groupVersion", groupVersion);
    ArrayNode resources = list.putArray("resources");
    for (Builtin b : BUILTINS) {
      if (b.groupVersion().equals(groupVersion)) {
        addResource(resources, b.plural(), b.kind(), b.namespaced(), b.shortNames(), List.of());
        if (b.statusSubresource()) {
          addSubresource(resources, b.plural() + "/status", b.kind(), b.namespaced());
        }
      }
    }
    for (JsonNode crd : crds()) {
      JsonNode spec = crd.path("spec");
      for (JsonNode v : spec.path("versions")) {
        if (!(spec.path("group").asText() + "/" + v.path("name").asText()).equals(groupVersion)) {
          continue;
        }
        JsonNode names = spec.path("names");
        List<String> shortNames = new ArrayList<>();
        names.path("shortNames").forEach(s -> shortNames.add(s.asText()));
        List<String> categories = new ArrayList<>();
        names.path("categories").forEach(s -> categories.add(s.asText()));
        boolean namespaced = spec.path("scope").asText("Namespaced").equals("Namespaced");
        ObjectNode r =
            addResource(
                resources,
                names.path("plural").asText(),
                names.path("kind").asText(),
                namespaced,
                shortNames,
                categories);
        r.put("singularName", names.path("singular").asText());
        if (v.path("subresources").has("status")) {
          addSubresource(
              resources,
              names.path("plural").asText() + "/status",
              names.path("kind").asText(),
              namespaced);
        }
      }
    }
    return list;
  }

  private static ObjectNode addResource(
      ArrayNode resources,
      String plural,
      String kind,
      boolean namespaced,
      List<String> shortNames,
      List<String> categories) {
    ObjectNode r = resources.addObject();
    r.put("name", plural);
    r.put("singularName", kind.toLowerCase());
    r.put("namespaced", namespaced);
    r.put("kind", kind);
    ArrayNode verbs = r.putArray("verbs");
    ALL_VERBS.forEach(verbs::add);
    if (!shortNames.isEmpty()) {
      ArrayNode s = r.putArray("shortNames");
      shortNames.forEach(s::add);
    }
    if (!categories.isEmpty()) {
      ArrayNode c = r.putArray("categories");
      categories.forEach(c::add);
    }
    return r;
  }

  private static void addSubresource(
      ArrayNode resources, String name, String kind, boolean namespaced) {
    ObjectNode r = resources.addObject();
    r.put("name", name);
    r.put("singularName", "");
    r.put("namespaced", namespaced);
    r.put("kind", kind);
    ArrayNode verbs = r.putArray("verbs");
    verbs.add("get");
    verbs.add("patch");
    verbs.add("update");
  }

  private ObjectNode openApiIndex() {
    ObjectNode index = NODES.objectNode();
    ObjectNode paths = index.putObject("paths");
    for (JsonNode crd : crds()) {
      for (JsonNode v : crd.path("spec").path("versions")) {
        String gv = crd.path("spec").path("group").asText() + "/" + v.path("name").asText();
        paths
            .putObject("apis/" + gv)
            .put(
                "serverRelativeURL",
                "/openapi/v3/apis/"
                    + gv
                    + "?hash="
                    + Integer.toHexString(String.valueOf(openApiDocument(gv)).hashCode()));
      }
    }
    return index;
  }

  /**
   * The OpenAPI v3 document of one CRD group version: the CRD's schema under a name carrying its
   * group-version-kind, with apiVersion, kind and metadata described as kubectl expects.
   */
  private ObjectNode openApiDocument(String groupVersion) {
    ObjectNode doc = NODES.objectNode();
    doc.put("openapi", "3.0.0");
    doc.putObject("info").put("title", "Kubernetes").put("version", "v1.32.0");
    ObjectNode paths = doc.putObject("paths");
    ObjectNode schemas = doc.putObject("components").putObject("schemas");
    boolean found = false;
    for (JsonNode crd : crds()) {
      JsonNode spec = crd.path("spec");
      for (JsonNode v : spec.path("versions")) {
        String group = spec.path("group").asText();
        if (!(group + "/" + v.path("name").asText()).equals(groupVersion)) {
          continue;
        }
        found = true;
        String kind = spec.path("names").path("kind").asText();
        String plural = spec.path("names").path("plural").asText();
        String reversed = String.join(".", reverse(group.split("\\.")));
        String schemaName = reversed + "." + v.path("name").asText() + "." + kind;
        ObjectNode schema = v.path("schema").path("openAPIV3Schema").deepCopy();
        schema.put("type", "object");
        ObjectNode properties = child(schema, "properties");
        properties
            .putObject("apiVersion")
            .put("type", "string")
            .put("description", "APIVersion defines the versioned schema of this object.");
        properties
            .putObject("kind")
            .put("type", "string")
            .put("description", "Kind is a string value representing the REST resource.");
        ObjectNode meta = NODES.objectNode();
        meta.putArray("allOf")
            .addObject()
            .put("$ref", "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
        meta.put("description", "Standard object's metadata.");
        properties.set("metadata", meta);
        ArrayNode gvk = schema.putArray("x-kubernetes-group-version-kind");
        ObjectNode k = gvk.addObject();
        k.put("group", group);
        k.put("kind", kind);
        k.put("version", v.path("name").asText());
        schemas.set(schemaName, schema);
        boolean namespaced = spec.path("scope").asText("Namespaced").equals("Namespaced");
        String base =
            "/apis/"
                + groupVersion
                + (namespaced ? "/namespaces/{namespace}/" : "/")
                + plural
                + "/{name}";
        String collection = base.substring(0, base.length() - "/{name}".length());
        for (String verb : List.of("get", "put", "patch", "delete", "post")) {
          ObjectNode op = child(paths, verb.equals("post") ? collection : base).putObject(verb);
          // kubectl looks for this parameter to decide that the server validates fields.
          ObjectNode param = op.putArray("parameters").addObject();
          param.put("name", "fieldValidation");
          param.put("in", "query");
          param.put("uniqueItems", true);
          param.putObject("schema").put("type", "string");
          op.putObject("x-kubernetes-group-version-kind")
              .put("group", group)
              .put("kind", kind)
              .put("version", v.path("name").asText());
          op.put(
              "x-kubernetes-action",
              switch (verb) {
                case "put" -> "put";
                case "patch" -> "patch";
                case "delete" -> "delete";
                case "post" -> "post";
                default -> "get";
              });
        }
      }
    }
    if (!found) {
      return null;
    }
    ObjectNode objectMeta = schemas.putObject("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    objectMeta.put("type", "object");
    objectMeta.put("description", "Standard object metadata.");
    ObjectNode mp = objectMeta.putObject("properties");
    for (String s :
        List.of(
            "name",
            "namespace",
            "generateName",
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "selfLink")) {
      mp.putObject(s).put("type", "string");
    }
    mp.putObject("generation").put("type", "integer").put("format", "int64");
    mp.putObject("deletionGracePeriodSeconds").put("type", "integer").put("format", "int64");
    for (String m : List.of("labels", "annotations")) {
      mp.putObject(m)
          .put("type", "object")
          .putObject("additionalProperties")
          .put("type", "string")
          .put("default", "");
    }
    mp.putObject("finalizers").put("type", "array").putObject("items").put("type", "string");
    for (String a : List.of("ownerReferences", "managedFields")) {
      ObjectNode array = mp.putObject(a);
      array.put("type", "array");
      array
          .putObject("items")
          .put("type", "object")
          .put("x-kubernetes-preserve-unknown-fields", true);
    }
    return doc;
  }

  private static List<String> reverse(String[] parts) {
    List<String> out = new ArrayList<>(List.of(parts));
    java.util.Collections.reverse(out);
    return out;
  }

  // ---------------------------------------------------------------- CRDs from the store

  private List<ObjectNode> crds() {
    MockResponse list = crud.handleGet("/apis/apiextensions.k8s.io/v1/customresourcedefinitions");
    List<ObjectNode> out = new ArrayList<>();
    if (list.code() == 200) {
      ObjectNode body = parseObject(list.getBody().readUtf8());
      if (body != null) {
        body.path("items").forEach(i -> out.add((ObjectNode) i));
      }
    }
    return out;
  }

  private ObjectNode crdFor(String group, String plural) {
    for (ObjectNode crd : crds()) {
      if (crd.path("spec").path("group").asText().equals(group)
          && crd.path("spec").path("names").path("plural").asText().equals(plural)) {
        return crd;
      }
    }
    return null;
  }

  // ---------------------------------------------------------------- helpers

  /** {@code /api/v1/namespaces/ns/pods/name/status} and the like, taken apart. */
  record ResourcePath(
      String group,
      String version,
      String namespace,
      String plural,
      String name,
      String subresource,
      String path) {

    String groupVersion() {
      return group.isEmpty() ? version : group + "/" + version;
    }

    static ResourcePath parse(String path) {
      String[] p = path.split("/");
      int i;
      String group;
      String version;
      if (p.length >= 4 && p[1].equals("api")) {
        group = "";
        version = p[2];
        i = 3;
      } else if (p.length >= 5 && p[1].equals("apis")) {
        group = p[2];
        version = p[3];
        i = 4;
      } else {
        return null;
      }
      String namespace = null;
      if (p.length > i + 1 && p[i].equals("namespaces") && p.length >= i + 3) {
        namespace = p[i + 1];
        i += 2;
      }
      if (p.length <= i) {
        return null;
      }
      String plural = p[i];
      String name = p.length > i + 1 ? p[i + 1] : null;
      String sub = p.length > i + 2 ? p[i + 2] : null;
      String main =
          "/"
              + (group.isEmpty() ? "api/" + version : "apis/" + group + "/" + version)
              + (namespace == null ? "" : "/namespaces/" + namespace)
              + "/"
              + plural
              + (name == null ? "" : "/" + name);
      return new ResourcePath(group, version, namespace, plural, name, sub, main);
    }
  }

  private static Map<String, String> query(String query) {
    Map<String, String> out = new LinkedHashMap<>();
    for (String pair : query.split("&")) {
      if (pair.isEmpty()) {
        continue;
      }
      int eq = pair.indexOf('=');
      String key = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
      String value =
          eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
      out.put(key, value);
    }
    return out;
  }

  /** The object property {@code name} of {@code parent}, created when missing. */
  private static ObjectNode child(ObjectNode parent, String name) {
    JsonNode existing = parent.get(name);
    if (existing instanceof ObjectNode o) {
      return o;
    }
    return parent.putObject(name);
  }

  private static ObjectNode parseObject(String text) {
    try {
      JsonNode node = JSON.readTree(text);
      return node instanceof ObjectNode o ? o : null;
    } catch (IOException e) {
      return null;
    }
  }

  private static MockResponse json(int code, JsonNode body) {
    try {
      return new MockResponse()
          .setResponseCode(code)
          .setHeader("Content-Type", "application/json")
          .setBody(JSON.writeValueAsString(body));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static MockResponse status(int code, String reason, String message) {
    ObjectNode s = NODES.objectNode();
    s.put("kind", "Status");
    s.put("apiVersion", "v1");
    s.putObject("metadata");
    s.put("status", "Failure");
    s.put("message", message);
    s.put("reason", reason);
    s.put("code", code);
    return json(code, s);
  }
}
