package io.mcpsandbox.record;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.testing.SystemTest;
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
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.Jedis;

@SystemTest
class RedisExecutionStoreTest {
    private static final Duration TTL = Duration.ofHours(2);
    @TempDir
    static Path dir;
    private static RedisServerProcess server;

    @BeforeAll
    static void startRedis() throws Exception {
        server = new RedisServerProcess(dir, false, null).start();
    }

    @AfterAll
    static void stopRedis() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    @BeforeEach
    void flush() {
        try (Jedis jedis = server.client()) {
            jedis.flushAll();
        }
    }

    private static RedisExecutionStore store() {
        return new RedisExecutionStore(server.url(), TTL, Duration.ofMillis(500), 4);
    }

    @Test
    void startThenEndRoundTripsEveryField() {
        ExecutionRecord start = Records.started("alice", Instant.now());
        try (RedisExecutionStore store = store()) {
            store.recordStart(start);
            assertThat(store.find(start.executionId())).contains(start);
            assertThat(store.running()).containsExactly(start);

            ExecutionRecord end = Records.ended(start);
            store.recordEnd(end);
            assertThat(store.find(start.executionId())).contains(end);
            assertThat(store.running()).isEmpty();
            assertThat(store.find("no-such-id")).isEmpty();
            assertThat(store.health().ok()).isTrue();
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
        }
    }

    @Test
    void everyRecordHasTheConfiguredTtl() {
        ExecutionRecord start = Records.started("alice", Instant.now());
        try (RedisExecutionStore store = store()) {
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
    void indexesByUserAndTimeAndTrimsExpiredRecords() {
        Instant t0 = Instant.parse("2030-01-01T00:00:00Z");
        List<ExecutionRecord> alice = new ArrayList<>();
        try (RedisExecutionStore store = store()) {
            for (int i = 0; i < 6; i++) {
                ExecutionRecord a = Records.started("alice", t0.plusSeconds(i));
                alice.add(a);
                store.recordStart(a);
                store.recordEnd(Records.ended(a));
                store.recordStart(Records.started("bob", t0.plusSeconds(i).plusMillis(300)));
            }
            assertThat(store.list("alice", 3)).extracting(ExecutionRecord::executionId)
                    .containsExactly(alice.get(5).executionId(), alice.get(4).executionId(), alice.get(3).executionId());
            assertThat(store.list("bob", 100)).hasSize(6).allMatch(r -> r.userId().equals("bob"));
            List<ExecutionRecord> all = store.list(null, 5);
            assertThat(all).hasSize(5).isSortedAccordingTo((a, b) -> b.startedAt().compareTo(a.startedAt()));
            assertThat(all.get(0).userId()).isEqualTo("bob");
            assertThat(store.running()).hasSize(6).allMatch(r -> r.userId().equals("bob"));

            try (Jedis jedis = server.client()) {
                assertThat(jedis.zscore(RedisExecutionStore.userIndex("alice"), alice.get(0).executionId()))
                        .isEqualTo((double) t0.toEpochMilli());
                // As if its TTL had run out: listing skips it and drops it from the index.
                jedis.del(RedisExecutionStore.key(alice.get(5).executionId()));
                assertThat(store.list("alice", 3)).extracting(ExecutionRecord::executionId)
                        .containsExactly(alice.get(4).executionId(), alice.get(3).executionId(),
                                alice.get(2).executionId());
                assertThat(jedis.zscore(RedisExecutionStore.userIndex("alice"), alice.get(5).executionId())).isNull();
                assertThat(jedis.zcard(RedisExecutionStore.userIndex("alice"))).isEqualTo(5);
            }
            assertThat(store.list("nobody", 10)).isEmpty();
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
