package io.mcpsandbox.runtime;

import io.mcpsandbox.host.CgroupReader;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * A started sandbox: its agent's channel (docs/agent-protocol.md), what it has used, its end, and a way to kill
 * all of it. Everything read from it is the sandbox's, so hostile: the channel's frames are parsed by
 * {@code runtime.agent}, the agent's log must be read with a bound.
 */
public interface RunningSandbox {
    /** Host to agent: the agent's fd 0. */
    OutputStream toAgent();

    /** Agent to host: the agent's fd 1. Ends when the agent (the sandbox) has ended. */
    InputStream fromAgent();

    /** The agent's own diagnostics (its fd 2), and whatever a runtime writes there. Keep a bounded tail only. */
    InputStream agentLog();

    /** CPU time, peak memory and the limit hits of the sandbox's cgroup so far; readable until close. */
    CgroupReader.Usage usage();

    /**
     * Waits until the sandbox has ended (its agent exited or was killed) and returns how, with usage read before
     * anything is removed; a failure when the runtime itself failed. Returns promptly after {@link #kill}.
     */
    SandboxExit awaitExit() throws InterruptedException;

    /** Kills every process of the sandbox (not only the first). Safe to call at any time, repeatedly. */
    void kill();
}
