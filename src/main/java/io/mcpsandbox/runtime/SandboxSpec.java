package io.mcpsandbox.runtime;

import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.RootFilesystem;
import java.util.Map;
import java.util.Optional;

/**
 * What a runtime needs to build one sandbox: its root, limits and starting files. The sandbox runs the agent
 * as its init; the programs (argv, environment, working directory, stdin) are the agent's to start, over its
 * channel, and are not part of this.
 *
 * @param name               the container name, {@code mcp-exec-<executionId>}
 * @param workspaceFiles     files placed in /workspace before the agent starts, by relative path
 * @param writableRootBytes  0 for a read-only root (the default); else the root is writable where
 *                           {@link WritableRoot} says, and this is what the sandbox may write to it in all
 */
public record SandboxSpec(String name, RootFilesystem rootfs, ResourceLimits limits,
                          Map<String, byte[]> workspaceFiles, long writableRootBytes) {
    public static final String NAME_PREFIX = "mcp-exec-";
    public static final String WORKSPACE = "/workspace";
    public static final String TMP = "/tmp";

    public SandboxSpec {
        workspaceFiles = Map.copyOf(workspaceFiles);
        if (writableRootBytes < 0) {
            throw new IllegalArgumentException("writableRootBytes must be 0 (read-only) or a size cap; got "
                    + writableRootBytes);
        }
    }

    /** A sandbox with a read-only root. */
    public SandboxSpec(String name, RootFilesystem rootfs, ResourceLimits limits,
                       Map<String, byte[]> workspaceFiles) {
        this(name, rootfs, limits, workspaceFiles, 0);
    }

    public boolean writableRoot() {
        return writableRootBytes > 0;
    }

    public static String nameFor(String executionId) {
        return NAME_PREFIX + executionId;
    }

    /** The execution id in a sandbox name made by {@link #nameFor}; empty for a name that is not ours. */
    public static Optional<String> executionIdOf(String name) {
        return name.startsWith(NAME_PREFIX) ? Optional.of(name.substring(NAME_PREFIX.length())) : Optional.empty();
    }
}
