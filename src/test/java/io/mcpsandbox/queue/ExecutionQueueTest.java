package io.mcpsandbox.queue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.execution.Admission;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.record.SqliteExecutionStore;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The queue's dispatching over real SQLite stores and a real {@link Admission}, with a starter that stands in
 * for the execution service: it writes the running record (as the service does before a sandbox exists) and
 * ends when the test says.
 */
class ExecutionQueueTest {
    @TempDir
    Path dir;
    private SqliteExecutionStore records;
    private Admission admission;
    private final List<String> startedIds = new CopyOnWriteArrayList<>();
    private final Map<String, CompletableFuture<ExecutionResult>> running = new ConcurrentHashMap<>();
    private final Map<String, ExecutionRequest> startedRequests = new ConcurrentHashMap<>();

    @BeforeEach
    void stores() {
        records = new SqliteExecutionStore(dir.resolve("executions.db"), Duration.ZERO);
        admission = new Admission(1, 2, 4, Duration.ofSeconds(30));
    }

    @AfterEach
    void close() {
        running.values().forEach(f -> f.complete(null));
        admission.close();
        records.close();
    }

    private ExecutionQueue queue(QueueSettings settings) {
        return new ExecutionQueue(new SqliteQueueStore(dir.resolve("queue.db")), records, settings, admission,
                (id, request, permit) -> {
                    records.recordStart(ExecutionRecord.started(id, request.userId(), null, "host", "runc",
                            SecurityLevel.MEDIUM, request.command(), null, Instant.now()));
                    startedIds.add(id);
                    startedRequests.put(id, request);
                    CompletableFuture<ExecutionResult> f = new CompletableFuture<>();
                    running.put(id, f);
                    return f.whenComplete((r, e) -> permit.close());
                });
    }

    private static QueueSettings settings() {
        return new QueueSettings(true, 100, 1000, 1 << 20, 1000);
    }

    private static ExecutionRequest request(String user, String word) {
        return ExecutionRequest.builder().userId(user).command("echo", word).background(true).build();
    }

    private void finish(String id) {
        ExecutionRecord r = records.find(id).orElseThrow();
        ExecutionResult result = ExecutionResult.notRun(id, ExecutionStatus.COMPLETED, null, "runc",
                SecurityLevel.MEDIUM, "host", 5, List.of());
        records.recordEnd(r.ended(result, Instant.now()));
        running.get(id).complete(result);
    }

    @Test
    void itemsRunOneSlotAtATimeUsersTakingTurns() throws Exception {
        try (ExecutionQueue queue = queue(settings())) {
            queue.start();
            String a1 = queue.enqueue(request("alice", "a1")).executionId();
            await().until(() -> startedIds.size() == 1);
            String a2 = queue.enqueue(request("alice", "a2")).executionId();
            String a3 = queue.enqueue(request("alice", "a3")).executionId();
            ExecutionQueue.Accepted b1 = queue.enqueue(request("bob", "b1"));
            assertThat(b1.position()).isEqualTo(2); // after alice's next: she had the turn first
            assertThat(queue.find(a3).orElseThrow().position()).isEqualTo(3);
            for (int n = 1; n <= 4; n++) {
                finish(startedIds.get(n - 1));
                int started = n + 1;
                await().until(() -> startedIds.size() >= Math.min(started, 4));
            }
            assertThat(startedIds).containsExactly(a1, a2, b1.executionId(), a3);
            assertThat(startedRequests.get(a2).command()).containsExactly("echo", "a2");
            await().until(() -> queue.depth(null) == 0);
        }
    }

    @Test
    void aRestartRunsWhatWaitedAndDropsWhatHadStarted() throws Exception {
        String first;
        List<String> waiting;
        try (ExecutionQueue queue = queue(settings())) {
            queue.start();
            first = queue.enqueue(request("alice", "0")).executionId();
            await().until(() -> startedIds.size() == 1);
            waiting = queue.enqueueAll(List.of(request("alice", "1"), request("bob", "2"))).stream()
                    .map(o -> o.accepted().executionId()).toList();
        } // a stop with one running (never finished here: as if the server died) and two waiting
        startedIds.clear();
        admission.close();
        admission = new Admission(4, 8, 4, Duration.ofSeconds(30));
        try (ExecutionQueue queue = queue(settings())) {
            assertThat(queue.start()).isEqualTo(2);
            await().until(() -> startedIds.size() == 2);
            assertThat(startedIds).containsExactlyInAnyOrderElementsOf(waiting).doesNotContain(first);
            // Its record said running, and the process that ran it is gone: it ends as cut off, not never.
            ExecutionRecord cutOff = records.find(first).orElseThrow();
            assertThat(cutOff.status()).isEqualTo(ExecutionStatus.ERROR);
            assertThat(cutOff.result().reason()).contains("stopped before it ended");
        }
    }

    @Test
    void aCancelledItemNeverRunsAndIsRecordedAsCancelled() throws Exception {
        try (ExecutionQueue queue = queue(settings())) {
            queue.start();
            String blocker = queue.enqueue(request("alice", "blocker")).executionId();
            await().until(() -> startedIds.size() == 1);
            String victim = queue.enqueue(request("alice", "victim")).executionId();
            assertThat(queue.cancel(victim)).isEqualTo(ExecutionQueue.CancelOutcome.CANCELLED);
            assertThat(queue.cancel(victim)).isEqualTo(ExecutionQueue.CancelOutcome.NOT_QUEUED);
            assertThat(records.find(victim).orElseThrow().status()).isEqualTo(ExecutionStatus.CANCELLED);
            finish(blocker);
            Thread.sleep(300);
            assertThat(startedIds).containsExactly(blocker);
            assertThat(queue.cancelledCount()).isEqualTo(1);
        }
    }

    @Test
    void limitsRefuseWithTheSettingsName() throws Exception {
        try (ExecutionQueue queue = queue(new QueueSettings(true, 2, 3, 1 << 20, 1000))) {
            // not started: nothing is dispatched, everything waits
            queue.enqueue(request("alice", "1"));
            queue.enqueue(request("alice", "2"));
            assertThatThrownBy(() -> queue.enqueue(request("alice", "3")))
                    .isInstanceOfSatisfying(QueueFullException.class, e -> {
                        assertThat(e.limit()).isEqualTo(QueueSettings.MAX_PER_USER);
                        assertThat(e.getMessage()).contains("queue.max-per-user").contains("limit 2");
                        assertThat(e.retryAfter()).isPositive();
                    });
            queue.enqueue(request("bob", "1"));
            assertThatThrownBy(() -> queue.enqueue(request("carol", "1"))).hasMessageContaining("queue.max-total");
            List<ExecutionQueue.Outcome> batch = queue.enqueueAll(List.of(request("dave", "1")));
            assertThat(batch.get(0).refused().limit()).isEqualTo(QueueSettings.MAX_TOTAL);
            assertThat(queue.refusedCount(QueueSettings.MAX_TOTAL)).isEqualTo(2);
        }
        try (ExecutionQueue queue = new ExecutionQueue(new SqliteQueueStore(dir.resolve("bytes.db")), records,
                new QueueSettings(true, 100, 100, 300, 10), admission, (id, r, p) -> new CompletableFuture<>())) {
            String big = "x".repeat(400);
            assertThatThrownBy(() -> queue.enqueue(ExecutionRequest.builder().userId("a").command("echo", big)
                    .build())).hasMessageContaining("queue.max-bytes");
        }
    }

    @Test
    void interactiveCallersWaitingInAdmissionGoFirst() throws Exception {
        try (ExecutionQueue queue = queue(settings())) {
            queue.start();
            String a = queue.enqueue(request("alice", "a")).executionId();
            await().until(() -> startedIds.size() == 1);
            CompletableFuture<Admission.Permit> interactive = admission.acquire("carol");
            queue.enqueue(request("bob", "b"));
            finish(a);
            await().until(interactive::isDone);
            Thread.sleep(300);
            assertThat(startedIds).hasSize(1); // the slot went to carol's sync call
            interactive.get().close();
            await().until(() -> startedIds.size() == 2);
        }
    }
}
