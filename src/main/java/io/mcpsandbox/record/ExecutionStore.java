package io.mcpsandbox.record;

import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.SessionRecord;
import java.util.List;
import java.util.Optional;

/**
 * Where execution records and session records live: an execution's written when it starts and again when it
 * ends, a session's when it opens, as it is used and when it closes; a record outlives the process that
 * wrote it. See docs/records.md.
 *
 * <p>Implementations are thread-safe. Writes are full overwrites of the record with that execution (or
 * session) id (idempotent). A failure that loses a record is never silent: it is an {@link ExecutionStoreException}.
 */
public interface ExecutionStore extends AutoCloseable {

    /** Records an execution that has started (status {@code running}, no result). */
    void recordStart(ExecutionRecord record);

    /** Records an execution that has ended (its final status and result); fine without a prior start. */
    void recordEnd(ExecutionRecord record);

    /** The record of one execution, if the store has it (and, for Redis, its TTL has not expired). */
    Optional<ExecutionRecord> find(String executionId);

    /**
     * Records, newest first by start time.
     *
     * @param userIdOrNull only this user's records; null for every user's
     * @param limit        at most this many (at least 1)
     */
    List<ExecutionRecord> list(String userIdOrNull, int limit);

    /**
     * The records {@link #list} gives, in the same order and under the same limit, each without its result
     * and its request (as {@link ExecutionRecord#summary()} makes it): the stored result and output (up to a
     * MiB or so a record) and request (up to 64 KiB of code) are never read, so a listing that only shows who
     * ran what, when and how it ended costs no more than the summaries. What every listing that drops the
     * results uses.
     *
     * @param userIdOrNull only this user's records; null for every user's
     * @param limit        at most this many (at least 1)
     */
    List<ExecutionRecord> listSummaries(String userIdOrNull, int limit);

    /** Records still marked running: after a crash, the ones the crashed process never ended. */
    List<ExecutionRecord> running();

    /**
     * Writes a session's record (a full overwrite of the one with its id; idempotent). Open sessions are kept
     * until they close; closed ones as long as execution records (the TTL, the SQLite retention).
     */
    void saveSession(SessionRecord session);

    /** The record of one session, if the store has it. */
    Optional<SessionRecord> findSession(String sessionId);

    /**
     * Session records, newest first by creation time.
     *
     * @param userIdOrNull only this user's sessions; null for every user's
     * @param openOnly     only sessions still open
     * @param limit        at most this many (at least 1)
     */
    List<SessionRecord> listSessions(String userIdOrNull, boolean openOnly, int limit);

    /** Every session still marked open, oldest first: what a restarted server takes back or closes. */
    List<SessionRecord> openSessions();

    /**
     * Records of the executions that ran in one session, newest first by start time.
     *
     * @param limit at most this many (at least 1)
     */
    List<ExecutionRecord> listBySession(String sessionId, int limit);

    /** Whether records are being stored where they should be; never blocks on a down backend. */
    StoreHealth health();

    /** Writes accepted but not yet in the primary backend (always 0 for a single-backend store). */
    default long pendingWrites() {
        return health().pendingWrites();
    }

    /** True while the store cannot write to its primary backend and keeps records elsewhere meanwhile. */
    default boolean degraded() {
        return !health().ok();
    }

    /**
     * Bytes the store takes: for SQLite the database file and its write-ahead log on disk, for Redis the
     * stored results (JSON and compressed output) it counts; -1 when it cannot tell.
     */
    default long sizeBytes() {
        return -1;
    }

    @Override
    void close();
}
