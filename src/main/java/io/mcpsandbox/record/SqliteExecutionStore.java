package io.mcpsandbox.record;

import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.RequestSummary;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.model.SessionStatus;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Execution records in an embedded SQLite file ({@code <dataDir>/executions.db}, WAL mode): the store when no
 * Redis URL is configured, and the spool that keeps records while Redis is down (rows marked pending, see
 * {@link FailoverExecutionStore}).
 *
 * <p>One connection behind a lock: SQLite serialises writers anyway, and a record write is a single upsert
 * of well under a millisecond. The file is created owner-only (0600): results carry programs' output.
 */
public final class SqliteExecutionStore implements ExecutionStore {
    public static final String FILE_NAME = "executions.db";
    static final int SCHEMA_VERSION = 4;
    private static final Logger log = LoggerFactory.getLogger(SqliteExecutionStore.class);

    private static final String COLUMNS = "execution_id, user_id, session_id, image, runtime, security_level, command, "
            + "language, started_at, started_ms, ended_at, status, exit_code, duration_ms, output_bytes, "
            + "security_events, result, output, output_state, stored_bytes, request, node";
    private static final String SELECT = "SELECT " + COLUMNS + ", pending, revision FROM executions";
    /** Every column but the result, its output and the request: what a listing without results reads. */
    private static final String SELECT_SUMMARIES = "SELECT execution_id, user_id, session_id, image, runtime, "
            + "security_level, command, language, started_at, ended_at, status, exit_code, duration_ms, "
            + "output_bytes, security_events, node, pending, revision FROM executions";
    private static final String SESSION_COLUMNS = "session_id, user_id, image, runtime, security_level, rootfs, "
            + "limits, env_names, created_at, created_ms, expires_at, idle_timeout_seconds, last_active_at, status, "
            + "close_reason, close_detail, closed_at, closed_ms, sandbox_name, server_id, executions";
    private static final String SELECT_SESSIONS = "SELECT " + SESSION_COLUMNS + ", pending, revision FROM sessions";
    private static final String OPEN = SessionStatus.OPEN.wireName();

    /** A stored row: the record, whether it still has to be written to Redis, and its write count. */
    record Row(ExecutionRecord record, boolean pending, long revision) {
    }

    /** A stored session: the record, whether it still has to be written to Redis, and its write count. */
    record SessionRow(SessionRecord session, boolean pending, long revision) {
    }

    private final Path file;
    private final Duration retention;
    private final OutputCaps caps;
    private final Clock clock;
    private final ReentrantLock lock = new ReentrantLock();
    private final Connection connection;
    private boolean closed;

    /**
     * Opens (creating if needed) the store and prunes records older than the retention.
     *
     * @param file      the database file, normally {@code <dataDir>/executions.db}
     * @param retention records that started longer ago than this are deleted on open; zero keeps them forever
     */
    public SqliteExecutionStore(Path file, Duration retention) {
        this(file, retention, OutputCaps.DEFAULTS);
    }

    /**
     * @param caps how much output records keep: per stream, per user and in all (see {@link OutputCaps})
     */
    public SqliteExecutionStore(Path file, Duration retention, OutputCaps caps) {
        this(file, retention, caps, Clock.systemUTC());
    }

    SqliteExecutionStore(Path file, Duration retention, Clock clock) {
        this(file, retention, OutputCaps.DEFAULTS, clock);
    }

    SqliteExecutionStore(Path file, Duration retention, OutputCaps caps, Clock clock) {
        if (retention == null || retention.isNegative()) {
            throw new IllegalArgumentException(
                    "records.sqlite.retention must be zero (keep) or positive; got " + retention);
        }
        this.file = file.toAbsolutePath();
        this.retention = retention;
        this.caps = java.util.Objects.requireNonNull(caps, "caps");
        this.clock = clock;
        createOwnerOnly(this.file);
        try {
            connection = DriverManager.getConnection("jdbc:sqlite:" + this.file);
        } catch (SQLException e) {
            throw new ExecutionStoreException("cannot open the execution store " + this.file + ": " + e.getMessage(),
                    e);
        }
        try {
            migrate();
        } catch (SQLException e) {
            closeQuietly();
            throw new ExecutionStoreException(
                    "cannot prepare the execution store " + this.file + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            closeQuietly();
            throw e;
        }
        int pruned = prune();
        if (pruned > 0) {
            log.info("Execution records: pruned {} records older than {} from {}", pruned, retention, this.file);
        }
        int dropped = enforceCaps();
        if (dropped > 0) {
            log.info("Execution records: dropped the output of {} records to keep {} under its output caps", dropped,
                    this.file);
        }
    }

    private static void createOwnerOnly(Path file) {
        try {
            Path parent = file.getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            if (!Files.exists(file)) {
                try {
                    Files.createFile(file,
                            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
                } catch (UnsupportedOperationException e) {
                    Files.createFile(file);
                }
            }
        } catch (FileAlreadyExistsException e) {
            // another process created it first
        } catch (IOException e) {
            throw new ExecutionStoreException("cannot create the execution store " + file + ": " + e, e);
        }
    }

    private void migrate() throws SQLException {
        try (Statement st = connection.createStatement()) {
            st.execute("PRAGMA busy_timeout = 5000");
            try (ResultSet rs = st.executeQuery("PRAGMA journal_mode = WAL")) {
                if (rs.next() && !"wal".equalsIgnoreCase(rs.getString(1))) {
                    log.warn("Execution records: {} is in journal mode {}, not WAL", file, rs.getString(1));
                }
            }
            st.execute("PRAGMA synchronous = NORMAL");
            int version;
            try (ResultSet rs = st.executeQuery("PRAGMA user_version")) {
                version = rs.next() ? rs.getInt(1) : 0;
            }
            if (version > SCHEMA_VERSION) {
                throw new ExecutionStoreException(file + " has record schema version " + version
                        + ", newer than this service's " + SCHEMA_VERSION
                        + ": run the newer service, or move the file away");
            }
            st.execute("""
                    CREATE TABLE IF NOT EXISTS executions (
                        execution_id    TEXT PRIMARY KEY,
                        user_id         TEXT,
                        session_id      TEXT,
                        image           TEXT,
                        runtime         TEXT,
                        security_level  TEXT,
                        command         TEXT NOT NULL,
                        language        TEXT,
                        started_at      TEXT NOT NULL,
                        started_ms      INTEGER NOT NULL,
                        ended_at        TEXT,
                        status          TEXT NOT NULL,
                        exit_code       INTEGER,
                        duration_ms     INTEGER NOT NULL,
                        output_bytes    INTEGER NOT NULL,
                        security_events TEXT NOT NULL,
                        result          TEXT,
                        output          BLOB,
                        output_state    TEXT,
                        stored_bytes    INTEGER NOT NULL DEFAULT 0,
                        request         TEXT,
                        node            TEXT,
                        pending         INTEGER NOT NULL DEFAULT 0,
                        revision        INTEGER NOT NULL DEFAULT 0,
                        updated_ms      INTEGER NOT NULL
                    )""");
            if (version < 2 && !hasColumn(st, "output")) {
                // Version 1 kept the output inside the result JSON: those rows count as their JSON's size.
                st.execute("ALTER TABLE executions ADD COLUMN output BLOB");
                st.execute("ALTER TABLE executions ADD COLUMN output_state TEXT");
                st.execute("ALTER TABLE executions ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0");
                st.execute("UPDATE executions SET stored_bytes = coalesce(length(CAST(result AS BLOB)), 0), "
                        + "output_state = CASE WHEN result IS NULL THEN NULL ELSE 'full' END");
            }
            if (!hasColumn(st, "request")) {
                // Version 4 keeps a summary of each request (JSON); older rows have none and stay as they are.
                st.execute("ALTER TABLE executions ADD COLUMN request TEXT");
            }
            if (!hasColumn(st, "node")) {
                // The cluster node that ran it; older rows have none. The version stays: a service that does not
                // know the column reads and writes the file as before (every statement names its columns).
                st.execute("ALTER TABLE executions ADD COLUMN node TEXT");
            }
            st.execute("CREATE INDEX IF NOT EXISTS executions_user_started ON executions (user_id, started_ms)");
            st.execute("CREATE INDEX IF NOT EXISTS executions_started ON executions (started_ms)");
            st.execute("CREATE INDEX IF NOT EXISTS executions_status ON executions (status)");
            st.execute("CREATE INDEX IF NOT EXISTS executions_pending ON executions (started_ms) WHERE pending = 1");
            // Covers the sums the output caps need, so they never read the rows.
            st.execute("CREATE INDEX IF NOT EXISTS executions_user_stored ON executions (user_id, stored_bytes)");
            // The oldest records that still keep their output, without stepping over the dropped ones.
            st.execute("CREATE INDEX IF NOT EXISTS executions_kept_output ON executions (started_ms) "
                    + "WHERE output_state IN ('full', 'truncated')");
            // Version 3 added the sessions; a version-2 file gains the table and keeps its executions.
            st.execute("""
                    CREATE TABLE IF NOT EXISTS sessions (
                        session_id           TEXT PRIMARY KEY,
                        user_id              TEXT,
                        image                TEXT,
                        runtime              TEXT,
                        security_level       TEXT,
                        rootfs               TEXT,
                        limits               TEXT,
                        env_names            TEXT NOT NULL,
                        created_at           TEXT NOT NULL,
                        created_ms           INTEGER NOT NULL,
                        expires_at           TEXT,
                        idle_timeout_seconds INTEGER NOT NULL,
                        last_active_at       TEXT,
                        status               TEXT NOT NULL,
                        close_reason         TEXT,
                        close_detail         TEXT,
                        closed_at            TEXT,
                        closed_ms            INTEGER,
                        sandbox_name         TEXT,
                        server_id            TEXT,
                        executions           INTEGER NOT NULL,
                        pending              INTEGER NOT NULL DEFAULT 0,
                        revision             INTEGER NOT NULL DEFAULT 0,
                        updated_ms           INTEGER NOT NULL
                    )""");
            st.execute("CREATE INDEX IF NOT EXISTS sessions_user_created ON sessions (user_id, created_ms)");
            st.execute("CREATE INDEX IF NOT EXISTS sessions_created ON sessions (created_ms)");
            st.execute("CREATE INDEX IF NOT EXISTS sessions_open ON sessions (created_ms) WHERE status = 'open'");
            st.execute("CREATE INDEX IF NOT EXISTS sessions_closed ON sessions (closed_ms) WHERE status = 'closed'");
            st.execute("CREATE INDEX IF NOT EXISTS sessions_pending ON sessions (created_ms) WHERE pending = 1");
            st.execute("CREATE INDEX IF NOT EXISTS executions_session ON executions (session_id, started_ms)");
            st.execute("PRAGMA user_version = " + SCHEMA_VERSION);
        }
    }

    private static boolean hasColumn(Statement st, String column) throws SQLException {
        try (ResultSet rs = st.executeQuery("PRAGMA table_info(executions)")) {
            while (rs.next()) {
                if (column.equalsIgnoreCase(rs.getString("name"))) {
                    return true;
                }
            }
        }
        return false;
    }

    public Path file() {
        return file;
    }

    @Override
    public void recordStart(ExecutionRecord record) {
        upsert(RecordJson.valid(record), false);
    }

    @Override
    public void recordEnd(ExecutionRecord record) {
        upsert(RecordJson.valid(record), false);
    }

    /** Keeps a record that could not be written to Redis, marked pending until it is. */
    void recordPending(ExecutionRecord record) {
        upsert(RecordJson.valid(record), true);
    }

    private void upsert(ExecutionRecord r, boolean pending) {
        String sql = "INSERT INTO executions (" + COLUMNS + ", pending, revision, updated_ms) "
                + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?) "
                + "ON CONFLICT (execution_id) DO UPDATE SET user_id = excluded.user_id, "
                + "session_id = excluded.session_id, image = excluded.image, runtime = excluded.runtime, "
                + "security_level = excluded.security_level, command = excluded.command, language = excluded.language, "
                + "started_at = excluded.started_at, started_ms = excluded.started_ms, ended_at = excluded.ended_at, "
                + "status = excluded.status, exit_code = excluded.exit_code, duration_ms = excluded.duration_ms, "
                + "output_bytes = excluded.output_bytes, security_events = excluded.security_events, "
                + "result = excluded.result, output = excluded.output, output_state = excluded.output_state, "
                + "request = excluded.request, node = excluded.node, "
                + "stored_bytes = excluded.stored_bytes, pending = max(executions.pending, excluded.pending), "
                + "revision = executions.revision + 1, updated_ms = excluded.updated_ms";
        // JSON outside the lock: it is the costly part of a write.
        String command = RecordJson.write(r.command());
        String events = RecordJson.write(r.securityEvents());
        String request = RecordJson.write(r.request());
        StoredResults.Encoded result = StoredResults.encode(r.result(), caps.maxStreamBytes());
        lock.lock();
        try (PreparedStatement ps = open().prepareStatement(sql)) {
            ps.setString(1, r.executionId());
            ps.setString(2, r.userId());
            ps.setString(3, r.sessionId());
            ps.setString(4, r.image());
            ps.setString(5, r.runtime());
            ps.setString(6, RecordJson.level(r.securityLevel()));
            ps.setString(7, command);
            ps.setString(8, r.language());
            ps.setString(9, RecordJson.instant(r.startedAt()));
            ps.setLong(10, r.startedAt().toEpochMilli());
            ps.setString(11, RecordJson.instant(r.endedAt()));
            ps.setString(12, RecordJson.status(r.status()));
            if (r.exitCode() == null) {
                ps.setNull(13, Types.INTEGER);
            } else {
                ps.setInt(13, r.exitCode());
            }
            ps.setLong(14, r.durationMs());
            ps.setLong(15, r.outputBytes());
            ps.setString(16, events);
            ps.setString(17, result.json());
            ps.setBytes(18, result.output());
            ps.setString(19, result.state() == null ? null : result.state().wireName());
            ps.setLong(20, result.storedBytes());
            ps.setString(21, request);
            ps.setString(22, r.node());
            ps.setInt(23, pending ? 1 : 0);
            ps.setLong(24, clock.millis());
            ps.executeUpdate();
            if (r.result() != null) {
                enforceCaps(r.userId());
            }
        } catch (SQLException e) {
            throw failure("cannot write the record of " + r.executionId(), e);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void saveSession(SessionRecord session) {
        upsertSession(RecordJson.valid(session), false);
    }

    /** Keeps a session record that could not be written to Redis, marked pending until it is. */
    void saveSessionPending(SessionRecord session) {
        upsertSession(RecordJson.valid(session), true);
    }

    private void upsertSession(SessionRecord s, boolean pending) {
        String sql = "INSERT INTO sessions (" + SESSION_COLUMNS + ", pending, revision, updated_ms) "
                + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?) "
                + "ON CONFLICT (session_id) DO UPDATE SET user_id = excluded.user_id, image = excluded.image, "
                + "runtime = excluded.runtime, security_level = excluded.security_level, rootfs = excluded.rootfs, "
                + "limits = excluded.limits, env_names = excluded.env_names, created_at = excluded.created_at, "
                + "created_ms = excluded.created_ms, expires_at = excluded.expires_at, "
                + "idle_timeout_seconds = excluded.idle_timeout_seconds, last_active_at = excluded.last_active_at, "
                + "status = excluded.status, close_reason = excluded.close_reason, "
                + "close_detail = excluded.close_detail, closed_at = excluded.closed_at, "
                + "closed_ms = excluded.closed_ms, sandbox_name = excluded.sandbox_name, "
                + "server_id = excluded.server_id, executions = excluded.executions, pending = excluded.pending, "
                + "revision = sessions.revision + 1, updated_ms = excluded.updated_ms";
        update(sql, s.sessionId(), s.userId(), s.image(), s.runtime(), RecordJson.level(s.securityLevel()),
                s.rootfs(), RecordJson.write(s.limits()), RecordJson.write(s.envNames()),
                RecordJson.instant(s.createdAt()), s.createdAt().toEpochMilli(), RecordJson.instant(s.expiresAt()),
                s.idleTimeoutSeconds(), RecordJson.instant(s.lastActiveAt()), RecordJson.sessionStatus(s.status()),
                RecordJson.closeReason(s.closeReason()), s.closeDetail(), RecordJson.instant(s.closedAt()),
                s.closedAt() == null ? null : s.closedAt().toEpochMilli(), s.sandboxName(), s.serverId(),
                s.executions(), pending ? 1 : 0, clock.millis());
    }

    @Override
    public Optional<SessionRecord> findSession(String sessionId) {
        return sessionRow(sessionId).map(SessionRow::session);
    }

    Optional<SessionRow> sessionRow(String sessionId) {
        List<SessionRow> rows = querySessions(SELECT_SESSIONS + " WHERE session_id = ?", sessionId);
        return rows.isEmpty() ? Optional.empty() : Optional.of(rows.get(0));
    }

    @Override
    public List<SessionRecord> listSessions(String userIdOrNull, boolean openOnly, int limit) {
        return sessionRows(userIdOrNull, openOnly, limit).stream().map(SessionRow::session).toList();
    }

    List<SessionRow> sessionRows(String userIdOrNull, boolean openOnly, int limit) {
        checkLimit(limit);
        List<Object> args = new ArrayList<>();
        List<String> where = new ArrayList<>();
        if (userIdOrNull != null) {
            where.add("user_id = ?");
            args.add(userIdOrNull);
        }
        if (openOnly) {
            where.add("status = ?");
            args.add(OPEN);
        }
        args.add(limit);
        return querySessions(SELECT_SESSIONS + (where.isEmpty() ? "" : " WHERE " + String.join(" AND ", where))
                + " ORDER BY created_ms DESC, rowid DESC LIMIT ?", args.toArray());
    }

    @Override
    public List<SessionRecord> openSessions() {
        return querySessions(SELECT_SESSIONS + " WHERE status = ? ORDER BY created_ms, rowid", OPEN).stream()
                .map(SessionRow::session).toList();
    }

    /** Session records waiting to be written to Redis, oldest first. */
    List<SessionRow> pendingSessionRows(int limit) {
        return querySessions(SELECT_SESSIONS + " WHERE pending = 1 ORDER BY created_ms LIMIT ?", limit);
    }

    boolean isSessionPending(String sessionId) {
        return count("SELECT count(*) FROM sessions WHERE session_id = ? AND pending = 1", sessionId) > 0;
    }

    /** Forgets a pending session record once Redis has it, unless it was written again meanwhile. */
    boolean clearPendingSession(String sessionId, long revision) {
        return update("DELETE FROM sessions WHERE session_id = ? AND pending = 1 AND revision = ?", sessionId,
                revision) > 0;
    }

    @Override
    public List<ExecutionRecord> listBySession(String sessionId, int limit) {
        return sessionExecutionRows(sessionId, limit).stream().map(Row::record).toList();
    }

    List<Row> sessionExecutionRows(String sessionId, int limit) {
        checkLimit(limit);
        return query(SELECT + " WHERE session_id = ? ORDER BY started_ms DESC, rowid DESC LIMIT ?", sessionId, limit);
    }

    @Override
    public Optional<ExecutionRecord> find(String executionId) {
        return row(executionId).map(Row::record);
    }

    Optional<Row> row(String executionId) {
        List<Row> rows = query(SELECT + " WHERE execution_id = ?", executionId);
        return rows.isEmpty() ? Optional.empty() : Optional.of(rows.get(0));
    }

    @Override
    public List<ExecutionRecord> list(String userIdOrNull, int limit) {
        return rows(userIdOrNull, limit).stream().map(Row::record).toList();
    }

    List<Row> rows(String userIdOrNull, int limit) {
        checkLimit(limit);
        return userIdOrNull == null
                ? query(SELECT + " ORDER BY started_ms DESC, rowid DESC LIMIT ?", limit)
                : query(SELECT + " WHERE user_id = ? ORDER BY started_ms DESC, rowid DESC LIMIT ?", userIdOrNull,
                        limit);
    }

    @Override
    public List<ExecutionRecord> listSummaries(String userIdOrNull, int limit) {
        return summaryRows(userIdOrNull, limit).stream().map(Row::record).toList();
    }

    /** {@link #rows} without the result and output columns: each record's result is null. */
    List<Row> summaryRows(String userIdOrNull, int limit) {
        checkLimit(limit);
        return userIdOrNull == null
                ? query(SqliteExecutionStore::summaryRow,
                        SELECT_SUMMARIES + " ORDER BY started_ms DESC, rowid DESC LIMIT ?", limit)
                : query(SqliteExecutionStore::summaryRow,
                        SELECT_SUMMARIES + " WHERE user_id = ? ORDER BY started_ms DESC, rowid DESC LIMIT ?",
                        userIdOrNull, limit);
    }

    @Override
    public List<ExecutionRecord> running() {
        return runningRows().stream().map(Row::record).toList();
    }

    List<Row> runningRows() {
        return query(SELECT + " WHERE status = ? ORDER BY started_ms", RecordJson.status(ExecutionStatus.RUNNING));
    }

    /** Records waiting to be written to Redis, oldest first. */
    List<Row> pendingRows(int limit) {
        return query(SELECT + " WHERE pending = 1 ORDER BY started_ms LIMIT ?", limit);
    }

    boolean isPending(String executionId) {
        return count("SELECT count(*) FROM executions WHERE execution_id = ? AND pending = 1", executionId) > 0;
    }

    /** Execution and session records waiting to be written to Redis. */
    long pendingCount() {
        return count("SELECT (SELECT count(*) FROM executions WHERE pending = 1) "
                + "+ (SELECT count(*) FROM sessions WHERE pending = 1)");
    }

    /**
     * Forgets a pending record once Redis has it, unless it was written again meanwhile (then the newer
     * version stays pending and goes to Redis next).
     *
     * @return whether the row was removed
     */
    boolean clearPending(String executionId, long revision) {
        return update("DELETE FROM executions WHERE execution_id = ? AND pending = 1 AND revision = ?",
                executionId, revision) > 0;
    }

    /**
     * Deletes records that started longer ago than the retention, and sessions that closed longer ago (never
     * an open session, nor a record still pending for Redis). Runs when the store opens; callers may run it
     * periodically.
     *
     * @return how many records were deleted
     */
    public int prune() {
        if (retention.isZero()) {
            return 0;
        }
        long cutoff = clock.millis() - retention.toMillis();
        return update("DELETE FROM executions WHERE started_ms < ? AND pending = 0", cutoff)
                + update("DELETE FROM sessions WHERE status = 'closed' AND closed_ms < ? AND pending = 0", cutoff);
    }

    public long count() {
        return count("SELECT count(*) FROM executions");
    }

    /** The database file and its write-ahead log, as they take room on disk. */
    @Override
    public long sizeBytes() {
        long size = 0;
        for (Path p : List.of(file, file.resolveSibling(file.getFileName() + "-wal"))) {
            try {
                size += Files.size(p);
            } catch (IOException e) {
                // no write-ahead log right now
            }
        }
        return size;
    }

    /** Stored results (JSON and compressed output) of every record, or of one user's when not null. */
    public long storedBytes(String userIdOrNull) {
        return userIdOrNull == null
                ? count("SELECT coalesce(sum(stored_bytes), 0) FROM executions")
                : count("SELECT coalesce(sum(stored_bytes), 0) FROM executions WHERE user_id = ?", userIdOrNull);
    }

    /**
     * Drops the output of the oldest ended records of every user over the per-user cap, then of all users
     * while the store is over the total cap. Runs when the store opens and after every write of a result.
     *
     * @return how many records lost their output
     */
    public int enforceCaps() {
        lock.lock();
        try {
            int dropped = 0;
            List<String> over = new ArrayList<>();
            try (PreparedStatement ps = open().prepareStatement("SELECT user_id FROM executions "
                    + "WHERE user_id IS NOT NULL GROUP BY user_id HAVING sum(stored_bytes) > ?")) {
                ps.setLong(1, caps.maxPerUser());
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        over.add(rs.getString(1));
                    }
                }
            } catch (SQLException e) {
                throw failure("cannot sum stored output", e);
            }
            for (String user : over) {
                dropped += dropOldest(user, caps.maxPerUser());
            }
            return dropped + dropOldest(null, caps.maxTotal());
        } finally {
            lock.unlock();
        }
    }

    private int enforceCaps(String userIdOrNull) {
        lock.lock();
        try {
            int dropped = userIdOrNull == null ? 0 : dropOldest(userIdOrNull, caps.maxPerUser());
            return dropped + dropOldest(null, caps.maxTotal());
        } finally {
            lock.unlock();
        }
    }

    /** Drops outputs, oldest ended record first, until one user's (or, for null, all) stored bytes fit the cap. */
    private int dropOldest(String userIdOrNull, long cap) {
        long stored = storedBytes(userIdOrNull);
        int dropped = 0;
        String where = "status <> ? AND result IS NOT NULL AND output_state IN ('full', 'truncated')"
                + (userIdOrNull == null ? "" : " AND user_id = ?");
        while (stored > cap) {
            List<Object[]> victims = new ArrayList<>();
            try (PreparedStatement ps = open().prepareStatement("SELECT execution_id, result, output, stored_bytes, "
                    + "revision FROM executions WHERE " + where + " ORDER BY started_ms, rowid LIMIT 16")) {
                ps.setString(1, RecordJson.status(ExecutionStatus.RUNNING));
                if (userIdOrNull != null) {
                    ps.setString(2, userIdOrNull);
                }
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        victims.add(new Object[] {rs.getString(1), rs.getString(2), rs.getBytes(3), rs.getLong(4),
                                rs.getLong(5)});
                    }
                }
            } catch (SQLException e) {
                throw failure("cannot read records to drop output from", e);
            }
            if (victims.isEmpty()) {
                return dropped; // only running records and dropped outputs left: nothing more to give back
            }
            int before = dropped;
            for (Object[] v : victims) {
                if (stored <= cap) {
                    break;
                }
                StoredResults.Encoded smaller = StoredResults.drop((String) v[1], (byte[]) v[2]);
                int n = update("UPDATE executions SET result = ?, output = ?, output_state = ?, stored_bytes = ?, "
                                + "revision = revision + 1 WHERE execution_id = ? AND revision = ?",
                        smaller.json(), smaller.output(), smaller.state().wireName(), smaller.storedBytes(), v[0],
                        v[4]);
                if (n > 0) {
                    dropped++;
                    stored -= (long) v[3] - smaller.storedBytes();
                }
            }
            if (dropped == before) {
                return dropped; // another process rewrote them meanwhile; its own write enforces the caps again
            }
        }
        return dropped;
    }

    @Override
    public StoreHealth health() {
        try {
            long n = count();
            return new StoreHealth(true, "sqlite", n + " records in " + file, 0);
        } catch (ExecutionStoreException e) {
            return new StoreHealth(false, "sqlite", e.getMessage(), 0);
        }
    }

    @Override
    public void close() {
        lock.lock();
        try {
            if (!closed) {
                closed = true;
                closeQuietly();
            }
        } finally {
            lock.unlock();
        }
    }

    private void closeQuietly() {
        try {
            connection.close();
        } catch (SQLException e) {
            log.debug("closing {}", file, e);
        }
    }

    static void checkLimit(int limit) {
        if (limit < 1) {
            throw new IllegalArgumentException("limit must be at least 1; got " + limit);
        }
    }

    private Connection open() {
        if (closed) {
            throw new ExecutionStoreException("the execution store " + file + " is closed");
        }
        return connection;
    }

    /** Reads one row of a result set into a {@link Row}. */
    @FunctionalInterface
    private interface RowReader {
        Row read(ResultSet rs) throws SQLException;
    }

    private List<Row> query(String sql, Object... args) {
        return query(SqliteExecutionStore::row, sql, args);
    }

    private List<Row> query(RowReader reader, String sql, Object... args) {
        lock.lock();
        try (PreparedStatement ps = open().prepareStatement(sql)) {
            bind(ps, args);
            List<Row> rows = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    rows.add(reader.read(rs));
                }
            }
            return rows;
        } catch (SQLException e) {
            throw failure("cannot read records", e);
        } finally {
            lock.unlock();
        }
    }

    private List<SessionRow> querySessions(String sql, Object... args) {
        lock.lock();
        try (PreparedStatement ps = open().prepareStatement(sql)) {
            bind(ps, args);
            List<SessionRow> rows = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    rows.add(sessionRow(rs));
                }
            }
            return rows;
        } catch (SQLException e) {
            throw failure("cannot read session records", e);
        } finally {
            lock.unlock();
        }
    }

    private long count(String sql, Object... args) {
        lock.lock();
        try (PreparedStatement ps = open().prepareStatement(sql)) {
            bind(ps, args);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : 0;
            }
        } catch (SQLException e) {
            throw failure("cannot read records", e);
        } finally {
            lock.unlock();
        }
    }

    private int update(String sql, Object... args) {
        lock.lock();
        try (PreparedStatement ps = open().prepareStatement(sql)) {
            bind(ps, args);
            return ps.executeUpdate();
        } catch (SQLException e) {
            throw failure("cannot update records", e);
        } finally {
            lock.unlock();
        }
    }

    private static void bind(PreparedStatement ps, Object... args) throws SQLException {
        for (int i = 0; i < args.length; i++) {
            ps.setObject(i + 1, args[i]);
        }
    }

    private ExecutionStoreException failure(String what, SQLException e) {
        return new ExecutionStoreException(what + " in " + file + ": " + e.getMessage(), e);
    }

    private SessionRow sessionRow(ResultSet rs) throws SQLException {
        String id = rs.getString("session_id");
        try {
            SessionRecord session = new SessionRecord(
                    id,
                    rs.getString("user_id"),
                    rs.getString("image"),
                    rs.getString("runtime"),
                    RecordJson.level(rs.getString("security_level")),
                    rs.getString("rootfs"),
                    RecordJson.limits(rs.getString("limits")),
                    RecordJson.strings(rs.getString("env_names")),
                    RecordJson.instant(rs.getString("created_at")),
                    RecordJson.instant(rs.getString("expires_at")),
                    rs.getLong("idle_timeout_seconds"),
                    RecordJson.instant(rs.getString("last_active_at")),
                    RecordJson.sessionStatus(rs.getString("status")),
                    RecordJson.closeReason(rs.getString("close_reason")),
                    rs.getString("close_detail"),
                    RecordJson.instant(rs.getString("closed_at")),
                    rs.getString("sandbox_name"),
                    rs.getString("server_id"),
                    rs.getLong("executions"));
            return new SessionRow(session, rs.getInt("pending") == 1, rs.getLong("revision"));
        } catch (IllegalArgumentException | java.time.DateTimeException e) {
            throw new ExecutionStoreException("the session record " + id + " in " + file + " is malformed: " + e, e);
        }
    }

    private static Row row(ResultSet rs) throws SQLException {
        return row(rs, StoredResults.decode(rs.getString("result"), rs.getBytes("output")),
                RecordJson.request(rs.getString("request")));
    }

    /** A row read by {@link #SELECT_SUMMARIES}: no result or request column to read. */
    private static Row summaryRow(ResultSet rs) throws SQLException {
        return row(rs, null, null);
    }

    private static Row row(ResultSet rs, ExecutionResult result, RequestSummary request) throws SQLException {
        int exit = rs.getInt("exit_code");
        Integer exitCode = rs.wasNull() ? null : exit;
        ExecutionRecord record = new ExecutionRecord(
                rs.getString("execution_id"),
                rs.getString("user_id"),
                rs.getString("session_id"),
                rs.getString("image"),
                rs.getString("runtime"),
                RecordJson.level(rs.getString("security_level")),
                RecordJson.command(rs.getString("command")),
                rs.getString("language"),
                RecordJson.instant(rs.getString("started_at")),
                RecordJson.instant(rs.getString("ended_at")),
                RecordJson.status(rs.getString("status")),
                exitCode,
                rs.getLong("duration_ms"),
                rs.getLong("output_bytes"),
                RecordJson.events(rs.getString("security_events")),
                result,
                request,
                rs.getString("node"));
        return new Row(record, rs.getInt("pending") == 1, rs.getLong("revision"));
    }
}
