package io.volumeclone.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.Condition;
import io.volumeclone.api.v1alpha1.ConditionTypes;
import io.volumeclone.api.v1alpha1.VolumeClone;
import io.volumeclone.api.v1alpha1.spec.CopySpec;
import io.volumeclone.api.v1alpha1.status.ConditionSet;
import io.volumeclone.api.v1alpha1.status.Phase;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * What only the API server does with the CRD: {@code kubectl apply} of an invalid VolumeClone is
 * refused with the CEL rule's own message or the schema limit's, a changed identity field is
 * refused on update (transition rules), and the defaults of the schema are filled in by the server.
 * Every {@code x-kubernetes-validations} message of the checked-in CRD must have a case here, so a
 * new rule without a test fails {@link #everyCelRuleOfTheCrdHasACase}. Conditions are {@code
 * metav1.Condition}s: the status subresource refuses any other, and a real clone's writers send
 * only valid ones.
 */
class CrdValidationIT {

  private static final Path CRD = Path.of("../crds/volumeclones.volumeclone.io-v1.yml");
  private static String ns;

  @BeforeAll
  static void namespace() {
    ns = E2e.namespace("crd");
  }

  /** The valid clones made here would otherwise hold agent slots of the node for later tests. */
  @AfterAll
  static void deleteTheClones() {
    E2e.kubectl("-n", ns, "delete", "vc", "--all", "--timeout=120s");
  }

  private static String dev(String name) {
    return E2e.deviceDirectory().resolve(ns + "-" + name).toString();
  }

  /** A valid clone's spec lines; each case replaces or adds a few. */
  private static String clone(String name, String spec) {
    return """
        apiVersion: volumeclone.io/v1alpha1
        kind: VolumeClone
        metadata:
          name: %s
          namespace: %s
        spec:
        %s"""
        .formatted(name, ns, spec.indent(2));
  }

  private static String validSpec() {
    return """
        nodeName: %s
        source:
          device:
            path: %s
        destination:
          device:
            path: %s
        copy:
          paused: true
        """
        .formatted(E2e.node(), dev("src"), dev("dst"));
  }

  /** The creation cases: message of the rule they break, and the spec that breaks it. */
  private static Map<String, String> createCases() {
    Map<String, String> c = new LinkedHashMap<>();
    c.put(
        "destination must set exactly one of device or persistentVolumeClaim",
        """
        nodeName: %s
        source: {device: {path: %s}}
        destination: {device: {path: %s}, persistentVolumeClaim: {claimName: dst}}
        """
            .formatted(E2e.node(), dev("src"), dev("dst")));
    c.put(
        "metadata must set exactly one of device or persistentVolumeClaim",
        """
        nodeName: %s
        source: {device: {path: %s}}
        destination: {device: {path: %s}}
        metadata: {}
        """
            .formatted(E2e.node(), dev("src"), dev("dst")));
    c.put(
        "regionSize must be a power of two between 4Ki and 1Gi, such as 64Ki or 1Mi",
        validSpec() + "regionSize: 3Ki\n");
    c.put(
        "source must set exactly one of device, persistentVolumeClaim or nbd",
        """
        nodeName: %s
        source: {device: {path: %s}, nbd: {uri: "nbd://127.0.0.1:10809/x"}}
        destination: {device: {path: %s}}
        """
            .formatted(E2e.node(), dev("src"), dev("dst")));
    c.put(
        "nodeName is required when source, destination or metadata is a device path: a device"
            + " path names a device on one node",
        """
        source: {device: {path: %s}}
        destination: {device: {path: %s}}
        """
            .formatted(dev("src"), dev("dst")));
    c.put(
        "cutoverApproved can only be true when cutover is Manual",
        validSpec() + "cutover: Automatic\ncutoverApproved: true\n");
    c.put(
        "source and destination must be different volumes",
        """
        nodeName: %s
        source: {device: {path: %s}}
        destination: {device: {path: %s}}
        """
            .formatted(E2e.node(), dev("src"), dev("src")));
    c.put(
        "metadata must be a volume of its own, not the source or the destination",
        """
        nodeName: %s
        source: {device: {path: %s}}
        destination: {device: {path: %s}}
        metadata: {device: {path: %s}}
        """
            .formatted(E2e.node(), dev("src"), dev("dst"), dev("dst")));
    c.put(
        "volume.fsType is only for mode Filesystem: a Block volume is handed to the Pod as a raw"
            + " device",
        validSpec() + "volume: {claimName: db-data, mode: Block, fsType: ext4}\n");
    c.put(
        "volume.claimName must be a DNS-1123 name: lower-case letters, digits, '-' and '.',"
            + " starting and ending with a letter or digit",
        validSpec() + "volume: {claimName: Db_Data}\n");
    c.put(
        "volume.claimName must name a new claim for workloads, not the source, destination or"
            + " metadata claim",
        """
        source: {persistentVolumeClaim: {claimName: src}}
        destination: {persistentVolumeClaim: {claimName: dst}}
        volume: {claimName: dst}
        """);
    return c;
  }

  /** The update cases: a field changed after creation and the transition rule's message. */
  private static Map<String, String> updateCases() {
    Map<String, String> c = new LinkedHashMap<>();
    c.put(
        "source is immutable: delete this VolumeClone and create a new one to clone from another"
            + " source",
        validSpec().replace(dev("src"), dev("src2")));
    c.put(
        "destination is immutable: delete this VolumeClone and create a new one to clone to"
            + " another destination",
        validSpec().replace(dev("dst"), dev("dst2")));
    c.put(
        "metadata is immutable: the copy state of this clone is recorded on the metadata device"
            + " it started with",
        validSpec() + "metadata: {device: {path: " + dev("meta") + "}}\n");
    c.put(
        "regionSize is immutable: the metadata device records copy state per region",
        validSpec() + "regionSize: 1Mi\n");
    c.put(
        "range is immutable: delete this VolumeClone and create a new one for another range",
        validSpec() + "range: {size: 1Mi}\n");
    c.put(
        "nodeName is immutable: the clone's devices and its metadata live on the node it started"
            + " on",
        validSpec().replace("nodeName: " + E2e.node(), "nodeName: another-node"));
    c.put(
        "volume is immutable: workloads may be using its claim; delete this VolumeClone and"
            + " create a new one for another volume",
        validSpec() + "volume: {claimName: db-data}\n");
    return c;
  }

  @Test
  void everyCelRuleOfTheCrdHasACase() throws IOException {
    List<String> messages = new ArrayList<>();
    collectMessages(new ObjectMapper(new YAMLFactory()).readTree(Files.readString(CRD)), messages);
    List<String> covered = new ArrayList<>(createCases().keySet());
    covered.addAll(updateCases().keySet());
    assertThat(messages).as("the CRD's CEL messages").isNotEmpty();
    assertThat(covered).containsExactlyInAnyOrderElementsOf(messages);
  }

  private static void collectMessages(JsonNode node, List<String> into) {
    if (node.isObject()) {
      JsonNode rules = node.get("x-kubernetes-validations");
      if (rules != null) {
        rules.forEach(r -> into.add(r.get("message").asText()));
      }
      node.forEach(child -> collectMessages(child, into));
    } else if (node.isArray()) {
      node.forEach(child -> collectMessages(child, into));
    }
  }

  @Test
  void kubectlApplyRefusesEachCelRuleWithItsMessage() {
    int i = 0;
    for (Map.Entry<String, String> c : createCases().entrySet()) {
      String name = "cel-" + i++;
      Tools.Result result = applyResult(clone(name, c.getValue()));
      assertThat(result.exitCode()).as("apply of %s (breaks: %s)", name, c.getKey()).isNotZero();
      assertThat(result.stderr()).as("apply of %s", name).contains(c.getKey());
      assertThat(E2e.clone(ns, name)).as("%s was not stored", name).isNull();
    }
  }

  @Test
  void identityFieldsCannotChange() {
    int i = 0;
    for (Map.Entry<String, String> c : updateCases().entrySet()) {
      String name = "immutable-" + i++;
      Tools.Result created = applyResult(clone(name, validSpec()));
      assertThat(created.exitCode()).as("create %s: %s", name, created.stderr()).isZero();
      Tools.Result changed = applyResult(clone(name, c.getValue()));
      assertThat(changed.exitCode()).as("change of %s (%s)", name, c.getKey()).isNotZero();
      assertThat(changed.stderr()).as("change of %s", name).contains(c.getKey());
    }
    // A mutable field still changes: the transition rules guard identity only.
    Tools.Result tuned =
        applyResult(clone("immutable-0", validSpec().replace("paused: true", "paused: false")));
    assertThat(tuned.exitCode()).as(tuned.stderr()).isZero();
  }

  @Test
  void schemaLimitsAreEnforcedByTheServer() {
    Map<String, String> cases = new LinkedHashMap<>();
    cases.put(
        "spec.copy.batchRegions: Invalid value: 0: spec.copy.batchRegions in body should be"
            + " greater than or equal to 1",
        validSpec().replace("paused: true", "paused: true\n  batchRegions: 0"));
    cases.put(
        "spec.copy.regionsInFlight: Invalid value: 1025: spec.copy.regionsInFlight in body should"
            + " be less than or equal to 1024",
        validSpec().replace("paused: true", "paused: true\n  regionsInFlight: 1025"));
    cases.put(
        "spec.ttlSecondsAfterFinished: Invalid value: -1: spec.ttlSecondsAfterFinished in body"
            + " should be greater than or equal to 0",
        validSpec() + "ttlSecondsAfterFinished: -1\n");
    cases.put(
        "spec.copy.bandwidth: Invalid value: \"fast\": spec.copy.bandwidth in body should match",
        validSpec().replace("paused: true", "paused: true\n  bandwidth: fast"));
    cases.put(
        "spec.source.device.path: Invalid value: \"relative/path\": spec.source.device.path in"
            + " body should match '^/.*'",
        validSpec().replace(dev("src"), "relative/path"));
    cases.put(
        "spec.access: Unsupported value: \"Later\": supported values: \"AfterCopy\", \"Immediate\"",
        validSpec() + "access: Later\n");
    cases.put(
        "spec.nodeName: Too long: may not be more than 253 bytes",
        validSpec().replace("nodeName: " + E2e.node(), "nodeName: " + "n".repeat(254)));
    cases.put(
        "spec.regionSize: Invalid value: \"64KB\": spec.regionSize in body should match",
        validSpec() + "regionSize: 64KB\n");
    cases.put(
        "spec.destination: Required value",
        validSpec().replaceAll("destination:\\n.*\\n.*\\n", ""));
    int i = 0;
    for (Map.Entry<String, String> c : cases.entrySet()) {
      String name = "schema-" + i++;
      Tools.Result result = applyResult(clone(name, c.getValue()));
      assertThat(result.exitCode()).as("apply of %s (%s)", name, c.getKey()).isNotZero();
      assertThat(result.stderr()).as("apply of %s", name).contains(c.getKey());
    }
  }

  /**
   * Every OpenAPI limit of {@code spec} in the checked-in CRD (pattern, length, range, enum,
   * required), read from the CRD itself so that a new limit gets a case without anyone writing one:
   * each case breaks exactly that limit of a valid clone, and the real API server must refuse it
   * naming the field and the kind of limit.
   */
  @Test
  void everySchemaLimitOfTheSpecIsEnforcedByTheServer() throws IOException {
    JsonNode crd = new ObjectMapper(new YAMLFactory()).readTree(Files.readString(CRD));
    JsonNode specSchema =
        crd.path("spec")
            .path("versions")
            .path(0)
            .path("schema")
            .path("openAPIV3Schema")
            .path("properties")
            .path("spec");
    List<SchemaLimitCase> cases = new ArrayList<>();
    collectSchemaLimits(specSchema, List.of(), cases);
    assertThat(cases).as("limits found in the CRD's spec schema").hasSizeGreaterThan(30);
    ObjectMapper yaml =
        new ObjectMapper(
            YAMLFactory.builder()
                .disable(
                    com.fasterxml.jackson.dataformat.yaml.YAMLGenerator.Feature
                        .WRITE_DOC_START_MARKER)
                .build());
    int i = 0;
    for (SchemaLimitCase c : cases) {
      String name = "limit-" + i++;
      ObjectNode spec = validSpecTree();
      c.apply(spec);
      Tools.Result result = applyResult(clone(name, yaml.writeValueAsString(spec)));
      assertThat(result.exitCode()).as("apply of %s (%s)", name, c).isNotZero();
      assertThat(result.stderr())
          .as("apply of %s (%s)", name, c)
          .contains(c.fieldPath())
          .contains(c.serverSays());
      assertThat(E2e.clone(ns, name)).as("%s (%s) was not stored", name, c).isNull();
    }
  }

  private ObjectNode validSpecTree() {
    ObjectNode spec = JsonNodeFactory.instance.objectNode();
    spec.put("nodeName", E2e.node());
    spec.putObject("source").putObject("device").put("path", dev("src"));
    spec.putObject("destination").putObject("device").put("path", dev("dst"));
    spec.putObject("copy").put("paused", true);
    return spec;
  }

  /**
   * One broken limit: {@code value} at {@code path} below {@code spec} (or the field removed when
   * {@code value} is null), and what the server's message must say besides the field's path.
   */
  private record SchemaLimitCase(List<String> path, JsonNode value, String serverSays) {

    String fieldPath() {
      return "spec." + String.join(".", path);
    }

    /**
     * Writes the broken value into a valid spec. A volume kind the valid spec does not use (say
     * {@code source.nbd}) replaces the one it uses, so only the limit under test is broken.
     */
    void apply(ObjectNode spec) {
      ObjectNode parent = spec;
      for (int i = 0; i < path.size() - 1; i++) {
        String key = path.get(i);
        JsonNode child = parent.get(key);
        if (child == null || !child.isObject()) {
          if (i > 0 && VOLUMES.contains(path.get(i - 1))) {
            parent.removeAll();
          }
          child = parent.putObject(key);
        }
        parent = (ObjectNode) child;
      }
      String leaf = path.get(path.size() - 1);
      if (value == null) {
        parent.remove(leaf);
      } else {
        parent.set(leaf, value);
      }
    }

    @Override
    public String toString() {
      return fieldPath()
          + (value == null ? " removed" : " = " + abbreviate(value))
          + ": expects '"
          + serverSays
          + "'";
    }

    private static String abbreviate(JsonNode value) {
      String text = value.toString();
      return text.length() > 40 ? text.substring(0, 40) + "...(" + text.length() + ")" : text;
    }
  }

  private static final List<String> VOLUMES = List.of("source", "destination", "metadata");

  private static void collectSchemaLimits(
      JsonNode schema, List<String> path, List<SchemaLimitCase> into) {
    JsonNodeFactory f = JsonNodeFactory.instance;
    if (!path.isEmpty()) {
      String pattern = schema.path("pattern").asText(null);
      int minLength = schema.path("minLength").asInt(0);
      if (schema.has("maxLength")) {
        int max = schema.path("maxLength").asInt();
        into.add(new SchemaLimitCase(path, f.textNode(tooLong(pattern, max + 1)), "Too long"));
      }
      if (minLength > 0) {
        into.add(
            new SchemaLimitCase(
                path,
                f.textNode(tooShort(pattern, minLength - 1)),
                "should be at least " + minLength + " chars long"));
      }
      if (pattern != null) {
        into.add(
            new SchemaLimitCase(
                path, f.textNode("x" + "!".repeat(Math.max(minLength, 2) - 1)), "should match"));
      }
      if (schema.has("minimum")) {
        long min = (long) schema.path("minimum").asDouble();
        into.add(
            new SchemaLimitCase(path, f.numberNode(min - 1), "should be greater than or equal to"));
      }
      if (schema.has("maximum")) {
        long max = (long) schema.path("maximum").asDouble();
        into.add(
            new SchemaLimitCase(path, f.numberNode(max + 1), "should be less than or equal to"));
      }
      if (schema.has("enum")) {
        into.add(new SchemaLimitCase(path, f.textNode("NotAValue"), "Unsupported value"));
      }
    }
    for (JsonNode required : schema.path("required")) {
      List<String> field = new ArrayList<>(path);
      field.add(required.asText());
      into.add(new SchemaLimitCase(field, null, "Required value"));
    }
    for (Map.Entry<String, JsonNode> e : schema.path("properties").properties()) {
      List<String> child = new ArrayList<>(path);
      child.add(e.getKey());
      collectSchemaLimits(e.getValue(), child, into);
    }
  }

  /** A value of {@code length} characters that matches {@code pattern} where one can. */
  private static String tooLong(String pattern, int length) {
    String start = validStart(pattern);
    char fill = start.equals("1") ? '0' : 'a';
    return start + String.valueOf(fill).repeat(length - start.length());
  }

  /** A value shorter than the minimum that matches {@code pattern} where one can. */
  private static String tooShort(String pattern, int length) {
    return validStart(pattern).substring(0, length);
  }

  private static String validStart(String pattern) {
    if (pattern == null) {
      return "n";
    }
    if (pattern.startsWith("^/")) {
      return "/";
    }
    if (pattern.contains("nbd://")) {
      return "nbd://h/";
    }
    if (pattern.contains("[0-9]")) {
      return "1";
    }
    return "a";
  }

  @Test
  void theServerFillsInTheDefaults() {
    String spec =
        """
        nodeName: %s
        source: {device: {path: %s}}
        destination: {device: {path: %s}}
        copy: {}
        """
            .formatted(E2e.node(), dev("src-defaults"), dev("dst-defaults"));
    Tools.Result created = applyResult(clone("defaults", spec));
    assertThat(created.exitCode()).as(created.stderr()).isZero();
    assertThat(
            E2e.kubectl(
                "-n",
                ns,
                "get",
                "vc",
                "defaults",
                "-o",
                "jsonpath={.spec.access} {.spec.cutover} {.spec.cutoverApproved} {.spec.regionSize}"
                    + " {.spec.discardPassdown} {.spec.copy.batchRegions}"
                    + " {.spec.copy.regionsInFlight} {.spec.copy.paused}"
                    + " {.spec.copy.copyOnRead}"))
        .isEqualTo(
            "Immediate Automatic false 64Ki true "
                + CopySpec.DEFAULT_BATCH_REGIONS
                + " "
                + CopySpec.DEFAULT_REGIONS_IN_FLIGHT
                + " false false");
  }

  /** One malformed condition per case, and what the API server names in its refusal. */
  private static Map<String, String> badConditionCases() {
    Map<String, String> c = new LinkedHashMap<>();
    String time = "\"lastTransitionTime\": \"2026-01-01T00:00:00Z\"";
    c.put(
        "{\"type\": \"Ready\", \"status\": \"False\", \"reason\": \"not camel case\","
            + " \"message\": \"m\", "
            + time
            + "}",
        "status.conditions[0].reason");
    c.put(
        "{\"type\": \"Ready\", \"status\": \"False\", \"reason\": \"Copying\","
            + " \"message\": \"m\"}",
        "status.conditions[0].lastTransitionTime: Required value");
    c.put(
        "{\"type\": \"Ready\", \"status\": \"False\", \"reason\": \"Copying\","
            + " \"message\": \"m\", \"lastTransitionTime\": \"yesterday\"}",
        "status.conditions[0].lastTransitionTime");
    c.put(
        "{\"type\": \"Ready\", \"status\": \"False\", \"reason\": \"Copying\", " + time + "}",
        "status.conditions[0].message: Required value");
    c.put(
        "{\"type\": \"Ready\", \"status\": \"Maybe\", \"reason\": \"Copying\","
            + " \"message\": \"m\", "
            + time
            + "}",
        "status.conditions[0].status");
    return c;
  }

  @Test
  void theStatusSubresourceRefusesConditionsThatAreNotMetav1Conditions() {
    // Refused by the operator (a destination outside the allowed prefixes): no agent writes here.
    Tools.Result created =
        applyResult(
            clone(
                "bad-conditions",
                validSpec().replace(dev("dst"), "/var/tmp/not-allowed-conditions.img")));
    assertThat(created.exitCode()).as(created.stderr()).isZero();
    VolumeClone refused =
        E2e.awaitClone(
            ns,
            "bad-conditions",
            "Stalled=True",
            c -> Clones.conditionTrue(c, ConditionTypes.STALLED));

    badConditionCases()
        .forEach(
            (condition, field) -> {
              Tools.Result patched =
                  E2e.kubectlResult(
                      "-n",
                      ns,
                      "patch",
                      "vc",
                      "bad-conditions",
                      "--subresource=status",
                      "--type=merge",
                      "-p",
                      "{\"status\": {\"conditions\": [" + condition + "]}}");
              assertThat(patched.exitCode()).as("%s was accepted", condition).isNotZero();
              assertThat(patched.stderr()).as(condition).contains("is invalid", field);
            });
    assertThat(E2e.clone(ns, "bad-conditions").getStatus().getConditions())
        .as("no refused write reached the stored status")
        .extracting(Condition::getReason)
        .containsExactlyInAnyOrderElementsOf(
            refused.getStatus().getConditions().stream().map(Condition::getReason).toList());
  }

  @Test
  void aRealClonesConditionsAreAllMetav1Conditions() throws IOException {
    int size = 2 << 20;
    Path src = E2e.randomDevice(ns + "-conditions-src", size, 61);
    Path dst = E2e.emptyDevice(ns + "-conditions-dst", size);
    E2e.apply(Manifests.deviceClone(ns, "real-conditions", src, dst, ""));
    List<Condition> seen = new ArrayList<>();
    VolumeClone done =
        E2e.awaitClone(
            ns,
            "real-conditions",
            "phase Completed, Ready and CutOver",
            c -> {
              if (c.getStatus() != null) {
                seen.addAll(c.getStatus().getConditions());
              }
              return Clones.phase(c, Phase.Completed)
                  && Clones.conditionTrue(c, ConditionTypes.READY)
                  && Clones.conditionTrue(c, ConditionTypes.CUT_OVER);
            });

    assertThat(done.getStatus().getConditions())
        .extracting(Condition::getType)
        .containsExactlyInAnyOrderElementsOf(ConditionTypes.ALL);
    assertThat(seen)
        .as("every condition the operator and the agent wrote on the way")
        .isNotEmpty()
        .allSatisfy(
            c -> {
              assertThat(c.getType()).isIn(ConditionTypes.ALL);
              assertThat(c.getStatus()).isIn("True", "False", "Unknown");
              assertThat(c.getReason())
                  .as("reason of %s", c.getType())
                  .matches(ConditionSet.REASON_PATTERN);
              assertThat(c.getMessage()).as("message of %s", c.getType()).isNotBlank();
              assertThat(Instant.parse(c.getLastTransitionTime())).isNotNull();
              assertThat(c.getObservedGeneration()).isEqualTo(done.getMetadata().getGeneration());
            });
  }

  private static Tools.Result applyResult(String yaml) {
    try {
      Path file = Files.createTempFile("volumeclone-crd", ".yaml");
      Files.writeString(file, yaml);
      try {
        return E2e.kubectlResult("apply", "-f", file.toString());
      } finally {
        Files.deleteIfExists(file);
      }
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }
}
