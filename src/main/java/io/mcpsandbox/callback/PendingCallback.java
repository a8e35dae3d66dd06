package io.mcpsandbox.callback;

import java.time.Instant;

/**
 * A delivery not yet done: kept in the {@link CallbackOutbox} from before its first attempt until it is
 * delivered or given up, so a restart resumes it.
 *
 * @param executionId   the execution whose result is delivered (the outbox key)
 * @param url           the checked callback URL
 * @param attempts      attempts made so far
 * @param nextAttemptAt when the next attempt is due
 */
public record PendingCallback(String executionId, String url, int attempts, Instant nextAttemptAt) {
    public PendingCallback {
        if (executionId == null || executionId.isEmpty() || url == null || nextAttemptAt == null || attempts < 0) {
            throw new IllegalArgumentException("a pending callback needs an execution id, a URL and a due time");
        }
    }
}
