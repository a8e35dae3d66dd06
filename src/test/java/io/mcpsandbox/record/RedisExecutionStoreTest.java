package io.mcpsandbox.record;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.SessionCloseReason;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.testing.SystemTest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/**
 * The contract on Redis alone (no fallback), and what only Redis does (hash layout, TTLs, index trimming).
 * One redis-server for the class, with a password and an append-only file so a kill and restart keeps
 * what it acknowledged; a Redis-only store refuses writes while it is down.
 */
@SystemTest
class RedisExecutionStoreTest extends ExecutionStoreContract {
    static final Duration TTL = Duration.ofHours(2);
    static final String PASSWORD = "s3cret-pw";
    private static Path serverDir;
    private static RedisServerProcess server;

    @BeforeAll
    static void startRedis() throws Exception {
        serverDir = Files.createTempDirectory("redis-store-test");
        server = new RedisServerProcess(serverDir, true, PASSWORD).start();
    }

    @AfterAll
    static void stopRedis() throws Exception {
        if (server != null) {
            server.close();
        }
        DeleteTree.delete(serverDir);
    }

    @BeforeEach
    void runningAndEmpty() throws Exception {
        server.ensureRunning();
        try (Jedis jedis = server.client()) {
            jedis.flushAll();
        }
    }

    @Override
    protected RedisExecutionStore open(OutputCaps caps) {
        return new RedisExecutionStore(server.url(), TTL, Duration.ofSeconds(2), 8, caps);
    }

    @Override
    protected RedisExecutionStore open() {
        return open(OutputCaps.DEFAULTS);
    }

    @Override
    protected ExecutionStore pastRetention(ExecutionStore store, ExecutionRecord record) {
        return expire(server, store, record);
    }

    /** The record's TTL runs out (1 ms left), as Redis would do after {@link #TTL}. */
    static ExecutionStore expire(RedisServerProcess server, ExecutionStore store, ExecutionRecord record) {
        String key = RedisExecutionStore.key(record.executionId());
        try (Jedis jedis = server.client()) {
            assertThat(jedis.pexpire(key, 1)).isEqualTo(1);
            await().atMost(Duration.ofSeconds(5)).until(() -> !jedis.exists(key));
        }
        return store;
    }

    /** redis-server killed (as a crash would), started again on the same port and files. */
    @Override
    protected Outage outage() throws Exception {
        server.kill();
        return server::start;
    }

    @Override
    protected boolean keepsWritesDuringAnOutage() {
        return false;
    }

    @Override
    protected boolean healthSeesAnOutage() {
        return true;
    }

    @Override
    protected Stored stored(ExecutionStore store, ExecutionRecord record) {
        return stored(server, record);
    }

    static Stored stored(RedisServerProcess server, ExecutionRecord record) {
        String key = RedisExecutionStore.key(record.executionId());
        try (Jedis jedis = server.client()) {
            long memory = jedis.memoryUsage(key.getBytes(StandardCharsets.UTF_8));
            assertThat(jedis.ttl(key)).as("a record keeps its TTL whatever happens to its output").isPositive();
            return new Stored(memory, jedis.hget(key, "outputState"));
        }
    }

    /** Garbage in the hash's result and output fields. */
    @Override
    protected void corruptResult(ExecutionStore store, ExecutionRecord record) {
        RedisExecutionStoreTest.corruptResult(server, record);
    }

    @Override
    protected long storedOutputBytes(ExecutionStore store) {
        return store.sizeBytes();
    }

    @Override
    protected void corruptRequest(ExecutionStore store, ExecutionRecord record) {
        corruptRequest(server, record);
    }

    static void corruptRequest(RedisServerProcess server, ExecutionRecord record) {
        String key = RedisExecutionStore.key(record.executionId());
        try (Jedis jedis = server.client()) {
            assertThat(jedis.hexists(key, "request")).isTrue();
            jedis.hset(key, "request", "{not json");
        }
    }

    /** Every field of the record's hash, as text. */
    @Override
    protected String rawBackend(ExecutionStore store, ExecutionRecord record) {
        return raw(server, record);
    }

    static String raw(RedisServerProcess server, ExecutionRecord record) {
        StringBuilder all = new StringBuilder();
        try (Jedis jedis = server.client()) {
            for (Map.Entry<byte[], byte[]> e : jedis.hgetAll(RedisExecutionStore.key(record.executionId())
                    .getBytes(StandardCharsets.UTF_8)).entrySet()) {
                all.append(new String(e.getKey(), StandardCharsets.UTF_8)).append('=')
                        .append(new String(e.getValue(), StandardCharsets.UTF_8)).append('\n');
            }
        }
        assertThat(all).as("the record's hash").isNotEmpty();
        return all.toString();
    }

    static void corruptResult(RedisServerProcess server, ExecutionRecord record) {
        byte[] key = RedisExecutionStore.key(record.executionId()).getBytes(StandardCharsets.UTF_8);
        try (Jedis jedis = server.client()) {
            assertThat(jedis.exists(key)).isTrue();
            jedis.hset(key, "result".getBytes(StandardCharsets.UTF_8), "{not json".getBytes(StandardCharsets.UTF_8));
            jedis.hset(key, RedisExecutionStore.OUTPUT_FIELD.getBytes(StandardCharsets.UTF_8),
                    new byte[] {0x1f, (byte) 0x8b, 0, 1, 2, 3});
        }
    }

    @Override
    protected String secret() {
        return PASSWORD;
    }

    @Test
    void recordsAreHashesWithIndexes() {
        ExecutionRecord start = Records.started("alice", Instant.now());
        try (RedisExecutionStore store = open()) {
            store.recordStart(start);
            store.recordEnd(Records.ended(start));
            assertThat(store.health().backend()).isEqualTo("redis");
        }
        try (Jedis jedis = server.client()) {
            Map<String, String> hash = jedis.hgetAll(RedisExecutionStore.key(start.executionId()));
            assertThat(hash).containsEntry("status", "completed").containsEntry("exitCode", "3")
                    .containsEntry("userId", "alice").containsEntry("securityLevel", "medium")
                    .containsEntry("runtime", "runc").containsKeys("startedAt", "endedAt", "result", "securityEvents",
                            "command", "durationMs", "outputBytes", "sessionId", "image", "language");
            assertThat(hash.get("startedAt")).isEqualTo(start.startedAt().toString());
            assertThat(jedis.zscore(RedisExecutionStore.ALL_INDEX, start.executionId()))
                    .isEqualTo((double) start.startedAt().toEpochMilli());
            assertThat(jedis.zscore(RedisExecutionStore.userIndex("alice"), start.executionId()))
                    .isEqualTo((double) start.startedAt().toEpochMilli());
            assertThat(jedis.scard(RedisExecutionStore.RUNNING_SET)).isZero();
        }
    }

    @Test
    void summariesAreReadByHmgetAndTheOutputNeverLeavesRedis() {
        assertThat(RedisExecutionStore.SUMMARY_FIELDS).doesNotContain("result", RedisExecutionStore.OUTPUT_FIELD,
                "outputState", "storedBytes");
        Instant t0 = Instant.now().minusSeconds(60);
        List<ExecutionRecord> alice = new ArrayList<>();
        try (RedisExecutionStore store = open(); Jedis jedis = server.client()) {
            for (int i = 0; i < 3; i++) {
                // Noise does not compress: each stored output is about 200 KB.
                alice.add(Records.ended("alice", t0.plusSeconds(i), Records.noise(250_000, i), ""));
                store.recordEnd(alice.get(i));
            }
            jedis.configResetStat();
            assertThat(store.listSummaries("alice", 10)).containsExactly(alice.get(2).withoutResult(),
                    alice.get(1).withoutResult(), alice.get(0).withoutResult());
            String commands = jedis.info("commandstats");
            assertThat(commands).contains("cmdstat_hmget:calls=3,").doesNotContain("cmdstat_hgetall")
                    .doesNotContain("cmdstat_hget:");
            assertThat(netOutputBytes(jedis)).as("what Redis sent for the listing").isLessThan(32 * 1024);

            jedis.configResetStat();
            assertThat(store.list("alice", 10)).containsExactly(alice.get(2), alice.get(1), alice.get(0));
            assertThat(netOutputBytes(jedis)).as("what Redis sent for the listing with results")
                    .isGreaterThan(3 * 150_000);
        }
    }

    private static long netOutputBytes(Jedis jedis) {
        for (String line : jedis.info("stats").split("\r?\n")) {
            if (line.startsWith("total_net_output_bytes:")) {
                return Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
            }
        }
        throw new AssertionError("no total_net_output_bytes in INFO stats");
    }

    @Test
    void everyRecordHasTheConfiguredTtl() {
        ExecutionRecord start = Records.started("alice", Instant.now());
        try (RedisExecutionStore store = open()) {
            store.recordStart(start);
            try (Jedis jedis = server.client()) {
                long ttl = jedis.ttl(RedisExecutionStore.key(start.executionId()));
                assertThat(ttl).isPositive().isLessThanOrEqualTo(TTL.toSeconds());
                assertThat(jedis.ttl(RedisExecutionStore.userIndex("alice"))).isPositive();
                jedis.expire(RedisExecutionStore.key(start.executionId()), 5);
            }
            store.recordEnd(Records.ended(start)); // the end renews the TTL
            try (Jedis jedis = server.client()) {
                assertThat(jedis.ttl(RedisExecutionStore.key(start.executionId())))
                        .isGreaterThan(TTL.toSeconds() - 60).isLessThanOrEqualTo(TTL.toSeconds());
            }
        }
    }

    @Test
    void listingDropsExpiredRecordsFromTheIndex() {
        Instant t0 = Instant.now().minusSeconds(600);
        List<ExecutionRecord> alice = new ArrayList<>();
        try (RedisExecutionStore store = open()) {
            for (int i = 0; i < 6; i++) {
                alice.add(Records.ended(Records.started("alice", t0.plusSeconds(i))));
                store.recordEnd(alice.get(i));
            }
            try (Jedis jedis = server.client()) {
                // As if its TTL had run out: listing skips it and drops it from the index.
                jedis.del(RedisExecutionStore.key(alice.get(5).executionId()));
                assertThat(store.list("alice", 3)).containsExactly(alice.get(4), alice.get(3), alice.get(2));
                assertThat(jedis.zscore(RedisExecutionStore.userIndex("alice"), alice.get(5).executionId())).isNull();
                assertThat(jedis.zcard(RedisExecutionStore.userIndex("alice"))).isEqualTo(5);
                // The listing without results skips an expired hash the same way.
                jedis.del(RedisExecutionStore.key(alice.get(4).executionId()));
                assertThat(store.listSummaries("alice", 3)).containsExactly(alice.get(3).withoutResult(),
                        alice.get(2).withoutResult(), alice.get(1).withoutResult());
                assertThat(jedis.zscore(RedisExecutionStore.userIndex("alice"), alice.get(4).executionId())).isNull();
            }
        }
    }

    @Test
    void anOpenSessionNeverExpiresAndAClosedOneLivesTheTtl() {
        SessionRecord open = Records.session("alice", Instant.now());
        String key = RedisExecutionStore.sessionKey(open.sessionId());
        try (RedisExecutionStore store = open(); Jedis jedis = server.client()) {
            store.saveSession(open);
            Map<String, String> hash = jedis.hgetAll(key);
            assertThat(hash).containsEntry("status", "open").containsEntry("rootfs", "writable")
                    .containsEntry("envNames", "[\"API_TOKEN\",\"LANG\"]").containsEntry("serverId", "server-1")
                    .doesNotContainKeys("closeReason", "closedAt");
            assertThat(jedis.ttl(key)).as("open: no TTL").isEqualTo(-1);
            assertThat(jedis.sismember(RedisExecutionStore.SESSIONS_OPEN, open.sessionId())).isTrue();
            assertThat(jedis.zscore(RedisExecutionStore.userSessions("alice"), open.sessionId()))
                    .isEqualTo((double) open.createdAt().toEpochMilli());
            assertThat(jedis.ttl(RedisExecutionStore.userSessions("alice")))
                    .as("the user's index outlives the open session's hard lifetime")
                    .isGreaterThan(TTL.toSeconds() + 3000);

            store.saveSession(open.closed(SessionCloseReason.IDLE, "idle 600s", Instant.now()));
            assertThat(jedis.hget(key, "closeReason")).isEqualTo("idle");
            assertThat(jedis.ttl(key)).isPositive().isLessThanOrEqualTo(TTL.toSeconds());
            assertThat(jedis.sismember(RedisExecutionStore.SESSIONS_OPEN, open.sessionId())).isFalse();

            ExecutionRecord r = Records.inSession(open.sessionId(), "alice", Instant.now());
            store.recordEnd(r);
            String index = RedisExecutionStore.sessionExecutions(open.sessionId());
            assertThat(jedis.zscore(index, r.executionId())).isEqualTo((double) r.startedAt().toEpochMilli());
            assertThat(jedis.ttl(index)).isPositive();
        }
    }

    @Test
    void expiredSessionsLeaveTheIndexesAndStaleOpenEntriesAreDropped() {
        SessionRecord old = Records.session("alice", Instant.now().minus(TTL).minus(Duration.ofDays(2)));
        SessionRecord oldOpen = Records.session("alice", old.createdAt().plusSeconds(1));
        try (RedisExecutionStore store = open(); Jedis jedis = server.client()) {
            store.saveSession(old.closed(SessionCloseReason.EXPIRED, null, Instant.now()));
            store.saveSession(oldOpen);
            jedis.del(RedisExecutionStore.sessionKey(old.sessionId())); // its TTL ran out
            store.saveSession(Records.session("alice", Instant.now())); // a write trims the old end
            assertThat(jedis.zscore(RedisExecutionStore.SESSIONS_INDEX, old.sessionId())).isNull();
            assertThat(jedis.zscore(RedisExecutionStore.userSessions("alice"), old.sessionId())).isNull();
            assertThat(jedis.zscore(RedisExecutionStore.SESSIONS_INDEX, oldOpen.sessionId()))
                    .as("an old session still open stays listed").isNotNull();
            assertThat(store.listSessions("alice", false, 10)).hasSize(2).contains(oldOpen);

            jedis.sadd(RedisExecutionStore.SESSIONS_OPEN, "gone");
            assertThat(store.openSessions()).hasSize(2).contains(oldOpen);
            assertThat(jedis.sismember(RedisExecutionStore.SESSIONS_OPEN, "gone")).isFalse();
        }
    }

    @Test
    void aDownRedisFailsFastAndNeverShowsThePassword() throws Exception {
        int port = RedisServerProcess.freePort();
        try (RedisExecutionStore store = new RedisExecutionStore("redis://:hunter2@127.0.0.1:" + port,
                TTL, Duration.ofMillis(500), 2)) {
            long t = System.nanoTime();
            assertThatThrownBy(() -> store.recordStart(Records.started("alice", Instant.now())))
                    .isInstanceOf(ExecutionStoreException.class)
                    .hasMessageContaining("127.0.0.1:" + port)
                    .hasMessageNotContaining("hunter2");
            assertThat(Duration.ofNanos(System.nanoTime() - t)).isLessThan(Duration.ofSeconds(2));
            assertThat(store.health().ok()).isFalse();
            assertThat(store.health().detail()).doesNotContain("hunter2").contains("***@127.0.0.1");
            assertThat(store.maskedUrl()).isEqualTo("redis://***@127.0.0.1:" + port);
        }
    }

    @Test
    void rejectsBadSettings() {
        assertThatThrownBy(() -> new RedisExecutionStore("http://:pw@host", TTL, Duration.ofMillis(500), 2))
                .isInstanceOf(IllegalArgumentException.class).hasMessageNotContaining("pw@");
        assertThatThrownBy(() -> new RedisExecutionStore(server.url(), Duration.ZERO, Duration.ofMillis(500), 2))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("records.redis.ttl");
    }
}
