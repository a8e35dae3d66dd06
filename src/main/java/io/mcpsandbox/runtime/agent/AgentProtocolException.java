package io.mcpsandbox.runtime.agent;

import java.io.IOException;

/**
 * The agent broke the protocol: a frame of a bad size, type, content or order, or a stream that ends inside a
 * frame. The message says which frame and what ("frame 12: stdout for stream 7 after its exit"). The channel
 * is over once one is thrown.
 */
public class AgentProtocolException extends IOException {
    public AgentProtocolException(String message) {
        super(message);
    }

    /** A violation in frame {@code frame} (1 is the first frame the agent sent). */
    public static AgentProtocolException at(long frame, String what) {
        return new AgentProtocolException("frame " + frame + ": " + what);
    }
}
