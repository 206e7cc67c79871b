package io.volumeclone.agent;

import io.volumeclone.contract.AgentFailures;

/**
 * Why the agent cannot run this clone, as the Degraded condition reports it: a CamelCase reason and
 * a message that names the device and says what to change. A reason in {@link
 * AgentFailures#PERMANENT} makes the failure permanent: the agent exits with {@link
 * AgentFailures#EXIT_PERMANENT} and the operator fails the clone; any other is transient and the
 * kubelet runs the agent again.
 */
final class AgentFailure extends Exception {

  private final String reason;

  AgentFailure(String reason, String message) {
    super(message);
    this.reason = reason;
  }

  /**
   * A failure caused by {@code cause}; without a message of its own (an exception that carries
   * none) it names the cause, since the Degraded condition must say what happened.
   */
  AgentFailure(String reason, String message, Throwable cause) {
    super(message == null || message.isBlank() ? "the agent failed: " + cause : message, cause);
    this.reason = reason;
  }

  String reason() {
    return reason;
  }

  boolean permanent() {
    return AgentFailures.permanent(reason);
  }
}
