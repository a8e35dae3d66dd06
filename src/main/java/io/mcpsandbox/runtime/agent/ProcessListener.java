package io.mcpsandbox.runtime.agent;

import java.io.IOException;

/**
 * What happens to one process the host started, called on the channel's reader thread in the order the agent
 * sent it. Exactly one of {@link #exited}, {@link #startFailed} and {@link #failed} ends the sequence; nothing
 * comes after it. A slow listener slows the reading of the whole channel (that is the back-pressure); one that
 * throws is logged and does not break the channel. A listener must not write to the channel (start, stdin,
 * signal) from a callback: if the agent is itself blocked writing to the host, both would wait forever. Hand
 * such work to another thread.
 */
public interface ProcessListener {
    /** The agent started it with pid {@code pid} (inside the sandbox). */
    void started(long pid);

    /** A chunk of its stdout (1 .. 65536 bytes; the array is the listener's). */
    void stdout(byte[] chunk);

    /** A chunk of its stderr (1 .. 65536 bytes; the array is the listener's). */
    void stderr(byte[] chunk);

    /** It ended, both output pipes drained (the agent's claim). */
    void exited(AgentExit exit);

    /** The agent could not start it; {@code reason} is the agent's text, made printable. */
    void startFailed(String reason);

    /** The channel ended before the process did: a violation, the agent gone, or {@code close()}. */
    void failed(IOException cause);
}
