package io.mcpsandbox.queue;

import java.time.Duration;

/** A submission the queue cannot take: the message names the limit (its setting) it would pass. */
public final class QueueFullException extends Exception {
    private final String limit;
    private final Duration retryAfter;

    QueueFullException(String limit, String message, Duration retryAfter) {
        super(message, null, false, false);
        this.limit = limit;
        this.retryAfter = retryAfter;
    }

    /** The setting whose limit was reached, e.g. {@code queue.max-per-user}. */
    public String limit() {
        return limit;
    }

    public Duration retryAfter() {
        return retryAfter;
    }
}
