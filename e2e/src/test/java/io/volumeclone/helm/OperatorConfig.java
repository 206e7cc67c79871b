package io.volumeclone.helm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.volumeclone.operator.OperatorOptions;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The operator's settings as a rendered release hands them over: the ConfigMap's config.yaml, read
 * by the operator's own {@link OperatorOptions#load} exactly as in the Pod (through
 * VOLUME_CLONE_CONFIG and the Deployment's plain environment variables).
 */
record OperatorConfig(Map<String, String> flatKeys, OperatorOptions options) {

  static final String MOUNT = "/etc/volume-clone";

  static OperatorConfig of(ChartFixture.Manifests manifests, Path scratch) {
    Deployment deployment = manifests.only(Deployment.class);
    var container = deployment.getSpec().getTemplate().getSpec().getContainers().get(0);
    Map<String, String> environment = new LinkedHashMap<>();
    for (EnvVar env : container.getEnv()) {
      if (env.getValue() != null) {
        environment.put(env.getName(), env.getValue());
      }
    }
    String configPath = environment.get("VOLUME_CLONE_CONFIG");
    if (configPath == null || !configPath.startsWith(MOUNT + "/")) {
      throw new AssertionError(
          "the operator container must name its config file under "
              + MOUNT
              + " in VOLUME_CLONE_CONFIG; env: "
              + environment);
    }
    String fileName = configPath.substring(MOUNT.length() + 1);
    String volume =
        deployment.getSpec().getTemplate().getSpec().getVolumes().stream()
            .filter(v -> v.getConfigMap() != null)
            .map(v -> v.getConfigMap().getName())
            .findFirst()
            .orElseThrow(() -> new AssertionError("the operator Pod mounts no ConfigMap"));
    ConfigMap configMap = manifests.get(ConfigMap.class, volume);
    String text = configMap.getData().get(fileName);
    if (text == null) {
      throw new AssertionError("ConfigMap " + volume + " has no key " + fileName);
    }
    try {
      Path file = scratch.resolve(fileName);
      Files.writeString(file, text);
      environment.put("VOLUME_CLONE_CONFIG", file.toString());
      return new OperatorConfig(flatten(text), OperatorOptions.load(environment));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The dotted keys the file spells (the way OperatorOptions reads nested YAML). */
  static Map<String, String> flatten(String yaml) throws IOException {
    Map<String, String> out = new LinkedHashMap<>();
    flatten("", new ObjectMapper(new YAMLFactory()).readTree(yaml), out);
    return out;
  }

  private static void flatten(String prefix, JsonNode node, Map<String, String> out) {
    if (node.isObject()) {
      Iterator<Map.Entry<String, JsonNode>> fields = node.fields();
      while (fields.hasNext()) {
        var field = fields.next();
        flatten(
            prefix.isEmpty() ? field.getKey() : prefix + "." + field.getKey(),
            field.getValue(),
            out);
      }
    } else if (node.isArray()) {
      List<String> items = new ArrayList<>();
      node.forEach(item -> items.add(item.asText()));
      out.put(prefix, String.join(",", items));
    } else {
      out.put(prefix, node.isNull() ? "" : node.asText());
    }
  }
}
