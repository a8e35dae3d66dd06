package io.mcpsandbox.runtime;

/** A sandbox that is ready to run its program. Closing it removes every trace of it; close is idempotent. */
public interface PreparedSandbox extends AutoCloseable {
    String name();

    /** Starts the program. May be called once. */
    RunningSandbox start() throws SandboxException;

    /** Kills whatever still runs and removes container, cgroup, mounts and bundle. Never throws. */
    @Override
    void close();
}
