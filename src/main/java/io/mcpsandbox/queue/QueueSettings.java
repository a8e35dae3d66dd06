package io.mcpsandbox.queue;

import io.mcpsandbox.config.Settings;

/**
 * The queue's limits (docs/queue.md). Sized in thousands: a batch user's backlog waits here instead of being
 * refused; only what is beyond is a 429.
 *
 * @param enabled    false: async requests are admitted (or refused) at once, as without a queue
 * @param maxPerUser most items one user may have waiting
 * @param maxTotal   most items waiting in all
 * @param maxBytes   most request bytes waiting in all (code, files, stdin, environment)
 * @param maxBatch   most requests in one batch submission
 */
public record QueueSettings(boolean enabled, int maxPerUser, int maxTotal, long maxBytes, int maxBatch) {
    public static final String ENABLED = "queue.enabled";
    public static final String MAX_PER_USER = "queue.max-per-user";
    public static final String MAX_TOTAL = "queue.max-total";
    public static final String MAX_BYTES = "queue.max-bytes";
    public static final String MAX_BATCH = "queue.max-batch";
    /** The bounds of a request's {@code priority}. */
    public static final int MIN_PRIORITY = -100;
    public static final int MAX_PRIORITY = 100;

    public QueueSettings {
        positive(MAX_PER_USER, maxPerUser);
        positive(MAX_TOTAL, maxTotal);
        positive(MAX_BYTES, maxBytes);
        positive(MAX_BATCH, maxBatch);
    }

    private static void positive(String key, long value) {
        if (value < 1) {
            throw new IllegalArgumentException(key + ": must be at least 1; got " + value);
        }
    }

    public static QueueSettings from(Settings s) {
        return new QueueSettings(s.bool(ENABLED, "true"), s.integer(MAX_PER_USER, "5000"),
                s.integer(MAX_TOTAL, "20000"), s.bytes(MAX_BYTES, "1g"), s.integer(MAX_BATCH, "1000"));
    }
}
