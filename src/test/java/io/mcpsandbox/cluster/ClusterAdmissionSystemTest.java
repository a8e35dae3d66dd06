package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.record.RedisServerProcess;
import io.mcpsandbox.testing.SystemTest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.Jedis;

/**
 * {@code admission.max-per-user} across two real nodes: a user running one execution on node A is refused (429,
 * naming the cluster) on node B, and admitted there once A's has ended; after A is killed, its slot is freed by
 * the lease's end.
 */
@SystemTest
class ClusterAdmissionSystemTest {
    private static final String SECRET = "admission-test-secret-0123456789abcdef-01";
    private static final Map<String, String> ONE_PER_USER = Map.of("MCP_SANDBOX_ADMISSION_MAX_PER_USER", "1");
    @TempDir
    static Path dir;
    private static RedisServerProcess redis;
    private static ClusterServe a;
    private static ClusterServe b;

    @BeforeAll
    static void start() throws Exception {
        redis = new RedisServerProcess(dir.resolve("redis"), false, null).start();
        a = new ClusterServe("adm-a", redis.url(), SECRET, true, ONE_PER_USER);
        b = new ClusterServe("adm-b", redis.url(), SECRET, true, ONE_PER_USER);
        CompletableFuture<Void> startB = CompletableFuture.runAsync(() -> {
            try {
                b.start();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        a.start();
        startB.join();
    }

    @AfterAll
    static void stop() throws Exception {
        for (ClusterServe node : new ClusterServe[] {a, b}) {
            if (node != null) {
                node.close();
            }
        }
        if (redis != null) {
            redis.close();
        }
    }

    private static CompletableFuture<HttpResponse<String>> runAsync(ClusterServe node, String command) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return node.send(ClusterServe.USER, "POST", "/v1/executions",
                        "{\"command\":[\"sh\",\"-c\",\"" + command + "\"]}");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    private static int running(ClusterServe node) throws Exception {
        return ClusterServe.JSON.readTree(node.send(ClusterServe.USER, "GET", "/v1/executions?active=true", null)
                .body()).get("executions").size();
    }

    @Test
    void aUsersExecutionOnOneNodeCountsOnTheOther() throws Exception {
        CompletableFuture<HttpResponse<String>> onA = runAsync(a, "sleep 2; echo done-on-a");
        await().atMost(Duration.ofSeconds(20)).until(() -> running(a) == 1);

        HttpResponse<String> refused = b.send(ClusterServe.USER, "POST", "/v1/executions",
                "{\"command\":[\"echo\",\"second\"]}");
        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(429);
        assertThat(refused.body()).contains("too many executions for user 'alice' across the cluster's nodes")
                .contains("admission.max-per-user");
        assertThat(refused.headers().firstValue("Retry-After")).isPresent();
        // Another user is not counted against alice.
        HttpResponse<String> admin = b.send(ClusterServe.ADMIN, "POST", "/v1/executions",
                "{\"command\":[\"echo\",\"admin\"]}");
        assertThat(admin.statusCode()).as(admin.body()).isEqualTo(200);

        HttpResponse<String> first = onA.get();
        assertThat(ClusterServe.JSON.readTree(first.body()).get("stdout").asString()).isEqualTo("done-on-a\n");
        HttpResponse<String> afterwards = b.send(ClusterServe.USER, "POST", "/v1/executions",
                "{\"command\":[\"echo\",\"second\"]}");
        assertThat(afterwards.statusCode()).as(afterwards.body()).isEqualTo(200);
        assertThat(ClusterServe.JSON.readTree(afterwards.body()).get("stdout").asString()).isEqualTo("second\n");
        try (Jedis j = redis.client()) {
            assertThat(j.zcard(ClusterUserSlots.key(ClusterServe.USER))).as("every slot given back").isZero();
        }
    }

    @Test
    void aKilledNodesSlotIsFreedByItsLease() throws Exception {
        runAsync(a, "sleep 30").exceptionally(e -> null); // its answer is lost with the node
        await().atMost(Duration.ofSeconds(20)).until(() -> running(a) == 1);
        a.kill();
        HttpResponse<String> refused = b.send(ClusterServe.USER, "POST", "/v1/executions",
                "{\"command\":[\"echo\",\"x\"]}");
        assertThat(refused.statusCode()).as("A's slot still leased").isEqualTo(429);
        // cluster.dead-after is 1.5 s here: the lease ends within it.
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(300)).until(() -> b.send(
                ClusterServe.USER, "POST", "/v1/executions", "{\"command\":[\"echo\",\"x\"]}").statusCode() == 200);
        a.start(); // reaps what the kill left, for the suite's leftover check
    }
}
