package io.mcpsandbox.runtime;

import java.io.InputStream;

/** A started program: its pipes, its end, and a way to kill all of it. */
public interface RunningSandbox {
    InputStream stdout();

    InputStream stderr();

    /**
     * Waits until the program has ended and returns how, with usage read before anything is removed.
     * Returns promptly after {@link #kill}.
     */
    SandboxExit awaitExit() throws InterruptedException;

    /** Kills every process of the sandbox (not only the first). Safe to call at any time, repeatedly. */
    void kill();

    /**
     * The captured stderr without what the sandbox's own machinery (not the program) may have written to it
     * last. The default removes nothing.
     */
    default String withoutRuntimeNoise(String stderr) {
        return stderr;
    }
}
