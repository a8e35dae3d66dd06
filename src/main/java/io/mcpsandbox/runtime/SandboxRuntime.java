package io.mcpsandbox.runtime;

import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.model.SecurityLevel;
import java.util.List;

/**
 * A way to run sandboxes (runc, runsc, docker, ...). The life of a sandbox is split so that the slow part
 * can happen before a request arrives and teardown can happen after the answer is sent:
 * {@link #prepare} (bundle written, container created where the runtime allows it) then
 * {@link PreparedSandbox#start} then {@link PreparedSandbox#close}.
 */
public interface SandboxRuntime {
    String name();

    /** The security levels this runtime's isolation is strong enough for. */
    List<SecurityLevel> levels();

    /** Checks, without side effects, whether this runtime can run sandboxes here. */
    RuntimeInfo probe();

    PreparedSandbox prepare(SandboxSpec spec) throws SandboxException;

    /**
     * Whether a sandbox starts in well under a second here, so that {@code serve} may run a test sandbox on it at
     * every start ({@code runtimes} always does). A VM under emulation takes seconds of a core: its probe alone
     * decides at {@code serve}.
     */
    default boolean quickToStart() {
        return true;
    }

    /**
     * The crash recovery of this runtime's backend (shared by the runtimes of one backend). A backend that
     * leaves anything on the host (containers, mounts, directories, cgroups) must return its own reaper.
     */
    default LeftoverReaper leftovers() {
        return LeftoverReaper.NONE;
    }
}
