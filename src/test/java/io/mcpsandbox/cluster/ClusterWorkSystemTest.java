package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.record.RedisServerProcess;
import io.mcpsandbox.record.RedisUrls;
import io.mcpsandbox.testing.SystemTest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.RedisClient;
import redis.clients.jedis.params.XAddParams;
import tools.jackson.databind.JsonNode;

/**
 * Issue 17 step 2 with real processes: three {@code serve --cluster} nodes of one slot each on one redis-server;
 * eight clients send sixty executions to node A only. What A has no slot for goes to the work stream and runs on
 * the other nodes; every caller gets its own correct result, every execution runs exactly once, and an entry
 * delivered again after it ran is not run again.
 */
@SystemTest
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterWorkSystemTest {
    private static final String SECRET = "work-test-secret-0123456789abcdef-0123";
    private static final int EXECUTIONS = 60;
    private static final Pattern EXECUTED = Pattern.compile(
            "mcp_sandbox_cluster_executions_total\\{path=\"(local|remote)\"} ([0-9.]+)");
    @TempDir
    static Path dir;
    private static RedisServerProcess redis;
    private static RedisClient jedis;
    private static final List<ClusterServe> NODES = new ArrayList<>();
    private static final Map<String, String> RAN = new HashMap<>();
    /** The node each synchronous answer named. */
    private static final Map<String, String> ANSWERED_BY = new HashMap<>();

    @BeforeAll
    static void startThreeNodes() throws Exception {
        redis = new RedisServerProcess(dir.resolve("redis"), false, null).start();
        jedis = RedisUrls.connect(RedisUrls.parse(redis.url()), Duration.ofSeconds(5), 2, "work-test");
        Map<String, String> oneSlot = Map.of("MCP_SANDBOX_ADMISSION_MAX_CONCURRENT", "1",
                "MCP_SANDBOX_ADMISSION_MAX_PER_USER", "100", "MCP_SANDBOX_ADMISSION_QUEUE_SIZE", "100",
                "MCP_SANDBOX_ADMISSION_QUEUE_TIMEOUT", "60s", "MCP_SANDBOX_CLUSTER_HEARTBEAT", "200ms",
                "MCP_SANDBOX_CLUSTER_DEAD_AFTER", "1s");
        for (String name : List.of("a", "b", "c")) {
            NODES.add(new ClusterServe("work-" + name, redis.url(), SECRET, true, oneSlot));
        }
        NODES.stream().map(n -> CompletableFuture.runAsync(() -> {
            try {
                n.start();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        })).toList().forEach(CompletableFuture::join);
        // Each node sees the other two active before work is sent.
        await().atMost(Duration.ofSeconds(20)).until(() -> ClusterServe.JSON.readTree(NODES.get(0)
                .send(ClusterServe.ADMIN, "GET", "/v1/cluster", null).body()).get("counts").get("active").asInt() == 3);
    }

    @AfterAll
    static void stopAll() throws Exception {
        NODES.stream().map(n -> CompletableFuture.runAsync(() -> {
            try {
                n.close();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        })).toList().forEach(CompletableFuture::join);
        if (jedis != null) {
            jedis.close();
        }
        if (redis != null) {
            redis.close();
        }
    }

    private static Map<String, Double> executed(ClusterServe node) throws Exception {
        String metrics = node.send(ClusterServe.USER, "GET", "/metrics", null).body();
        Map<String, Double> counts = new HashMap<>(Map.of("local", 0.0, "remote", 0.0));
        Matcher m = EXECUTED.matcher(metrics);
        while (m.find()) {
            counts.put(m.group(1), Double.parseDouble(m.group(2)));
        }
        return counts;
    }

    private static double total(String path) throws Exception {
        double sum = 0;
        for (ClusterServe n : NODES) {
            sum += executed(n).get(path);
        }
        return sum;
    }

    private static double counter(ClusterServe node, String name) throws Exception {
        Matcher m = Pattern.compile(Pattern.quote(name) + " ([0-9.]+)").matcher(node.send(ClusterServe.USER, "GET",
                "/metrics", null).body());
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }

    @Test
    @Order(1)
    void sixtyExecutionsSentToOneNodeRunOnceEachAcrossTheCluster() throws Exception {
        ClusterServe a = NODES.get(0);
        ExecutorService clients = Executors.newFixedThreadPool(8);
        List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
        try {
            for (int n = 0; n < EXECUTIONS; n++) {
                String body = "{\"command\":[\"sh\",\"-c\",\"sleep 0.3; echo run-" + n + "\"]}";
                calls.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        return a.send(ClusterServe.USER, "POST", "/v1/executions", body);
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }, clients));
            }
            Set<String> ids = new HashSet<>();
            for (int n = 0; n < EXECUTIONS; n++) {
                HttpResponse<String> r = calls.get(n).join();
                assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
                JsonNode result = ClusterServe.JSON.readTree(r.body());
                assertThat(result.get("status").asString()).as(r.body()).isEqualTo("completed");
                assertThat(result.get("stdout").asString()).isEqualTo("run-" + n + "\n");
                ids.add(result.get("executionId").asString());
                RAN.put(result.get("executionId").asString(), "run-" + n + "\n");
                ANSWERED_BY.put(result.get("executionId").asString(), result.path("node").asString(""));
            }
            assertThat(ids).hasSize(EXECUTIONS);
        } finally {
            clients.shutdownNow();
        }
        // One start per execution in the whole cluster, and some of them on B and C.
        await().atMost(Duration.ofSeconds(5)).until(() -> total("local") + total("remote") == EXECUTIONS);
        for (ClusterServe n : NODES) {
            System.out.println("cluster work: node " + n.nodeId() + " started " + executed(n));
        }
        assertThat(executed(NODES.get(1)).get("remote") + executed(NODES.get(2)).get("remote")).isPositive();
        assertThat(executed(NODES.get(1)).get("local")).isZero();
        assertThat(executed(NODES.get(2)).get("local")).isZero();
        // Every record is in the shared store, final, readable from any node.
        for (Map.Entry<String, String> e : RAN.entrySet()) {
            HttpResponse<String> r = NODES.get(2).send(ClusterServe.USER, "GET", "/v1/executions/" + e.getKey(),
                    null);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(ClusterServe.JSON.readTree(r.body()).get("stdout").asString()).isEqualTo(e.getValue());
        }
        // Each record names the node that ran it: a spilled one the node that took it (its claim), not A.
        int elsewhere = 0;
        for (String id : RAN.keySet()) {
            String claim = jedis.get(ClusterWork.claimKey(id));
            String ranOn = claim != null && !claim.startsWith(ClusterWork.WITHDRAWN) ? claim : a.nodeId();
            HttpResponse<String> record = NODES.get(1).send(ClusterServe.USER, "GET", "/v1/executions/" + id
                    + "/record", null);
            assertThat(ClusterServe.JSON.readTree(record.body()).get("node").asString()).as(record.body())
                    .isEqualTo(ranOn);
            HttpResponse<String> result = a.send(ClusterServe.USER, "GET", "/v1/executions/" + id, null);
            assertThat(ClusterServe.JSON.readTree(result.body()).get("node").asString()).isEqualTo(ranOn);
            assertThat(ANSWERED_BY.get(id)).as("the caller's answer names it too").isEqualTo(ranOn);
            elsewhere += ranOn.equals(a.nodeId()) ? 0 : 1;
        }
        assertThat(elsewhere).isPositive();
        // Nothing left undelivered or unacknowledged, and the gauges say so.
        assertThat(jedis.xpending(ClusterWork.streamKey("runc"), ClusterWork.GROUP).getTotal()).isZero();
        assertThat(counter(a, "mcp_sandbox_cluster_spilled_total")).isPositive();
        await().atMost(Duration.ofSeconds(5)).until(() -> a.send(ClusterServe.USER, "GET", "/metrics", null).body()
                .contains("mcp_sandbox_cluster_queue_depth 0.0"));
        assertThat(a.send(ClusterServe.USER, "GET", "/metrics", null).body())
                .contains("mcp_sandbox_cluster_claimed 0.0");
    }

    @Test
    @Order(2)
    void anEntryDeliveredAgainAfterItRanIsNotRunAgain() throws Exception {
        // Entries are deleted once done: a spilled execution (it has a claim) is delivered again as a signed copy.
        assertThat(jedis.xlen(ClusterWork.streamKey("runc"))).isZero();
        String id = RAN.keySet().stream().filter(e -> jedis.exists(ClusterWork.claimKey(e))).findFirst()
                .orElseThrow();
        Map<String, String> again = WorkEntry.fields(id, NODES.get(0).nodeId(), System.currentTimeMillis(),
                WorkEntry.json(io.mcpsandbox.model.ExecutionRequest.builder().command("sh", "-c", "echo again")
                        .userId(ClusterServe.USER).build()), ClusterSecret.of(SECRET));
        String before = NODES.get(0).send(ClusterServe.ADMIN, "GET", "/v1/executions/" + id + "/record", null).body();
        double started = total("local") + total("remote");
        double duplicates = 0;
        for (ClusterServe n : NODES) {
            duplicates += counter(n, "mcp_sandbox_cluster_duplicates_total");
        }

        jedis.xadd(ClusterWork.streamKey("runc"), XAddParams.xAddParams(), again);

        double expected = duplicates + 1;
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            double now = 0;
            for (ClusterServe n : NODES) {
                now += counter(n, "mcp_sandbox_cluster_duplicates_total");
            }
            return now == expected;
        });
        assertThat(total("local") + total("remote")).isEqualTo(started);
        assertThat(NODES.get(0).send(ClusterServe.ADMIN, "GET", "/v1/executions/" + id + "/record", null).body())
                .isEqualTo(before);
        assertThat(jedis.xpending(ClusterWork.streamKey("runc"), ClusterWork.GROUP).getTotal()).isZero();
    }

    @Test
    @Order(3)
    void anUnsignedEntryIsAcknowledgedAndDropped() throws Exception {
        double started = total("local") + total("remote");
        double droppedBefore = 0;
        for (ClusterServe n : NODES) {
            droppedBefore += counter(n, "mcp_sandbox_cluster_dropped_total");
        }
        Map<String, String> forged = new HashMap<>(WorkEntry.fields("forged-1", NODES.get(0).nodeId(),
                System.currentTimeMillis(), "{\"command\":[\"sh\",\"-c\",\"echo forged\"],\"userId\":\"alice\"}",
                ClusterSecret.of("not-the-cluster-secret-0123456789abcdef")));
        jedis.xadd(ClusterWork.streamKey("runc"), XAddParams.xAddParams(), forged);
        double expected = droppedBefore + 1;
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            double now = 0;
            for (ClusterServe n : NODES) {
                now += counter(n, "mcp_sandbox_cluster_dropped_total");
            }
            return now == expected;
        });
        assertThat(total("local") + total("remote")).isEqualTo(started);
        assertThat(jedis.exists(ClusterWork.claimKey("forged-1"))).isFalse();
        assertThat(NODES.get(0).send(ClusterServe.ADMIN, "GET", "/v1/executions/forged-1", null).statusCode())
                .isEqualTo(404);
    }

    @Test
    @Order(4)
    void aSpilledExecutionIsTerminatedThroughItsOrigin() throws Exception {
        ClusterServe a = NODES.get(0);
        CompletableFuture<HttpResponse<String>> local = CompletableFuture.supplyAsync(() -> send(a,
                "sleep 5; echo local"));
        await().atMost(Duration.ofSeconds(20)).until(() -> ClusterServe.JSON.readTree(a.send(ClusterServe.USER,
                "GET", "/v1/executions?active=true", null).body()).get("executions").size() == 1);
        CompletableFuture<HttpResponse<String>> far = CompletableFuture.supplyAsync(() -> send(a,
                "sleep 60; echo never"));
        String[] id = new String[1];
        await().atMost(Duration.ofSeconds(20)).until(() -> {
            for (ClusterServe n : NODES.subList(1, 3)) {
                JsonNode running = ClusterServe.JSON.readTree(n.send(ClusterServe.USER, "GET",
                        "/v1/executions?active=true", null).body()).get("executions");
                if (running.size() == 1) {
                    id[0] = running.get(0).get("executionId").asString();
                    return true;
                }
            }
            return false;
        });
        assertThat(jedis.get(ClusterWork.claimKey(id[0]))).isNotEqualTo(a.nodeId()).isNotNull();

        HttpResponse<String> delete = a.send(ClusterServe.USER, "DELETE", "/v1/executions/" + id[0], null);
        assertThat(delete.statusCode()).as(delete.body()).isEqualTo(202);
        HttpResponse<String> ended = far.get(20, java.util.concurrent.TimeUnit.SECONDS);
        JsonNode result = ClusterServe.JSON.readTree(ended.body());
        assertThat(result.get("executionId").asString()).isEqualTo(id[0]);
        assertThat(result.get("status").asString()).as(ended.body()).isEqualTo("terminated");
        assertThat(ClusterServe.JSON.readTree(local.get(30, java.util.concurrent.TimeUnit.SECONDS).body())
                .get("stdout").asString()).isEqualTo("local\n");
        // Ended: asking again finds it finished.
        assertThat(a.send(ClusterServe.ADMIN, "DELETE", "/v1/executions/" + id[0], null).statusCode())
                .isEqualTo(409);
    }

    private static HttpResponse<String> send(ClusterServe node, String script) {
        try {
            return node.send(ClusterServe.USER, "POST", "/v1/executions", "{\"command\":[\"sh\",\"-c\",\""
                    + script + "\"]}");
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
