package io.mcpsandbox.model;

import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/** How an execution ended (or that it has not ended yet). */
public enum ExecutionStatus {
    /** Accepted into the durable queue, not started yet; never on a final result. */
    QUEUED,
    /** Still running; only seen on records and async reads, never on a final result. */
    RUNNING,
    /** The program ran and exited on its own, with any exit code. */
    COMPLETED,
    TIMEOUT,
    OOM_KILLED,
    OUTPUT_LIMIT,
    TERMINATED,
    /** Policy refused the request before anything ran. */
    REJECTED,
    /** The service failed; the result's reason says why. */
    ERROR,
    /** Taken out of the queue before it started (DELETE): it never ran. */
    CANCELLED;

    @JsonValue
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public boolean isFinal() {
        return this != RUNNING && this != QUEUED;
    }
}
