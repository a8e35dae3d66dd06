package io.mcpsandbox.callback;

import java.util.List;

/**
 * Where pending callback deliveries are kept so they survive a restart (the queue store implements it with
 * SQLite and Redis). Implementations are thread-safe.
 */
public interface CallbackOutbox {
    /** Writes {@code pending}, replacing the entry with the same execution id (upsert). */
    void save(PendingCallback pending);

    /** Forgets the entry of {@code executionId}; nothing when there is none. */
    void remove(String executionId);

    /** Every entry, in no particular order. */
    List<PendingCallback> pending();
}
