package io.volumeclone.agent;

import io.volumeclone.engine.Clone;
import io.volumeclone.engine.CloneTuning;
import java.io.IOException;

/**
 * The last hop of the bandwidth knob: hands the limit the {@link NodeBandwidthShare} computed to
 * the copier through {@link Clone#tune}, and logs every change ({@code bandwidth} event).
 *
 * <p>Design note. The knob travels one way: {@link SpecApplier} gives the share the spec's own
 * limit, the share splits the node budget, this sets the copier. Nothing else sets the copier's
 * bandwidth. Before the clone is open the share's limit is only remembered by the share; the agent
 * opens the clone at {@link #startLimit()}, the limit this same route computed, so the first
 * batches already run at the clone's share of the node.
 */
final class CopierBandwidth implements NodeBandwidthShare.Listener {

  private final AgentLog log;
  private volatile NodeBandwidthShare share;
  private volatile Clone clone;

  CopierBandwidth(AgentLog log) {
    this.log = log;
  }

  /** The share whose limits this hands on; set once, right after the share is built with this. */
  void limitsOf(NodeBandwidthShare share) {
    this.share = share;
  }

  /** The limit to open the clone at: the share's last one, 0 (unlimited) before it computed any. */
  long startLimit() {
    return Math.max(0, share.limit());
  }

  /** The clone is open: from now on every limit goes to its copier. */
  void bind(Clone opened) {
    clone = opened;
    long limit = share.limit();
    if (limit >= 0) {
      tune(opened, limit);
    }
  }

  @Override
  public void limitChanged(long bytesPerSecond, int copyingClones) {
    Clone c = clone;
    if (c != null) {
      tune(c, bytesPerSecond);
    }
    NodeBandwidthShare s = share;
    if (s.nodeBudget() == 0) {
      log.info("bandwidth", "copy bandwidth set", "bytesPerSecond", bytesPerSecond);
      return;
    }
    long own = s.demand();
    log.info(
        "bandwidth",
        "copy bandwidth limit "
            + bytesPerSecond
            + " B/s: "
            + copyingClones
            + (copyingClones == 1 ? " clone" : " clones")
            + " copying on this node under a node budget of "
            + s.nodeBudget()
            + " B/s",
        "bytesPerSecond",
        bytesPerSecond,
        "copyingClones",
        copyingClones,
        "nodeBandwidth",
        s.nodeBudget(),
        "ownLimit",
        own == 0 ? null : own,
        "lease",
        s.leaseFile());
  }

  @Override
  public void failed(String message) {
    log.warn("node-share-failed", message);
  }

  private void tune(Clone c, long bytesPerSecond) {
    if (c.tuning().bandwidth() == bytesPerSecond) {
      return;
    }
    try {
      c.tune(CloneTuning.NONE.withBandwidth(bytesPerSecond));
    } catch (IOException e) {
      // only a pause commits, and this is no pause
      log.warn("bandwidth-failed", "setting the copy bandwidth failed: " + e.getMessage());
    }
  }
}
