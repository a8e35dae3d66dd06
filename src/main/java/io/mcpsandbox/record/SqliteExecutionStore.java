package io.mcpsandbox.record;

import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionStatus;
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
    static final int SCHEMA_VERSION = 1;
    private static final Logger LOG = LoggerFactory.getLogger(SqliteExecutionStore.class);

    private static final String COLUMNS = "execution_id, user_id, session_id, image, runtime, security_level, command, "
            + "language, started_at, started_ms, ended_at, status, exit_code, duration_ms, output_bytes, "
            + "security_events, result";
    private static final String SELECT = "SELECT " + COLUMNS + ", pending, revision FROM executions";

    /** A stored row: the record, whether it still has to be written to Redis, and its write count. */
    record Row(ExecutionRecord record, boolean pending, long revision) {
    }

    private final Path file;
    private final Duration retention;
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
        this(file, retention, Clock.systemUTC());
    }

    SqliteExecutionStore(Path file, Duration retention, Clock clock) {
        if (retention == null || retention.isNegative()) {
            throw new IllegalArgumentException("records.sqlite.retention must be zero (keep) or positive; got " + retention);
        }
        this.file = file.toAbsolutePath();
        this.retention = retention;
        this.clock = clock;
        createOwnerOnly(this.file);
        try {
            connection = DriverManager.getConnection("jdbc:sqlite:" + this.file);
        } catch (SQLException e) {
            throw new ExecutionStoreException("cannot open the execution store " + this.file + ": " + e.getMessage(), e);
        }
        try {
            migrate();
        } catch (SQLException e) {
            closeQuietly();
            throw new ExecutionStoreException("cannot prepare the execution store " + this.file + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            closeQuietly();
            throw e;
        }
        int pruned = prune();
        if (pruned > 0) {
            LOG.info("Execution records: pruned {} records older than {} from {}", pruned, retention, this.file);
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
                    Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
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
                    LOG.warn("Execution records: {} is in journal mode {}, not WAL", file, rs.getString(1));
                }
            }
            st.execute("PRAGMA synchronous = NORMAL");
            int version;
            try (ResultSet rs = st.executeQuery("PRAGMA user_version")) {
                version = rs.next() ? rs.getInt(1) : 0;
            }
            if (version > SCHEMA_VERSION) {
                throw new ExecutionStoreException(file + " has record schema version " + version
                        + ", newer than this service's " + SCHEMA_VERSION + ": run the newer service, or move the file away");
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
                        pending         INTEGER NOT NULL DEFAULT 0,
                        revision        INTEGER NOT NULL DEFAULT 0,
                        updated_ms      INTEGER NOT NULL
                    )""");
            st.execute("CREATE INDEX IF NOT EXISTS executions_user_started ON executions (user_id, started_ms)");
            st.execute("CREATE INDEX IF NOT EXISTS executions_started ON executions (started_ms)");
            st.execute("CREATE INDEX IF NOT EXISTS executions_status ON executions (status)");
            st.execute("CREATE INDEX IF NOT EXISTS executions_pending ON executions (started_ms) WHERE pending = 1");
            st.execute("PRAGMA user_version = " + SCHEMA_VERSION);
        }
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
                + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?) "
                + "ON CONFLICT (execution_id) DO UPDATE SET user_id = excluded.user_id, "
                + "session_id = excluded.session_id, image = excluded.image, runtime = excluded.runtime, "
                + "security_level = excluded.security_level, command = excluded.command, language = excluded.language, "
                + "started_at = excluded.started_at, started_ms = excluded.started_ms, ended_at = excluded.ended_at, "
                + "status = excluded.status, exit_code = excluded.exit_code, duration_ms = excluded.duration_ms, "
                + "output_bytes = excluded.output_bytes, security_events = excluded.security_events, "
                + "result = excluded.result, pending = max(executions.pending, excluded.pending), "
                + "revision = executions.revision + 1, updated_ms = excluded.updated_ms";
        // JSON outside the lock: it is the costly part of a write.
        String command = RecordJson.write(r.command());
        String events = RecordJson.write(r.securityEvents());
        String result = RecordJson.write(r.result());
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
            ps.setString(17, result);
            ps.setInt(18, pending ? 1 : 0);
            ps.setLong(19, clock.millis());
            ps.executeUpdate();
        } catch (SQLException e) {
            throw failure("cannot write the record of " + r.executionId(), e);
        } finally {
            lock.unlock();
        }
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
                : query(SELECT + " WHERE user_id = ? ORDER BY started_ms DESC, rowid DESC LIMIT ?", userIdOrNull, limit);
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

    long pendingCount() {
        return count("SELECT count(*) FROM executions WHERE pending = 1");
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
     * Deletes records that started longer ago than the retention (never one still pending for Redis).
     * Runs when the store opens; callers may run it periodically.
     *
     * @return how many records were deleted
     */
    public int prune() {
        if (retention.isZero()) {
            return 0;
        }
        long cutoff = clock.millis() - retention.toMillis();
        return update("DELETE FROM executions WHERE started_ms < ? AND pending = 0", cutoff);
    }

    public long count() {
        return count("SELECT count(*) FROM executions");
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
            LOG.debug("closing {}", file, e);
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

    private List<Row> query(String sql, Object... args) {
        lock.lock();
        try (PreparedStatement ps = open().prepareStatement(sql)) {
            bind(ps, args);
            List<Row> rows = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    rows.add(row(rs));
                }
            }
            return rows;
        } catch (SQLException e) {
            throw failure("cannot read records", e);
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

    private static Row row(ResultSet rs) throws SQLException {
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
                RecordJson.result(rs.getString("result")));
        return new Row(record, rs.getInt("pending") == 1, rs.getLong("revision"));
    }
}
