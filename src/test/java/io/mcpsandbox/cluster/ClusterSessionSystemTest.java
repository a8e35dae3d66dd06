package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.model.SessionCloseReason;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.record.RedisExecutionStore;
import io.mcpsandbox.record.RedisServerProcess;
import io.mcpsandbox.testing.SystemTest;
import io.modelcontextprotocol.client.McpClient;
import io.modelcontextprotocol.client.McpSyncClient;
import io.modelcontextprotocol.client.transport.HttpClientStreamableHttpTransport;
import io.modelcontextprotocol.spec.McpSchema;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.Jedis;
import tools.jackson.databind.JsonNode;

/**
 * Issue 17 item 3 with real processes: a session opened on node A is used through node B (executions, a live
 * NDJSON stream, file upload and download, close; MCP tools too: see ClusterMcpSessionSystemTest), B's routing
 * never shows it to another user nor honours a routed header a client made up, and once A is killed with SIGKILL,
 * B answers 410 {@code node_lost} and the records say so (for the session called, and, by the heartbeat sweep, for
 * one nobody called).
 */
@SystemTest
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterSessionSystemTest {
    private static final String SECRET = "session-routing-test-secret-0123456789abcdef";
    private static final String BOB = "bob";
    private static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    @TempDir
    static Path dir;
    private static RedisServerProcess redis;
    private static ClusterServe a;
    private static ClusterServe b;
    private static String session;

    @BeforeAll
    static void startTwoNodes() throws Exception {
        redis = new RedisServerProcess(dir.resolve("redis"), false, null).start();
        Map<String, String> settings = Map.of(
                "MCP_SANDBOX_API_KEYS", ClusterServe.apiKeys(BOB),
                "MCP_SANDBOX_CLUSTER_HEARTBEAT", "200ms",
                "MCP_SANDBOX_CLUSTER_DEAD_AFTER", "1s",
                // Short: a forwarded call whose answer is silent for longer than this must not be cut (the silences
                // below are 3 s, so no write of theirs falls on an idle check: Jetty fails a write that does).
                "MCP_SANDBOX_SERVER_IDLE_TIMEOUT", "2s");
        a = new ClusterServe("sa", redis.url(), SECRET, true, settings);
        b = new ClusterServe("sb", redis.url(), SECRET, true, settings);
        ClusterServe.startAll(a, b);
        // B must see A live before it can route to it.
        await().atMost(Duration.ofSeconds(20)).until(() -> b.send(ClusterServe.ADMIN, "GET", "/v1/cluster", null)
                .body().contains(a.nodeId()));
    }

    @AfterAll
    static void stopAll() throws Exception {
        ClusterServe.closeAll(a, b);
        if (redis != null) {
            redis.close();
        }
    }

    private static JsonNode json(HttpResponse<String> r, int status) {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        return ClusterServe.JSON.readTree(r.body());
    }

    private static String open(ClusterServe node) throws Exception {
        return json(node.send(ClusterServe.USER, "POST", "/v1/sessions", "{}"), 201).get("sessionId").asString();
    }

    private static String shell(String script) {
        return "{\"command\": [\"sh\", \"-c\", " + ClusterServe.JSON.writeValueAsString(script) + "]}";
    }

    private static JsonNode run(ClusterServe node, String user, String id, String script) throws Exception {
        return json(node.send(user, "POST", "/v1/sessions/" + id + "/executions", shell(script)), 200);
    }

    private static HttpRequest.Builder request(ClusterServe node, String user, String path) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.port() + path))
                .timeout(Duration.ofSeconds(60)).header("Authorization", "Bearer " + ClusterServe.token(user));
    }

    @Test
    @Order(1)
    void aSessionOnAIsUsedThroughB() throws Exception {
        session = open(a);
        JsonNode first = run(b, ClusterServe.USER, session, "echo routed-through-b > /workspace/note; echo $((6*7))");
        assertThat(first.get("status").asString()).isEqualTo("completed");
        assertThat(first.get("stdout").asString()).isEqualTo("42\n");
        // The file the call through B wrote is in A's sandbox: read on A, and again through B.
        assertThat(run(a, ClusterServe.USER, session, "cat /workspace/note").get("stdout").asString())
                .isEqualTo("routed-through-b\n");
        assertThat(run(b, ClusterServe.USER, session, "cat /workspace/note").get("stdout").asString())
                .isEqualTo("routed-through-b\n");

        JsonNode shown = json(b.send(ClusterServe.USER, "GET", "/v1/sessions/" + session, null), 200);
        assertThat(shown.get("sessionId").asString()).isEqualTo(session);
        assertThat(shown.get("executions").asInt()).isGreaterThanOrEqualTo(3);
        // A forwarded call silent for longer than server.idle-timeout (on both nodes) still gets its answer.
        assertThat(run(b, ClusterServe.USER, session, "sleep 3; echo slept").get("stdout").asString())
                .isEqualTo("slept\n");
        // The list on B shows the session A holds (the records are shared).
        assertThat(b.send(ClusterServe.USER, "GET", "/v1/sessions", null).body()).contains(session);
        // Not forwarded (REST with the session in the body): the answer names the node to call.
        HttpResponse<String> viaBody = b.send(ClusterServe.USER, "POST", "/v1/executions",
                "{\"command\": [\"true\"], \"sessionId\": \"" + session + "\"}");
        assertThat(viaBody.statusCode()).as(viaBody.body()).isEqualTo(404);
        assertThat(viaBody.body()).contains("held by cluster node " + a.nodeId()).contains(a.advertised());
    }

    /** An MCP client of {@code node} with {@code user}'s key. */
    private static McpSyncClient mcp(ClusterServe node, String user) {
        HttpClientStreamableHttpTransport transport = HttpClientStreamableHttpTransport
                .builder("http://127.0.0.1:" + node.port()).endpoint("/mcp")
                .requestBuilder(HttpRequest.newBuilder().header("Authorization", "Bearer " + ClusterServe.token(user)))
                .build();
        McpSyncClient client = McpClient.sync(transport).requestTimeout(Duration.ofSeconds(60)).build();
        client.initialize();
        return client;
    }

    /** A tool call that must fail: its text. */
    private static String toolError(McpSyncClient client, String tool, Map<String, Object> arguments) {
        McpSchema.CallToolResult r = client.callTool(new McpSchema.CallToolRequest(tool, arguments));
        assertThat(r.isError()).as(tool + ": " + r.content()).isTrue();
        return r.content().toString();
    }

    @Test
    @Order(2)
    void mcpToolsOnBAreCarriedToTheNodeThatHoldsTheSession() {
        try (McpSyncClient alice = mcp(b, ClusterServe.USER); McpSyncClient bob = mcp(b, BOB)) {
            McpSchema.CallToolResult read = alice.callTool(new McpSchema.CallToolRequest("read_file",
                    Map.of("sessionId", session, "path", "/workspace/note")));
            assertThat(read.isError()).as(read.content().toString()).isFalse();
            assertThat(read.content().toString()).contains("routed-through-b");
            McpSchema.CallToolResult ran = alice.callTool(new McpSchema.CallToolRequest("run_command",
                    Map.of("command", List.of("cat", "/workspace/note"), "sessionId", session)));
            assertThat(ran.isError()).as(ran.content().toString()).isFalse();
            assertThat(ran.content().toString()).contains("routed-through-b");
            // Another user is told nothing of it.
            assertThat(toolError(bob, "read_file", Map.of("sessionId", session, "path", "/workspace/note")))
                    .doesNotContain(a.nodeId());
        }
    }

    @Test
    @Order(2)
    void anotherUserGetsNotFoundThroughRouting() throws Exception {
        String unknown = java.util.UUID.randomUUID().toString();
        HttpResponse<String> none = b.send(BOB, "GET", "/v1/sessions/" + unknown, null);
        assertThat(none.statusCode()).isEqualTo(404);
        for (String[] call : new String[][] {{"GET", ""}, {"DELETE", ""}, {"GET", "/files"},
            {"GET", "/files/workspace/note"}}) {
            HttpResponse<String> r = b.send(BOB, call[0], "/v1/sessions/" + session + call[1], null);
            assertThat(r.statusCode()).as(call[0] + call[1] + ": " + r.body()).isEqualTo(404);
            assertThat(r.body()).doesNotContain("routed-through-b");
        }
        HttpResponse<String> exec = b.send(BOB, "POST", "/v1/sessions/" + session + "/executions",
                shell("cat /workspace/note"));
        assertThat(exec.statusCode()).as(exec.body()).isEqualTo(404);
        assertThat(exec.body()).doesNotContain("routed-through-b");
        HttpResponse<String> viaBody = b.send(BOB, "POST", "/v1/executions",
                "{\"command\": [\"true\"], \"sessionId\": \"" + session + "\"}");
        assertThat(viaBody.statusCode()).as(viaBody.body()).isEqualTo(404);
        assertThat(viaBody.body()).doesNotContain(a.nodeId());
        // Alice's session is untouched by all that.
        assertThat(b.send(ClusterServe.USER, "GET", "/v1/sessions/" + session, null).statusCode()).isEqualTo(200);
    }

    @Test
    @Order(3)
    void aRoutedHeaderAClientMadeUpIsNotHonoured() throws Exception {
        String forged = a.nodeId() + ";" + System.currentTimeMillis() + ";" + "0".repeat(64);
        for (ClusterServe node : List.of(b)) {
            HttpResponse<String> r = CLIENT.send(request(node, ClusterServe.USER, "/v1/sessions/" + session
                    + "/executions").header("Content-Type", "application/json")
                    .header(ClusterSessionSigns.ROUTED_HEADER, forged)
                    .POST(HttpRequest.BodyPublishers.ofString(shell("cat /workspace/note"))).build(),
                    HttpResponse.BodyHandlers.ofString());
            // Honoured, B would have answered it itself: 404, since B does not hold the session.
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(ClusterServe.JSON.readTree(r.body()).get("stdout").asString()).isEqualTo("routed-through-b\n");
        }
    }

    @Test
    @Order(4)
    void anNdjsonStreamThroughBArrivesLive() throws Exception {
        HttpRequest req = request(b, ClusterServe.USER, "/v1/sessions/" + session + "/executions?stream=true")
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(shell("echo first; sleep 3; echo second"))).build();
        HttpResponse<InputStream> r = CLIENT.send(req, HttpResponse.BodyHandlers.ofInputStream());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type").orElse("")).contains("ndjson");
        List<JsonNode> events = new ArrayList<>();
        long firstAt = -1;
        long endAt;
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = lines.readLine()) != null) {
                JsonNode e = ClusterServe.JSON.readTree(line);
                events.add(e);
                if (firstAt < 0 && e.path("data").asString("").contains("first")) {
                    firstAt = System.nanoTime();
                }
            }
            endAt = System.nanoTime();
        }
        assertThat(events.get(0).get("type").asString()).isEqualTo("started");
        JsonNode result = events.get(events.size() - 1);
        assertThat(result.get("type").asString()).isEqualTo("result");
        assertThat(result.get("result").get("stdout").asString()).isEqualTo("first\nsecond\n");
        assertThat(firstAt).as("the 'first' output arrived as an event").isPositive();
        // Buffered whole, 'first' would arrive with the result; live, seconds before it.
        assertThat(Duration.ofNanos(endAt - firstAt)).isGreaterThan(Duration.ofMillis(1500));
    }

    @Test
    @Order(5)
    void filesGoUpAndDownThroughB() throws Exception {
        byte[] content = new byte[300_000];
        new Random(17).nextBytes(content);
        HttpResponse<String> put = CLIENT.send(request(b, ClusterServe.USER, "/v1/sessions/" + session
                + "/files/workspace/data.bin").header("Content-Type", "application/octet-stream")
                .PUT(HttpRequest.BodyPublishers.ofByteArray(content)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(put.statusCode()).as(put.body()).isEqualTo(204);
        for (ClusterServe node : List.of(b, a)) {
            HttpResponse<byte[]> get = CLIENT.send(request(node, ClusterServe.USER, "/v1/sessions/" + session
                    + "/files/workspace/data.bin").GET().build(), HttpResponse.BodyHandlers.ofByteArray());
            assertThat(get.statusCode()).isEqualTo(200);
            assertThat(get.body()).isEqualTo(content);
        }
        assertThat(run(a, ClusterServe.USER, session, "wc -c < /workspace/data.bin").get("stdout").asString().strip())
                .isEqualTo("300000");
        assertThat(b.send(ClusterServe.USER, "GET", "/v1/sessions/" + session + "/files", null).body())
                .contains("data.bin");
        HttpResponse<String> missing = b.send(ClusterServe.USER, "GET", "/v1/sessions/" + session
                + "/files/workspace/nothing-here", null);
        assertThat(missing.statusCode()).as(missing.body()).isEqualTo(404);
    }

    /**
     * An execution of a session A holds, ended through B: over REST ({@code DELETE /v1/executions/{id}}) and with
     * MCP's terminate_execution. B asks A (the node its running record names); another user gets 404 and it runs on.
     */
    @Test
    @Order(5)
    void aSessionsRunningExecutionIsTerminatedThroughB() throws Exception {
        String viaRest = background("sleep 60; echo never");
        JsonNode refused = json(b.send(BOB, "DELETE", "/v1/executions/" + viaRest, null), 404);
        assertThat(refused.toString()).doesNotContain(session);
        json(b.send(ClusterServe.USER, "DELETE", "/v1/executions/" + viaRest, null), 202);
        assertThat(awaitEnd(viaRest).get("status").asString()).isEqualTo("terminated");

        String viaMcp = background("sleep 60; echo never");
        try (McpSyncClient alice = mcp(b, ClusterServe.USER)) {
            McpSchema.CallToolResult r = alice.callTool(new McpSchema.CallToolRequest("terminate_execution",
                    Map.of("executionId", viaMcp)));
            assertThat(r.isError()).as(r.content().toString()).isFalse();
            assertThat(r.content().toString()).contains("terminating " + viaMcp);
        }
        assertThat(awaitEnd(viaMcp).get("status").asString()).isEqualTo("terminated");
        // Ended: asking again finds it finished.
        assertThat(b.send(ClusterServe.USER, "DELETE", "/v1/executions/" + viaMcp, null).statusCode())
                .isEqualTo(409);
    }

    /** A background execution of the session, started on A: its id once A runs it. */
    private static String background(String script) throws Exception {
        String id = json(a.send(ClusterServe.USER, "POST", "/v1/sessions/" + session + "/executions?async=true",
                shell(script)), 202).get("executionId").asString();
        await().atMost(Duration.ofSeconds(20)).until(() -> a.send(ClusterServe.USER, "GET",
                "/v1/executions?active=true", null).body().contains(id));
        return id;
    }

    /** The execution's final result, read through B (within 20 s: a 60 s sleep ends only if it was ended). */
    private static JsonNode awaitEnd(String id) {
        JsonNode[] result = new JsonNode[1];
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(200)).until(() -> {
            HttpResponse<String> r = b.send(ClusterServe.USER, "GET", "/v1/executions/" + id, null);
            JsonNode n = ClusterServe.JSON.readTree(r.body());
            result[0] = n;
            return r.statusCode() == 200 && !n.path("status").asString().equals("running");
        });
        return result[0];
    }

    @Test
    @Order(6)
    void aSessionIsClosedThroughB() throws Exception {
        String other = open(a);
        try (Jedis jedis = redis.client()) {
            assertThat(jedis.exists(ClusterSessions.ownerKey(other))).isTrue();
            JsonNode closed = json(b.send(ClusterServe.USER, "DELETE", "/v1/sessions/" + other, null), 200);
            assertThat(closed.get("status").asString()).isEqualTo("closed");
            JsonNode gone = json(a.send(ClusterServe.USER, "GET", "/v1/sessions/" + other, null), 410);
            assertThat(gone.get("reason").asString()).isEqualTo("closed");
            assertThat(jedis.exists(ClusterSessions.ownerKey(other))).as("owner entry removed").isFalse();
            assertThat(jedis.sismember(ClusterSessions.nodeSessionsKey(a.nodeId()), other)).isFalse();
        }
        json(b.send(ClusterServe.USER, "GET", "/v1/sessions/" + other, null), 410);
    }

    @Test
    @Order(7)
    void whenTheOwnerIsKilledBAnswersNodeLost() throws Exception {
        String uncalled = open(a);
        a.kill();
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(200)).untilAsserted(() -> {
            HttpResponse<String> r = b.send(ClusterServe.USER, "GET", "/v1/sessions/" + session, null);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(410);
        });
        JsonNode gone = json(b.send(ClusterServe.USER, "POST", "/v1/sessions/" + session + "/executions",
                shell("true")), 410);
        assertThat(gone.get("reason").asString()).isEqualTo("node_lost");
        assertThat(gone.get("error").asString()).contains("node lost").contains(a.nodeId());
        // Another user still learns nothing.
        assertThat(b.send(BOB, "GET", "/v1/sessions/" + session, null).statusCode()).isEqualTo(404);
        try (RedisExecutionStore store = new RedisExecutionStore(redis.url(), Duration.ofHours(1),
                Duration.ofSeconds(5), 2)) {
            SessionRecord record = store.findSession(session).orElseThrow();
            assertThat(record.closeReason()).isEqualTo(SessionCloseReason.NODE_LOST);
            // The session nobody called is closed by the sweep after a heartbeat.
            await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
                Optional<SessionRecord> swept = store.findSession(uncalled);
                assertThat(swept).isPresent();
                assertThat(swept.get().closeReason()).isEqualTo(SessionCloseReason.NODE_LOST);
            });
        }
        try (Jedis jedis = redis.client()) {
            await().atMost(Duration.ofSeconds(10)).until(() -> !jedis.exists(ClusterSessions.ownerKey(session))
                    && !jedis.exists(ClusterSessions.ownerKey(uncalled)));
        }
        assertThat(b.send(ClusterServe.USER, "GET", "/v1/sessions", null).body()).doesNotContain(session)
                .doesNotContain(uncalled);
        try (McpSyncClient alice = mcp(b, ClusterServe.USER)) {
            assertThat(toolError(alice, "read_file", Map.of("sessionId", session, "path", "/workspace/note")))
                    .contains("node_lost");
        }
    }
}
