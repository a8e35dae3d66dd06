package io.mcpsandbox.runtime.agent;

import java.io.IOException;

/**
 * The agent could not do a file operation (a missing file, a symbolic link on the path, a FIFO, a full disk,
 * ...). The channel stays open. The reason is the agent's text, made printable.
 */
public class AgentFileException extends IOException {
    private final String reason;

    public AgentFileException(String operation, String path, String reason) {
        super("the agent could not " + operation + " " + ChannelState.printable(path) + ": " + reason);
        this.reason = reason;
    }

    /** The agent's own words. */
    public String reason() {
        return reason;
    }
}
