package io.mcpsandbox.record;

import static io.mcpsandbox.record.Records.MIB;
import static io.mcpsandbox.record.Records.controlFlood;
import static io.mcpsandbox.record.Records.noise;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.RequestSummary;
import io.mcpsandbox.model.SessionCloseReason;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.model.SessionStatus;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * What every {@link ExecutionStore} promises, whatever keeps the records: round trips, listing, concurrent
 * writers, retention, a restart on the same data, an outage of the backend and the output caps. A subclass
 * per store says how to open it, how to make a record outlive its retention, how to take the backend away,
 * and how to see what the backend holds; cases that only one store has live in that subclass.
 */
abstract class ExecutionStoreContract {

    /** The backend stops answering until {@link #close()}. */
    interface Outage extends AutoCloseable {
        @Override
        void close() throws Exception;
    }

    /**
     * What the backend holds for one record.
     *
     * @param bytes       bytes of the record's stored result as the backend counts or holds them
     * @param outputState "full", "truncated" or "dropped"
     */
    record Stored(long bytes, String outputState) {
    }

    /** A store over this test's backend; each call opens it again on the same data (a restart). */
    protected abstract ExecutionStore open(OutputCaps caps);

    protected ExecutionStore open() {
        return open(OutputCaps.DEFAULTS);
    }

    /**
     * Makes {@code record} outlive its retention the way the backend would (SQLite: opened later than its
     * retention, which prunes it; Redis: its TTL runs out).
     *
     * @return the store to go on with (the same one, or the store opened again)
     */
    protected abstract ExecutionStore pastRetention(ExecutionStore store, ExecutionRecord record) throws Exception;

    /** Takes the backend away until the returned outage is closed. */
    protected abstract Outage outage() throws Exception;

    /** Whether a write during an outage is kept (and written later) rather than refused with an error. */
    protected abstract boolean keepsWritesDuringAnOutage();

    /** Whether {@link ExecutionStore#health()} reports the outage while it lasts. */
    protected abstract boolean healthSeesAnOutage();

    /** What the backend holds for a record, read past the store. */
    protected abstract Stored stored(ExecutionStore store, ExecutionRecord record) throws Exception;

    /** Bytes of stored results (JSON and compressed output) the backend counts over all records. */
    protected abstract long storedOutputBytes(ExecutionStore store) throws Exception;

    /**
     * Overwrites, in the backend past the store, a record's stored result and output with bytes no decoder
     * takes: whatever reads them fails from then on.
     */
    protected abstract void corruptResult(ExecutionStore store, ExecutionRecord record) throws Exception;

    /** Overwrites, in the backend past the store, a record's stored request with text no JSON reader takes. */
    protected abstract void corruptRequest(ExecutionStore store, ExecutionRecord record) throws Exception;

    /** Everything the backend holds (for this record, or in all), as text: to show what it never keeps. */
    protected abstract String rawBackend(ExecutionStore store, ExecutionRecord record) throws Exception;

    /** A password in the backend's address, which no message may show; null when there is none. */
    protected String secret() {
        return null;
    }

    private void showsNoSecret(String text) {
        if (secret() != null) {
            assertThat(text).doesNotContain(secret());
        }
    }

    @Test
    void startThenEndRoundTripsEveryField() {
        try (ExecutionStore store = open()) {
            ExecutionRecord start = Records.started("alice", Instant.now());
            store.recordStart(start);
            assertThat(store.find(start.executionId())).contains(start);
            assertThat(store.find(start.executionId()).orElseThrow().status()).isEqualTo(ExecutionStatus.RUNNING);
            assertThat(store.running()).containsExactly(start);

            ExecutionRecord end = Records.ended(start);
            store.recordEnd(end);
            ExecutionRecord found = store.find(start.executionId()).orElseThrow();
            assertThat(found).isEqualTo(end);
            assertThat(found.result()).isEqualTo(end.result());
            assertThat(found.securityEvents().get(0).details()).isEqualTo(end.securityEvents().get(0).details());
            assertThat(found.outputBytes()).isEqualTo(end.outputBytes()).isPositive();
            assertThat(store.running()).isEmpty();
            assertThat(store.find("no-such-id")).isEmpty();
            assertThat(store.health().ok()).isTrue();
            assertThat(store.pendingWrites()).isZero();
            assertThat(store.degraded()).isFalse();
        }
    }

    @Test
    void theNodeThatRanItRoundTripsIntoListingsAndARecordWithoutOneHasNone() {
        ExecutionRecord start = Records.started("alice", Instant.now()).withNode("node-b.example");
        ExecutionRecord plain = Records.started("alice", Instant.now().minusSeconds(5));
        try (ExecutionStore store = open()) {
            store.recordStart(start);
            store.recordStart(plain);
            assertThat(store.find(start.executionId())).contains(start);
            ExecutionRecord end = Records.ended(start);
            assertThat(end.node()).as("an end keeps the node").isEqualTo("node-b.example");
            store.recordEnd(end);
            assertThat(store.find(start.executionId()).orElseThrow().node()).isEqualTo("node-b.example");
            assertThat(store.find(start.executionId()).orElseThrow().cutOff("x", Instant.now()).node())
                    .isEqualTo("node-b.example");
            assertThat(store.list("alice", 10)).extracting(ExecutionRecord::node)
                    .containsExactly("node-b.example", null);
            assertThat(store.listSummaries("alice", 10)).extracting(ExecutionRecord::node)
                    .containsExactly("node-b.example", null);
            assertThat(store.find(plain.executionId()).orElseThrow().node()).isNull();
        }
        try (ExecutionStore store = open()) {
            assertThat(store.find(start.executionId()).orElseThrow().node()).as("after a restart")
                    .isEqualTo("node-b.example");
        }
    }

    @Test
    void anEndWithoutAStartIsStored() {
        try (ExecutionStore store = open()) {
            ExecutionRecord end = Records.ended(Records.started("alice", Instant.now()));
            store.recordEnd(end);
            assertThat(store.find(end.executionId())).contains(end);
            assertThat(store.running()).isEmpty();
        }
    }

    @Test
    void listsByUserNewestFirstWithLimitAndRunningOldestFirst() {
        // Recent start times: Redis drops index entries older than its TTL.
        Instant t0 = Instant.now().minusSeconds(600);
        List<ExecutionRecord> alice = new ArrayList<>();
        List<ExecutionRecord> bob = new ArrayList<>();
        try (ExecutionStore store = open()) {
            for (int i = 0; i < 5; i++) {
                ExecutionRecord a = Records.started("alice", t0.plusSeconds(i));
                store.recordStart(a);
                alice.add(Records.ended(a));
                store.recordEnd(alice.get(i));
                bob.add(Records.started("bob", t0.plusSeconds(i).plusMillis(500)));
                store.recordStart(bob.get(i));
            }
            assertThat(store.list("alice", 3)).containsExactly(alice.get(4), alice.get(3), alice.get(2));
            assertThat(store.list("alice", 100)).hasSize(5).allMatch(r -> r.userId().equals("alice"));
            assertThat(store.list("bob", 100)).hasSize(5).allMatch(r -> r.userId().equals("bob"));
            List<ExecutionRecord> all = store.list(null, 4);
            assertThat(all).hasSize(4).isSortedAccordingTo((a, b) -> b.startedAt().compareTo(a.startedAt()));
            assertThat(all.get(0)).isEqualTo(bob.get(4));
            assertThat(store.running()).as("only the unfinished, oldest first").containsExactlyElementsOf(bob);
            assertThat(store.list("carol", 10)).isEmpty();
            assertThatThrownBy(() -> store.list(null, 0)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void summariesAreTheListWithoutResultsInTheSameOrderUnderTheSameLimit() {
        Instant t0 = Instant.now().minusSeconds(600);
        try (ExecutionStore store = open()) {
            for (int i = 0; i < 6; i++) {
                ExecutionRecord a = Records.started("alice", t0.plusSeconds(i));
                store.recordStart(a);
                if (i % 3 != 2) {
                    store.recordEnd(Records.ended(a));
                }
                store.recordEnd(Records.ended("bob", t0.plusSeconds(i).plusMillis(500), noise(2000, i), "err " + i));
            }
            for (String user : new String[] {"alice", "bob", null}) {
                List<ExecutionRecord> full = store.list(user, 100);
                assertThat(full).as("records of %s", user).hasSize(user == null ? 12 : 6);
                assertThat(store.listSummaries(user, 100)).as("summaries of %s", user)
                        .containsExactlyElementsOf(full.stream().map(ExecutionRecord::withoutResult).toList())
                        .allMatch(r -> r.result() == null)
                        .isSortedAccordingTo((a, b) -> b.startedAt().compareTo(a.startedAt()));
                for (int limit : new int[] {1, 3, 5}) {
                    assertThat(store.listSummaries(user, limit)).as("%s, limit %d", user, limit)
                            .containsExactlyElementsOf(store.list(user, limit).stream()
                                    .map(ExecutionRecord::withoutResult).toList());
                }
            }
            ExecutionRecord newest = store.listSummaries(null, 1).get(0);
            assertThat(newest.userId()).isEqualTo("bob");
            assertThat(newest.outputBytes()).as("the output's size stays").isEqualTo(2000 + "err 5".length());
            assertThat(newest.securityEvents()).isEmpty();
            List<ExecutionRecord> alice = store.listSummaries("alice", 2);
            assertThat(alice.get(0).status()).isEqualTo(ExecutionStatus.RUNNING);
            assertThat(alice.get(1).status()).isEqualTo(ExecutionStatus.COMPLETED);
            assertThat(alice.get(1).exitCode()).isEqualTo(3);
            assertThat(alice.get(1).securityEvents()).as("kept in a summary").hasSize(2);
            assertThat(store.listSummaries("carol", 10)).isEmpty();
            assertThatThrownBy(() -> store.listSummaries(null, 0)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> store.listSummaries("alice", -1)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void aRecordWithALargeOutputIsListedWithoutIt() {
        Instant t0 = Instant.now().minusSeconds(60);
        ExecutionRecord small = Records.ended(Records.started("alice", t0));
        ExecutionRecord large = Records.ended("alice", t0.plusSeconds(1), noise(3 * (int) MIB, 7), noise(100_000, 8));
        try (ExecutionStore store = open()) {
            store.recordEnd(small);
            store.recordEnd(large);
            assertThat(store.find(large.executionId()).orElseThrow().result().stdout()).as("stored, capped")
                    .hasSizeGreaterThan((int) MIB);
            List<ExecutionRecord> listed = store.listSummaries("alice", 10);
            assertThat(listed).containsExactly(large.withoutResult(), small.withoutResult());
            assertThat(listed.get(0).result()).isNull();
            assertThat(listed.get(0).outputBytes()).isEqualTo(3 * MIB + 100_000);
            assertThat(store.listSummaries(null, 1)).containsExactly(large.withoutResult());
        }
    }

    @Test
    void summariesNeverReadTheResultOrTheOutput() throws Exception {
        Instant t0 = Instant.now().minusSeconds(60);
        ExecutionRecord intact = Records.ended(Records.started("alice", t0));
        ExecutionRecord corrupt = Records.ended("alice", t0.plusSeconds(1), noise(50_000, 3), "err");
        try (ExecutionStore store = open()) {
            store.recordEnd(intact);
            store.recordEnd(corrupt);
            corruptResult(store, corrupt);
            assertThat(store.listSummaries("alice", 10)).as("the listing without results does not see the damage")
                    .containsExactly(corrupt.withoutResult(), intact.withoutResult());
            assertThat(store.listSummaries(null, 10)).containsExactly(corrupt.withoutResult(),
                    intact.withoutResult());
            assertThatThrownBy(() -> store.list("alice", 10)).as("a listing with results reads it")
                    .isInstanceOf(ExecutionStoreException.class);
            assertThat(store.listSummaries("alice", 10)).hasSize(2);
        }
    }

    @Test
    void theRequestSummaryRoundTripsThroughStartAndEndButNotIntoListings() throws Exception {
        ExecutionRecord start = Records.startedWithRequest("alice", Instant.now());
        RequestSummary request = start.request();
        assertThat(request.code()).isEqualTo("print('héllo ✓ <b>')\n");
        assertThat(request.envNames()).containsExactly("LANG", "SECRET_TOKEN");
        try (ExecutionStore store = open()) {
            store.recordStart(start);
            assertThat(store.find(start.executionId())).contains(start);
            assertThat(store.running()).containsExactly(start);
            ExecutionRecord end = Records.ended(start);
            assertThat(end.request()).as("an end keeps what was asked").isEqualTo(request);
            store.recordEnd(end);
            ExecutionRecord found = store.find(start.executionId()).orElseThrow();
            assertThat(found).isEqualTo(end);
            assertThat(found.request()).isEqualTo(request);
            assertThat(found.request().files()).extracting(RequestSummary.FileEntry::name)
                    .containsExactly("b.csv", "data/in.txt");
            assertThat(found.request().limits()).isEqualTo(request.limits()).isNotNull();
            assertThat(found.cutOff("gone", Instant.now()).request()).isEqualTo(request);
            assertThat(store.list("alice", 10)).containsExactly(end);
            assertThat(store.listSummaries("alice", 10)).as("a listing leaves the request out")
                    .containsExactly(end.summary());
            assertThat(store.listSummaries(null, 10).get(0).request()).isNull();

            String raw = rawBackend(store, end);
            assertThat(raw).as("what the backend holds has the code and the names").contains("SECRET_TOKEN")
                    .contains("data/in.txt");
            assertThat(raw).as("never an env value, stdin, file content or the callback's URL")
                    .doesNotContain(Records.SECRET);
        }
        try (ExecutionStore store = open()) {
            assertThat(store.find(start.executionId()).orElseThrow().request()).as("after a restart")
                    .isEqualTo(request);
        }
    }

    @Test
    void aLongCodeIsStoredCutOnACharacterBoundaryWithItsSize() {
        String code = "# " + "é✓".repeat(20_000) + "\n"; // 2 + 100000 + 1 bytes
        ExecutionRecord start = Records.started("alice", Instant.now())
                .withRequest(RequestSummary.of(Records.request(code)));
        try (ExecutionStore store = open()) {
            store.recordStart(start);
            RequestSummary back = store.find(start.executionId()).orElseThrow().request();
            assertThat(back.codeTruncated()).isTrue();
            assertThat(back.codeBytes()).isEqualTo(100_003);
            assertThat(back.code().getBytes(StandardCharsets.UTF_8).length).as("whole characters up to the cap")
                    .isBetween(RequestSummary.MAX_CODE_BYTES - 2, RequestSummary.MAX_CODE_BYTES);
            assertThat(code).startsWith(back.code());
            assertThat(back).isEqualTo(start.request());
        }
    }

    @Test
    void summariesNeverReadTheRequest() throws Exception {
        Instant t0 = Instant.now().minusSeconds(60);
        ExecutionRecord plain = Records.ended(Records.started("alice", t0));
        ExecutionRecord asked = Records.ended(Records.startedWithRequest("alice", t0.plusSeconds(1)));
        try (ExecutionStore store = open()) {
            store.recordEnd(plain);
            store.recordEnd(asked);
            corruptRequest(store, asked);
            assertThat(store.listSummaries("alice", 10)).as("the listing does not see the damage")
                    .containsExactly(asked.summary(), plain.summary());
            assertThat(store.listSummaries(null, 10)).containsExactly(asked.summary(), plain.summary());
            assertThatThrownBy(() -> store.find(asked.executionId())).as("a find reads it")
                    .isInstanceOf(ExecutionStoreException.class);
            assertThat(store.find(plain.executionId())).contains(plain);
        }
    }

    @Test
    void aRecordWithoutAStartTimeIsRefused() {
        try (ExecutionStore store = open()) {
            ExecutionRecord noStart = new ExecutionRecord("x", "u", null, null, null, null, null, null, null, null,
                    ExecutionStatus.RUNNING, null, 0, 0, null, null);
            assertThatThrownBy(() -> store.recordStart(noStart)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("startedAt");
            assertThat(store.find("x")).isEmpty();
        }
    }

    @Test
    void concurrentWritesFromTwentyThreadsAreAllStored() throws Exception {
        try (ExecutionStore store = open(); ExecutorService pool = Executors.newFixedThreadPool(20)) {
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
            assertThat(store.list(null, 1000)).hasSize(500);
            for (ExecutionRecord r : written) {
                assertThat(store.find(r.executionId())).contains(r);
            }
            assertThat(store.list("user-7", 100)).hasSize(25);
            assertThat(store.running()).isEmpty();
        }
    }

    @Test
    void aRecordPastItsRetentionIsGoneAndTheOthersStay() throws Exception {
        Instant now = Instant.now();
        ExecutionRecord old = Records.ended(Records.started("alice", now.minusSeconds(60)));
        ExecutionRecord recent = Records.ended(Records.started("alice", now));
        ExecutionStore store = open();
        try {
            store.recordEnd(old);
            store.recordEnd(recent);
            store = pastRetention(store, old);
            assertThat(store.find(old.executionId())).isEmpty();
            assertThat(store.find(recent.executionId())).contains(recent);
            assertThat(store.list("alice", 10)).containsExactly(recent);
            assertThat(store.list(null, 10)).containsExactly(recent);
            assertThat(store.listSummaries("alice", 10)).containsExactly(recent.withoutResult());
            assertThat(store.listSummaries(null, 10)).containsExactly(recent.withoutResult());
        } finally {
            store.close();
        }
    }

    @Test
    void recordsSurviveARestart() {
        ExecutionRecord start = Records.started("alice", Instant.now());
        ExecutionRecord other = Records.started("bob", Instant.now().plusMillis(1));
        try (ExecutionStore store = open()) {
            store.recordStart(start);
            store.recordEnd(Records.ended(start));
            store.recordStart(other);
        }
        try (ExecutionStore store = open()) {
            assertThat(store.find(start.executionId())).contains(Records.ended(start));
            assertThat(store.running()).as("what a crashed process left running").containsExactly(other);
            assertThat(store.list(null, 10)).containsExactly(other, Records.ended(start));
            store.recordEnd(Records.ended(other));
            assertThat(store.running()).isEmpty();
        }
    }

    @Test
    void aWriteDuringAnOutageIsKeptOrRefusedLoudlyAndTheStoreRecovers() throws Exception {
        ExecutionRecord before = Records.ended(Records.started("alice", Instant.now().minusSeconds(5)));
        ExecutionRecord during = Records.startedWithRequest("alice", Instant.now());
        try (ExecutionStore store = open()) {
            store.recordEnd(before);
            try (Outage outage = outage()) {
                boolean kept;
                try {
                    store.recordStart(during);
                    kept = true;
                } catch (ExecutionStoreException e) {
                    kept = false;
                    assertThat(e.getMessage()).as("the error says what failed").contains(during.executionId());
                    showsNoSecret(e.getMessage());
                }
                assertThat(kept).as("write during the outage kept").isEqualTo(keepsWritesDuringAnOutage());
                StoreHealth health = store.health();
                showsNoSecret(health.detail());
                if (healthSeesAnOutage()) {
                    assertThat(health.ok()).as(health.detail()).isFalse();
                    assertThat(store.degraded()).isTrue();
                }
                if (kept) {
                    assertThat(store.find(during.executionId())).as("readable meanwhile").contains(during);
                    assertThat(store.pendingWrites()).isEqualTo(1);
                }
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> store.health().ok());
            assertThat(store.pendingWrites()).isZero();
            assertThat(store.find(before.executionId())).contains(before);
            if (keepsWritesDuringAnOutage()) {
                assertThat(store.running()).as("written once the backend answered").containsExactly(during);
            } else {
                assertThat(store.find(during.executionId())).isEmpty();
                store.recordStart(during);
            }
            store.recordEnd(Records.ended(during));
            assertThat(store.list("alice", 10)).containsExactly(Records.ended(during), before);
            assertThat(store.find(during.executionId()).orElseThrow().request()).as("the request went along")
                    .isEqualTo(during.request()).isNotNull();
            assertThat(store.listSummaries("alice", 10))
                    .containsExactly(Records.ended(during).summary(), before.summary());
            assertThat(store.running()).isEmpty();
        }
    }

    @Test
    void aFloodOfControlBytesIsStoredCappedAndCompressedWithAMarker() throws Exception {
        String flood = controlFlood(10 * (int) MIB, 1);
        ExecutionRecord end = Records.ended("alice", Instant.now(), flood, "short\n");
        try (ExecutionStore store = open(OutputCaps.DEFAULTS)) {
            store.recordEnd(end);
            ExecutionRecord found = store.find(end.executionId()).orElseThrow();
            ExecutionResult back = found.result();
            String kept = flood.substring(0, (int) MIB);
            String marker = StoredResults.truncatedMarker("stdout", MIB, 10 * MIB);
            assertThat(back.stdout()).startsWith(kept).endsWith(marker).hasSize(kept.length() + marker.length());
            assertThat(back.stdoutTruncated()).as("the stored stdout says it is cut").isTrue();
            assertThat(back.stderr()).isEqualTo("short\n");
            assertThat(back.stderrTruncated()).isFalse();
            assertThat(back.exitCode()).isZero();
            assertThat(back.status()).isEqualTo(ExecutionStatus.COMPLETED);
            assertThat(found.outputBytes()).as("how much the program printed").isEqualTo(10 * MIB + 6);
            assertThat(store.list("alice", 5)).extracting(ExecutionRecord::executionId)
                    .containsExactly(end.executionId());
            // 1 MiB of control bytes, compressed: far below the 6 MiB of JSON escapes it would make.
            Stored stored = stored(store, end);
            assertThat(stored.bytes()).isPositive().isLessThan(MIB);
            assertThat(stored.outputState()).isEqualTo("truncated");
            assertThat(storedOutputBytes(store)).isPositive().isLessThan(MIB);
        }
    }

    @Test
    void outputUnderTheCapRoundTripsExactly() {
        String text = "héllo ✓ 😀\u0000\u001b[31m\n" + noise(5000, 2);
        ExecutionRecord end = Records.ended("alice", Instant.now(), text, text);
        int size = text.getBytes(StandardCharsets.UTF_8).length;
        try (ExecutionStore store = open(new OutputCaps(size, MIB, MIB))) {
            store.recordEnd(end);
            assertThat(store.find(end.executionId())).contains(end);
        }
    }

    @Test
    void thePerUserAndTotalCapsDropTheOldestOutputs() throws Exception {
        Instant t0 = Instant.now().minusSeconds(600);
        long size = StoredResults.encode(Records.ended("alice", t0, noise(30_000, 0), "").result(), MIB)
                .storedBytes();
        // Room for 3.5 records per user and 5.5 in all; each ~30 KB record passes the 1/32 of a cap that makes
        // Redis check it.
        OutputCaps caps = new OutputCaps(64 * 1024, size * 7 / 2, size * 11 / 2);
        List<ExecutionRecord> alice = new ArrayList<>();
        List<ExecutionRecord> bob = new ArrayList<>();
        try (ExecutionStore store = open(caps)) {
            // Older than every ended one, and still running: never touched.
            ExecutionRecord running = Records.started("alice", t0.minusSeconds(60));
            store.recordStart(running);
            for (int i = 0; i < 8; i++) {
                ExecutionRecord r = Records.ended("alice", t0.plusSeconds(i), noise(30_000, i), "err " + i);
                store.recordEnd(r);
                alice.add(r);
            }
            for (int i = 0; i < 5; i++) {
                assertDropped(store, alice.get(i));
            }
            for (int i = 5; i < 8; i++) {
                assertThat(store.find(alice.get(i).executionId())).as("alice's record %d", i).contains(alice.get(i));
            }
            assertThat(store.find(running.executionId())).contains(running);
            assertThat(storedOutputBytes(store)).isLessThanOrEqualTo(caps.maxPerUser());

            for (int i = 0; i < 4; i++) {
                ExecutionRecord r = Records.ended("bob", t0.plusSeconds(100 + i), noise(30_000, 100 + i),
                        "err b" + i);
                store.recordEnd(r);
                bob.add(r);
            }
            // bob's oldest goes by the per-user cap (not alice's, older); then 3 + 3 pass the total, and the
            // oldest of anyone (alice's) goes.
            assertDropped(store, bob.get(0));
            for (int i = 1; i < 4; i++) {
                assertThat(store.find(bob.get(i).executionId())).as("bob's record %d", i).contains(bob.get(i));
            }
            assertDropped(store, alice.get(5));
            assertThat(store.find(alice.get(6).executionId())).contains(alice.get(6));
            assertThat(store.find(alice.get(7).executionId())).contains(alice.get(7));
            assertThat(storedOutputBytes(store)).isLessThanOrEqualTo(caps.maxTotal());
            // The records themselves stay.
            assertThat(store.list(null, 100)).hasSize(13);
            assertThat(stored(store, alice.get(0)).outputState()).isEqualTo("dropped");
        }
    }

    @Test
    void aSessionRoundTripsEveryFieldAndEachSaveOverwritesIt() {
        Instant t0 = Instant.parse("2030-01-02T03:04:05.123456789Z");
        SessionRecord opened = Records.session("alice", t0);
        try (ExecutionStore store = open()) {
            store.saveSession(opened);
            SessionRecord found = store.findSession(opened.sessionId()).orElseThrow();
            assertThat(found).isEqualTo(opened);
            assertThat(found.limits()).isEqualTo(opened.limits());
            assertThat(found.limits().timeout()).isEqualTo(Duration.ofSeconds(30));
            assertThat(found.envNames()).containsExactly("API_TOKEN", "LANG");
            assertThat(found.status()).isEqualTo(SessionStatus.OPEN);
            assertThat(found.closeReason()).isNull();
            assertThat(found.idleExpiresAt()).isEqualTo(t0.plusSeconds(600));
            store.saveSession(opened); // idempotent
            assertThat(store.listSessions(null, false, 10)).containsExactly(opened);

            SessionRecord used = opened.executed(t0.plusSeconds(5)).executed(t0.plusSeconds(9));
            store.saveSession(used);
            assertThat(store.findSession(opened.sessionId())).contains(used);
            assertThat(used.executions()).isEqualTo(2);
            assertThat(used.idleExpiresAt()).isEqualTo(t0.plusSeconds(609));

            SessionRecord closed = used.closed(SessionCloseReason.SERVER_RESTART, "sandbox gone", t0.plusSeconds(70));
            store.saveSession(closed);
            assertThat(store.findSession(opened.sessionId())).contains(closed);
            assertThat(closed.closed(SessionCloseReason.IDLE, "later", t0.plusSeconds(99)))
                    .as("the first close stays").isEqualTo(closed);
            assertThat(store.listSessions(null, false, 10)).containsExactly(closed);
            assertThat(store.findSession("no-such-session")).isEmpty();
            assertThat(store.health().ok()).isTrue();
        }
        try (ExecutionStore store = open()) {
            assertThat(store.findSession(opened.sessionId())).as("after a restart").map(SessionRecord::closeReason)
                    .contains(SessionCloseReason.SERVER_RESTART);
        }
    }

    @Test
    void aSessionThatIsNotConsistentIsRefused() {
        SessionRecord s = Records.session("alice", Instant.now());
        try (ExecutionStore store = open()) {
            SessionRecord closedWithoutReason = new SessionRecord(s.sessionId(), s.userId(), s.image(), s.runtime(),
                    s.securityLevel(), s.rootfs(), s.limits(), s.envNames(), s.createdAt(), s.expiresAt(),
                    s.idleTimeoutSeconds(), s.lastActiveAt(), SessionStatus.CLOSED, null, null, null,
                    s.sandboxName(), s.serverId(), 0);
            assertThatThrownBy(() -> store.saveSession(closedWithoutReason))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("closeReason");
            SessionRecord oddRoot = new SessionRecord(s.sessionId(), s.userId(), s.image(), s.runtime(),
                    s.securityLevel(), "rw", s.limits(), s.envNames(), s.createdAt(), s.expiresAt(),
                    s.idleTimeoutSeconds(), s.lastActiveAt(), s.status(), null, null, null, s.sandboxName(),
                    s.serverId(), 0);
            assertThatThrownBy(() -> store.saveSession(oddRoot)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("rootfs");
            assertThat(store.findSession(s.sessionId())).isEmpty();
        }
    }

    @Test
    void sessionsListNewestFirstByUserAndOpenOnly() {
        Instant t0 = Instant.now().minusSeconds(600);
        List<SessionRecord> alice = new ArrayList<>();
        List<SessionRecord> bob = new ArrayList<>();
        try (ExecutionStore store = open()) {
            for (int i = 0; i < 4; i++) {
                alice.add(Records.session("alice", t0.plusSeconds(i)));
                bob.add(Records.session("bob", t0.plusSeconds(i).plusMillis(500)));
                store.saveSession(alice.get(i));
                store.saveSession(bob.get(i));
            }
            // alice's 0 and 2 close.
            for (int i : new int[] {0, 2}) {
                alice.set(i, alice.get(i).closed(SessionCloseReason.IDLE, null, t0.plusSeconds(100 + i)));
                store.saveSession(alice.get(i));
            }
            assertThat(store.listSessions("alice", false, 10))
                    .containsExactly(alice.get(3), alice.get(2), alice.get(1), alice.get(0));
            assertThat(store.listSessions("alice", false, 2)).containsExactly(alice.get(3), alice.get(2));
            assertThat(store.listSessions("alice", true, 10)).containsExactly(alice.get(3), alice.get(1));
            assertThat(store.listSessions("alice", true, 1)).containsExactly(alice.get(3));
            assertThat(store.listSessions("bob", true, 10)).containsExactly(bob.get(3), bob.get(2), bob.get(1),
                    bob.get(0));
            List<SessionRecord> all = store.listSessions(null, false, 5);
            assertThat(all).containsExactly(bob.get(3), alice.get(3), bob.get(2), alice.get(2), bob.get(1));
            assertThat(store.listSessions(null, true, 100)).hasSize(6).allMatch(SessionRecord::isOpen);
            assertThat(store.listSessions("carol", false, 10)).isEmpty();
            assertThatThrownBy(() -> store.listSessions(null, false, 0)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void openSessionsAreEveryOpenOneOldestFirstAndSurviveARestart() {
        Instant t0 = Instant.now().minusSeconds(600);
        SessionRecord a = Records.session("alice", t0);
        SessionRecord b = Records.session("bob", t0.plusSeconds(1));
        SessionRecord c = Records.session("alice", t0.plusSeconds(2));
        try (ExecutionStore store = open()) {
            store.saveSession(c);
            store.saveSession(a);
            store.saveSession(b);
            assertThat(store.openSessions()).containsExactly(a, b, c);
            store.saveSession(b.closed(SessionCloseReason.CLOSED, "by its user", t0.plusSeconds(30)));
            assertThat(store.openSessions()).containsExactly(a, c);
        }
        try (ExecutionStore store = open()) {
            assertThat(store.openSessions()).as("what a restarted server takes back").containsExactly(a, c);
            store.saveSession(a.closed(SessionCloseReason.SERVER_RESTART, "container gone", Instant.now()));
            store.saveSession(c.closed(SessionCloseReason.EXPIRED, null, Instant.now()));
            assertThat(store.openSessions()).isEmpty();
            assertThat(store.listSessions(null, true, 10)).isEmpty();
            assertThat(store.listSessions(null, false, 10)).hasSize(3);
        }
    }

    @Test
    void listBySessionIsTheSessionsExecutionsNewestFirst() {
        Instant t0 = Instant.now().minusSeconds(600);
        SessionRecord s1 = Records.session("alice", t0);
        SessionRecord s2 = Records.session("alice", t0);
        List<ExecutionRecord> inS1 = new ArrayList<>();
        try (ExecutionStore store = open()) {
            store.saveSession(s1);
            store.saveSession(s2);
            for (int i = 0; i < 4; i++) {
                ExecutionRecord r = Records.inSession(s1.sessionId(), "alice", t0.plusSeconds(i));
                store.recordStart(ExecutionRecord.started(r.executionId(), "alice", s1.sessionId(), "host", "runc",
                        r.securityLevel(), r.command(), r.language(), r.startedAt()));
                store.recordEnd(r);
                inS1.add(r);
                store.recordEnd(Records.inSession(s2.sessionId(), "alice", t0.plusSeconds(i).plusMillis(300)));
                store.recordEnd(Records.ended(Records.started("alice", t0.plusSeconds(i))));
            }
            assertThat(store.listBySession(s1.sessionId(), 10))
                    .containsExactly(inS1.get(3), inS1.get(2), inS1.get(1), inS1.get(0));
            assertThat(store.listBySession(s1.sessionId(), 2)).containsExactly(inS1.get(3), inS1.get(2));
            assertThat(store.listBySession(s2.sessionId(), 10)).hasSize(4)
                    .allMatch(r -> r.sessionId().equals(s2.sessionId()));
            assertThat(store.listBySession("no-such-session", 10)).isEmpty();
            assertThatThrownBy(() -> store.listBySession(s1.sessionId(), 0))
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void aSessionWithHostileTextIsStoredAsItIsAndItsCloseDetailIsBounded() {
        String hostile = "a\u0001\u001b[2J\r\n\t\u007f\u2028😀'\";--";
        String id = "s-" + hostile + "-" + java.util.UUID.randomUUID();
        String detail = "x\u0000\u0007" + "é".repeat(100 * 1024) + "😀";
        SessionRecord s = SessionRecord.opened(id, "user:" + hostile, "img" + hostile, "runc", null,
                SessionRecord.READ_ONLY, null, List.of("A" + hostile), Instant.now(), null, 0, "box" + hostile,
                "srv" + hostile).closed(SessionCloseReason.FAILED, detail, Instant.now().plusSeconds(1));
        assertThat(s.closeDetail()).hasSize(SessionRecord.MAX_CLOSE_DETAIL).startsWith("x\u0000\u0007é")
                .endsWith("[cut]");
        try (ExecutionStore store = open()) {
            store.saveSession(s);
            assertThat(store.findSession(id)).contains(s);
            assertThat(store.listSessions("user:" + hostile, false, 10)).containsExactly(s);
            assertThat(s.idleExpiresAt()).as("no idle timeout").isNull();
            ExecutionRecord r = Records.inSession(id, "user:" + hostile, Instant.now());
            store.recordEnd(r);
            assertThat(store.listBySession(id, 10)).containsExactly(r);
        }
    }

    @Test
    void aCloseDetailCutBetweenASurrogatePairKeepsWholeCharacters() {
        String detail = "a".repeat(SessionRecord.MAX_CLOSE_DETAIL - 7) + "😀".repeat(10);
        SessionRecord s = Records.session("alice", Instant.now()).closed(SessionCloseReason.FAILED, detail,
                Instant.now());
        assertThat(s.closeDetail().length()).isLessThanOrEqualTo(SessionRecord.MAX_CLOSE_DETAIL);
        String kept = s.closeDetail().substring(0, s.closeDetail().length() - " [cut]".length());
        assertThat(kept.codePoints().filter(c -> c >= 0xD800 && c <= 0xDFFF).count()).as("no half character").isZero();
        assertThat(SessionCloseReason.SERVER_RESTART.wireName()).isEqualTo("server_restart");
        assertThat(SessionCloseReason.parse("idle")).isEqualTo(SessionCloseReason.IDLE);
    }

    /** The record lost its output to a cap; everything else about it stays. */
    private static void assertDropped(ExecutionStore store, ExecutionRecord r) {
        ExecutionRecord back = store.find(r.executionId()).orElseThrow();
        assertThat(back.result().stdout()).as(r.userId() + " " + r.startedAt())
                .isEqualTo(StoredResults.droppedMarker("stdout"));
        assertThat(back.result().stderr()).isEqualTo(StoredResults.droppedMarker("stderr"));
        assertThat(back.result().stdoutTruncated()).isTrue();
        assertThat(back.result().stderrTruncated()).isTrue();
        assertThat(back.status()).isEqualTo(r.status());
        assertThat(back.result().exitCode()).isZero();
        assertThat(back.outputBytes()).isEqualTo(r.outputBytes());
    }
}
