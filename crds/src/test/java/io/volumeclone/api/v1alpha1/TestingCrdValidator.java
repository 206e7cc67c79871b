package io.volumeclone.api.v1alpha1;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import dev.cel.common.CelAbstractSyntaxTree;
import dev.cel.common.CelValidationException;
import dev.cel.common.types.SimpleType;
import dev.cel.compiler.CelCompiler;
import dev.cel.compiler.CelCompilerFactory;
import dev.cel.extensions.CelExtensions;
import dev.cel.parser.CelStandardMacro;
import dev.cel.runtime.CelEvaluationException;
import dev.cel.runtime.CelRuntime;
import dev.cel.runtime.CelRuntimeFactory;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Stands in for the API server's validation of a VolumeClone against the CRD's {@code
 * openAPIV3Schema}, in the order the API server works: prune nulls, apply schema defaults, check
 * the OpenAPI schema (networknt json-schema-validator, unknown fields rejected as kubectl's strict
 * field validation does) and evaluate every {@code x-kubernetes-validations} rule with CEL-Java,
 * with {@code self} bound to the value at the schema node that carries the rule and, on update,
 * {@code oldSelf} to the old value at the same place. Transition rules (those that mention {@code
 * oldSelf}) only run on update and only where the old object has a value, like the API server's.
 *
 * <p>Differences from a real API server, on purpose: {@code self} is dynamically typed (the API
 * server types it from the schema), the CEL environment holds only the standard library and the
 * strings extension (what the rules use; a rule needing more fails to compile here), there is no
 * cost estimation, and transition rules under lists are not correlated (none exist).
 */
final class TestingCrdValidator {

  /** One rejection: the field path as the API server reports it, and the message. */
  record Violation(String field, String message) {
    @Override
    public String toString() {
      return field.isEmpty() ? message : field + ": " + message;
    }
  }

  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  private final JsonNode openApiSchema;
  private final JsonSchema jsonSchema;
  private final CelCompiler compiler;
  private final CelRuntime runtime;
  private final Map<String, CelRuntime.Program> programs = new HashMap<>();

  TestingCrdValidator(JsonNode openApiSchema) {
    this.openApiSchema = openApiSchema;
    this.jsonSchema =
        JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V4)
            .getSchema(toJsonSchema(openApiSchema, true));
    this.compiler =
        CelCompilerFactory.standardCelCompilerBuilder()
            .setStandardMacros(CelStandardMacro.STANDARD_MACROS)
            .addVar("self", SimpleType.DYN)
            .addVar("oldSelf", SimpleType.DYN)
            .addLibraries(CelExtensions.strings())
            .build();
    this.runtime =
        CelRuntimeFactory.standardCelRuntimeBuilder().addLibraries(CelExtensions.strings()).build();
  }

  /** Everything the API server would reject when creating {@code object}. */
  List<Violation> validateCreate(JsonNode object) {
    JsonNode admitted = admit(object);
    List<Violation> violations = schemaViolations(admitted);
    evaluateRules(openApiSchema, admitted, null, "", violations);
    return violations;
  }

  /** Everything the API server would reject when updating {@code oldObject} to {@code object}. */
  List<Violation> validateUpdate(JsonNode oldObject, JsonNode object) {
    JsonNode admitted = admit(object);
    List<Violation> violations = schemaViolations(admitted);
    evaluateRules(openApiSchema, admitted, admit(oldObject), "", violations);
    return violations;
  }

  /** The object as the API server stores it: nulls pruned, defaults applied. */
  JsonNode admit(JsonNode object) {
    JsonNode copy = object.deepCopy();
    pruneNulls(copy);
    applyDefaults(openApiSchema, copy);
    return copy;
  }

  /** Compiles every rule of the schema; returns the compile errors (none expected). */
  List<String> compileAllRules() {
    List<String> errors = new ArrayList<>();
    forEachRule(
        openApiSchema,
        "",
        (path, rule) -> {
          try {
            program(rule.get("rule").asText());
          } catch (IllegalStateException e) {
            errors.add(path + ": " + e.getMessage());
          }
        });
    return errors;
  }

  interface RuleVisitor {
    void visit(String path, JsonNode rule);
  }

  /** Visits every {@code x-kubernetes-validations} entry, with the schema path it sits at. */
  static void forEachRule(JsonNode schema, String path, RuleVisitor visitor) {
    for (JsonNode rule : schema.path("x-kubernetes-validations")) {
      visitor.visit(path, rule);
    }
    for (Iterator<Map.Entry<String, JsonNode>> it = schema.path("properties").fields();
        it.hasNext(); ) {
      Map.Entry<String, JsonNode> property = it.next();
      forEachRule(property.getValue(), join(path, property.getKey()), visitor);
    }
    if (schema.has("items")) {
      forEachRule(schema.get("items"), path + "[*]", visitor);
    }
    if (schema.path("additionalProperties").isObject()) {
      forEachRule(schema.get("additionalProperties"), path + "[*]", visitor);
    }
  }

  private List<Violation> schemaViolations(JsonNode object) {
    List<Violation> violations = new ArrayList<>();
    for (ValidationMessage message : jsonSchema.validate(object)) {
      String location = message.getInstanceLocation().toString();
      String field = location.startsWith("$.") ? location.substring(2) : "";
      String text = message.getMessage();
      if (text.startsWith(location + ": ")) {
        text = text.substring(location.length() + 2);
      }
      violations.add(new Violation(field, text));
    }
    return violations;
  }

  private void evaluateRules(
      JsonNode schema, JsonNode value, JsonNode oldValue, String path, List<Violation> out) {
    for (JsonNode rule : schema.path("x-kubernetes-validations")) {
      String expression = rule.get("rule").asText();
      boolean transition = expression.contains("oldSelf");
      if (transition && oldValue == null) {
        continue;
      }
      Map<String, Object> variables = new HashMap<>();
      variables.put("self", toCel(value));
      if (transition) {
        variables.put("oldSelf", toCel(oldValue));
      }
      String message = rule.path("message").asText("failed rule: " + expression);
      try {
        Object result = program(expression).eval(variables);
        if (!Boolean.TRUE.equals(result)) {
          out.add(new Violation(path, message));
        }
      } catch (CelEvaluationException e) {
        // the API server rejects the request when a rule cannot be evaluated
        out.add(new Violation(path, "rule evaluation error: " + e.getMessage()));
      }
    }
    if (value.isObject()) {
      for (Iterator<Map.Entry<String, JsonNode>> it = schema.path("properties").fields();
          it.hasNext(); ) {
        Map.Entry<String, JsonNode> property = it.next();
        JsonNode child = value.get(property.getKey());
        if (child != null) {
          JsonNode oldChild = oldValue == null ? null : oldValue.get(property.getKey());
          evaluateRules(property.getValue(), child, oldChild, join(path, property.getKey()), out);
        }
      }
    } else if (value.isArray() && schema.has("items")) {
      for (int i = 0; i < value.size(); i++) {
        evaluateRules(schema.get("items"), value.get(i), null, path + "[" + i + "]", out);
      }
    }
  }

  private CelRuntime.Program program(String expression) {
    return programs.computeIfAbsent(
        expression,
        e -> {
          try {
            CelAbstractSyntaxTree ast = compiler.compile(e).getAst();
            return runtime.createProgram(ast);
          } catch (CelValidationException | CelEvaluationException failure) {
            throw new IllegalStateException(
                "CEL rule does not compile: " + e + ": " + failure.getMessage(), failure);
          }
        });
  }

  private static String join(String path, String name) {
    return path.isEmpty() ? name : path + "." + name;
  }

  /** JSON values as CEL-Java wants them: Long, Double, String, Boolean, Map and List. */
  static Object toCel(JsonNode node) {
    if (node.isObject()) {
      Map<String, Object> map = new LinkedHashMap<>();
      node.fields().forEachRemaining(e -> map.put(e.getKey(), toCel(e.getValue())));
      return map;
    }
    if (node.isArray()) {
      List<Object> list = new ArrayList<>();
      node.forEach(e -> list.add(toCel(e)));
      return list;
    }
    if (node.isIntegralNumber()) {
      if (!node.canConvertToLong()) {
        throw new IllegalArgumentException("integer out of int64 range: " + node);
      }
      return node.asLong();
    }
    if (node.isNumber()) {
      return node.asDouble();
    }
    if (node.isBoolean()) {
      return node.asBoolean();
    }
    if (node.isTextual()) {
      return node.asText();
    }
    throw new IllegalArgumentException("no CEL value for " + node.getNodeType() + ": " + node);
  }

  private static void pruneNulls(JsonNode node) {
    if (node.isObject()) {
      ((ObjectNode) node).properties().removeIf(e -> e.getValue().isNull());
      node.forEach(TestingCrdValidator::pruneNulls);
    } else if (node.isArray()) {
      node.forEach(TestingCrdValidator::pruneNulls);
    }
  }

  private static void applyDefaults(JsonNode schema, JsonNode value) {
    if (value.isObject()) {
      ObjectNode object = (ObjectNode) value;
      for (Iterator<Map.Entry<String, JsonNode>> it = schema.path("properties").fields();
          it.hasNext(); ) {
        Map.Entry<String, JsonNode> property = it.next();
        JsonNode propertySchema = property.getValue();
        if (!object.has(property.getKey()) && propertySchema.has("default")) {
          object.set(property.getKey(), propertySchema.get("default").deepCopy());
        }
        if (object.has(property.getKey())) {
          applyDefaults(propertySchema, object.get(property.getKey()));
        }
      }
    } else if (value.isArray() && schema.has("items")) {
      value.forEach(item -> applyDefaults(schema.get("items"), item));
    }
  }

  /**
   * The OpenAPI v3 structural schema as a JSON Schema draft 4 document: Kubernetes extensions
   * dropped (their meaning is handled here: CEL above, int-or-string by the anyOf next to it),
   * {@code nullable} turned into a null type, and unknown fields rejected wherever the schema lists
   * properties and does not preserve unknown fields.
   */
  static JsonNode toJsonSchema(JsonNode openApi, boolean root) {
    if (!openApi.isObject()) {
      return openApi.deepCopy();
    }
    ObjectNode out = NODES.objectNode();
    boolean preserveUnknown = openApi.path("x-kubernetes-preserve-unknown-fields").asBoolean();
    for (Iterator<Map.Entry<String, JsonNode>> it = openApi.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      String key = e.getKey();
      JsonNode child = e.getValue();
      if (key.startsWith("x-kubernetes-") || key.equals("nullable") || key.equals("default")) {
        continue;
      }
      switch (key) {
        case "properties" -> {
          ObjectNode properties = out.putObject("properties");
          child
              .fields()
              .forEachRemaining(p -> properties.set(p.getKey(), toJsonSchema(p.getValue(), false)));
        }
        case "items", "additionalProperties", "not" -> out.set(key, toJsonSchema(child, false));
        case "anyOf", "allOf", "oneOf" -> {
          ArrayNode list = out.putArray(key);
          child.forEach(s -> list.add(toJsonSchema(s, false)));
        }
        default -> out.set(key, child.deepCopy());
      }
    }
    if (openApi.path("nullable").asBoolean() && out.has("type")) {
      ArrayNode types = NODES.arrayNode().add(out.get("type").asText()).add("null");
      out.set("type", types);
    }
    if (root) {
      ObjectNode properties = out.with("properties");
      properties
          .putObject("apiVersion")
          .put("type", "string")
          .putArray("enum")
          .add(VolumeClone.GROUP + "/" + VolumeClone.VERSION);
      properties.putObject("kind").put("type", "string").putArray("enum").add(VolumeClone.KIND);
      properties.putObject("metadata").put("type", "object");
    }
    if (out.has("properties") && !preserveUnknown && !out.has("additionalProperties")) {
      out.put("additionalProperties", false);
    }
    return out;
  }
}
