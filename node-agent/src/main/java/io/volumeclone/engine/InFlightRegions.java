package io.volumeclone.engine;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;

/**
 * Regions being copied (or overwritten whole) right now, as claims on runs of regions, each with a
 * future its waiters block on.
 *
 * <p>Why runs and not a lock per region: a 16 TiB clone has 256 Mi regions; only the few in flight
 * need any state, and one request may claim a million of them at once (a 4 GiB TRIM of 4 KiB
 * regions), so a claim is one entry, {@code [first, end)}, in a map ordered by its first region:
 * O(1) memory and O(log n) time per claim whatever its length. Claims never overlap. The owner of a
 * claim is the only one allowed to write its regions' data to the destination while their bits are
 * 0, which is what keeps a background copy from overwriting a user write with stale source data.
 * Owners always release with a normal completion, even on failure: waiters re-check the bitmap and,
 * if the region is still uncopied, try themselves (so they see their own error).
 *
 * <p>One monitor guards the map: claims are taken only for uncopied regions, and each is held for a
 * whole copy, so the lock is short and rare next to the I/O it protects.
 */
final class InFlightRegions {

  /** A claim on regions {@code [first, end)}; {@code end} only ever shrinks, before any waiter. */
  private static final class Claim {
    final long first;
    long end;
    final CompletableFuture<Void> released = new CompletableFuture<>();

    Claim(long first, long end) {
      this.first = first;
      this.end = end;
    }
  }

  private final NavigableMap<Long, Claim> claims = new TreeMap<>();

  /**
   * Claims the run of regions from {@code first} towards {@code end}, stopping before the first
   * region another owner holds or that {@code metadata} shows copied once claimed (it was copied
   * between the caller's look at the bitmap and the claim).
   *
   * @return how many regions, {@code [first, first + count)}, the caller now owns; 0 when {@code
   *     first} itself is owned by someone else or already copied
   */
  long claimRun(long first, long end, CloneMetadata metadata) {
    if (end <= first) {
      return 0;
    }
    Claim claim;
    synchronized (this) {
      if (ownerOf(first) != null) {
        return 0;
      }
      Long next = claims.higherKey(first);
      claim = new Claim(first, next == null ? end : Math.min(end, next));
      claims.put(first, claim);
    }
    // Bits go 0 -> 1 only under a claim, so none can appear in the run from now on; a bit set
    // before the claim ends the run there.
    long copied = firstCopied(first, claim.end, metadata);
    if (copied == first) {
      synchronized (this) {
        claims.remove(first);
      }
      claim.released.complete(null);
      return 0;
    }
    if (copied >= 0) {
      synchronized (this) {
        claim.end = copied;
      }
      return copied - first;
    }
    return claim.end - first;
  }

  /**
   * The first copied region in {@code [first, end)}, or -1: bit by bit for short runs (the usual
   * claim), a bitmap word at a time for long ones.
   */
  private static long firstCopied(long first, long end, CloneMetadata metadata) {
    if (end - first <= 64) {
      for (long r = first; r < end; r++) {
        if (metadata.isHydrated(r)) {
          return r;
        }
      }
      return -1;
    }
    long copied = metadata.nextHydrated(first);
    return copied >= 0 && copied < end ? copied : -1;
  }

  /** The claim holding {@code region}, or null. Caller holds the monitor. */
  private Claim ownerOf(long region) {
    Map.Entry<Long, Claim> below = claims.floorEntry(region);
    return below != null && below.getValue().end > region ? below.getValue() : null;
  }

  /** Waits for the owner of {@code region}, if it has one. */
  void awaitOwner(long region) {
    CompletableFuture<Void> owner;
    synchronized (this) {
      Claim claim = ownerOf(region);
      owner = claim == null ? null : claim.released;
    }
    if (owner != null) {
      await(owner);
    }
  }

  /** Releases the claims that start in {@code [first, first + count)} (whole claims, as taken). */
  void release(long first, long count) {
    List<Claim> released = new ArrayList<>(1);
    synchronized (this) {
      NavigableMap<Long, Claim> starting = claims.subMap(first, true, first + count, false);
      released.addAll(starting.values());
      starting.clear();
    }
    for (Claim claim : released) {
      claim.released.complete(null);
    }
  }

  synchronized boolean isInFlight(long region) {
    return ownerOf(region) != null;
  }

  /** Claims held now (each a run of regions). */
  synchronized int size() {
    return claims.size();
  }

  /** Blocks until the owner of a claim releases it, ignoring interrupts as block I/O must. */
  static void await(CompletableFuture<Void> owner) {
    boolean interrupted = false;
    while (true) {
      try {
        owner.get();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      } catch (java.util.concurrent.ExecutionException e) {
        break;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }
}
