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
 * @param name           the container name, {@code mcp-exec-<executionId>}
 * @param workspaceFiles files placed in /workspace before the agent starts, by relative path
 */
public record SandboxSpec(String name, RootFilesystem rootfs, ResourceLimits limits, boolean network,
                          Map<String, byte[]> workspaceFiles) {
    public static final String NAME_PREFIX = "mcp-exec-";
    public static final String WORKSPACE = "/workspace";
    public static final String TMP = "/tmp";

    public SandboxSpec {
        workspaceFiles = Map.copyOf(workspaceFiles);
    }

    public static String nameFor(String executionId) {
        return NAME_PREFIX + executionId;
    }

    /** The execution id in a sandbox name made by {@link #nameFor}; empty for a name that is not ours. */
    public static Optional<String> executionIdOf(String name) {
        return name.startsWith(NAME_PREFIX) ? Optional.of(name.substring(NAME_PREFIX.length())) : Optional.empty();
    }
}
