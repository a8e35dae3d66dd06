package io.mcpsandbox.queue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.execution.Admission;
import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.record.RedisServerProcess;
import io.mcpsandbox.record.SqliteExecutionStore;
import io.mcpsandbox.testing.SystemTest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.Jedis;

/**
 * A queue in Redis taking over a lost server's (cluster mode, docs/cluster.md): what waited there runs here once,
 * what had started there is not run again, and nothing moves while the other server's guard key exists.
 */
@SystemTest
class QueueAdoptionTest {
    private static final String GUARD = "test:holder:lost";
    private static Path serverDir;
    private static RedisServerProcess server;
    @TempDir
    Path dir;
    private SqliteExecutionStore records;
    private Admission admission;
    private final Map<String, ExecutionRequest> started = new ConcurrentHashMap<>();

    @BeforeAll
    static void startRedis() throws Exception {
        serverDir = Files.createTempDirectory("redis-adopt-test");
        server = new RedisServerProcess(serverDir, false, null).start();
    }

    @AfterAll
    static void stopRedis() throws Exception {
        if (server != null) {
            server.close();
        }
        DeleteTree.delete(serverDir);
    }

    @BeforeEach
    void stores() {
        try (Jedis jedis = server.client()) {
            jedis.flushAll();
        }
        records = new SqliteExecutionStore(dir.resolve("executions.db"), Duration.ZERO);
        admission = new Admission(4, 8, 4, Duration.ofSeconds(30));
    }

    @AfterEach
    void close() {
        admission.close();
        records.close();
    }

    private RedisQueueStore store(String id) {
        return new RedisQueueStore(server.url(), id, Duration.ofSeconds(2), 2);
    }

    /** A queue whose starter writes the running record (as the service does) and ends at once. */
    private ExecutionQueue queue(RedisQueueStore store) {
        return new ExecutionQueue(store, records, new QueueSettings(true, 100, 1000, 1 << 20, 1000), admission,
                (id, request, permit) -> {
                    ExecutionRecord r = ExecutionRecord.started(id, request.userId(), null, "host", "runc",
                            SecurityLevel.MEDIUM, request.command(), null, Instant.now());
                    records.recordStart(r);
                    started.put(id, request);
                    ExecutionResult result = ExecutionResult.notRun(id, ExecutionStatus.COMPLETED, null, "runc",
                            SecurityLevel.MEDIUM, "host", 1, List.of());
                    records.recordEnd(r.ended(result, Instant.now()));
                    permit.close();
                    return CompletableFuture.completedFuture(result);
                });
    }

    private static ExecutionRequest request(String user, String word) {
        return ExecutionRequest.builder().userId(user).command("echo", word).background(true).build();
    }

    @Test
    void whatWaitedInALostQueueRunsHereOnceAndWhatHadStartedThereDoesNot() throws Exception {
        List<String> waiting;
        String startedThere;
        String endedThere;
        try (ExecutionQueue lost = queue(store("lost-q"))) { // loaded, never dispatching: a server about to die
            waiting = lost.enqueueAll(List.of(request("alice", "1"), request("bob", "2"), request("alice", "3")))
                    .stream().map(o -> o.accepted().executionId()).toList();
            startedThere = lost.enqueue(request("carol", "4")).executionId();
            endedThere = lost.enqueue(request("carol", "5")).executionId();
        }
        // Two had started on the lost server (records written) before it died: one still running, one ended.
        ExecutionRecord running = ExecutionRecord.started(startedThere, "carol", null, "host", "runc",
                SecurityLevel.MEDIUM, List.of("echo", "4"), null, Instant.now());
        records.recordStart(running);
        ExecutionRecord ended = ExecutionRecord.started(endedThere, "carol", null, "host", "runc",
                SecurityLevel.MEDIUM, List.of("echo", "5"), null, Instant.now());
        records.recordStart(ended);
        records.recordEnd(ended.cutOff("ended there", Instant.now()));

        try (ExecutionQueue here = queue(store("here-q"))) {
            here.start();
            assertThat(here.redisQueueId()).contains("here-q");
            assertThat(here.adopt("lost-q", GUARD, "node lost: lost")).isEqualTo(3);
            await().atMost(Duration.ofSeconds(10)).until(() -> started.keySet().containsAll(waiting));
            assertThat(started).containsOnlyKeys(waiting);
            assertThat(started.get(waiting.get(1)).command()).containsExactly("echo", "2");
            assertThat(records.find(startedThere).orElseThrow().status()).isEqualTo(ExecutionStatus.ERROR);
            assertThat(records.find(startedThere).orElseThrow().result().reason()).isEqualTo("node lost: lost");
            assertThat(records.find(endedThere).orElseThrow().result().reason()).isEqualTo("ended there");
            await().atMost(Duration.ofSeconds(10)).until(() -> here.depth(null) == 0);
            try (RedisQueueStore lostStore = store("lost-q"); RedisQueueStore hereStore = store("here-q")) {
                assertThat(lostStore.items()).isEmpty();
                await().atMost(Duration.ofSeconds(10)).until(() -> hereStore.items().isEmpty());
            }
            assertThat(here.adopt("lost-q", GUARD, "node lost: lost")).isZero();
            assertThat(here.adopt("here-q", GUARD, "node lost: lost")).isZero(); // never its own
        }
    }

    @Test
    void nothingMovesWhileTheOtherServersGuardKeyExists() {
        try (ExecutionQueue lost = queue(store("lost-q"))) {
            lost.enqueueAll(List.of(request("alice", "1"), request("alice", "2")));
        }
        try (ExecutionQueue here = queue(store("here-q")); Jedis jedis = server.client();
             RedisQueueStore lostStore = store("lost-q")) {
            here.start();
            jedis.set(GUARD, "a restarted server holds its id");
            assertThat(here.adopt("lost-q", GUARD, "node lost: lost")).isZero();
            assertThat(lostStore.items()).hasSize(2);
            assertThat(started).isEmpty();
        }
    }
}
