package io.mcpsandbox.record;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.config.Settings;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.ResourceUsage;
import io.mcpsandbox.model.SecurityLevel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Outputs stored compressed and capped per stream, and the per-user and total caps on the SQLite store. */
class StoredOutputCapsTest {
    static final long MIB = 1L << 20;
    @TempDir
    Path dir;

    private SqliteExecutionStore open(OutputCaps caps) {
        return new SqliteExecutionStore(dir.resolve(SqliteExecutionStore.FILE_NAME), Duration.ofDays(30), caps);
    }

    /** A flood of control bytes as the service would capture it (valid UTF-8, so kept as such). */
    static String controlFlood(int bytes, long seed) {
        Random random = new Random(seed);
        char[] chars = new char[bytes];
        for (int i = 0; i < bytes; i++) {
            chars[i] = (char) (1 + random.nextInt(31));
        }
        return new String(chars);
    }

    /** Text that does not compress: stored bytes then track the output's size. */
    static String noise(int bytes, long seed) {
        Random random = new Random(seed);
        char[] chars = new char[bytes];
        for (int i = 0; i < bytes; i++) {
            chars[i] = (char) ('!' + random.nextInt(90));
        }
        return new String(chars);
    }

    static ExecutionRecord ended(String user, Instant startedAt, String stdout, String stderr) {
        ExecutionRecord start = Records.started(user, startedAt);
        ExecutionResult result = new ExecutionResult(start.executionId(), ExecutionStatus.COMPLETED, 0, stdout, stderr,
                false, false, 12, "runc", SecurityLevel.MEDIUM, "host", ResourceUsage.NONE, List.of(), null);
        return start.ended(result, startedAt.plusMillis(12));
    }

    private static long column(Path db, String sql, String id) throws Exception {
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
             PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).isTrue();
                return rs.getLong(1);
            }
        }
    }

    @Test
    void aFloodOfControlBytesIsStoredCappedAndCompressedWithAMarker() throws Exception {
        String flood = controlFlood(10 * (int) MIB, 1);
        ExecutionRecord end = ended("alice", Instant.now(), flood, "short\n");
        try (SqliteExecutionStore store = open(OutputCaps.DEFAULTS)) {
            store.recordEnd(end);
            ExecutionResult back = store.find(end.executionId()).orElseThrow().result();
            String kept = flood.substring(0, (int) MIB);
            assertThat(back.stdout()).startsWith(kept)
                    .endsWith(StoredResults.truncatedMarker("stdout", MIB, 10 * MIB))
                    .hasSize(kept.length() + StoredResults.truncatedMarker("stdout", MIB, 10 * MIB).length());
            assertThat(back.stdoutTruncated()).as("the stored stdout says it is cut").isTrue();
            assertThat(back.stderr()).isEqualTo("short\n");
            assertThat(back.stderrTruncated()).isFalse();
            assertThat(back.exitCode()).isZero();
            assertThat(back.status()).isEqualTo(ExecutionStatus.COMPLETED);
            // The record still says how much the program printed.
            assertThat(store.find(end.executionId()).orElseThrow().outputBytes()).isEqualTo(10 * MIB + 6);
            Path db = store.file();
            long stored = column(db, "SELECT stored_bytes FROM executions WHERE execution_id = ?", end.executionId());
            long actual = column(db, "SELECT length(output) + length(CAST(result AS BLOB)) FROM executions "
                    + "WHERE execution_id = ?", end.executionId());
            assertThat(stored).isEqualTo(actual);
            // 1 MiB of control bytes, compressed: far below the 6 MiB of JSON escapes it would make.
            assertThat(stored).isLessThan(MIB);
            assertThat(store.storedBytes("alice")).isEqualTo(stored);
        }
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve(SqliteExecutionStore.FILE_NAME));
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT output_state, result FROM executions")) {
            assertThat(rs.next()).isTrue();
            assertThat(rs.getString(1)).isEqualTo("truncated");
            assertThat(rs.getString(2)).contains("\"stdout\":\"\"").doesNotContain("\\u0001");
        }
    }

    @Test
    void outputUnderTheCapRoundTripsExactly() {
        String text = "héllo ✓ 😀\u0000\u001b[31m\n" + noise(5000, 2);
        ExecutionRecord end = ended("alice", Instant.now(), text, text);
        try (SqliteExecutionStore store = open(new OutputCaps(text.getBytes(StandardCharsets.UTF_8).length, MIB, MIB))) {
            store.recordEnd(end);
            assertThat(store.find(end.executionId())).contains(end);
        }
    }

    @Test
    void theCutNeverSplitsACharacter() {
        assertThat(StoredResults.utf8Prefix("a😀b", 4)).isEqualTo("a");
        assertThat(StoredResults.utf8Prefix("a😀b", 5)).isEqualTo("a😀");
        assertThat(StoredResults.utf8Prefix("éé", 3)).isEqualTo("é");
    }

    @Test
    void thePerUserCapDropsTheOldestOutputsOfThatUserOnly() {
        OutputCaps caps = new OutputCaps(64 * 1024, 100_000, 10 * MIB);
        Instant t0 = Instant.parse("2030-01-01T00:00:00Z");
        List<ExecutionRecord> alice = new ArrayList<>();
        try (SqliteExecutionStore store = open(caps)) {
            ExecutionRecord bob = ended("bob", t0.minusSeconds(60), noise(30_000, 99), "");
            store.recordEnd(bob);
            // Older than every ended one, and still running: never touched.
            ExecutionRecord running = Records.started("alice", t0.minusSeconds(30));
            store.recordStart(running);
            for (int i = 0; i < 8; i++) {
                ExecutionRecord r = ended("alice", t0.plusSeconds(i), noise(30_000, i), "err " + i);
                store.recordEnd(r);
                alice.add(r);
                assertThat(store.storedBytes("alice")).as("after record %d", i).isLessThanOrEqualTo(caps.maxPerUser());
            }
            // 8 x ~30 KB do not fit in 100 KB: the oldest lost their output, the newest kept it.
            ExecutionRecord oldest = store.find(alice.get(0).executionId()).orElseThrow();
            assertThat(oldest.result().stdout()).isEqualTo(StoredResults.droppedMarker("stdout"));
            assertThat(oldest.result().stderr()).isEqualTo(StoredResults.droppedMarker("stderr"));
            assertThat(oldest.result().stdoutTruncated()).isTrue();
            assertThat(oldest.result().stderrTruncated()).isTrue();
            // Everything but the output stays.
            assertThat(oldest.status()).isEqualTo(ExecutionStatus.COMPLETED);
            assertThat(oldest.outputBytes()).isEqualTo(alice.get(0).outputBytes());
            assertThat(oldest.result().exitCode()).isZero();
            for (int i = 5; i < 8; i++) {
                assertThat(store.find(alice.get(i).executionId())).as("record %d", i).contains(alice.get(i));
            }
            assertThat(store.find(bob.executionId())).contains(bob);
            assertThat(store.find(running.executionId())).contains(running);
            assertThat(store.count()).isEqualTo(10);
        }
    }

    @Test
    void theTotalCapDropsTheOldestOutputsOfAnyUser() {
        OutputCaps caps = new OutputCaps(64 * 1024, MIB, 150_000);
        Instant t0 = Instant.parse("2030-01-01T00:00:00Z");
        List<ExecutionRecord> all = new ArrayList<>();
        try (SqliteExecutionStore store = open(caps)) {
            for (int i = 0; i < 10; i++) {
                ExecutionRecord r = ended(i % 2 == 0 ? "alice" : "bob", t0.plusSeconds(i), noise(30_000, i), "");
                store.recordEnd(r);
                all.add(r);
                assertThat(store.storedBytes(null)).isLessThanOrEqualTo(caps.maxTotal());
            }
            assertThat(store.find(all.get(0).executionId()).orElseThrow().result().stdout())
                    .isEqualTo(StoredResults.droppedMarker("stdout"));
            assertThat(store.find(all.get(1).executionId()).orElseThrow().result().stdout())
                    .isEqualTo(StoredResults.droppedMarker("stdout"));
            assertThat(store.find(all.get(9).executionId())).contains(all.get(9));
            assertThat(store.find(all.get(8).executionId())).contains(all.get(8));
        }
    }

    @Test
    void lowerCapsAreEnforcedWhenTheStoreOpens() {
        Instant t0 = Instant.parse("2030-01-01T00:00:00Z");
        List<ExecutionRecord> all = new ArrayList<>();
        try (SqliteExecutionStore store = open(OutputCaps.DEFAULTS)) {
            for (int i = 0; i < 5; i++) {
                ExecutionRecord r = ended("alice", t0.plusSeconds(i), noise(30_000, i), "");
                store.recordEnd(r);
                all.add(r);
            }
            assertThat(store.storedBytes("alice")).isGreaterThan(100_000);
        }
        try (SqliteExecutionStore store = open(new OutputCaps(MIB, 70_000, MIB))) {
            assertThat(store.storedBytes("alice")).isLessThanOrEqualTo(70_000);
            assertThat(store.find(all.get(4).executionId())).contains(all.get(4));
            assertThat(store.find(all.get(0).executionId()).orElseThrow().result().stdout())
                    .isEqualTo(StoredResults.droppedMarker("stdout"));
        }
    }

    @Test
    void aVersionOneFileIsReadAndItsOutputsCounted() throws Exception {
        Path db = dir.resolve(SqliteExecutionStore.FILE_NAME);
        ExecutionRecord end = ended("alice", Instant.parse("2030-01-01T00:00:00Z"), noise(40_000, 7), "e");
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db); Statement st = c.createStatement()) {
            st.execute("""
                    CREATE TABLE executions (
                        execution_id TEXT PRIMARY KEY, user_id TEXT, session_id TEXT, image TEXT, runtime TEXT,
                        security_level TEXT, command TEXT NOT NULL, language TEXT, started_at TEXT NOT NULL,
                        started_ms INTEGER NOT NULL, ended_at TEXT, status TEXT NOT NULL, exit_code INTEGER,
                        duration_ms INTEGER NOT NULL, output_bytes INTEGER NOT NULL, security_events TEXT NOT NULL,
                        result TEXT, pending INTEGER NOT NULL DEFAULT 0, revision INTEGER NOT NULL DEFAULT 0,
                        updated_ms INTEGER NOT NULL)""");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO executions VALUES "
                    + "(?, 'alice', NULL, 'host', 'runc', 'medium', '[]', NULL, ?, ?, ?, 'completed', 0, 12, ?, '[]', ?, 0, 0, 0)")) {
                ps.setString(1, end.executionId());
                ps.setString(2, end.startedAt().toString());
                ps.setLong(3, end.startedAt().toEpochMilli());
                ps.setString(4, end.endedAt().toString());
                ps.setLong(5, end.outputBytes());
                ps.setString(6, RecordJson.write(end.result()));
                ps.executeUpdate();
            }
            st.execute("PRAGMA user_version = 1");
        }
        try (SqliteExecutionStore store = open(OutputCaps.DEFAULTS)) {
            assertThat(store.find(end.executionId()).orElseThrow().result()).isEqualTo(end.result());
            assertThat(store.storedBytes("alice")).isGreaterThan(40_000);
        }
        try (SqliteExecutionStore store = open(new OutputCaps(MIB, 10_000, MIB))) {
            assertThat(store.find(end.executionId()).orElseThrow().result().stdout())
                    .isEqualTo(StoredResults.droppedMarker("stdout"));
            assertThat(store.storedBytes("alice")).isLessThan(10_000);
        }
    }

    @Test
    void capsComeFromTheSettingsAndBadValuesNameTheKey() {
        Properties file = new Properties();
        assertThat(ExecutionStores.caps(new Settings(file, Map.of()))).isEqualTo(OutputCaps.DEFAULTS);
        assertThat(OutputCaps.DEFAULTS).isEqualTo(new OutputCaps(MIB, 100 * MIB, 1L << 30));
        assertThat(ExecutionStores.caps(new Settings(file, Map.of("MCP_SANDBOX_RECORDS_OUTPUT_MAX_PER_USER", "5m"))))
                .isEqualTo(new OutputCaps(MIB, 5 * MIB, 1L << 30));
        assertThatThrownBy(() -> ExecutionStores.caps(new Settings(file, Map.of("MCP_SANDBOX_RECORDS_OUTPUT_MAX_TOTAL", "0"))))
                .hasMessageContaining("records.output.max-total");
        assertThatThrownBy(() -> ExecutionStores.caps(new Settings(file, Map.of("MCP_SANDBOX_RECORDS_OUTPUT_MAX_STORED", "lots"))))
                .hasMessageContaining("records.output.max-stored");
    }

    @Test
    void theSizeOnDiskIsReported() throws Exception {
        try (SqliteExecutionStore store = open(OutputCaps.DEFAULTS)) {
            store.recordEnd(ended("alice", Instant.now(), noise(200_000, 3), ""));
            assertThat(store.sizeBytes()).isGreaterThan(200_000)
                    .isGreaterThanOrEqualTo(Files.size(store.file()));
        }
    }
}
