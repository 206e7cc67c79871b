package io.volumeclone.e2e;

import java.nio.file.Path;

/** VolumeClone manifests as a user writes them for kubectl apply. */
final class Manifests {

  private Manifests() {}

  /**
   * A device-to-device clone on the test node; {@code extraSpec} is YAML indented by two spaces and
   * appended to the spec (for example {@code " cutover: Manual\n"}).
   */
  static String deviceClone(
      String namespace, String name, Path source, Path destination, String extraSpec) {
    return """
        apiVersion: volumeclone.io/v1alpha1
        kind: VolumeClone
        metadata:
          name: %s
          namespace: %s
        spec:
          nodeName: %s
          source:
            device:
              path: %s
          destination:
            device:
              path: %s
        """
            .formatted(name, namespace, E2e.node(), source, destination)
        + extraSpec;
  }

  static String nbdClone(
      String namespace, String name, String uri, Path destination, String extraSpec) {
    return """
        apiVersion: volumeclone.io/v1alpha1
        kind: VolumeClone
        metadata:
          name: %s
          namespace: %s
        spec:
          nodeName: %s
          source:
            nbd:
              uri: "%s"
          destination:
            device:
              path: %s
        """
            .formatted(name, namespace, E2e.node(), uri, destination)
        + extraSpec;
  }
}
