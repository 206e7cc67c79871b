package io.volumeclone.agent;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BiConsumer;
import java.util.function.BooleanSupplier;

/**
 * The agent's current {@link AgentState}, the failure that ended it, and whether a stop was asked
 * for; every thread of the agent (the run thread, the control thread, the clone's listeners, a
 * SIGTERM) reads and moves the state only here.
 *
 * <p>Design note. A stop request and a failure are inputs, not states: they may arrive on any
 * thread at any moment (a SIGTERM while opening, an identity change while cutting over), and the
 * run thread turns them into a move when it gets there. A failure does move a running agent to
 * {@link AgentState#FAILING} at once, so nothing else (the copier's lease, a second failure) acts
 * as though it still ran. The observer hears every move after the lock is released, so it may call
 * into the clone or the node share without ordering its locks after this one.
 */
final class AgentLifecycle {

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private final BiConsumer<AgentState, AgentState> observer;

  private AgentState state = AgentState.NEW;
  private AgentFailure failure;
  private boolean stopRequested;

  /** {@code observer} hears (from, to) after every move, on the thread that made it. */
  AgentLifecycle(BiConsumer<AgentState, AgentState> observer) {
    this.observer = observer;
  }

  AgentState state() {
    lock.lock();
    try {
      return state;
    } finally {
      lock.unlock();
    }
  }

  /** The failure that moved the agent to FAILING; null while none did. */
  AgentFailure failure() {
    lock.lock();
    try {
      return failure;
    } finally {
      lock.unlock();
    }
  }

  boolean stopRequested() {
    lock.lock();
    try {
      return stopRequested;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Moves to {@code next}.
   *
   * @throws IllegalStateException naming both states when the table does not list the move
   */
  void moveTo(AgentState next) {
    AgentState from;
    lock.lock();
    try {
      from = state;
      if (!from.canMoveTo(next)) {
        throw new IllegalStateException(
            "the agent cannot move from "
                + from
                + " to "
                + next
                + "; from "
                + from
                + " it may"
                + " move to "
                + (from.terminal() ? "nothing (it has ended)" : from.successors()));
      }
      state = next;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    observer.accept(from, next);
  }

  /**
   * Moves a running agent to {@code derived}, what its clone now says (copying, paused, copied);
   * does nothing once the agent is opening, ending or ended, and refuses nothing: a clone that
   * looks paused after it copied everything stays copied.
   */
  void follow(AgentState derived) {
    AgentState from;
    lock.lock();
    try {
      from = state;
      if (!AgentState.RUNNING.contains(from) || from == derived || !from.canMoveTo(derived)) {
        return;
      }
      state = derived;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    observer.accept(from, derived);
  }

  /**
   * Records {@code f} and moves to FAILING, unless a failure is already recorded (the first one is
   * the cause, later ones its consequences) or the agent has ended. True when {@code f} is now the
   * agent's failure.
   */
  boolean fail(AgentFailure f) {
    AgentState from;
    lock.lock();
    try {
      from = state;
      if (failure != null || !from.canMoveTo(AgentState.FAILING)) {
        return false;
      }
      failure = f;
      state = AgentState.FAILING;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    observer.accept(from, AgentState.FAILING);
    return true;
  }

  /** Asks the run thread to stop (SIGTERM, the VolumeClone deleted) and wakes it. */
  void requestStop() {
    lock.lock();
    try {
      stopRequested = true;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /** Wakes the run thread to look at the clone again (its state or cutover changed). */
  void wake() {
    lock.lock();
    try {
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /**
   * Waits up to {@code timeout} while {@code stillWaiting} holds, waking at every move, stop
   * request and wake. {@code stillWaiting} runs under this lifecycle's lock, so it must only read
   * (this lifecycle, a future): a wake between its check and the wait is not lost.
   *
   * @throws InterruptedException when the waiting thread is interrupted
   */
  void awaitWhile(BooleanSupplier stillWaiting, Duration timeout) throws InterruptedException {
    long left = timeout.toNanos();
    lock.lock();
    try {
      while (left > 0 && stillWaiting.getAsBoolean()) {
        left = changed.awaitNanos(left);
      }
    } finally {
      lock.unlock();
    }
  }

  /** Waits until a stop is requested, waking once a second to look again. */
  void awaitStopRequest() throws InterruptedException {
    lock.lock();
    try {
      while (!stopRequested) {
        changed.await(1, TimeUnit.SECONDS);
      }
    } finally {
      lock.unlock();
    }
  }
}
