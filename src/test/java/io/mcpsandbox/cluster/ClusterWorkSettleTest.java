package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.execution.Admission;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.record.RedisExecutionStore;
import io.mcpsandbox.record.RedisServerExtension;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.StreamEntryID;
import redis.clients.jedis.Transaction;
import redis.clients.jedis.args.ClientType;
import redis.clients.jedis.params.ClientKillParams;
import redis.clients.jedis.params.XReadGroupParams;

/**
 * A worker whose Redis failed settles what it had taken, on a real redis-server with one real node (B) whose
 * executions are played by a starter that records them. Entries in B's pending list that a lost answer left there
 * (a read, a claim or an acknowledgement that did not come back) are each settled once Redis fails B's connections:
 * one nobody claimed runs, one claimed by B but never started runs, one that ended on B is acknowledged and its
 * origin told, one its origin withdrew is acknowledged and never runs. Nothing stays pending, nothing runs twice.
 * And as an origin, B withdraws at once a spilled request whose entry Redis came back without.
 */
class ClusterWorkSettleTest {
    private static final String SECRET = "settle-test-secret-0123456789abcdef-01";
    private static final ClusterSecret KEY = ClusterSecret.of(SECRET);
    @RegisterExtension
    static final RedisServerExtension redis = new RedisServerExtension();
    private ClusterNode self;
    private RedisExecutionStore store;
    private Admission admission;
    private ClusterWork work;
    private final Queue<String> started = new ConcurrentLinkedQueue<>();

    @BeforeEach
    void node() throws Exception {
        redis.ensureRunning();
        try (Jedis j = redis.client()) {
            j.flushAll();
        }
        ClusterSettings settings = new ClusterSettings(redis.url(), KEY, null, null, Duration.ofMillis(200),
                Duration.ofMillis(1000));
        self = ClusterNode.open(settings, "node-b", "test", Clock.systemUTC());
        store = new RedisExecutionStore(redis.url(), Duration.ofHours(1), Duration.ofSeconds(2), 2);
        admission = new Admission(1, 10, 10, Duration.ofSeconds(5));
        work = new ClusterWork(self, new ClusterWork.Setup(redis.url(), Duration.ofSeconds(30), Duration.ofSeconds(30),
                "runc", id -> false, id -> false, null), admission, store, (id, request, permit) -> {
                    started.add(id);
                    ranToTheEnd(id);
                    permit.close();
                    work.ended(id);
                    return CompletableFuture.completedFuture(store.find(id).orElseThrow().result());
                }, new SimpleMeterRegistry());
        work.start();
        self.start("http://127.0.0.1:1", () -> new NodeReport(List.of("runc"), List.of(), 1, admission.running(), 0));
        try (Jedis j = redis.client()) {
            await().atMost(Duration.ofSeconds(10)).until(() -> j.exists(ClusterWork.streamKey("runc")));
        }
    }

    @AfterEach
    void close() {
        work.close();
        admission.close();
        store.close();
        self.close();
    }

    private void ranToTheEnd(String id) {
        ExecutionRecord record = ExecutionRecord.started(id, "alice", null, "img", "runc", SecurityLevel.MEDIUM,
                List.of("sh", "-c", "echo 1"), null, Instant.now());
        store.recordStart(record);
        store.recordEnd(record.ended(ExecutionResult.running(id, "runc", SecurityLevel.MEDIUM, "img", 1)
                .withOutput("1\n", "").withStatus(ExecutionStatus.COMPLETED, 0, null), Instant.now()));
    }

    private static Map<String, String> entry(String id) {
        ExecutionRequest request = ExecutionRequest.builder().command("sh", "-c", "echo 1").userId("alice").build();
        return WorkEntry.fields(id, "node-a", System.currentTimeMillis(), WorkEntry.json(request), KEY);
    }

    /**
     * B as an origin: after a Redis failure, a spilled request whose entry Redis came back without (here deleted by
     * hand, as a restart without persistence would) is withdrawn at once, not at its 30 s bound, and runs at B; one
     * whose entry is still there goes on waiting for a node.
     */
    @Test
    void aSpilledRequestRedisLostIsWithdrawnAtOnce() throws Exception {
        Admission.Permit full = admission.tryAcquire("someone").permit(); // B's worker takes nothing
        assertThat(full).isNotNull();
        try (ClusterRedis other = new ClusterRedis(redis.url(), KEY, Duration.ofSeconds(2), Clock.systemUTC());
             Jedis j = redis.client()) {
            other.heartbeat("node-x", "http://127.0.0.1:2", "test", new NodeReport(List.of("runc"), List.of(), 1, 0,
                    0), false, Instant.now(), Duration.ofMinutes(1));
            await().atMost(Duration.ofSeconds(5)).until(() -> self.node("node-x").isPresent());
            ExecutionRequest request = ExecutionRequest.builder().command("true").userId("alice").build();
            ClusterWork.Remote lost = work.offer(request).orElseThrow();
            ClusterWork.Remote kept = work.offer(request).orElseThrow();
            String key = ClusterWork.streamKey("runc");
            j.xdel(key, j.xrange(key, "-", "+").stream().filter(e -> e.getFields().get("id")
                    .equals(lost.executionId())).map(e -> e.getID()).toArray(StreamEntryID[]::new));

            j.clientKill(ClientKillParams.clientKillParams().type(ClientType.NORMAL)
                    .skipMe(ClientKillParams.SkipMe.YES));
            assertThat(lost.started().get(5, java.util.concurrent.TimeUnit.SECONDS)).as("withdrawn").isFalse();
            assertThat(j.get(ClusterWork.claimKey(lost.executionId()))).isEqualTo("withdrawn:node-b");
            Thread.sleep(2000);
            assertThat(kept.started()).as("its entry is still there: a node may take it").isNotDone();
            assertThat(j.get(ClusterWork.claimKey(kept.executionId()))).isNull();
        } finally {
            full.close();
        }
    }

    @Test
    void whatALostAnswerLeftPendingIsSettledOnceRedisFailsTheWorker() throws Exception {
        String key = ClusterWork.streamKey("runc");
        // B is full: its worker reads nothing while the four entries are put in its pending list by hand.
        Admission.Permit full = admission.tryAcquire("someone").permit();
        assertThat(full).isNotNull();
        try (Jedis j = redis.client()) {
            // In one transaction: a read B's worker had blocked in before it was full takes none of them.
            Transaction t = j.multi();
            for (String id : List.of("unclaimed", "claimed-unstarted", "ended-here", "withdrawn")) {
                t.xadd(key, StreamEntryID.NEW_ENTRY, entry(id));
            }
            t.xreadGroup(ClusterWork.GROUP, "node-b", XReadGroupParams.xReadGroupParams().count(10),
                    Map.of(key, StreamEntryID.XREADGROUP_UNDELIVERED_ENTRY));
            t.exec();
            assertThat(j.xpending(key, ClusterWork.GROUP).getTotal()).isEqualTo(4);
            j.set(ClusterWork.claimKey("claimed-unstarted"), "node-b"); // the claim's answer was lost
            j.set(ClusterWork.claimKey("ended-here"), "node-b"); // its acknowledgement was lost
            ranToTheEnd("ended-here");
            j.set(ClusterWork.claimKey("withdrawn"), "withdrawn:node-a");

            // Redis drops every connection but this one: B's next calls fail, and its worker settles.
            j.clientKill(ClientKillParams.clientKillParams().type(ClientType.NORMAL)
                    .skipMe(ClientKillParams.SkipMe.YES));
            full.close();

            await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
                assertThat(j.xpending(key, ClusterWork.GROUP).getTotal()).isZero();
                assertThat(j.xlen(key)).isZero();
                assertThat(started).containsExactlyInAnyOrder("unclaimed", "claimed-unstarted");
            });
            assertThat(j.get(ClusterWork.claimKey("claimed-unstarted"))).isEqualTo("node-b");
            assertThat(j.get(ClusterWork.claimKey("withdrawn"))).isEqualTo("withdrawn:node-a");
            assertThat(j.lrange(ClusterWork.doneKey("node-a"), 0, -1)).contains("end ended-here",
                    "start unclaimed", "end unclaimed", "start claimed-unstarted", "end claimed-unstarted");
            assertThat(store.find("ended-here").orElseThrow().status()).isEqualTo(ExecutionStatus.COMPLETED);
        }
        Thread.sleep(1500); // nothing runs later either, and no slot stays taken
        assertThat(started).hasSize(2);
        assertThat(admission.running()).isZero();
    }
}
