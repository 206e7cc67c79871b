package io.volumeclone.agent;

/**
 * Why the agent cannot run this clone, as the Degraded condition reports it: a CamelCase reason and
 * a message that names the device and says what to change.
 */
final class AgentFailure extends Exception {

  private final String reason;

  AgentFailure(String reason, String message) {
    super(message);
    this.reason = reason;
  }

  AgentFailure(String reason, String message, Throwable cause) {
    super(message, cause);
    this.reason = reason;
  }

  String reason() {
    return reason;
  }
}
