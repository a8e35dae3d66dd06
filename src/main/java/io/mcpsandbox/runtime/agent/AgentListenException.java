package io.mcpsandbox.runtime.agent;

import java.io.IOException;

/** The agent could not listen on its egress port (net_status 1: the port is taken, ...). The channel stays open. */
public class AgentListenException extends IOException {
    private final String reason;

    public AgentListenException(int port, String reason) {
        super("the agent could not listen on 127.0.0.1:" + port + ": " + reason);
        this.reason = reason;
    }

    /** The agent's own words, made printable. */
    public String reason() {
        return reason;
    }
}
