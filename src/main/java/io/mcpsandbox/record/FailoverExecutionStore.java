package io.mcpsandbox.record;

import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.SessionRecord;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Redis as the store, the embedded SQLite file as the place a record waits while Redis is down: no record is
 * lost, and no execution waits for Redis.
 *
 * <ul>
 *   <li>A write goes to Redis. If Redis fails, or is known to be down, or an earlier write of the same
 *   execution is still waiting, the record is written to SQLite marked pending (so a start and its end reach
 *   Redis in order).</li>
 *   <li>The outage is logged once when it begins and once when it ends; {@link #health()} is not ok while
 *   Redis is unreachable or records are pending, and says how many.</li>
 *   <li>A background thread pings Redis (every second while down or while records are pending, every five
 *   seconds otherwise) and writes the pending records to Redis, oldest first, removing each from SQLite
 *   once Redis has it, unless it was written again meanwhile. Pending records left by a process that
 *   stopped are written by the next one.</li>
 *   <li>Session records take the same way: to Redis, or to SQLite marked pending, replayed (before the
 *   execution records, as a session opens before its executions run).</li>
 *   <li>Reads: a pending record (the newest version) first, then Redis, then SQLite. When Redis cannot be
 *   read and SQLite does not have the record, the read fails with {@link ExecutionStoreException} rather than
 *   answer "no such record".</li>
 * </ul>
 */
public final class FailoverExecutionStore implements ExecutionStore {
    private static final Logger log = LoggerFactory.getLogger(FailoverExecutionStore.class);
    static final Duration REPLAY_INTERVAL = Duration.ofSeconds(1);
    static final Duration PROBE_INTERVAL = Duration.ofSeconds(5);
    private static final int REPLAY_BATCH = 200;
    private static final int REPLAY_ROUNDS = 50;

    private final RedisExecutionStore redis;
    private final SqliteExecutionStore spool;
    private final Duration replayInterval;
    private final Duration probeInterval;
    private final Clock clock = Clock.systemUTC();

    private final AtomicBoolean down = new AtomicBoolean();
    private volatile Instant downSince;
    private volatile String lastError;
    private volatile long lastRedisSize;
    /** Set when an outage begins; cleared (and logged) once every record kept during it is in Redis. */
    private final AtomicBoolean backlog = new AtomicBoolean();
    private final AtomicLong outages = new AtomicLong();
    private final AtomicLong redisWriteFailures = new AtomicLong();
    private final AtomicLong replayed = new AtomicLong();

    private final ReentrantLock wakeLock = new ReentrantLock();
    private final Condition wakeup = wakeLock.newCondition();
    private final Thread worker;
    private volatile boolean closed;

    /** Takes ownership of both stores (closes them on {@link #close()}). */
    public FailoverExecutionStore(RedisExecutionStore redis, SqliteExecutionStore spool) {
        this(redis, spool, REPLAY_INTERVAL, PROBE_INTERVAL);
    }

    FailoverExecutionStore(RedisExecutionStore redis, SqliteExecutionStore spool, Duration replayInterval,
                           Duration probeInterval) {
        this.redis = redis;
        this.spool = spool;
        this.replayInterval = replayInterval;
        this.probeInterval = probeInterval;
        try {
            redis.ping();
        } catch (ExecutionStoreException e) {
            markDown(e);
        }
        long pending = spool.pendingCount();
        if (pending > 0) {
            backlog.set(true);
            log.warn("Execution records: {} records kept in {} while Redis was unreachable wait to be written to {}",
                    pending, spool.file(), redis.maskedUrl());
        }
        worker = Thread.ofPlatform().daemon().name("execution-records-replayer").start(this::loop);
    }

    @Override
    public void recordStart(ExecutionRecord record) {
        write(record);
    }

    @Override
    public void recordEnd(ExecutionRecord record) {
        write(record);
    }

    private void write(ExecutionRecord record) {
        RecordJson.valid(record);
        if (!down.get() && !pendingLocally(record.executionId())) {
            try {
                redis.write(record);
                return;
            } catch (ExecutionStoreException e) {
                redisWriteFailures.incrementAndGet();
                markDown(e);
            }
        }
        try {
            spool.recordPending(record);
        } catch (ExecutionStoreException e) {
            throw new ExecutionStoreException("the record of " + record.executionId()
                    + " could not be stored: Redis is unreachable (" + lastError + ") and " + e.getMessage(), e);
        }
    }

    @Override
    public void saveSession(SessionRecord session) {
        RecordJson.valid(session);
        if (!down.get() && !sessionPendingLocally(session.sessionId())) {
            try {
                redis.saveSession(session);
                return;
            } catch (ExecutionStoreException e) {
                redisWriteFailures.incrementAndGet();
                markDown(e);
            }
        }
        try {
            spool.saveSessionPending(session);
        } catch (ExecutionStoreException e) {
            throw new ExecutionStoreException("the record of session " + session.sessionId()
                    + " could not be stored: Redis is unreachable (" + lastError + ") and " + e.getMessage(), e);
        }
    }

    private boolean sessionPendingLocally(String sessionId) {
        try {
            return spool.isSessionPending(sessionId);
        } catch (ExecutionStoreException e) {
            return false;
        }
    }

    @Override
    public Optional<SessionRecord> findSession(String sessionId) {
        Optional<SqliteExecutionStore.SessionRow> local = spool.sessionRow(sessionId);
        if (local.isPresent() && local.get().pending()) {
            return Optional.of(local.get().session());
        }
        try {
            Optional<SessionRecord> remote = redis.findSession(sessionId);
            if (remote.isPresent()) {
                return remote;
            }
        } catch (ExecutionStoreException e) {
            markDown(e);
            if (local.isPresent()) {
                return Optional.of(local.get().session());
            }
            throw new ExecutionStoreException("cannot tell whether session " + sessionId + " has a record: "
                    + e.getMessage(), e);
        }
        return local.map(SqliteExecutionStore.SessionRow::session);
    }

    @Override
    public List<SessionRecord> listSessions(String userIdOrNull, boolean openOnly, int limit) {
        SqliteExecutionStore.checkLimit(limit);
        List<SessionRecord> remote;
        try {
            remote = redis.listSessions(userIdOrNull, openOnly, limit);
        } catch (ExecutionStoreException e) {
            markDown(e);
            throw new ExecutionStoreException("cannot list session records: " + e.getMessage(), e);
        }
        Map<String, SessionRecord> merged = new LinkedHashMap<>();
        for (SessionRecord s : remote) {
            merged.put(s.sessionId(), s);
        }
        // Without openOnly here: a pending close must replace the open version Redis still has.
        for (SqliteExecutionStore.SessionRow row : spool.sessionRows(userIdOrNull, false, limit)) {
            if (row.pending()) {
                merged.put(row.session().sessionId(), row.session());
            } else {
                merged.putIfAbsent(row.session().sessionId(), row.session());
            }
        }
        for (SqliteExecutionStore.SessionRow row : spool.pendingSessionRows(Integer.MAX_VALUE)) {
            if (merged.containsKey(row.session().sessionId())) {
                merged.put(row.session().sessionId(), row.session());
            }
        }
        return merged.values().stream().filter(s -> !openOnly || s.isOpen())
                .sorted(Comparator.comparing(SessionRecord::createdAt).reversed()).limit(limit).toList();
    }

    @Override
    public List<SessionRecord> openSessions() {
        List<SessionRecord> remote;
        try {
            remote = redis.openSessions();
        } catch (ExecutionStoreException e) {
            markDown(e);
            throw new ExecutionStoreException("cannot list open sessions: " + e.getMessage(), e);
        }
        Map<String, SessionRecord> merged = new LinkedHashMap<>();
        for (SessionRecord s : remote) {
            merged.put(s.sessionId(), s);
        }
        // A pending version is newer than Redis's: it may have closed, or opened during the outage.
        for (SqliteExecutionStore.SessionRow row : spool.pendingSessionRows(Integer.MAX_VALUE)) {
            merged.remove(row.session().sessionId());
            if (row.session().isOpen()) {
                merged.put(row.session().sessionId(), row.session());
            }
        }
        List<SessionRecord> out = new ArrayList<>(merged.values());
        out.sort(Comparator.comparing(SessionRecord::createdAt));
        return out;
    }

    @Override
    public List<ExecutionRecord> listBySession(String sessionId, int limit) {
        SqliteExecutionStore.checkLimit(limit);
        List<ExecutionRecord> remote;
        try {
            remote = redis.listBySession(sessionId, limit);
        } catch (ExecutionStoreException e) {
            markDown(e);
            throw new ExecutionStoreException("cannot list the executions of session " + sessionId + ": "
                    + e.getMessage(), e);
        }
        return merge(remote, spool.sessionExecutionRows(sessionId, limit), limit);
    }

    private boolean pendingLocally(String executionId) {
        try {
            return spool.isPending(executionId);
        } catch (ExecutionStoreException e) {
            // The embedded store is broken (health says so); Redis can still take the record.
            return false;
        }
    }

    @Override
    public Optional<ExecutionRecord> find(String executionId) {
        Optional<SqliteExecutionStore.Row> local = spool.row(executionId);
        if (local.isPresent() && local.get().pending()) {
            return Optional.of(local.get().record());
        }
        try {
            Optional<ExecutionRecord> remote = redis.find(executionId);
            if (remote.isPresent()) {
                return remote;
            }
        } catch (ExecutionStoreException e) {
            markDown(e);
            if (local.isPresent()) {
                return Optional.of(local.get().record());
            }
            throw new ExecutionStoreException("cannot tell whether execution " + executionId + " has a record: "
                    + e.getMessage(), e);
        }
        return local.map(SqliteExecutionStore.Row::record);
    }

    @Override
    public List<ExecutionRecord> list(String userIdOrNull, int limit) {
        SqliteExecutionStore.checkLimit(limit);
        List<ExecutionRecord> remote;
        try {
            remote = redis.list(userIdOrNull, limit);
        } catch (ExecutionStoreException e) {
            markDown(e);
            throw new ExecutionStoreException("cannot list execution records: " + e.getMessage(), e);
        }
        return merge(remote, spool.rows(userIdOrNull, limit), limit);
    }

    /** As {@link #list}: Redis's summaries, with the embedded store's (a pending one is newer) merged in. */
    @Override
    public List<ExecutionRecord> listSummaries(String userIdOrNull, int limit) {
        SqliteExecutionStore.checkLimit(limit);
        List<ExecutionRecord> remote;
        try {
            remote = redis.listSummaries(userIdOrNull, limit);
        } catch (ExecutionStoreException e) {
            markDown(e);
            throw new ExecutionStoreException("cannot list execution records: " + e.getMessage(), e);
        }
        return merge(remote, spool.summaryRows(userIdOrNull, limit), limit);
    }

    @Override
    public List<ExecutionRecord> running() {
        List<ExecutionRecord> remote;
        try {
            remote = redis.running();
        } catch (ExecutionStoreException e) {
            markDown(e);
            throw new ExecutionStoreException("cannot list running executions: " + e.getMessage(), e);
        }
        Map<String, ExecutionRecord> merged = new LinkedHashMap<>();
        for (ExecutionRecord r : remote) {
            merged.put(r.executionId(), r);
        }
        // A pending version is newer than Redis's: it may have ended, or started during the outage.
        for (SqliteExecutionStore.Row row : spool.pendingRows(Integer.MAX_VALUE)) {
            merged.remove(row.record().executionId());
            if (!row.record().status().isFinal()) {
                merged.put(row.record().executionId(), row.record());
            }
        }
        List<ExecutionRecord> out = new ArrayList<>(merged.values());
        out.sort(Comparator.comparing(ExecutionRecord::startedAt));
        return out;
    }

    /**
     * Redis's records with the embedded store's merged in: a pending one replaces Redis's (it is newer), any
     * other only fills a gap; newest first, at most {@code limit}.
     */
    private static List<ExecutionRecord> merge(List<ExecutionRecord> remote, List<SqliteExecutionStore.Row> local,
                                               int limit) {
        Map<String, ExecutionRecord> merged = new LinkedHashMap<>();
        for (ExecutionRecord r : remote) {
            merged.put(r.executionId(), r);
        }
        for (SqliteExecutionStore.Row row : local) {
            if (row.pending()) {
                merged.put(row.record().executionId(), row.record());
            } else {
                merged.putIfAbsent(row.record().executionId(), row.record());
            }
        }
        return newestFirst(merged.values(), limit);
    }

    private static List<ExecutionRecord> newestFirst(java.util.Collection<ExecutionRecord> records, int limit) {
        return records.stream().sorted(Comparator.comparing(ExecutionRecord::startedAt).reversed()).limit(limit)
                .toList();
    }

    @Override
    public StoreHealth health() {
        long pending;
        try {
            pending = spool.pendingCount();
        } catch (ExecutionStoreException e) {
            return new StoreHealth(false, "redis", "degraded: the embedded store cannot be read: " + e.getMessage(),
                    -1);
        }
        if (down.get()) {
            Instant since = downSince;
            return new StoreHealth(false, "redis", "degraded: Redis at " + redis.maskedUrl() + " unreachable since "
                    + since + " (" + lastError + "); " + pending + " records kept in " + spool.file()
                    + ", written to Redis when it answers", pending);
        }
        if (pending > 0) {
            return new StoreHealth(false, "redis", "degraded: Redis at " + redis.maskedUrl() + " answers; " + pending
                    + " records kept in " + spool.file() + " during an outage still to be written", pending);
        }
        return new StoreHealth(true, "redis", "Redis at " + redis.maskedUrl() + " answers; records live "
                + ExecutionStores.human(redis.ttl()) + " after their last write", 0);
    }

    @Override
    public long pendingWrites() {
        return spool.pendingCount();
    }

    /** Redis unreachable, or records waiting to be written to it. */
    @Override
    public boolean degraded() {
        return down.get() || spool.pendingCount() > 0;
    }

    /**
     * Redis's stored results plus the embedded file on disk. While Redis is down, its last known size: a
     * metrics scrape never waits for a down Redis.
     */
    @Override
    public long sizeBytes() {
        if (!down.get()) {
            long size = redis.sizeBytes();
            if (size >= 0) {
                lastRedisSize = size;
            }
        }
        return Math.max(0, lastRedisSize) + Math.max(0, spool.sizeBytes());
    }

    /** Whether the last contact with Redis succeeded. */
    public boolean redisReachable() {
        return !down.get();
    }

    /** How many outages began since this store opened. */
    public long outages() {
        return outages.get();
    }

    /** Writes that Redis failed and the embedded store took. */
    public long redisWriteFailures() {
        return redisWriteFailures.get();
    }

    /** Records written to Redis after waiting in the embedded store. */
    public long replayedWrites() {
        return replayed.get();
    }

    private void markDown(ExecutionStoreException e) {
        lastError = e.getMessage();
        if (down.compareAndSet(false, true)) {
            downSince = clock.instant();
            outages.incrementAndGet();
            backlog.set(true);
            log.warn("Execution records: Redis is unreachable ({}). Executions go on; their records are kept in {} "
                    + "and written to Redis when it answers again", e.getMessage(), spool.file());
            wake(); // from the slow probe cadence to the replay cadence
        }
    }

    private void markUp() {
        if (!down.get()) {
            return;
        }
        // Connections returned to the pool as the server went away would fail the next writes.
        redis.dropIdleConnections();
        if (down.compareAndSet(true, false)) {
            Duration outage = Duration.between(downSince, clock.instant());
            log.warn("Execution records: Redis at {} answers again after {} ms; writing the {} records kept meanwhile",
                    redis.maskedUrl(), outage.toMillis(), spool.pendingCount());
        }
    }

    private void loop() {
        while (!closed) {
            boolean busy;
            try {
                busy = down.get() || spool.pendingCount() > 0;
            } catch (RuntimeException e) {
                busy = true;
            }
            sleep(busy ? replayInterval : probeInterval);
            if (closed) {
                return;
            }
            try {
                tick();
            } catch (RuntimeException e) {
                if (closed) {
                    return;
                }
                log.warn("Execution records: the replayer failed: {}", e.toString());
            }
        }
    }

    private void tick() {
        try {
            redis.ping();
        } catch (ExecutionStoreException e) {
            markDown(e);
            return;
        }
        markUp();
        replay();
    }

    private void replay() {
        long written = 0;
        for (int round = 0; round < REPLAY_ROUNDS && !closed; round++) {
            List<SqliteExecutionStore.SessionRow> sessions = spool.pendingSessionRows(REPLAY_BATCH);
            for (SqliteExecutionStore.SessionRow row : sessions) {
                try {
                    redis.saveSession(row.session());
                } catch (ExecutionStoreException e) {
                    markDown(e);
                    return;
                }
                if (spool.clearPendingSession(row.session().sessionId(), row.revision())) {
                    replayed.incrementAndGet();
                    written++;
                }
            }
            List<SqliteExecutionStore.Row> rows = spool.pendingRows(REPLAY_BATCH);
            if (rows.isEmpty() && sessions.isEmpty()) {
                if (backlog.compareAndSet(true, false)) {
                    log.warn("Execution records: every record kept while Redis was unreachable is now in Redis at {}",
                            redis.maskedUrl());
                }
                return;
            }
            for (SqliteExecutionStore.Row row : rows) {
                try {
                    redis.write(row.record());
                } catch (ExecutionStoreException e) {
                    markDown(e);
                    return;
                }
                if (spool.clearPending(row.record().executionId(), row.revision())) {
                    replayed.incrementAndGet();
                    written++;
                }
            }
            log.debug("Execution records: wrote {} pending records to Redis", written);
        }
    }

    private void wake() {
        wakeLock.lock();
        try {
            wakeup.signalAll();
        } finally {
            wakeLock.unlock();
        }
    }

    private void sleep(Duration d) {
        wakeLock.lock();
        try {
            if (!closed) {
                wakeup.await(d.toMillis(), TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            closed = true;
        } finally {
            wakeLock.unlock();
        }
    }

    @Override
    public void close() {
        closed = true;
        wake();
        try {
            worker.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            long pending = spool.pendingCount();
            if (pending > 0) {
                log.warn("Execution records: {} records wait in {} for Redis at {}; the next start writes them",
                        pending, spool.file(), redis.maskedUrl());
            }
        } catch (ExecutionStoreException e) {
            log.debug("counting pending records", e);
        }
        redis.close();
        spool.close();
    }
}
