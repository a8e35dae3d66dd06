package io.mcpsandbox.runtime.oci;

import io.mcpsandbox.model.SecurityLevel;
import java.util.List;

/**
 * The OCI runtimes this backend drives. All take the same bundle and run in the foreground ({@code run}),
 * which returns the program's exit status (128+N for signal N): with create/start, this runsc loses the
 * status of a root container that exits before {@code wait} is answered.
 */
public enum OciFlavor {
    /** runc: {@code run --keep} keeps the container's cgroup after the exit, so usage is read from it. */
    RUNC("runc", List.of(SecurityLevel.LOW, SecurityLevel.MEDIUM)),
    /** crun: no {@code --keep}; runs with {@code --cgroup-manager=disabled} inside one of our cgroups. */
    CRUN("crun", List.of(SecurityLevel.LOW, SecurityLevel.MEDIUM)),
    /** gVisor: its {@code run} deletes its cgroup on exit, so it runs with --ignore-cgroups inside one of ours. */
    RUNSC("runsc", List.of(SecurityLevel.LOW, SecurityLevel.MEDIUM, SecurityLevel.HIGH)),
    KATA("kata-runtime", List.of(SecurityLevel.values()));

    private final String binary;
    private final List<SecurityLevel> levels;

    OciFlavor(String binary, List<SecurityLevel> levels) {
        this.binary = binary;
        this.levels = levels;
    }

    public String binary() {
        return binary;
    }

    public List<SecurityLevel> levels() {
        return levels;
    }

    /** gVisor runs its own kernel: the host pids limit also caps the sentry's threads and stub processes. */
    public boolean isUserSpaceKernel() {
        return this == RUNSC;
    }

    /**
     * Whether mcp-sandbox creates the cgroup itself (and the runtime is told to leave cgroups alone): for
     * runtimes whose {@code run} deletes the cgroup, with its usage figures, when the program ends.
     */
    public boolean usesOwnCgroup() {
        return this == RUNSC || this == CRUN;
    }

    /**
     * Whether the bundle directory may be root's alone (0700) rather than traversable by others (0711): runsc's
     * sandbox, running as an unprivileged host uid, fails to start in a bundle it cannot traverse.
     */
    public boolean acceptsPrivateBundle() {
        return this == RUNC;
    }

    /** Whether {@code run} accepts {@code --keep} (do not delete the container, and its cgroup, on exit). */
    public boolean supportsKeep() {
        return this == RUNC;
    }
}
