package io.mcpsandbox.runtime.agent;

import java.io.IOException;

/** The agent sent an {@code error} on stream 0: it gives up, and says why (its text, made printable). */
public class AgentGaveUpException extends IOException {
    public AgentGaveUpException(String reason) {
        super("the agent gave up: " + reason);
    }
}
