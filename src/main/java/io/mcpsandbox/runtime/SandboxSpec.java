package io.mcpsandbox.runtime;

import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.RootFilesystem;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What a runtime needs to build one sandbox. The environment is exactly {@code env}: the runtime adds
 * nothing of the server's own.
 *
 * @param name           the container name, {@code mcp-exec-<executionId>}
 * @param workspaceFiles files placed in /workspace before the program starts, by relative path
 * @param stdin          bytes fed to the program's standard input, then EOF; null for an empty input
 */
public record SandboxSpec(String name, List<String> args, Map<String, String> env, String workDir,
                          RootFilesystem rootfs, ResourceLimits limits, boolean network,
                          Map<String, byte[]> workspaceFiles, byte[] stdin) {
    public static final String NAME_PREFIX = "mcp-exec-";
    public static final String WORKSPACE = "/workspace";
    public static final String TMP = "/tmp";

    public SandboxSpec {
        args = List.copyOf(args);
        env = Map.copyOf(env);
        workspaceFiles = Map.copyOf(workspaceFiles);
    }

    /**
     * The working directory relative to {@code root} (/workspace or /tmp) when it lies strictly below it:
     * the backends create it in the sandbox's tmpfs before the program starts.
     */
    public Optional<String> workDirBelow(String root) {
        return workDir.startsWith(root + "/") ? Optional.of(workDir.substring(root.length() + 1))
                : Optional.empty();
    }

    public static String nameFor(String executionId) {
        return NAME_PREFIX + executionId;
    }

    /** The execution id in a sandbox name made by {@link #nameFor}; empty for a name that is not ours. */
    public static Optional<String> executionIdOf(String name) {
        return name.startsWith(NAME_PREFIX) ? Optional.of(name.substring(NAME_PREFIX.length())) : Optional.empty();
    }
}
