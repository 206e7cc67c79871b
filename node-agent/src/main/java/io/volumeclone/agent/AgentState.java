package io.volumeclone.agent;

import io.volumeclone.engine.CloneStatus;
import java.util.EnumSet;
import java.util.Set;

/**
 * Where one run of the agent is in its life, and the moves it may make; {@link AgentLifecycle}
 * holds the current state and refuses any move this table does not list.
 *
 * <p>Design note. The states follow what the agent does, not only what the clone is: the clone says
 * copying, copied or cut over, the agent adds opening, pausing by the spec, the node cutover,
 * stopping and failing. The three running states ({@link #COPYING}, {@link #PAUSED}, {@link
 * #COPIED}) follow the clone; the run thread alone enters the ends. Each end has a state for the
 * release (closing the export, committing, writing the final status) and a terminal one, so a
 * waiter can tell "on its way out" from "gone".
 *
 * <pre>
 *   NEW -> OPENING -> COPYING <-> PAUSED
 *                  \     \        /
 *                   \--> COPIED <-
 *   running (COPYING, PAUSED, COPIED) -> CUTTING_OVER -> CUT_OVER
 *   running -> STOPPING -> STOPPED
 *   OPENING, running, CUTTING_OVER, STOPPING -> FAILING -> FAILED
 * </pre>
 */
enum AgentState {
  /** Built, {@link Agent#run} not called. */
  NEW,
  /** Reading the VolumeClone and opening the devices; nothing is served yet. */
  OPENING,
  /** The background copy runs; the only state in which the clone holds its node-share lease. */
  COPYING,
  /** spec.copy.paused: no background copy, the export still serves. */
  PAUSED,
  /** Every region is copied; waiting for the cutover (automatic, or manual once approved). */
  COPIED,
  /** The engine cut over: moving the node's device onto the destination, writing CutOver=True. */
  CUTTING_OVER,
  /** Done: CutOver=True is in the status. */
  CUT_OVER,
  /** Stop requested (SIGTERM, the VolumeClone deleted): closing the export and committing. */
  STOPPING,
  /** Stopped with everything committed. */
  STOPPED,
  /** A failure is recorded: closing what is open and writing Degraded=True. */
  FAILING,
  /** Ended by a failure. */
  FAILED;

  /** The states that follow the clone while it runs. */
  static final Set<AgentState> RUNNING = EnumSet.of(COPYING, PAUSED, COPIED);

  /**
   * The running state a clone in {@code state} says, {@code paused} or not; null once the clone is
   * closed. A clone the engine has cut over is copied until the run thread takes the agent further.
   */
  static AgentState following(CloneStatus.State state, boolean paused) {
    return switch (state) {
      case COPYING -> paused ? PAUSED : COPYING;
      case COPIED, CUT_OVER -> COPIED;
      case CLOSED -> null;
    };
  }

  /** True when {@code next} is a legal move from this state. */
  boolean canMoveTo(AgentState next) {
    return successors().contains(next);
  }

  /** True for the states nothing follows. */
  boolean terminal() {
    return successors().isEmpty();
  }

  /** Every state this one may move to: the transition table, in one place. */
  Set<AgentState> successors() {
    return switch (this) {
      case NEW -> EnumSet.of(OPENING);
      case OPENING -> EnumSet.of(COPYING, PAUSED, COPIED, FAILING);
      case COPYING -> EnumSet.of(PAUSED, COPIED, CUTTING_OVER, STOPPING, FAILING);
      case PAUSED -> EnumSet.of(COPYING, COPIED, CUTTING_OVER, STOPPING, FAILING);
      // copied is copied: a pause afterwards has nothing left to hold back
      case COPIED -> EnumSet.of(CUTTING_OVER, STOPPING, FAILING);
      case CUTTING_OVER -> EnumSet.of(CUT_OVER, FAILING);
      case STOPPING -> EnumSet.of(STOPPED, FAILING);
      case FAILING -> EnumSet.of(FAILED);
      case CUT_OVER, STOPPED, FAILED -> EnumSet.noneOf(AgentState.class);
    };
  }
}
