package io.mcpsandbox.record;

import static io.mcpsandbox.record.Records.MIB;
import static io.mcpsandbox.record.Records.ended;
import static io.mcpsandbox.record.Records.noise;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.config.Settings;
import io.mcpsandbox.model.ExecutionRecord;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Output caps: what only the SQLite store does with them (caps enforced on open, after every write, on a
 * version 1 file; its size on disk), and their settings. The caps every store keeps are in
 * {@link ExecutionStoreContract}.
 */
class StoredOutputCapsTest {
    @TempDir
    Path dir;

    private SqliteExecutionStore open(OutputCaps caps) {
        return new SqliteExecutionStore(dir.resolve(SqliteExecutionStore.FILE_NAME), Duration.ofDays(30), caps);
    }

    @Test
    void theCutNeverSplitsACharacter() {
        assertThat(StoredResults.utf8Prefix("a😀b", 4)).isEqualTo("a");
        assertThat(StoredResults.utf8Prefix("a😀b", 5)).isEqualTo("a😀");
        assertThat(StoredResults.utf8Prefix("éé", 3)).isEqualTo("é");
    }

    @Test
    void theCapsHoldAfterEveryWrite() {
        OutputCaps caps = new OutputCaps(64 * 1024, 100_000, 150_000);
        Instant t0 = Instant.parse("2030-01-01T00:00:00Z");
        try (SqliteExecutionStore store = open(caps)) {
            for (int i = 0; i < 10; i++) {
                String user = i % 3 == 0 ? "bob" : "alice";
                store.recordEnd(ended(user, t0.plusSeconds(i), noise(30_000, i), "err " + i));
                assertThat(store.storedBytes(user)).as("after record %d", i).isLessThanOrEqualTo(caps.maxPerUser());
                assertThat(store.storedBytes(null)).as("after record %d", i).isLessThanOrEqualTo(caps.maxTotal());
            }
            assertThat(store.count()).isEqualTo(10);
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
                    + "(?, 'alice', NULL, 'host', 'runc', 'medium', '[]', NULL, ?, ?, ?, 'completed', 0, 12, ?, '[]', "
                    + "?, 0, 0, 0)")) {
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
        assertThatThrownBy(() -> ExecutionStores.caps(
                new Settings(file, Map.of("MCP_SANDBOX_RECORDS_OUTPUT_MAX_TOTAL", "0"))))
                .hasMessageContaining("records.output.max-total");
        assertThatThrownBy(() -> ExecutionStores.caps(
                new Settings(file, Map.of("MCP_SANDBOX_RECORDS_OUTPUT_MAX_STORED", "lots"))))
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
