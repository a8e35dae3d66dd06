package io.mcpsandbox.model;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/**
 * The result object of DESIGN.md, identical for CLI, MCP and REST. Built from {@link #running} or
 * {@link #notRun} and the {@code with...} copies; the JSON form is the record's components, nothing else.
 *
 * @param exitCode the program's exit code; 128+N when killed by signal N; null when it never ran
 * @param reason   why, for rejected and error (and a short explanation for timeout and the like)
 * @param result   a persistent-mode call's last expression, as text (null for none, and outside that mode)
 * @param notice   something the caller should know about how it ran, e.g. that the session's interpreter was
 *                 restarted (its earlier state is gone)
 * @param pooled   whether it ran in a sandbox started ahead from a warm pool (else one started for it, or none)
 * @param images   images the program wrote (execute_code): MCP image content, never in the JSON form
 * @param imageNotes why images were not returned (too large, not an image, ...), beside them
 * @param node     in cluster mode, the id of the node that ran it (its record's {@code node}); absent otherwise
 */
public record ExecutionResult(String executionId, ExecutionStatus status, Integer exitCode, String stdout,
                              String stderr, boolean stdoutTruncated, boolean stderrTruncated, long durationMs,
                              String runtime, SecurityLevel securityLevel, String image, ResourceUsage resourceUsage,
                              List<SecurityEvent> securityEvents,
                              @JsonInclude(JsonInclude.Include.NON_NULL) String reason,
                              @JsonInclude(JsonInclude.Include.NON_NULL) String result,
                              @JsonInclude(JsonInclude.Include.NON_NULL) String notice,
                              boolean pooled,
                              @JsonIgnore List<OutputImage> images,
                              @JsonIgnore List<String> imageNotes,
                              @JsonInclude(JsonInclude.Include.NON_NULL) String node) {

    public ExecutionResult {
        stdout = stdout == null ? "" : stdout;
        stderr = stderr == null ? "" : stderr;
        resourceUsage = resourceUsage == null ? ResourceUsage.NONE : resourceUsage;
        securityEvents = securityEvents == null ? List.of() : List.copyOf(securityEvents);
        images = images == null ? List.of() : List.copyOf(images);
        imageNotes = imageNotes == null ? List.of() : List.copyOf(imageNotes);
    }

    /** A result that names no node (outside cluster mode). */
    public ExecutionResult(String executionId, ExecutionStatus status, Integer exitCode, String stdout,
                           String stderr, boolean stdoutTruncated, boolean stderrTruncated, long durationMs,
                           String runtime, SecurityLevel securityLevel, String image, ResourceUsage resourceUsage,
                           List<SecurityEvent> securityEvents, String reason, String result, String notice,
                           boolean pooled, List<OutputImage> images, List<String> imageNotes) {
        this(executionId, status, exitCode, stdout, stderr, stdoutTruncated, stderrTruncated, durationMs, runtime,
                securityLevel, image, resourceUsage, securityEvents, reason, result, notice, pooled, images,
                imageNotes, null);
    }

    /** A placeholder for an execution that has started and not ended: no output, no usage, no events. */
    public static ExecutionResult running(String executionId, String runtime, SecurityLevel level, String image,
                                          long elapsedMs) {
        return new ExecutionResult(executionId, ExecutionStatus.RUNNING, null, "", "", false, false, elapsedMs,
                runtime, level, image, ResourceUsage.NONE, List.of(), null, null, null, false, List.of(), List.of(),
                null);
    }

    /** A result for a request that never ran: refused by policy, or failed inside the service. */
    public static ExecutionResult notRun(String executionId, ExecutionStatus status, String reason, String runtime,
                                         SecurityLevel level, String image, long durationMs,
                                         List<SecurityEvent> events) {
        return running(executionId, runtime, level, image, durationMs)
                .withStatus(status, null, reason)
                .withSecurityEvents(events);
    }

    /** The same result with how it ended: status, exit code and reason go together. */
    public ExecutionResult withStatus(ExecutionStatus newStatus, Integer newExitCode, String newReason) {
        return new ExecutionResult(executionId, newStatus, newExitCode, stdout, stderr, stdoutTruncated,
                stderrTruncated, durationMs, runtime, securityLevel, image, resourceUsage, securityEvents, newReason,
                result, notice, pooled, images, imageNotes, node);
    }

    /** The same result with other output; the truncation flags stay. */
    public ExecutionResult withOutput(String newStdout, String newStderr) {
        return withOutput(newStdout, newStderr, stdoutTruncated, stderrTruncated);
    }

    /** The same result with other output and truncation flags. */
    public ExecutionResult withOutput(String newStdout, String newStderr, boolean newStdoutTruncated,
                                      boolean newStderrTruncated) {
        return new ExecutionResult(executionId, status, exitCode, newStdout, newStderr, newStdoutTruncated,
                newStderrTruncated, durationMs, runtime, securityLevel, image, resourceUsage, securityEvents, reason,
                result, notice, pooled, images, imageNotes, node);
    }

    public ExecutionResult withResourceUsage(ResourceUsage usage) {
        return new ExecutionResult(executionId, status, exitCode, stdout, stderr, stdoutTruncated, stderrTruncated,
                durationMs, runtime, securityLevel, image, usage, securityEvents, reason, result, notice, pooled,
                images, imageNotes, node);
    }

    public ExecutionResult withSecurityEvents(List<SecurityEvent> events) {
        return new ExecutionResult(executionId, status, exitCode, stdout, stderr, stdoutTruncated, stderrTruncated,
                durationMs, runtime, securityLevel, image, resourceUsage, events, reason, result, notice, pooled,
                images, imageNotes, node);
    }

    /** The same result with a persistent-mode call's value and a notice (either may be null). */
    public ExecutionResult withResultText(String newResult, String newNotice) {
        return new ExecutionResult(executionId, status, exitCode, stdout, stderr, stdoutTruncated, stderrTruncated,
                durationMs, runtime, securityLevel, image, resourceUsage, securityEvents, reason, newResult, newNotice,
                pooled, images, imageNotes, node);
    }

    /** The same result with the images the program wrote and why others were left out. */
    public ExecutionResult withImages(List<OutputImage> newImages, List<String> newNotes) {
        return new ExecutionResult(executionId, status, exitCode, stdout, stderr, stdoutTruncated, stderrTruncated,
                durationMs, runtime, securityLevel, image, resourceUsage, securityEvents, reason, result, notice,
                pooled, newImages, newNotes, node);
    }

    /** The same result saying whether its sandbox came from a warm pool. */
    public ExecutionResult withPooled(boolean fromPool) {
        return new ExecutionResult(executionId, status, exitCode, stdout, stderr, stdoutTruncated, stderrTruncated,
                durationMs, runtime, securityLevel, image, resourceUsage, securityEvents, reason, result, notice,
                fromPool, images, imageNotes, node);
    }

    /** The same result naming the cluster node that ran it. */
    public ExecutionResult withNode(String nodeId) {
        return new ExecutionResult(executionId, status, exitCode, stdout, stderr, stdoutTruncated, stderrTruncated,
                durationMs, runtime, securityLevel, image, resourceUsage, securityEvents, reason, result, notice,
                pooled, images, imageNotes, nodeId);
    }
}
