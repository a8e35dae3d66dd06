package io.mcpsandbox.record;

import static io.mcpsandbox.record.StoredOutputCapsTest.MIB;
import static io.mcpsandbox.record.StoredOutputCapsTest.controlFlood;
import static io.mcpsandbox.record.StoredOutputCapsTest.ended;
import static io.mcpsandbox.record.StoredOutputCapsTest.noise;
import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.testing.SystemTest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.Jedis;

/** The Redis store keeps outputs compressed and capped, and enforces the per-user and total caps. */
@SystemTest
class RedisStoredOutputCapsTest {
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

    private static RedisExecutionStore store(OutputCaps caps) {
        return new RedisExecutionStore(server.url(), Duration.ofHours(2), Duration.ofSeconds(2), 4, caps);
    }

    @Test
    void aFloodOfControlBytesIsStoredCappedAndCompressed() {
        String flood = controlFlood(10 * (int) MIB, 5);
        ExecutionRecord end = ended("alice", Instant.now(), flood, "");
        try (RedisExecutionStore store = store(OutputCaps.DEFAULTS)) {
            store.recordEnd(end);
            ExecutionResult back = store.find(end.executionId()).orElseThrow().result();
            assertThat(back.stdout()).startsWith(flood.substring(0, (int) MIB))
                    .endsWith(StoredResults.truncatedMarker("stdout", MIB, 10 * MIB));
            assertThat(back.stdoutTruncated()).isTrue();
            assertThat(store.list("alice", 5)).extracting(ExecutionRecord::executionId).containsExactly(end.executionId());
            assertThat(store.sizeBytes()).isPositive().isLessThan(MIB);
        }
        try (Jedis jedis = server.client()) {
            byte[] key = RedisExecutionStore.key(end.executionId()).getBytes(StandardCharsets.UTF_8);
            long memory = jedis.memoryUsage(key);
            assertThat(memory).as("bytes Redis holds for the record").isLessThan(MIB);
            assertThat(jedis.hget(RedisExecutionStore.key(end.executionId()), "outputState")).isEqualTo("truncated");
        }
    }

    @Test
    void smallOutputsRoundTripExactly() {
        ExecutionRecord end = Records.ended(Records.started("alice", Instant.now()));
        try (RedisExecutionStore store = store(OutputCaps.DEFAULTS)) {
            store.recordEnd(end);
            assertThat(store.find(end.executionId())).contains(end);
        }
    }

    @Test
    void thePerUserAndTotalCapsDropTheOldestOutputs() {
        Instant t0 = Instant.now().minusSeconds(600);
        long size = StoredResults.encode(ended("alice", t0, noise(30_000, 0), "").result(), MIB).storedBytes();
        // Room for 3.5 records per user and 5.5 in all; each ~30 KB record passes the 1/32 that triggers a check.
        OutputCaps caps = new OutputCaps(64 * 1024, size * 7 / 2, size * 11 / 2);
        List<ExecutionRecord> alice = new ArrayList<>();
        List<ExecutionRecord> bob = new ArrayList<>();
        try (RedisExecutionStore store = store(caps)) {
            ExecutionRecord running = Records.started("alice", t0.minusSeconds(60));
            store.recordStart(running);
            for (int i = 0; i < 8; i++) {
                ExecutionRecord r = ended("alice", t0.plusSeconds(i), noise(30_000, i), "");
                store.recordEnd(r);
                alice.add(r);
            }
            for (int i = 0; i < 5; i++) {
                assertThat(dropped(store, alice.get(i))).as("alice's record %d lost its output", i).isTrue();
            }
            for (int i = 5; i < 8; i++) {
                assertThat(store.find(alice.get(i).executionId())).as("alice's record %d", i).contains(alice.get(i));
            }
            assertThat(store.find(running.executionId())).contains(running);
            assertThat(store.sizeBytes()).isLessThanOrEqualTo(caps.maxPerUser());

            for (int i = 0; i < 4; i++) {
                ExecutionRecord r = ended("bob", t0.plusSeconds(100 + i), noise(30_000, 100 + i), "");
                store.recordEnd(r);
                bob.add(r);
            }
            // bob's oldest goes by the per-user cap; then 3 + 3 pass the total, and alice's oldest goes.
            assertThat(dropped(store, bob.get(0))).as("bob's oldest lost its output").isTrue();
            for (int i = 1; i < 4; i++) {
                assertThat(store.find(bob.get(i).executionId())).as("bob's record %d", i).contains(bob.get(i));
            }
            assertThat(dropped(store, alice.get(5))).as("alice's record 5 lost its output").isTrue();
            assertThat(store.find(alice.get(6).executionId())).contains(alice.get(6));
            assertThat(store.find(alice.get(7).executionId())).contains(alice.get(7));
            assertThat(store.sizeBytes()).isLessThanOrEqualTo(caps.maxTotal());
            // The records themselves stay, with their TTL.
            assertThat(store.list(null, 100)).hasSize(13);
        }
        try (Jedis jedis = server.client()) {
            assertThat(jedis.ttl(RedisExecutionStore.key(alice.get(0).executionId()))).isPositive();
            assertThat(jedis.hget(RedisExecutionStore.key(alice.get(0).executionId()), "outputState")).isEqualTo("dropped");
        }
    }

    private static boolean dropped(ExecutionStore store, ExecutionRecord r) {
        ExecutionResult back = store.find(r.executionId()).orElseThrow().result();
        return back.stdout().equals(StoredResults.droppedMarker("stdout")) && back.stdoutTruncated()
                && back.exitCode() != null && back.status() == r.status();
    }
}
