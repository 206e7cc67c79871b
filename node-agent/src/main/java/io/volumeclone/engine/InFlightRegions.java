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
 * <p>User requests go first: a claim of the background copier ({@link #claimBackgroundRun}) is held
 * for a slow source read, so a user request that overwrites or copies regions itself may {@link
 * #takeOver} them instead of waiting, until the copier {@link #startWriting starts writing}; the
 * copier then writes and marks only the regions nobody took. A taken run is a claim of its own,
 * nested in the copier's, and stays in the map if the copier releases first.
 *
 * <p>One monitor guards the map: claims are taken only for uncopied regions, and each is held for a
 * whole copy, so the lock is short and rare next to the I/O it protects.
 */
final class InFlightRegions {

  /** A claim on regions {@code [first, end)}; {@code end} only ever shrinks, before any waiter. */
  static final class Claim {
    final long first;
    long end;
    final CompletableFuture<Void> released = new CompletableFuture<>();

    /** A background copy's claim, which user requests may take regions from until it writes. */
    final boolean background;

    /** The background owner began writing the destination: nothing can be taken from it now. */
    boolean writing;

    /** Regions taken over by user requests and still held by them, keyed by their first region. */
    final NavigableMap<Long, Claim> takenOver;

    /** Every run ever taken from this claim, as {first, end}: its owner must not write them. */
    final List<long[]> overwritten;

    /** The claim this one was taken from, while it is still in the map; else null. */
    Claim parent;

    Claim(long first, long end, boolean background) {
      this.first = first;
      this.end = end;
      this.background = background;
      this.takenOver = background ? new TreeMap<>() : null;
      this.overwritten = background ? new ArrayList<>() : null;
    }

    long count() {
      return end - first;
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
    return claimRun(first, end, metadata, false);
  }

  /**
   * {@link #claimRun} for the background copier: user requests may {@link #takeOver} regions of the
   * claim until its owner calls {@link #startWriting}.
   */
  long claimBackgroundRun(long first, long end, CloneMetadata metadata) {
    return claimRun(first, end, metadata, true);
  }

  private long claimRun(long first, long end, CloneMetadata metadata, boolean background) {
    if (end <= first) {
      return 0;
    }
    Claim claim;
    synchronized (this) {
      if (ownerOf(first) != null) {
        return 0;
      }
      Long next = claims.higherKey(first);
      claim = new Claim(first, next == null ? end : Math.min(end, next), background);
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
    return holder(claims, region);
  }

  /**
   * The claim of {@code runs} (non-overlapping, keyed by first region) that holds {@code region}.
   */
  private static Claim holder(NavigableMap<Long, Claim> runs, long region) {
    Map.Entry<Long, Claim> below = runs.floorEntry(region);
    return below != null && below.getValue().end > region ? below.getValue() : null;
  }

  /**
   * Takes regions from {@code first} towards {@code end} away from the background claim that holds
   * them, for a user request that writes their data itself (a whole-region write, or a copy of one
   * region for a partial write): the user does not wait for the copier's slow source read, and the
   * copier leaves those regions alone when it writes. Possible only while the copier has not begun
   * writing the destination; the run stops at the claim's end, at regions another user took over
   * and before a copied region.
   *
   * @return the user's claim on {@code [first, claim.end)}, released with {@link
   *     #releaseTakenOver}; null when {@code first} is not held by a background claim that can
   *     still give it up (the caller waits with {@link #awaitOwner} and looks again)
   */
  Claim takeOver(long first, long end, CloneMetadata metadata) {
    Claim taken;
    synchronized (this) {
      Claim owner = ownerOf(first);
      if (owner == null || !owner.background || owner.writing) {
        return null;
      }
      if (takenOwnerOf(owner, first) != null) {
        return null;
      }
      long stop = Math.min(end, owner.end);
      Long next = owner.takenOver.higherKey(first);
      if (next != null) {
        stop = Math.min(stop, next);
      }
      taken = new Claim(first, stop, false);
      taken.parent = owner;
      owner.takenOver.put(first, taken);
      owner.overwritten.add(new long[] {first, stop});
    }
    // A run taken over earlier and released may have set bits in the background claim's range.
    long copied = firstCopied(first, taken.end, metadata);
    if (copied == first) {
      releaseTakenOver(taken);
      return null;
    }
    if (copied >= 0) {
      synchronized (this) {
        taken.end = copied;
      }
    }
    return taken;
  }

  /** Releases a claim that {@link #takeOver} returned. */
  void releaseTakenOver(Claim taken) {
    synchronized (this) {
      if (taken.parent != null) {
        taken.parent.takenOver.remove(taken.first, taken);
        taken.parent = null;
      } else {
        claims.remove(taken.first, taken);
      }
    }
    taken.released.complete(null);
  }

  /**
   * Called by the owner of the background claim starting at {@code first} before it writes the
   * destination: from now on nothing can be taken from it. Returns the runs users took over, as
   * {first, end}, which the owner must neither write nor mark copied.
   */
  List<long[]> startWriting(long first) {
    synchronized (this) {
      Claim claim = claims.get(first);
      if (claim == null || !claim.background) {
        return List.of();
      }
      claim.writing = true;
      return List.copyOf(claim.overwritten);
    }
  }

  /** The run taken over from {@code owner} that holds {@code region}, or null. Monitor held. */
  private static Claim takenOwnerOf(Claim owner, long region) {
    return owner.takenOver == null ? null : holder(owner.takenOver, region);
  }

  /** Waits for the owner of {@code region}, if it has one. */
  void awaitOwner(long region) {
    CompletableFuture<Void> owner;
    synchronized (this) {
      Claim claim = ownerOf(region);
      Claim taken = claim == null ? null : takenOwnerOf(claim, region);
      if (taken != null) {
        claim = taken;
      }
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
      // Runs users took over and still hold outlive the claim they came from: they stay claimed.
      for (Claim claim : released) {
        if (claim.takenOver != null) {
          for (Claim taken : claim.takenOver.values()) {
            taken.parent = null;
            claims.put(taken.first, taken);
          }
          claim.takenOver.clear();
        }
      }
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
