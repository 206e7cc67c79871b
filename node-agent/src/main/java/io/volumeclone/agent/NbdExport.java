package io.volumeclone.agent;

import io.micrometer.core.instrument.MeterRegistry;
import io.volumeclone.engine.Clone;
import io.volumeclone.nbd.ExportAddress;
import io.volumeclone.nbd.NbdServer;
import io.volumeclone.nbd.NodeAttach;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The clone as the node sees it: served over NBD on {@code <state>/nbd.sock} and, where the node
 * has nbd and device-mapper, attached as {@code /dev/mapper/volume-clone-<uid>}; at cutover the
 * mapper device moves onto the destination.
 *
 * <p>Design note. The export is the one piece of the agent the kernel holds on to: a device left
 * attached to a socket nobody serves hangs every process that touches it. So the agent detaches
 * before it closes the server on every way out but the cutover (where the mapper device maps the
 * destination and must stay), and the URI and device stay known to the status until the device is
 * gone. A node without nbd or device-mapper, or an attach that fails, leaves the clone served over
 * NBD only, with the reason in the status.
 */
final class NbdExport {

  private final Path socket;
  private final String exportName;
  private final Agent.NodeEnvironment node;
  private final AgentLog log;
  private final MeterRegistry registry;

  private NbdServer server;
  private NodeAttach attach;
  private volatile String uri;
  private volatile String device;
  private volatile String exportOnlyReason;

  NbdExport(
      Path socket,
      String exportName,
      Agent.NodeEnvironment node,
      AgentLog log,
      MeterRegistry registry) {
    this.socket = socket;
    this.exportName = exportName;
    this.node = node;
    this.log = log;
    this.registry = registry;
  }

  /** The NBD URI clients use; null while nothing is served. */
  String uri() {
    return uri;
  }

  /** The node's kernel device of the clone; null when there is none. */
  String device() {
    return device;
  }

  /** Why the clone is served over NBD only; null when it has a kernel device or is not served. */
  String exportOnlyReason() {
    return exportOnlyReason;
  }

  /**
   * Serves {@code clone} and attaches it as a kernel device named after {@code uid} where the node
   * can.
   */
  void start(Clone clone, String uid) throws IOException {
    ExportAddress address = new ExportAddress.Unix(socket.toAbsolutePath());
    server = NbdServer.start(address, new MeteredTarget(clone, registry));
    uri = address.nbdUri(exportName);
    log.info("export", "serving the clone over NBD", "uri", uri);
    NodeAttach.Support support = NodeAttach.detect(node.runner(), node.dev());
    if (!support.available()) {
      exportOnlyReason = "node has " + support.reason();
      log.info("export-only", "no kernel device for the clone: " + support.reason());
      return;
    }
    NodeAttach candidate = NodeAttach.forClone(node.runner(), node.dev(), node.sysBlock(), uid);
    try {
      device = candidate.attach(socket, clone.size());
      attach = candidate;
      log.info("attached", "the clone is attached as a kernel device", "device", device);
    } catch (IOException e) {
      exportOnlyReason = "attaching a kernel device failed: " + e.getMessage();
      log.warn("attach-failed", exportOnlyReason);
    }
  }

  /** True when the clone has a kernel device the cutover can move onto the destination. */
  boolean attached() {
    return attach != null && device != null;
  }

  /**
   * Moves the kernel device onto {@code destination} at {@code offset}: suspended, {@code release}
   * flushes and closes the clone, then the device maps the destination directly.
   *
   * @throws IOException when the move failed; the device is back on NBD
   */
  void cutover(String destination, long offset, long size, NodeAttach.DestinationRelease release)
      throws IOException {
    attach.cutover(destination, offset, size, release);
    log.info(
        "node-cutover",
        device + " now maps the destination directly; NBD detached",
        "device",
        destination,
        "offset",
        offset);
  }

  /**
   * Removes the kernel device that maps the destination since the cutover; it stays, and the error
   * says why, while something still has it open.
   */
  void removeDeviceAfterCutover() throws IOException {
    if (attach != null) {
      attach.removeAfterCutover();
      log.info(
          "device-removed",
          device + " is removed; the destination is no longer mapped",
          "device",
          device);
      device = null;
      uri = null;
    }
  }

  /** Detaches the kernel device, then closes the server. */
  void detachAndClose() {
    if (attach != null) {
      try {
        attach.detach();
        device = null;
      } catch (IOException e) {
        log.warn("detach-failed", e.getMessage(), "device", device);
      }
    }
    close();
  }

  /** Closes the server; a kernel device (moved onto the destination) stays. */
  void close() {
    if (server != null) {
      try {
        server.close();
        log.info("export-closed", "the NBD export is closed", "uri", uri);
      } catch (IOException e) {
        log.warn("export-close-failed", e.getMessage(), "uri", uri);
      }
      server = null;
      if (device == null) {
        uri = null;
      }
    }
  }
}
