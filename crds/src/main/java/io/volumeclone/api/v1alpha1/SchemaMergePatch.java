package io.volumeclone.api.v1alpha1;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.crdv2.generator.v1.SchemaCustomizer;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.Iterator;
import java.util.Map;

/**
 * A CRD schema customizer that applies its input as an RFC 7386 JSON merge patch to the schema of
 * the annotated class. It exists because the generator's own merge-patch customizer replaces nested
 * maps such as {@code properties} wholesale instead of merging them, and the generator has no
 * annotation for {@code x-kubernetes-list-type: map}. Used at build time only (the crd-generator
 * runs it); nothing calls it at run time.
 */
public final class SchemaMergePatch implements SchemaCustomizer.Customizer {

  @Override
  public JSONSchemaProps apply(
      JSONSchemaProps schema, String input, KubernetesSerialization serialization) {
    JsonNode target = serialization.convertValue(schema, JsonNode.class);
    JsonNode patch = serialization.unmarshal(input, JsonNode.class);
    return serialization.convertValue(merge(target, patch), JSONSchemaProps.class);
  }

  static JsonNode merge(JsonNode target, JsonNode patch) {
    if (!patch.isObject()) {
      return patch;
    }
    ObjectNode result =
        target != null && target.isObject()
            ? ((ObjectNode) target).deepCopy()
            : ((ObjectNode) patch).objectNode();
    for (Iterator<Map.Entry<String, JsonNode>> it = patch.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> field = it.next();
      if (field.getValue().isNull()) {
        result.remove(field.getKey());
      } else {
        result.set(field.getKey(), merge(result.get(field.getKey()), field.getValue()));
      }
    }
    return result;
  }
}
