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
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.StreamEntryID;
import redis.clients.jedis.params.XReadGroupParams;
import redis.clients.jedis.resps.StreamEntry;

/**
 * The origin's side of a spilled request, on a real redis-server with one real node (A) and another (B) that is
 * only a signed entry with free capacity: B's part is played by hand. A request is spilled only where a node has
 * room; its caller learns the start and the end from B's messages and gets the stored result; one nobody starts in
 * time is withdrawn (claimed as such, so it never runs later) and stays at its origin.
 */
class ClusterWorkOriginTest {
    private static final String SECRET = "origin-test-secret-0123456789abcdef-01";
    @RegisterExtension
    static final RedisServerExtension redis = new RedisServerExtension();
    private ClusterNode self;
    private ClusterRedis other;
    private RedisExecutionStore store;
    private Admission admission;
    private ClusterWork work;

    @BeforeEach
    void nodes() throws Exception {
        redis.ensureRunning();
        try (Jedis j = redis.client()) {
            j.flushAll();
        }
        ClusterSettings settings = new ClusterSettings(redis.url(), ClusterSecret.of(SECRET), null, null,
                Duration.ofMillis(200), Duration.ofMillis(1000));
        self = ClusterNode.open(settings, "node-a", "test", Clock.systemUTC());
        other = new ClusterRedis(redis.url(), ClusterSecret.of(SECRET), Duration.ofSeconds(2), Clock.systemUTC());
        store = new RedisExecutionStore(redis.url(), Duration.ofHours(1), Duration.ofSeconds(2), 2);
        admission = new Admission(1, 10, 10, Duration.ofSeconds(5));
        work = new ClusterWork(self, new ClusterWork.Setup(redis.url(), Duration.ofSeconds(1), Duration.ofSeconds(30),
                "runc", id -> false, id -> false, null), admission, store, (id, request, permit) -> {
                    throw new AssertionError("node-a serves no runtime: it takes nothing from a stream");
                }, new SimpleMeterRegistry());
        work.start();
        // A reports no runtimes (so it runs no worker); it is the origin only.
        self.start("http://127.0.0.1:1", () -> new NodeReport(List.of(), List.of(), 1, 1, 0));
    }

    @AfterEach
    void close() {
        work.close();
        admission.close();
        store.close();
        other.close();
        self.close();
    }

    private void nodeB(int active) {
        other.heartbeat("node-b", "http://127.0.0.1:2", "test", new NodeReport(List.of("runc"), List.of(), 1, active,
                0), false, Instant.now(), Duration.ofMinutes(1));
        await().atMost(Duration.ofSeconds(5)).until(() -> self.node("node-b")
                .map(v -> v.capacity().active() == active).orElse(false));
    }

    private static ExecutionRequest request() {
        return ExecutionRequest.builder().command("sh", "-c", "echo 1").userId("alice").build();
    }

    @Test
    void nothingIsSpilledWhereNoNodeHasRoomOrServesTheRuntime() {
        nodeB(1);
        assertThat(work.offer(request())).isEmpty();
        nodeB(0);
        assertThat(work.offer(request().toBuilder().runtime("runsc").build())).isEmpty();
        assertThat(work.offer(request().toBuilder().sessionId("s-1").build())).isEmpty();
        assertThat(work.offer(request().toBuilder().callbackUrl("https://example.com/cb").build())).isEmpty();
        assertThat(work.offer(request().toBuilder().background(true).build())).isEmpty();
        try (Jedis j = redis.client()) {
            assertThat(j.exists(ClusterWork.streamKey("runc"))).isFalse();
        }
    }

    @Test
    void theCallerLearnsTheStartAndTheEndAndGetsTheStoredResult() throws Exception {
        nodeB(0);
        Optional<ClusterWork.Remote> spilled = work.offer(request());
        assertThat(spilled).isPresent();
        ClusterWork.Remote remote = spilled.get();
        String id = remote.executionId();
        try (Jedis j = redis.client()) {
            j.xgroupCreate(ClusterWork.streamKey("runc"), ClusterWork.GROUP, new StreamEntryID(0, 0), true);
            List<Map.Entry<String, List<StreamEntry>>> read = j.xreadGroup(ClusterWork.GROUP, "node-b",
                    XReadGroupParams.xReadGroupParams().count(1),
                    Map.of(ClusterWork.streamKey("runc"), StreamEntryID.XREADGROUP_UNDELIVERED_ENTRY));
            WorkEntry entry = WorkEntry.parse(read.get(0).getValue().get(0).getFields(), ClusterSecret.of(SECRET));
            assertThat(entry.executionId()).isEqualTo(id);
            assertThat(entry.origin()).isEqualTo("node-a");
            assertThat(entry.request()).isEqualTo(request());

            assertThat(remote.started()).isNotDone();
            j.set(ClusterWork.claimKey(id), "node-b");
            j.lpush(ClusterWork.doneKey("node-a"), "start " + id);
            assertThat(remote.started().get(5, TimeUnit.SECONDS)).isTrue();

            ExecutionRecord started = ExecutionRecord.started(id, "alice", null, "img", "runc", SecurityLevel.MEDIUM,
                    List.of("sh", "-c", "echo 1"), null, Instant.now());
            store.recordStart(started);
            j.lpush(ClusterWork.doneKey("node-a"), "end " + id); // not final yet: the caller goes on waiting
            j.lpush(ClusterWork.doneKey("node-a"), "garbage that is no message");
            ExecutionResult ran = ExecutionResult.running(id, "runc", SecurityLevel.MEDIUM, "img", 12)
                    .withOutput("1\n", "").withStatus(ExecutionStatus.COMPLETED, 0, null);
            assertThat(remote.result()).isNotDone();
            store.recordEnd(started.ended(ran, Instant.now()));
            j.lpush(ClusterWork.doneKey("node-a"), "end " + id);
        }
        ExecutionResult result = remote.result().get(5, TimeUnit.SECONDS);
        assertThat(result.status()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(result.stdout()).isEqualTo("1\n");
        assertThat(work.waiting()).isZero();
    }

    @Test
    void aRequestNobodyStartsInTimeIsWithdrawnAndNeverRunsLater() throws Exception {
        nodeB(0);
        ClusterWork.Remote remote = work.offer(request()).orElseThrow();
        assertThat(remote.started().get(10, TimeUnit.SECONDS)).as("withdrawn: it waits for a slot at its origin")
                .isFalse();
        try (Jedis j = redis.client()) {
            assertThat(j.get(ClusterWork.claimKey(remote.executionId()))).isEqualTo("withdrawn:node-a");
        }
        assertThat(work.waiting()).isZero();
    }
}
