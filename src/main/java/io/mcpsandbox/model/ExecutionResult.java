package io.mcpsandbox.model;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/**
 * The result object of DESIGN.md, identical for CLI, MCP and REST.
 *
 * @param exitCode the program's exit code; 128+N when killed by signal N; null when it never ran
 * @param reason   why, for rejected and error (and a short explanation for timeout and the like)
 */
public record ExecutionResult(String executionId, ExecutionStatus status, Integer exitCode, String stdout,
                              String stderr, boolean stdoutTruncated, boolean stderrTruncated, long durationMs,
                              String runtime, SecurityLevel securityLevel, String image, ResourceUsage resourceUsage,
                              List<SecurityEvent> securityEvents,
                              @JsonInclude(JsonInclude.Include.NON_NULL) String reason) {

    public ExecutionResult {
        stdout = stdout == null ? "" : stdout;
        stderr = stderr == null ? "" : stderr;
        resourceUsage = resourceUsage == null ? ResourceUsage.NONE : resourceUsage;
        securityEvents = securityEvents == null ? List.of() : List.copyOf(securityEvents);
    }

    /** A result for a request that never ran: refused by policy, or failed inside the service. */
    public static ExecutionResult notRun(String executionId, ExecutionStatus status, String reason, String runtime,
                                         SecurityLevel level, String image, long durationMs,
                                         List<SecurityEvent> events) {
        return new ExecutionResult(executionId, status, null, "", "", false, false, durationMs, runtime, level, image,
                ResourceUsage.NONE, events, reason);
    }

    /** A placeholder for an execution that has started and not ended. */
    public static ExecutionResult running(String executionId, String runtime, SecurityLevel level, String image,
                                          long elapsedMs) {
        return new ExecutionResult(executionId, ExecutionStatus.RUNNING, null, "", "", false, false, elapsedMs,
                runtime, level, image, ResourceUsage.NONE, List.of(), null);
    }

    public ExecutionResult withSecurityEvents(List<SecurityEvent> events) {
        return new ExecutionResult(executionId, status, exitCode, stdout, stderr, stdoutTruncated, stderrTruncated,
                durationMs, runtime, securityLevel, image, resourceUsage, events, reason);
    }
}
