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
 * @param node        in cluster mode, the id of the node that ran it (for a spilled execution: the node that took
 *                    it, not its origin); null outside cluster mode and in records written before it was kept
 */
public record ExecutionRecord(String executionId, String userId, String sessionId, String image, String runtime,
                              SecurityLevel securityLevel, List<String> command, String language, Instant startedAt,
                              Instant endedAt, ExecutionStatus status, Integer exitCode, long durationMs,
                              long outputBytes, List<SecurityEvent> securityEvents, ExecutionResult result,
                              @JsonInclude(JsonInclude.Include.NON_NULL) RequestSummary request,
                              @JsonInclude(JsonInclude.Include.NON_NULL) String node) {

    /**
     * The most of a command a record keeps: 128 KiB of UTF-8, the most a command that runs may have. A longer one
     * was refused; it is kept cut (its first arguments, then a note of what was cut), so a stream of refused
     * requests cannot fill the store.
     */
    public static final int MAX_COMMAND_BYTES = 128 << 10;

    public ExecutionRecord {
        command = command == null ? List.of() : bounded(command);
        securityEvents = securityEvents == null ? List.of() : List.copyOf(securityEvents);
    }

    /** A record without a request summary (as records written before it was kept). */
    public ExecutionRecord(String executionId, String userId, String sessionId, String image, String runtime,
                           SecurityLevel securityLevel, List<String> command, String language, Instant startedAt,
                           Instant endedAt, ExecutionStatus status, Integer exitCode, long durationMs,
                           long outputBytes, List<SecurityEvent> securityEvents, ExecutionResult result) {
        this(executionId, userId, sessionId, image, runtime, securityLevel, command, language, startedAt, endedAt,
                status, exitCode, durationMs, outputBytes, securityEvents, result, null, null);
    }

    /** A record that names no node (outside cluster mode, and as records written before it was kept). */
    public ExecutionRecord(String executionId, String userId, String sessionId, String image, String runtime,
                           SecurityLevel securityLevel, List<String> command, String language, Instant startedAt,
                           Instant endedAt, ExecutionStatus status, Integer exitCode, long durationMs,
                           long outputBytes, List<SecurityEvent> securityEvents, ExecutionResult result,
                           RequestSummary request) {
        this(executionId, userId, sessionId, image, runtime, securityLevel, command, language, startedAt, endedAt,
                status, exitCode, durationMs, outputBytes, securityEvents, result, request, null);
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
                null, ExecutionStatus.RUNNING, null, 0, 0, List.of(), null, request, null);
    }

    /** The record without its result object (and so without the output), with its request: what /record shows. */
    public ExecutionRecord withoutResult() {
        return new ExecutionRecord(executionId, userId, sessionId, image, runtime, securityLevel, command, language,
                startedAt, endedAt, status, exitCode, durationMs, outputBytes, securityEvents, null, request, node);
    }

    /** The record without its result and without its request: what a listing shows (and reads from a store). */
    public ExecutionRecord summary() {
        return new ExecutionRecord(executionId, userId, sessionId, image, runtime, securityLevel, command, language,
                startedAt, endedAt, status, exitCode, durationMs, outputBytes, securityEvents, null, null, node);
    }

    /** This record with {@code request} as its request summary. */
    public ExecutionRecord withRequest(RequestSummary request) {
        return new ExecutionRecord(executionId, userId, sessionId, image, runtime, securityLevel, command, language,
                startedAt, endedAt, status, exitCode, durationMs, outputBytes, securityEvents, result, request, node);
    }

    /** This record naming {@code nodeId} as the cluster node that ran it. */
    public ExecutionRecord withNode(String nodeId) {
        return new ExecutionRecord(executionId, userId, sessionId, image, runtime, securityLevel, command, language,
                startedAt, endedAt, status, exitCode, durationMs, outputBytes, securityEvents, result, request, nodeId);
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
                r.status(), r.exitCode(), r.durationMs(), output, r.securityEvents(), r, request, node);
    }

    /**
     * The command as kept: whole while within {@link #MAX_COMMAND_BYTES}, else its first arguments and a note of
     * what was cut, within the limit together (so keeping a kept command again changes nothing).
     */
    static List<String> bounded(List<String> command) {
        long total = 0;
        for (String arg : command) {
            total += RequestSummary.utf8Length(arg);
        }
        if (total <= MAX_COMMAND_BYTES) {
            return List.copyOf(command);
        }
        String note = "[cut: the command had " + command.size() + " arguments and " + total + " bytes; a record "
                + "keeps " + MAX_COMMAND_BYTES + "]";
        java.util.ArrayList<String> kept = new java.util.ArrayList<>();
        long room = MAX_COMMAND_BYTES - RequestSummary.utf8Length(note);
        for (String arg : command) {
            long n = RequestSummary.utf8Length(arg);
            if (n > room) {
                if (room > 0) {
                    kept.add(RequestSummary.cutUtf8(arg, (int) room));
                }
                break;
            }
            kept.add(arg);
            room -= n;
        }
        kept.add(note);
        return List.copyOf(kept);
    }
}
