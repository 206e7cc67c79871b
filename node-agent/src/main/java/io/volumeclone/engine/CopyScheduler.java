package io.volumeclone.engine;

import java.util.ArrayList;
import java.util.List;

/**
 * Shares copy bandwidth fairly between the clones of one process.
 *
 * <p>Design: deficit round robin over the registered copiers, in steps of a quantum of bytes (64
 * MiB is the step size dedupv1's fast copy uses). A copier asks for the bytes of each batch before
 * it reads them; the copier whose turn it is may take up to a quantum, then the turn passes to the
 * next copier that is waiting. A copier that stops asking loses its turn after 20 ms, so an idle or
 * paused clone never holds up the others. A node-wide bandwidth limit (0 for unlimited) applies on
 * top of each clone's own limit.
 */
public final class CopyScheduler {

  /** A turn holder that has not asked for this long has stopped copying for now. */
  private static final long IDLE_NANOS = 20_000_000;

  private final long quantum;
  private final TokenBucket nodeBandwidth;
  private final List<Participant> ring = new ArrayList<>();
  private Participant current;
  private long usedThisTurn;

  public CopyScheduler(long quantum, long nodeBytesPerSecond) {
    if (quantum <= 0) {
      throw new IllegalArgumentException("scheduler quantum must be positive, got " + quantum);
    }
    this.quantum = quantum;
    this.nodeBandwidth = new TokenBucket(nodeBytesPerSecond);
  }

  public synchronized Participant register(String name) {
    Participant participant = new Participant(name);
    ring.add(participant);
    return participant;
  }

  private synchronized void unregister(Participant participant) {
    int index = ring.indexOf(participant);
    if (index < 0) {
      return;
    }
    if (current == participant) {
      passTurn();
    }
    ring.remove(index);
    notifyAll();
  }

  /** Blocks until it is {@code participant}'s turn, then charges {@code bytes} to it. */
  private void acquire(Participant participant, long bytes) throws InterruptedException {
    synchronized (this) {
      participant.waiting = true;
      try {
        while (current != participant) {
          if (current == null) {
            current = participant;
            usedThisTurn = 0;
          } else if (!current.waiting && System.nanoTime() - current.lastGrantNanos > IDLE_NANOS) {
            // The holder stopped asking (paused, done, or throttled by its own limit).
            passTurnFrom(current);
          } else {
            wait(IDLE_NANOS / 1_000_000);
          }
        }
      } finally {
        participant.waiting = false;
      }
      participant.lastGrantNanos = System.nanoTime();
      participant.granted += bytes;
      usedThisTurn += bytes;
      if (usedThisTurn >= quantum) {
        passTurnFrom(participant);
      }
      notifyAll();
    }
    nodeBandwidth.acquire(bytes);
  }

  private void passTurn() {
    passTurnFrom(current);
  }

  /**
   * Gives the turn to the first waiting participant after {@code from} in ring order, or frees it.
   */
  private void passTurnFrom(Participant from) {
    int size = ring.size();
    int start = Math.max(ring.indexOf(from), 0);
    for (int step = 1; step <= size; step++) {
      Participant next = ring.get(Math.floorMod(start + step, size));
      if (next != from && next.waiting) {
        current = next;
        usedThisTurn = 0;
        return;
      }
    }
    current = null;
    usedThisTurn = 0;
  }

  /** One copier's handle on the scheduler. */
  public final class Participant implements AutoCloseable {
    private final String name;
    private boolean waiting;
    private long granted;
    private long lastGrantNanos;

    private Participant(String name) {
      this.name = name;
    }

    public String name() {
      return name;
    }

    /** Blocks until this participant may copy {@code bytes}. */
    public void acquire(long bytes) throws InterruptedException {
      CopyScheduler.this.acquire(this, bytes);
    }

    /** Bytes granted so far. */
    public long granted() {
      synchronized (CopyScheduler.this) {
        return granted;
      }
    }

    @Override
    public void close() {
      unregister(this);
    }
  }
}
