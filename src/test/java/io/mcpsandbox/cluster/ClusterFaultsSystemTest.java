package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.record.RedisServerProcess;
import io.mcpsandbox.testing.SystemTest;
import io.modelcontextprotocol.client.McpClient;
import io.modelcontextprotocol.client.McpSyncClient;
import io.modelcontextprotocol.client.transport.HttpClientStreamableHttpTransport;
import io.modelcontextprotocol.spec.McpSchema;
import io.modelcontextprotocol.spec.McpSchema.CallToolResult;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.IntFunction;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/**
 * Issue 17's acceptance on this machine: three {@code serve --cluster} nodes (two slots each) on one persistent
 * redis-server, eight concurrent clients (half of the calls through REST, half through the MCP Java SDK's client).
 * 300 executions spread over the nodes each answer their own correct result and have one record; a node killed
 * (kill -9) in the middle of a run leaves every request either completed or ended {@code error} ({@code node lost}),
 * none unanswered, and after its restart nothing of it is left on the host; Redis restarted in the middle of a run
 * loses no record (the nodes' failover stores replay them).
 */
@SystemTest
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterFaultsSystemTest {
    private static final String SECRET = "faults-test-secret-0123456789abcdef-0123";
    private static final int CLIENTS = 8;
    @TempDir
    static Path dir;
    private static RedisServerProcess redis;
    private static final List<ClusterServe> NODES = new ArrayList<>();

    @BeforeAll
    static void startThreeNodes() throws Exception {
        redis = new RedisServerProcess(dir.resolve("redis"), true, null).start();
        Map<String, String> settings = Map.of("MCP_SANDBOX_ADMISSION_MAX_CONCURRENT", "2",
                "MCP_SANDBOX_ADMISSION_MAX_PER_USER", "100", "MCP_SANDBOX_ADMISSION_QUEUE_SIZE", "100",
                "MCP_SANDBOX_ADMISSION_QUEUE_TIMEOUT", "60s", "MCP_SANDBOX_CLUSTER_HEARTBEAT", "200ms",
                "MCP_SANDBOX_CLUSTER_DEAD_AFTER", "1s");
        for (String name : List.of("a", "b", "c")) {
            NODES.add(new ClusterServe("faults-" + name, redis.url(), SECRET, true, settings));
        }
        all(ClusterServe::start);
        await().atMost(Duration.ofSeconds(20)).until(() -> activeNodes() == 3);
    }

    @AfterAll
    static void stopAll() throws Exception {
        all(ClusterServe::close);
        if (redis != null) {
            redis.close();
        }
    }

    private interface NodeAction {
        void on(ClusterServe node) throws Exception;
    }

    private static void all(NodeAction action) {
        NODES.stream().map(n -> CompletableFuture.runAsync(() -> {
            try {
                action.on(n);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        })).toList().forEach(CompletableFuture::join);
    }

    private static int activeNodes() throws Exception {
        return ClusterServe.JSON.readTree(NODES.get(0).send(ClusterServe.ADMIN, "GET", "/v1/cluster", null).body())
                .get("counts").get("active").asInt();
    }

    /**
     * One client's answer: REST's status code and body, or the MCP tool result's {@code isError} and structured
     * content (the same result object).
     */
    private record Answer(String via, boolean ok, JsonNode result, String raw) {
    }

    /**
     * {@code count} executions from 8 clients, the n-th to {@code to.apply(n)}; the answers in order. Even-numbered
     * ones go through REST ({@code POST /v1/executions}), odd-numbered ones through MCP ({@code run_command}, the MCP
     * Java SDK's client over Streamable HTTP, one client per node made for this run).
     */
    private static List<Answer> run(int count, IntFunction<ClusterServe> to, IntFunction<String> argv) {
        ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
        Map<ClusterServe, McpSyncClient> mcp = new java.util.concurrent.ConcurrentHashMap<>();
        try {
            List<CompletableFuture<Answer>> calls = new ArrayList<>();
            for (int n = 0; n < count; n++) {
                int i = n;
                calls.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        ClusterServe node = to.apply(i);
                        if (i % 2 == 0) {
                            HttpResponse<String> r = node.send(ClusterServe.USER, "POST", "/v1/executions",
                                    "{\"command\":" + argv.apply(i) + "}");
                            return new Answer("REST", r.statusCode() == 200, ClusterServe.JSON.readTree(r.body()),
                                    r.body());
                        }
                        McpSyncClient client = mcp.computeIfAbsent(node, ClusterFaultsSystemTest::mcpClient);
                        CallToolResult r = client.callTool(new McpSchema.CallToolRequest("run_command",
                                Map.of("command", ClusterServe.JSON.readValue(argv.apply(i), List.class))));
                        JsonNode result = ClusterServe.JSON.valueToTree(r.structuredContent());
                        return new Answer("MCP", !Boolean.TRUE.equals(r.isError()), result, r.toString());
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }, clients));
            }
            return calls.stream().map(CompletableFuture::join).toList();
        } finally {
            clients.shutdownNow();
            mcp.values().forEach(McpSyncClient::close);
        }
    }

    private static McpSyncClient mcpClient(ClusterServe node) {
        HttpClientStreamableHttpTransport transport = HttpClientStreamableHttpTransport
                .builder("http://127.0.0.1:" + node.port()).endpoint("/mcp")
                .requestBuilder(HttpRequest.newBuilder().header("Authorization", "Bearer "
                        + ClusterServe.token(ClusterServe.USER)))
                .build();
        McpSyncClient client = McpClient.sync(transport).requestTimeout(Duration.ofSeconds(120)).build();
        client.initialize();
        return client;
    }

    private static JsonNode record(ClusterServe from, String id) throws Exception {
        HttpResponse<String> r = from.send(ClusterServe.USER, "GET", "/v1/executions/" + id, null);
        return r.statusCode() == 200 ? ClusterServe.JSON.readTree(r.body()) : null;
    }

    @Test
    @Order(1)
    void threeHundredExecutionsSpreadOverTheNodesAreEachAnsweredAndRecordedOnce() throws Exception {
        List<Answer> answers = run(300, n -> NODES.get(n % 3), n -> "[\"sh\",\"-c\",\"echo out-" + n + "\"]");
        Set<String> ids = new HashSet<>();
        for (int n = 0; n < answers.size(); n++) {
            Answer r = answers.get(n);
            assertThat(r.ok()).as(r.via() + ": " + r.raw()).isTrue();
            JsonNode result = r.result();
            assertThat(result.get("status").asString()).as(r.raw()).isEqualTo("completed");
            assertThat(result.get("stdout").asString()).isEqualTo("out-" + n + "\n");
            ids.add(result.get("executionId").asString());
        }
        assertThat(ids).hasSize(300);
        // Each record is the one result, readable from another node than the one that answered.
        int n = 0;
        for (String id : ids) {
            JsonNode stored = record(NODES.get(n++ % 3), id);
            assertThat(stored).as(id).isNotNull();
            assertThat(stored.get("status").asString()).isEqualTo("completed");
        }
        HttpResponse<String> listed = NODES.get(1).send(ClusterServe.USER, "GET", "/v1/executions?limit=1000", null);
        Set<String> recorded = new HashSet<>();
        ClusterServe.JSON.readTree(listed.body()).get("executions")
                .forEach(e -> recorded.add(e.get("executionId").asString()));
        assertThat(recorded).containsAll(ids);
    }

    @Test
    @Order(2)
    void aNodeKilledMidRunLeavesEveryRequestCompletedOrNodeLostAndNothingBehindAfterItsRestart() throws Exception {
        ClusterServe victim = NODES.get(2);
        // Sent to A and B only: what they have no slot for goes to C, which is killed while it runs some.
        CompletableFuture<List<Answer>> load = CompletableFuture.supplyAsync(() -> run(40,
                n -> NODES.get(n % 2), n -> "[\"sh\",\"-c\",\"sleep 1; echo slow-" + n + "\"]"));
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).until(() -> ClusterServe.JSON
                .readTree(victim.send(ClusterServe.ADMIN, "GET", "/v1/executions?active=true", null).body())
                .get("executions").size() > 0);
        victim.kill();

        List<Answer> answers = load.get();
        int completed = 0;
        int lost = 0;
        for (int n = 0; n < answers.size(); n++) {
            Answer r = answers.get(n);
            JsonNode result = r.result();
            String status = result.get("status").asString();
            String id = result.get("executionId").asString();
            if (status.equals("completed")) {
                assertThat(r.ok()).as(r.via() + ": " + r.raw()).isTrue();
                assertThat(result.get("stdout").asString()).isEqualTo("slow-" + n + "\n");
                completed++;
            } else {
                assertThat(status).as(r.raw()).isEqualTo("error");
                // The survivors close it "node lost", unless the dead server's owner watchdog, on this same host,
                // closed it first ("the process that ran it died").
                assertThat(result.get("reason").asString()).matches("node lost: .*|"
                        + java.util.regex.Pattern.quote(io.mcpsandbox.execution.SandboxServices.OWNER_DIED));
                lost++;
            }
            JsonNode stored = record(NODES.get(n % 2), id);
            assertThat(stored).as(id).isNotNull();
            assertThat(stored.get("status").asString()).isEqualTo(status);
        }
        assertThat(lost).as("C ran some when it was killed").isPositive();
        assertThat(completed + lost).isEqualTo(40);

        // Back with the same id: it reaps what the kill left and rejoins; the records closed for it stay as they are.
        victim.start();
        await().atMost(Duration.ofSeconds(20)).until(() -> activeNodes() == 3);
        // What the kill left in its runtime root (unless its owner watchdog took it first) is reaped by the start.
        assertThat(victim.runcContainers()).as("reaped at its start").isEmpty();
    }

    @Test
    @Order(3)
    void redisRestartedMidRunLosesNoRecord() throws Exception {
        CompletableFuture<List<Answer>> load = CompletableFuture.supplyAsync(() -> run(60,
                n -> NODES.get(n % 3), n -> "[\"sh\",\"-c\",\"sleep 0.2; echo kept-" + n + "\"]"));
        Thread.sleep(1500); // some have run, others run while Redis is away
        redis.close();
        Thread.sleep(2000);
        redis.ensureRunning();

        List<Answer> answers = load.get();
        List<String> ids = new ArrayList<>();
        for (int n = 0; n < answers.size(); n++) {
            Answer r = answers.get(n);
            assertThat(r.ok()).as(r.via() + ": " + r.raw()).isTrue();
            JsonNode result = r.result();
            assertThat(result.get("status").asString()).as(r.raw()).isEqualTo("completed");
            assertThat(result.get("stdout").asString()).isEqualTo("kept-" + n + "\n");
            ids.add(result.get("executionId").asString());
        }
        // Records written while Redis was away are replayed from each node's SQLite file: every one reaches Redis,
        // where any node reads it.
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(500)).untilAsserted(() -> {
            for (int n = 0; n < ids.size(); n++) {
                JsonNode stored = record(NODES.get((n + 1) % 3), ids.get(n));
                assertThat(stored).as(ids.get(n)).isNotNull();
                assertThat(stored.get("status").asString()).isEqualTo("completed");
            }
        });
    }
}
