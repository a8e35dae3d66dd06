package io.mcpsandbox.record;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionStatus;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SqliteExecutionStoreTest {
    @TempDir
    Path dir;

    private SqliteExecutionStore open() {
        return new SqliteExecutionStore(dir.resolve(SqliteExecutionStore.FILE_NAME), Duration.ofDays(30));
    }

    @Test
    void startThenEndRoundTripsEveryField() {
        try (SqliteExecutionStore store = open()) {
            ExecutionRecord start = Records.started("alice", Instant.now());
            store.recordStart(start);
            assertThat(store.find(start.executionId())).contains(start);
            assertThat(store.find(start.executionId()).orElseThrow().status()).isEqualTo(ExecutionStatus.RUNNING);

            ExecutionRecord end = Records.ended(start);
            store.recordEnd(end);
            ExecutionRecord found = store.find(start.executionId()).orElseThrow();
            assertThat(found).isEqualTo(end);
            assertThat(found.result()).isEqualTo(end.result());
            assertThat(found.securityEvents().get(0).details()).isEqualTo(end.securityEvents().get(0).details());
            assertThat(found.outputBytes()).isEqualTo(end.outputBytes()).isPositive();
            assertThat(store.find("no-such-id")).isEmpty();
        }
    }

    @Test
    void listsByUserNewestFirstWithLimit() {
        try (SqliteExecutionStore store = open()) {
            Instant t0 = Instant.parse("2030-01-01T00:00:00Z");
            List<ExecutionRecord> alice = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                ExecutionRecord r = Records.started("alice", t0.plusSeconds(i));
                alice.add(r);
                store.recordStart(r);
                store.recordStart(Records.started("bob", t0.plusSeconds(i).plusMillis(500)));
            }
            assertThat(store.list("alice", 3)).extracting(ExecutionRecord::executionId)
                    .containsExactly(alice.get(4).executionId(), alice.get(3).executionId(), alice.get(2).executionId());
            assertThat(store.list("alice", 100)).hasSize(5).allMatch(r -> r.userId().equals("alice"));
            List<ExecutionRecord> all = store.list(null, 4);
            assertThat(all).hasSize(4).isSortedAccordingTo((a, b) -> b.startedAt().compareTo(a.startedAt()));
            assertThat(all.get(0).userId()).isEqualTo("bob");
            assertThat(store.list("carol", 10)).isEmpty();
            assertThatThrownBy(() -> store.list(null, 0)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void runningListsOnlyUnfinished() {
        try (SqliteExecutionStore store = open()) {
            ExecutionRecord a = Records.started("alice", Instant.now());
            ExecutionRecord b = Records.started("alice", Instant.now().plusMillis(1));
            ExecutionRecord c = Records.started("bob", Instant.now().plusMillis(2));
            store.recordStart(a);
            store.recordStart(b);
            store.recordStart(c);
            store.recordEnd(Records.ended(b));
            assertThat(store.running()).extracting(ExecutionRecord::executionId)
                    .containsExactly(a.executionId(), c.executionId());
        }
    }

    @Test
    void recordsSurviveReopeningTheFile() throws Exception {
        ExecutionRecord start = Records.started("alice", Instant.now());
        ExecutionRecord other = Records.started("bob", Instant.now());
        try (SqliteExecutionStore store = open()) {
            store.recordStart(start);
            store.recordEnd(Records.ended(start));
            store.recordStart(other);
        }
        try (SqliteExecutionStore store = open()) {
            assertThat(store.find(start.executionId())).contains(Records.ended(start));
            assertThat(store.running()).containsExactly(other);
            assertThat(store.count()).isEqualTo(2);
        }
        Path file = dir.resolve(SqliteExecutionStore.FILE_NAME);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file);
             ResultSet rs = c.createStatement().executeQuery("PRAGMA journal_mode")) {
            assertThat(rs.next()).isTrue();
            assertThat(rs.getString(1)).isEqualToIgnoringCase("wal");
        }
    }

    @Test
    void concurrentWritesFromTwentyThreadsAreAllStored() throws Exception {
        try (SqliteExecutionStore store = open(); ExecutorService pool = Executors.newFixedThreadPool(20)) {
            List<Future<List<ExecutionRecord>>> futures = new ArrayList<>();
            for (int t = 0; t < 20; t++) {
                String user = "user-" + t;
                futures.add(pool.submit(() -> {
                    List<ExecutionRecord> ends = new ArrayList<>();
                    for (int i = 0; i < 25; i++) {
                        ExecutionRecord start = Records.started(user, Instant.now());
                        store.recordStart(start);
                        ExecutionRecord end = Records.ended(start);
                        store.recordEnd(end);
                        ends.add(end);
                    }
                    return ends;
                }));
            }
            List<ExecutionRecord> written = new ArrayList<>();
            for (Future<List<ExecutionRecord>> f : futures) {
                written.addAll(f.get());
            }
            assertThat(store.count()).isEqualTo(500);
            for (ExecutionRecord r : written) {
                assertThat(store.find(r.executionId())).contains(r);
            }
            assertThat(store.list("user-7", 100)).hasSize(25);
            assertThat(store.running()).isEmpty();
        }
    }

    @Test
    void retentionPrunesOldRecordsOnOpenButKeepsPendingOnes() {
        Instant now = Instant.parse("2030-06-01T00:00:00Z");
        Path file = dir.resolve(SqliteExecutionStore.FILE_NAME);
        ExecutionRecord old = Records.started("alice", now.minus(40, ChronoUnit.DAYS));
        ExecutionRecord oldPending = Records.started("alice", now.minus(41, ChronoUnit.DAYS));
        ExecutionRecord recent = Records.started("alice", now.minus(2, ChronoUnit.DAYS));
        try (SqliteExecutionStore store = new SqliteExecutionStore(file, Duration.ZERO)) {
            store.recordEnd(Records.ended(old));
            store.recordPending(oldPending);
            store.recordEnd(Records.ended(recent));
        }
        Clock clock = Clock.fixed(now, ZoneOffset.UTC);
        try (SqliteExecutionStore store = new SqliteExecutionStore(file, Duration.ofDays(30), clock)) {
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
    void healthAndInvalidRecords() {
        try (SqliteExecutionStore store = open()) {
            assertThat(store.health().ok()).isTrue();
            assertThat(store.health().backend()).isEqualTo("sqlite");
            assertThat(store.health().pendingWrites()).isZero();
            ExecutionRecord noStart = new ExecutionRecord("x", "u", null, null, null, null, null, null, null, null,
                    ExecutionStatus.RUNNING, null, 0, 0, null, null);
            assertThatThrownBy(() -> store.recordStart(noStart)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("startedAt");
        }
    }

    @Test
    void instantsAreWrittenAsIsoStrings() throws Exception {
        ExecutionRecord end = Records.ended(Records.started("alice", Instant.parse("2030-01-02T03:04:05.123456789Z")));
        String json = RecordJson.write(end.result());
        assertThat(json).doesNotContain("\"timestamp\":1");
        String events = RecordJson.write(end.securityEvents());
        assertThat(events).contains("\"2030-01-02T03:04:05.128456789Z\"").contains("\"high\"");
        assertThat(RecordJson.events(events)).isEqualTo(end.securityEvents());
        assertThat(RecordJson.result(json)).isEqualTo(end.result());
    }
}
