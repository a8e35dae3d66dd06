package io.mcpsandbox.policy;

import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.SecurityLevel;
import java.util.List;
import java.util.Map;

/** A request that passed policy: everything resolved, nothing left to default. */
public record ExecutionPlan(List<String> command, Map<String, String> env, String workDir, String image,
                            SecurityLevel securityLevel, boolean levelExplicit, String runtime,
                            ResourceLimits limits, Map<String, byte[]> workspaceFiles, byte[] stdin) {

    /** The same plan with another environment (the proxy's variables for a sandbox with network). */
    public ExecutionPlan withEnv(Map<String, String> newEnv) {
        return new ExecutionPlan(command, newEnv, workDir, image, securityLevel, levelExplicit, runtime, limits,
                workspaceFiles, stdin);
    }
}
