package io.mcpsandbox.queue;

import java.util.List;
import java.util.Optional;

/**
 * Where queued executions wait durably: written before a submission is answered, read back after a restart,
 * removed once the execution's own record exists (it has started) or it was cancelled. See docs/queue.md.
 *
 * <p>One process dispatches from a queue at a time ({@link QueueLock}); implementations are thread-safe. A
 * failure is an {@link io.mcpsandbox.record.ExecutionStoreException}, never silent.
 */
public interface QueueStore extends AutoCloseable {

    /** An item with its request (the JSON of {@link QueuedRequests}). */
    record Entry(QueuedItem item, byte[] request) {
    }

    /** Writes all the entries or none (one transaction). */
    void add(List<Entry> entries);

    /** Every waiting item, in acceptance order, without requests. */
    List<QueuedItem> items();

    /** The stored request of a waiting item; empty once it is removed. */
    Optional<byte[]> request(String executionId);

    /** Removes an item (idempotent). */
    void remove(String executionId);

    /** Where it keeps the queue, for logs and errors. */
    String describe();

    @Override
    void close();
}
