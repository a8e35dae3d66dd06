package io.mcpsandbox.record;

import static io.mcpsandbox.record.Records.MIB;
import static io.mcpsandbox.record.Records.controlFlood;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.SessionCloseReason;
import io.mcpsandbox.model.SessionRecord;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The contract on the embedded SQLite file, and what only that file does (modes, pending rows, pruning). */
class SqliteExecutionStoreTest extends ExecutionStoreContract {
    private static final Duration RETENTION = Duration.ofDays(30);

    @TempDir
    Path dir;

    private Path file() {
        return dir.resolve(SqliteExecutionStore.FILE_NAME);
    }

    @Override
    protected SqliteExecutionStore open(OutputCaps caps) {
        return new SqliteExecutionStore(file(), RETENTION, caps);
    }

    @Override
    protected SqliteExecutionStore open() {
        return open(OutputCaps.DEFAULTS);
    }

    /** Opened again one second after the record's retention ran out: opening prunes it. */
    @Override
    protected ExecutionStore pastRetention(ExecutionStore store, ExecutionRecord record) {
        store.close();
        Clock later = Clock.fixed(record.startedAt().plus(RETENTION).plusSeconds(1), ZoneOffset.UTC);
        return new SqliteExecutionStore(file(), RETENTION, OutputCaps.DEFAULTS, later);
    }

    /** Another process holds the write lock (a second service on the same file, a backup tool). */
    @Override
    protected Outage outage() throws Exception {
        Connection other = DriverManager.getConnection("jdbc:sqlite:" + file());
        other.createStatement().execute("BEGIN EXCLUSIVE");
        return () -> {
            other.createStatement().execute("ROLLBACK");
            other.close();
        };
    }

    @Override
    protected boolean keepsWritesDuringAnOutage() {
        return false;
    }

    /** In WAL mode readers go on while another process writes: health (a read) stays ok. */
    @Override
    protected boolean healthSeesAnOutage() {
        return false;
    }

    @Override
    protected Stored stored(ExecutionStore store, ExecutionRecord record) throws Exception {
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file());
             PreparedStatement ps = c.prepareStatement(
                     "SELECT stored_bytes, output_state FROM executions WHERE execution_id = ?")) {
            ps.setString(1, record.executionId());
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).as(record.executionId()).isTrue();
                return new Stored(rs.getLong(1), rs.getString(2));
            }
        }
    }

    /** Another connection rewrites the row's result and output columns. */
    @Override
    protected void corruptResult(ExecutionStore store, ExecutionRecord record) throws Exception {
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file());
             PreparedStatement ps = c.prepareStatement(
                     "UPDATE executions SET result = ?, output = ? WHERE execution_id = ?")) {
            ps.setString(1, "{not json");
            ps.setBytes(2, new byte[] {0x1f, (byte) 0x8b, 0, 1, 2, 3});
            ps.setString(3, record.executionId());
            assertThat(ps.executeUpdate()).isEqualTo(1);
        }
    }

    @Override
    protected void corruptRequest(ExecutionStore store, ExecutionRecord record) throws Exception {
        corruptRequest(file(), record);
    }

    static void corruptRequest(Path file, ExecutionRecord record) throws Exception {
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file);
             PreparedStatement ps = c.prepareStatement("UPDATE executions SET request = ? WHERE execution_id = ?")) {
            ps.setString(1, "{not json");
            ps.setString(2, record.executionId());
            assertThat(ps.executeUpdate()).isEqualTo(1);
        }
    }

    /** The database file and its write-ahead log, byte for byte. */
    @Override
    protected String rawBackend(ExecutionStore store, ExecutionRecord record) throws Exception {
        return raw(file());
    }

    static String raw(Path file) throws Exception {
        StringBuilder all = new StringBuilder();
        for (Path p : java.util.List.of(file, file.resolveSibling(file.getFileName() + "-wal"))) {
            if (Files.exists(p)) {
                all.append(new String(Files.readAllBytes(p), java.nio.charset.StandardCharsets.UTF_8));
            }
        }
        return all.toString();
    }

    @Override
    protected long storedOutputBytes(ExecutionStore store) {
        return ((SqliteExecutionStore) store).storedBytes(null);
    }

    @Test
    void theFileIsOwnerOnlyInWalModeAndCounted() throws Exception {
        try (SqliteExecutionStore store = open()) {
            ExecutionRecord start = Records.started("alice", Instant.now());
            store.recordStart(start);
            store.recordEnd(Records.ended(start));
            store.recordStart(Records.started("bob", Instant.now()));
            assertThat(store.count()).isEqualTo(2);
            assertThat(store.health().backend()).isEqualTo("sqlite");
            assertThat(store.health().detail()).contains("2 records");
        }
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file()))).isEqualTo("rw-------");
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file());
             ResultSet rs = c.createStatement().executeQuery("PRAGMA journal_mode")) {
            assertThat(rs.next()).isTrue();
            assertThat(rs.getString(1)).isEqualToIgnoringCase("wal");
        }
    }

    @Test
    void retentionPrunesOldRecordsOnOpenButKeepsPendingOnes() {
        Instant now = Instant.parse("2030-06-01T00:00:00Z");
        ExecutionRecord old = Records.started("alice", now.minus(40, ChronoUnit.DAYS));
        ExecutionRecord oldPending = Records.started("alice", now.minus(41, ChronoUnit.DAYS));
        ExecutionRecord recent = Records.started("alice", now.minus(2, ChronoUnit.DAYS));
        try (SqliteExecutionStore store = new SqliteExecutionStore(file(), Duration.ZERO)) {
            store.recordEnd(Records.ended(old));
            store.recordPending(oldPending);
            store.recordEnd(Records.ended(recent));
        }
        Clock clock = Clock.fixed(now, ZoneOffset.UTC);
        try (SqliteExecutionStore store = new SqliteExecutionStore(file(), RETENTION, clock)) {
            assertThat(store.find(old.executionId())).isEmpty();
            assertThat(store.find(recent.executionId())).isPresent();
            assertThat(store.find(oldPending.executionId())).isPresent();
            assertThat(store.pendingCount()).isEqualTo(1);
        }
    }

    @Test
    void pendingRowsAreClearedOnlyAtTheRevisionThatWasReplayed() {
        try (SqliteExecutionStore store = open()) {
            ExecutionRecord start = Records.started("alice", Instant.now());
            store.recordPending(start);
            SqliteExecutionStore.Row row = store.pendingRows(10).get(0);
            assertThat(row.pending()).isTrue();
            store.recordPending(Records.ended(start)); // written again while the start was being replayed
            assertThat(store.clearPending(start.executionId(), row.revision())).isFalse();
            SqliteExecutionStore.Row newer = store.pendingRows(10).get(0);
            assertThat(newer.record()).isEqualTo(Records.ended(start));
            assertThat(store.clearPending(start.executionId(), newer.revision())).isTrue();
            assertThat(store.pendingCount()).isZero();
            assertThat(store.isPending(start.executionId())).isFalse();
        }
    }

    @Test
    void storedBytesAreTheBytesOnDiskAndOutputsLiveOutsideTheJson() throws Exception {
        ExecutionRecord end = Records.ended("alice", Instant.now(), controlFlood(2 * (int) MIB, 1), "short\n");
        try (SqliteExecutionStore store = open()) {
            store.recordEnd(end);
            long stored = stored(store, end).bytes();
            try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file());
                 PreparedStatement ps = c.prepareStatement("SELECT length(output) + length(CAST(result AS BLOB)), "
                         + "result FROM executions WHERE execution_id = ?")) {
                ps.setString(1, end.executionId());
                try (ResultSet rs = ps.executeQuery()) {
                    assertThat(rs.next()).isTrue();
                    assertThat(stored).isEqualTo(rs.getLong(1));
                    assertThat(rs.getString(2)).contains("\"stdout\":\"\"").doesNotContain("\\u0001");
                }
            }
            assertThat(store.storedBytes("alice")).isEqualTo(stored);
            assertThat(store.storedBytes("bob")).isZero();
        }
    }

    @Test
    void instantsAreWrittenAsIsoStrings() {
        ExecutionRecord end = Records.ended(Records.started("alice", Instant.parse("2030-01-02T03:04:05.123456789Z")));
        String json = RecordJson.write(end.result());
        assertThat(json).doesNotContain("\"timestamp\":1");
        String events = RecordJson.write(end.securityEvents());
        assertThat(events).contains("\"2030-01-02T03:04:05.128456789Z\"").contains("\"high\"");
        assertThat(RecordJson.events(events)).isEqualTo(end.securityEvents());
        assertThat(RecordJson.result(json)).isEqualTo(end.result());
    }

    /** The schema before sessions (version 2), as that service created it. */
    private static final String VERSION_2_DDL = """
            CREATE TABLE executions (
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
                pending         INTEGER NOT NULL DEFAULT 0,
                revision        INTEGER NOT NULL DEFAULT 0,
                updated_ms      INTEGER NOT NULL
            );
            CREATE INDEX executions_user_started ON executions (user_id, started_ms);
            CREATE INDEX executions_started ON executions (started_ms);
            CREATE INDEX executions_status ON executions (status);
            CREATE INDEX executions_pending ON executions (started_ms) WHERE pending = 1;
            CREATE INDEX executions_user_stored ON executions (user_id, stored_bytes);
            CREATE INDEX executions_kept_output ON executions (started_ms) WHERE output_state IN ('full', 'truncated');
            """;

    @Test
    void aFileOfTheSchemaBeforeSessionsKeepsItsExecutionsAndGainsSessionsAndRequests() throws Exception {
        Instant t0 = Instant.now().minusSeconds(60);
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file());
             Statement st = c.createStatement()) {
            for (String ddl : VERSION_2_DDL.split(";")) {
                if (!ddl.isBlank()) {
                    st.execute(ddl);
                }
            }
            st.execute("PRAGMA user_version = 2");
            st.execute("INSERT INTO executions (execution_id, user_id, session_id, image, runtime, security_level, "
                    + "command, language, started_at, started_ms, status, duration_ms, output_bytes, "
                    + "security_events, pending, updated_ms) VALUES ('old-1', 'alice', 'sess-old', 'host', 'runc', "
                    + "'medium', '[\"true\"]', 'shell', '" + t0 + "', " + t0.toEpochMilli() + ", 'running', 0, 0, "
                    + "'[]', 0, " + t0.toEpochMilli() + ")");
        }
        SessionRecord session = Records.session("alice", Instant.now());
        ExecutionRecord asked = Records.startedWithRequest("alice", Instant.now());
        try (SqliteExecutionStore store = open()) {
            ExecutionRecord old = store.find("old-1").orElseThrow();
            assertThat(old.userId()).isEqualTo("alice");
            assertThat(old.startedAt()).isEqualTo(t0);
            assertThat(old.request()).as("written before requests were kept").isNull();
            assertThat(old.node()).as("written before nodes were named").isNull();
            assertThat(store.running()).containsExactly(old);
            assertThat(store.listBySession("sess-old", 10)).containsExactly(old);
            assertThat(store.openSessions()).isEmpty();
            store.saveSession(session);
            assertThat(store.findSession(session.sessionId())).contains(session);
            store.recordStart(asked);
            assertThat(store.find(asked.executionId())).contains(asked);
            assertThat(store.listSummaries("alice", 10)).containsExactly(asked.summary(), old);
            store.recordEnd(old.cutOff("the old service stopped", Instant.now()));
            assertThat(store.find("old-1").orElseThrow().request()).isNull();
            ExecutionRecord named = Records.started("bob", Instant.now()).withNode("node-a");
            store.recordStart(named);
            assertThat(store.find(named.executionId())).contains(named);
        }
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file());
             ResultSet rs = c.createStatement().executeQuery("PRAGMA user_version")) {
            assertThat(rs.next()).isTrue();
            assertThat(rs.getInt(1)).isEqualTo(SqliteExecutionStore.SCHEMA_VERSION).isEqualTo(4);
        }
        try (SqliteExecutionStore store = open()) {
            assertThat(store.find("old-1")).isPresent();
            assertThat(store.find(asked.executionId()).orElseThrow().request()).isEqualTo(asked.request())
                    .isNotNull();
            assertThat(store.openSessions()).containsExactly(session);
        }
    }

    @Test
    void retentionPrunesLongClosedSessionsButNeverOpenOrPendingOnes() {
        Instant now = Instant.parse("2030-06-01T00:00:00Z");
        SessionRecord closedLongAgo = Records.session("alice", now.minus(50, ChronoUnit.DAYS))
                .closed(SessionCloseReason.EXPIRED, null, now.minus(40, ChronoUnit.DAYS));
        SessionRecord closedRecently = Records.session("alice", now.minus(50, ChronoUnit.DAYS))
                .closed(SessionCloseReason.IDLE, null, now.minus(2, ChronoUnit.DAYS));
        SessionRecord openLongAgo = Records.session("alice", now.minus(50, ChronoUnit.DAYS));
        SessionRecord pendingClosed = Records.session("bob", now.minus(50, ChronoUnit.DAYS))
                .closed(SessionCloseReason.FAILED, "x", now.minus(40, ChronoUnit.DAYS));
        try (SqliteExecutionStore store = new SqliteExecutionStore(file(), Duration.ZERO)) {
            store.saveSession(closedLongAgo);
            store.saveSession(closedRecently);
            store.saveSession(openLongAgo);
            store.saveSessionPending(pendingClosed);
            assertThat(store.pendingCount()).isEqualTo(1);
            assertThat(store.isSessionPending(pendingClosed.sessionId())).isTrue();
        }
        try (SqliteExecutionStore store = new SqliteExecutionStore(file(), RETENTION,
                Clock.fixed(now, ZoneOffset.UTC))) {
            assertThat(store.findSession(closedLongAgo.sessionId())).isEmpty();
            assertThat(store.findSession(closedRecently.sessionId())).contains(closedRecently);
            assertThat(store.openSessions()).containsExactly(openLongAgo);
            assertThat(store.findSession(pendingClosed.sessionId())).contains(pendingClosed);
            SqliteExecutionStore.SessionRow row = store.pendingSessionRows(10).get(0);
            assertThat(store.clearPendingSession(pendingClosed.sessionId(), row.revision() + 1)).isFalse();
            assertThat(store.clearPendingSession(pendingClosed.sessionId(), row.revision())).isTrue();
            assertThat(store.pendingCount()).isZero();
        }
    }

    @Test
    void aReadOfAStoreClosedUnderneathFailsLoudly() {
        SqliteExecutionStore store = open();
        store.close();
        store.close(); // idempotent
        assertThatThrownBy(() -> store.find("x"))
                .isInstanceOf(ExecutionStoreException.class).hasMessageContaining("closed");
    }
}
