package io.mcpsandbox.model;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.time.Instant;
import java.util.List;

/**
 * What is stored about one execution: written when it starts (status {@code running}, no result) and again
 * when it ends (with the full result object).
 *
 * @param command     the argv that ran (for a snippet: the language's command)
 * @param outputBytes stdout plus stderr as captured
 * @param result      the result object; null while running
 * @param request     what the request asked (bounded, no secrets); null in records written before it was kept,
 *                    and in listings ({@link #summary()})
 */
public record ExecutionRecord(String executionId, String userId, String sessionId, String image, String runtime,
                              SecurityLevel securityLevel, List<String> command, String language, Instant startedAt,
                              Instant endedAt, ExecutionStatus status, Integer exitCode, long durationMs,
                              long outputBytes, List<SecurityEvent> securityEvents, ExecutionResult result,
                              @JsonInclude(JsonInclude.Include.NON_NULL) RequestSummary request) {

    public ExecutionRecord {
        command = command == null ? List.of() : List.copyOf(command);
        securityEvents = securityEvents == null ? List.of() : List.copyOf(securityEvents);
    }

    /** A record without a request summary (as records written before it was kept). */
    public ExecutionRecord(String executionId, String userId, String sessionId, String image, String runtime,
                           SecurityLevel securityLevel, List<String> command, String language, Instant startedAt,
                           Instant endedAt, ExecutionStatus status, Integer exitCode, long durationMs,
                           long outputBytes, List<SecurityEvent> securityEvents, ExecutionResult result) {
        this(executionId, userId, sessionId, image, runtime, securityLevel, command, language, startedAt, endedAt,
                status, exitCode, durationMs, outputBytes, securityEvents, result, null);
    }

    /** The record written when an execution starts, without a request summary. */
    public static ExecutionRecord started(String executionId, String userId, String sessionId, String image,
                                          String runtime, SecurityLevel level, List<String> command, String language,
                                          Instant startedAt) {
        return started(executionId, userId, sessionId, image, runtime, level, command, language, startedAt, null);
    }

    /** The record written when an execution starts, with what its request asked. */
    public static ExecutionRecord started(String executionId, String userId, String sessionId, String image,
                                          String runtime, SecurityLevel level, List<String> command, String language,
                                          Instant startedAt, RequestSummary request) {
        return new ExecutionRecord(executionId, userId, sessionId, image, runtime, level, command, language, startedAt,
                null, ExecutionStatus.RUNNING, null, 0, 0, List.of(), null, request);
    }

    /** The record without its result object (and so without the output), with its request: what /record shows. */
    public ExecutionRecord withoutResult() {
        return new ExecutionRecord(executionId, userId, sessionId, image, runtime, securityLevel, command, language,
                startedAt, endedAt, status, exitCode, durationMs, outputBytes, securityEvents, null, request);
    }

    /** The record without its result and without its request: what a listing shows (and reads from a store). */
    public ExecutionRecord summary() {
        return new ExecutionRecord(executionId, userId, sessionId, image, runtime, securityLevel, command, language,
                startedAt, endedAt, status, exitCode, durationMs, outputBytes, securityEvents, null, null);
    }

    /** This record with {@code request} as its request summary. */
    public ExecutionRecord withRequest(RequestSummary request) {
        return new ExecutionRecord(executionId, userId, sessionId, image, runtime, securityLevel, command, language,
                startedAt, endedAt, status, exitCode, durationMs, outputBytes, securityEvents, result, request);
    }

    /**
     * This running record ended {@code error} with {@code reason} at {@code now}: its process died before it
     * ended (crash recovery, the queue's restart rule).
     */
    public ExecutionRecord cutOff(String reason, Instant now) {
        return ended(ExecutionResult.notRun(executionId, ExecutionStatus.ERROR, reason, runtime, securityLevel, image,
                java.time.Duration.between(startedAt, now).toMillis(), List.of()), now);
    }

    /** This record completed with its result; its request summary stays. */
    public ExecutionRecord ended(ExecutionResult r, Instant endedAt) {
        long output = r.stdout().getBytes(java.nio.charset.StandardCharsets.UTF_8).length
                + r.stderr().getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        return new ExecutionRecord(executionId, userId, sessionId, r.image() != null ? r.image() : image,
                r.runtime() != null ? r.runtime() : runtime, r.securityLevel(), command, language, startedAt, endedAt,
                r.status(), r.exitCode(), r.durationMs(), output, r.securityEvents(), r, request);
    }
}
