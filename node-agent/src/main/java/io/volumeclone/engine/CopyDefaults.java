package io.volumeclone.engine;

/**
 * The background copy's defaults: the engine's {@link CloneOptions} and the CLI's options use them,
 * and the CRD's {@code spec.copy} defaults must equal them, so a clone behaves the same whichever
 * way it is started. The CRD cannot reference this class (the API module knows nothing of the
 * engine), so it states the same numbers and a node-agent test ({@code CopyDefaultsAgreementTest})
 * fails when the generated CRD's defaults differ from these.
 *
 * <p>Why these values. The engine copies a batch of contiguous regions with one source read and one
 * destination write of up to 4 MiB ({@code Clone.COPY_CHUNK}); with the default 64 KiB region a
 * batch of 64 regions is exactly one such transfer, the size at which dd, qemu-img and nbdcopy
 * reach a disk's sequential bandwidth. 256 regions in flight are four of those transfers at once:
 * enough queue depth to keep an NVMe destination or a remote (NBD) source with some latency busy,
 * while bounding the copier to four workers and 16 MiB of buffers at the default region size. The
 * copier still yields to consumers' I/O (one batch at a time while they are served), and a
 * bandwidth limit, not a small queue, is the knob for sparing a shared source. The earlier CRD
 * defaults (8 in flight, 16 per batch) gave 512 KiB transfers one at a time: 32 times less parallel
 * work than the CLI for the same clone.
 */
public final class CopyDefaults {

  /** Most regions the background copier copies at once. */
  public static final int REGIONS_IN_FLIGHT = 256;

  /** Most contiguous regions one background copy covers. */
  public static final int BATCH_REGIONS = 64;

  /** {@link #REGIONS_IN_FLIGHT} as the text the CLI's default annotation needs. */
  public static final String REGIONS_IN_FLIGHT_TEXT = "" + REGIONS_IN_FLIGHT;

  /** {@link #BATCH_REGIONS} as the text the CLI's default annotation needs. */
  public static final String BATCH_REGIONS_TEXT = "" + BATCH_REGIONS;

  private CopyDefaults() {}
}
