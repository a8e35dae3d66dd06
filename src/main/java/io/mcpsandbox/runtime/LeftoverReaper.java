package io.mcpsandbox.runtime;

import java.util.List;

/**
 * Crash recovery of one backend: finds the sandboxes a process that died left behind (containers, workspace
 * mounts, directories, cgroups) and removes them. Sandboxes of live processes, this one included, are never
 * touched. Runtimes of one backend share one reaper ({@link SandboxRuntime#leftovers()}); the execution layer
 * closes the records of what it reaped.
 */
public interface LeftoverReaper {
    /** For a runtime that leaves nothing on the host when its process dies. */
    LeftoverReaper NONE = new LeftoverReaper() {
        @Override
        public List<String> reapLeftovers() {
            return List.of();
        }

        @Override
        public boolean hasLeftovers() {
            return false;
        }

        @Override
        public boolean ownedByLiveProcess(String sandboxName) {
            return false;
        }
    };

    /** Removes every leftover sandbox of a dead owner and returns their names ({@code mcp-exec-<executionId>}). */
    List<String> reapLeftovers();

    /**
     * A cheap look for leftovers, from the data directory alone (no runtime binary runs, no daemon is asked):
     * whether {@link #reapLeftovers()} has something to do. It may miss what only the runtime still knows.
     */
    boolean hasLeftovers();

    /** Whether a live process owns the sandbox of this name (it is running or being torn down). */
    boolean ownedByLiveProcess(String sandboxName);
}
