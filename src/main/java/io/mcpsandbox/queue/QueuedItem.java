package io.mcpsandbox.queue;

import java.time.Instant;

/**
 * One execution waiting in the queue, without its request: what the scheduler keeps in memory for each.
 *
 * @param sequence     the order of acceptance (unique, increasing): ties within a priority go by it
 * @param priority     higher runs first within the user's own queue
 * @param requestBytes the size of the stored request (counted against {@code queue.max-bytes})
 */
public record QueuedItem(String executionId, String userId, int priority, long sequence, Instant queuedAt,
                         long requestBytes) {
}
