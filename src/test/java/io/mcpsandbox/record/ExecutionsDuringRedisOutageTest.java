package io.mcpsandbox.record;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;

/**
 * The outage: real executions run while redis-server is stopped and started again; every one
 * still runs, the service says it is degraded meanwhile, and afterwards every record is in Redis.
 */
@SystemTest
class ExecutionsDuringRedisOutageTest {
    @Test
    void noRecordIsLostWhenRedisIsBrieflyDown() throws Exception {
        RedisServerProcess.requireBinary();
        Path dir = Files.createTempDirectory("redis-outage");
        try {
            runBatchThroughAnOutage(dir);
        } finally {
            DeleteTree.delete(dir);
        }
    }

    private static void runBatchThroughAnOutage(Path dir) throws Exception {
        try (RedisServerProcess redis = new RedisServerProcess(dir, true, null).start();
             TestSandbox sandbox = TestSandbox.start(Map.of("MCP_SANDBOX_REDIS_URL", redis.url()))) {
            assertThat(sandbox.services().store().health().backend()).isEqualTo("redis");
            List<CompletableFuture<ExecutionResult>> batch = new ArrayList<>();
            try (ExecutorService clients = Executors.newFixedThreadPool(3)) {
                for (int i = 0; i < 18; i++) {
                    int n = i;
                    batch.add(CompletableFuture.supplyAsync(() -> sandbox.run(ExecutionRequest.builder()
                            .command("sh", "-c", "sleep 0.2; echo run-" + n).userId("outage").build()), clients));
                    if (i == 5) {
                        redis.kill();
                    }
                    if (i == 12) {
                        // The outage is reported (by a failed write, or the replayer's probe) before it ends.
                        await().atMost(Duration.ofSeconds(15)).until(() -> sandbox.services().store().degraded());
                        redis.start();
                    }
                    Thread.sleep(150);
                }
                for (int i = 0; i < batch.size(); i++) {
                    ExecutionResult r = batch.get(i).get();
                    assertThat(r.status()).as("executions run whatever the store does")
                            .isEqualTo(ExecutionStatus.COMPLETED);
                    assertThat(r.stdout()).isEqualTo("run-" + i + "\n");
                }
            }

            await().atMost(Duration.ofSeconds(30)).until(() -> sandbox.services().store().health().ok()
                    && sandbox.services().store().pendingWrites() == 0);
            try (RedisExecutionStore direct = new RedisExecutionStore(redis.url(), Duration.ofHours(24),
                    Duration.ofSeconds(2), 2)) {
                for (CompletableFuture<ExecutionResult> f : batch) {
                    ExecutionResult r = f.get();
                    ExecutionRecord inRedis = direct.find(r.executionId()).orElseThrow(
                            () -> new AssertionError("record " + r.executionId() + " is not in Redis"));
                    assertThat(inRedis.status()).isEqualTo(ExecutionStatus.COMPLETED);
                    assertThat(inRedis.result()).isEqualTo(r);
                }
            }
        }
    }
}
