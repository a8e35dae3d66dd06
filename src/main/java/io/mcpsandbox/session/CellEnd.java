package io.mcpsandbox.session;

import io.mcpsandbox.runtime.agent.AgentExit;
import java.io.IOException;

/** How one cell of a persistent interpreter ended. */
public sealed interface CellEnd {
    /**
     * The cell ran to its end (the driver's claim, like an exit code): {@code error} when it raised (its
     * traceback is on stderr); {@code result} is the last expression's value as text, null for none.
     */
    record Completed(boolean error, String result) implements CellEnd {
    }

    /** The interpreter ended during the cell (it exited, crashed, or was killed); the next call restarts it. */
    record Ended(AgentExit exit) implements CellEnd {
    }

    /** The interpreter could not run the cell: it could not be started, or broke the cell protocol (killed). */
    record Failed(String reason) implements CellEnd {
    }

    /** The session's agent channel ended first. */
    record Lost(IOException cause) implements CellEnd {
    }
}
