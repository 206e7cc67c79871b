package io.volumeclone.agent;

import static io.volumeclone.agent.AgentState.COPIED;
import static io.volumeclone.agent.AgentState.COPYING;
import static io.volumeclone.agent.AgentState.CUTTING_OVER;
import static io.volumeclone.agent.AgentState.CUT_OVER;
import static io.volumeclone.agent.AgentState.FAILED;
import static io.volumeclone.agent.AgentState.FAILING;
import static io.volumeclone.agent.AgentState.NEW;
import static io.volumeclone.agent.AgentState.OPENING;
import static io.volumeclone.agent.AgentState.PAUSED;
import static io.volumeclone.agent.AgentState.STOPPED;
import static io.volumeclone.agent.AgentState.STOPPING;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.volumeclone.engine.CloneStatus;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The agent's transition table: written out here once more, by hand, so a change of {@link
 * AgentState} shows up as a change of this test; every listed move is accepted by {@link
 * AgentLifecycle}, every other one refused with a message naming both states.
 */
class AgentLifecycleTest {

  /** The table as the agent's life reads: each state and the states that may follow it. */
  static final Map<AgentState, Set<AgentState>> TABLE = new EnumMap<>(AgentState.class);

  static {
    TABLE.put(NEW, EnumSet.of(OPENING));
    TABLE.put(OPENING, EnumSet.of(COPYING, PAUSED, COPIED, FAILING));
    TABLE.put(COPYING, EnumSet.of(PAUSED, COPIED, CUTTING_OVER, STOPPING, FAILING));
    TABLE.put(PAUSED, EnumSet.of(COPYING, COPIED, CUTTING_OVER, STOPPING, FAILING));
    TABLE.put(COPIED, EnumSet.of(CUTTING_OVER, STOPPING, FAILING));
    TABLE.put(CUTTING_OVER, EnumSet.of(CUT_OVER, FAILING));
    TABLE.put(STOPPING, EnumSet.of(STOPPED, FAILING));
    TABLE.put(FAILING, EnumSet.of(FAILED));
    TABLE.put(CUT_OVER, EnumSet.noneOf(AgentState.class));
    TABLE.put(STOPPED, EnumSet.noneOf(AgentState.class));
    TABLE.put(FAILED, EnumSet.noneOf(AgentState.class));
  }

  record Move(AgentState from, AgentState to) {}

  @Test
  void theEnumListsExactlyTheTable() {
    assertThat(TABLE.keySet()).containsExactlyInAnyOrder(AgentState.values());
    for (AgentState s : AgentState.values()) {
      assertThat(s.successors()).as("successors of " + s).isEqualTo(TABLE.get(s));
      assertThat(s.terminal()).as(s + " terminal").isEqualTo(TABLE.get(s).isEmpty());
    }
    assertThat(EnumSet.of(CUT_OVER, STOPPED, FAILED))
        .allSatisfy(s -> assertThat(s.terminal()).isTrue());
  }

  @Test
  void everyLegalMoveIsAccepted() {
    int moves = 0;
    for (AgentState from : AgentState.values()) {
      for (AgentState to : TABLE.get(from)) {
        List<Move> observed = new ArrayList<>();
        AgentLifecycle lifecycle = at(from, observed);
        observed.clear();
        lifecycle.moveTo(to);
        assertThat(lifecycle.state()).as(from + " -> " + to).isEqualTo(to);
        assertThat(observed)
            .as("observer of " + from + " -> " + to)
            .containsExactly(new Move(from, to));
        moves++;
      }
    }
    assertThat(moves).isEqualTo(TABLE.values().stream().mapToInt(Set::size).sum()).isEqualTo(23);
  }

  @Test
  void everyIllegalMoveIsRefusedNamingBothStates() {
    int refused = 0;
    for (AgentState from : AgentState.values()) {
      EnumSet<AgentState> allowed = EnumSet.copyOf(TABLE.get(from));
      allowed.add(from); // staying is no move either: refused below
      for (AgentState to : EnumSet.complementOf(allowed)) {
        List<Move> observed = new ArrayList<>();
        AgentLifecycle lifecycle = at(from, observed);
        observed.clear();
        assertThatThrownBy(() -> lifecycle.moveTo(to))
            .as(from + " -> " + to)
            .isInstanceOf(IllegalStateException.class)
            .hasMessageContaining("cannot move from " + from + " to " + to);
        assertThat(lifecycle.state())
            .as("state after refusing " + from + " -> " + to)
            .isEqualTo(from);
        assertThat(observed).as("observer after refusing " + from + " -> " + to).isEmpty();
        refused++;
      }
      AgentLifecycle lifecycle = at(from, new ArrayList<>());
      assertThatThrownBy(() -> lifecycle.moveTo(from))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("cannot move from " + from + " to " + from);
    }
    int states = AgentState.values().length;
    assertThat(refused).isEqualTo(states * states - states - 23);
  }

  @Test
  void theRefusalOfAnEndedAgentSaysItHasEnded() {
    AgentLifecycle lifecycle = at(CUT_OVER, new ArrayList<>());
    assertThatThrownBy(() -> lifecycle.moveTo(COPYING))
        .hasMessage(
            "the agent cannot move from CUT_OVER to COPYING; from CUT_OVER it may move to nothing"
                + " (it has ended)");
    AgentLifecycle copied = at(COPIED, new ArrayList<>());
    assertThatThrownBy(() -> copied.moveTo(PAUSED))
        .hasMessage(
            "the agent cannot move from COPIED to PAUSED; from COPIED it may move to"
                + " [CUTTING_OVER, STOPPING, FAILING]");
  }

  @Test
  void theFirstFailureWinsAndAnEndedAgentTakesNone() {
    AgentLifecycle lifecycle = at(COPYING, new ArrayList<>());
    AgentFailure first = new AgentFailure("IdentityChanged", "spec.source changed");
    assertThat(lifecycle.fail(first)).isTrue();
    assertThat(lifecycle.state()).isEqualTo(FAILING);
    assertThat(lifecycle.fail(new AgentFailure("AgentError", "later"))).isFalse();
    assertThat(lifecycle.failure()).isSameAs(first);
    lifecycle.moveTo(FAILED);

    AgentLifecycle ended = at(STOPPED, new ArrayList<>());
    assertThat(ended.fail(new AgentFailure("AgentError", "after the end"))).isFalse();
    assertThat(ended.state()).isEqualTo(STOPPED);
    assertThat(ended.failure()).isNull();
  }

  @Test
  void followingTheCloneMovesOnlyARunningAgentAndOnlyAlongTheTable() {
    List<Move> observed = new ArrayList<>();
    AgentLifecycle lifecycle = at(COPYING, observed);
    observed.clear();
    lifecycle.follow(PAUSED);
    lifecycle.follow(PAUSED);
    lifecycle.follow(COPYING);
    lifecycle.follow(COPIED);
    lifecycle.follow(PAUSED); // paused after copying everything: still copied
    assertThat(lifecycle.state()).isEqualTo(COPIED);
    assertThat(observed)
        .containsExactly(
            new Move(COPYING, PAUSED), new Move(PAUSED, COPYING), new Move(COPYING, COPIED));

    for (AgentState notRunning : EnumSet.complementOf(EnumSet.copyOf(AgentState.RUNNING))) {
      AgentLifecycle other = at(notRunning, new ArrayList<>());
      other.follow(COPYING);
      other.follow(COPIED);
      assertThat(other.state()).as("following the clone from " + notRunning).isEqualTo(notRunning);
    }
  }

  @Test
  void theCloneStateMapsOntoTheRunningStates() {
    assertThat(AgentState.following(CloneStatus.State.COPYING, false)).isEqualTo(COPYING);
    assertThat(AgentState.following(CloneStatus.State.COPYING, true)).isEqualTo(PAUSED);
    assertThat(AgentState.following(CloneStatus.State.COPIED, false)).isEqualTo(COPIED);
    assertThat(AgentState.following(CloneStatus.State.COPIED, true)).isEqualTo(COPIED);
    assertThat(AgentState.following(CloneStatus.State.CUT_OVER, false)).isEqualTo(COPIED);
    assertThat(AgentState.following(CloneStatus.State.CLOSED, false)).isNull();
  }

  @Test
  void aStopRequestIsNoMoveButEndsTheWait() throws InterruptedException {
    AgentLifecycle lifecycle = at(COPYING, new ArrayList<>());
    Thread stopper =
        Thread.ofPlatform()
            .start(
                () -> {
                  try {
                    Thread.sleep(50);
                  } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                  }
                  lifecycle.requestStop();
                });
    lifecycle.awaitWhile(() -> !lifecycle.stopRequested(), Duration.ofMinutes(1));
    stopper.join();
    assertThat(lifecycle.stopRequested()).isTrue();
    assertThat(lifecycle.state()).isEqualTo(COPYING);
  }

  /** A lifecycle brought from NEW to {@code target} along the shortest path of the table. */
  private static AgentLifecycle at(AgentState target, List<Move> observed) {
    AgentLifecycle lifecycle = new AgentLifecycle((from, to) -> observed.add(new Move(from, to)));
    for (AgentState step : pathTo(target)) {
      lifecycle.moveTo(step);
    }
    assertThat(lifecycle.state()).isEqualTo(target);
    return lifecycle;
  }

  private static List<AgentState> pathTo(AgentState target) {
    Map<AgentState, AgentState> previous = new EnumMap<>(AgentState.class);
    ArrayDeque<AgentState> queue = new ArrayDeque<>(List.of(NEW));
    Set<AgentState> seen = EnumSet.of(NEW);
    while (!queue.isEmpty()) {
      AgentState s = queue.poll();
      for (AgentState next : TABLE.get(s)) {
        if (seen.add(next)) {
          previous.put(next, s);
          queue.add(next);
        }
      }
    }
    assertThat(seen).as("states reachable from NEW").containsExactlyInAnyOrder(AgentState.values());
    List<AgentState> path = new ArrayList<>();
    for (AgentState s = target; s != NEW; s = previous.get(s)) {
      path.addFirst(s);
    }
    return path;
  }
}
