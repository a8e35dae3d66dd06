package io.mcpsandbox.runtime.agent;

/**
 * Gets every TCP connection the agent accepts on its egress port ({@link AgentChannel#listenForEgress}). Called
 * on the channel's reader thread: it must not block and must not use the connection's streams there (hand the
 * connection to a thread of its own); a listener that throws gets its connection closed.
 */
@FunctionalInterface
public interface EgressListener {
    void accepted(AgentConnection connection);
}
