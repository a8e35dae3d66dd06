package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

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
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/**
 * docs/cluster.md "Executions on another node", with real nodes: a sync request sent to node B that spilled to A is
 * followed live through B; an execution running on node A (a background program of a session A holds, echoing its
 * stdin) is followed and fed through node B: {@code GET
 * /v1/executions/{id}} shows A's live output, {@code ?stream=true} streams it live and ends with the result, {@code
 * POST .../stdin} (REST, and MCP's write_stdin with the Java client) reaches the program, eof ends it; another
 * user's key gets 404; an ended execution answers 409 to stdin; a routed header a client made up is not honoured;
 * once A is killed, B answers 503 with Retry-After rather than hang. Without forwarding, B has only the shared
 * record: no output so far, no stdin (409), a stream that ends at once with the record.
 */
@SystemTest
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterExecutionRoutesSystemTest {
    private static final String SECRET = "execution-routing-test-secret-0123456789abcdef";
    private static final String BOB = "bob";
    private static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private static final String ECHO = "echo ready; while IFS= read -r l; do echo \"got:$l\"; done; echo bye";
    @TempDir
    static Path dir;
    private static RedisServerProcess redis;
    private static ClusterServe a;
    private static ClusterServe b;
    private static String session;

    @BeforeAll
    static void startTwoNodes() throws Exception {
        redis = new RedisServerProcess(dir.resolve("redis"), false, null).start();
        // One slot per node: a second sync request on B spills to A (Work distribution).
        Map<String, String> settings = Map.of("MCP_SANDBOX_API_KEYS", ClusterServe.apiKeys(BOB),
                "MCP_SANDBOX_ADMISSION_MAX_CONCURRENT", "1", "MCP_SANDBOX_ADMISSION_MAX_PER_USER", "100",
                "MCP_SANDBOX_ADMISSION_QUEUE_SIZE", "100", "MCP_SANDBOX_ADMISSION_QUEUE_TIMEOUT", "60s");
        a = new ClusterServe("ea", redis.url(), SECRET, true, settings);
        b = new ClusterServe("eb", redis.url(), SECRET, true, settings);
        ClusterServe.startAll(a, b);
        await().atMost(Duration.ofSeconds(20)).until(() -> b.send(ClusterServe.ADMIN, "GET", "/v1/cluster", null)
                .body().contains(a.nodeId()));
        session = json(a.send(ClusterServe.USER, "POST", "/v1/sessions", "{}"), 201).get("sessionId").asString();
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

    /** A background program of the session, started on A with its stdin kept open: its id once A runs it. */
    private static String background(String script) throws Exception {
        String body = "{\"command\": [\"sh\", \"-c\", " + ClusterServe.JSON.writeValueAsString(script)
                + "], \"keepStdinOpen\": true}";
        String id = json(a.send(ClusterServe.USER, "POST", "/v1/sessions/" + session + "/executions?async=true",
                body), 202).get("executionId").asString();
        await().atMost(Duration.ofSeconds(20)).until(() -> a.send(ClusterServe.USER, "GET",
                "/v1/executions/" + id, null).body().contains("ready"));
        return id;
    }

    private static HttpRequest.Builder request(ClusterServe node, String user, String path) {
        HttpRequest.Builder r = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.port() + path))
                .timeout(Duration.ofSeconds(60));
        return user == null ? r : r.header("Authorization", "Bearer " + ClusterServe.token(user));
    }

    private static HttpResponse<String> stdin(ClusterServe node, String user, String id, String data, boolean eof,
                                              String routed) throws Exception {
        HttpRequest.Builder r = request(node, user, "/v1/executions/" + id + "/stdin" + (eof ? "?eof=true" : ""))
                .header("Content-Type", "application/octet-stream")
                .POST(HttpRequest.BodyPublishers.ofString(data));
        if (routed != null) {
            r.header(ClusterSessionSigns.ROUTED_HEADER, routed);
        }
        return CLIENT.send(r.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static McpSyncClient mcp(ClusterServe node, String user) {
        HttpClientStreamableHttpTransport transport = HttpClientStreamableHttpTransport
                .builder("http://127.0.0.1:" + node.port()).endpoint("/mcp")
                .requestBuilder(HttpRequest.newBuilder().header("Authorization", "Bearer " + ClusterServe.token(user)))
                .build();
        McpSyncClient client = McpClient.sync(transport).requestTimeout(Duration.ofSeconds(60)).build();
        client.initialize();
        return client;
    }

    /** The NDJSON events of {@code GET /v1/executions/{id}?stream=true} on {@code node}, read as they arrive. */
    private record Follow(HttpResponse<InputStream> response, List<JsonNode> events, CompletableFuture<Void> ended) {
        String output() {
            StringBuilder s = new StringBuilder();
            for (JsonNode e : events) {
                if (e.path("type").asString("").equals("stdout")) {
                    s.append(e.path("data").asString(""));
                }
            }
            return s.toString();
        }

        boolean resultArrived() {
            return events.stream().anyMatch(e -> e.path("type").asString("").equals("result"));
        }
    }

    private static Follow follow(ClusterServe node, String id) throws Exception {
        HttpResponse<InputStream> r = CLIENT.send(request(node, ClusterServe.USER, "/v1/executions/" + id
                + "?stream=true").timeout(Duration.ofSeconds(90)).GET().build(),
                HttpResponse.BodyHandlers.ofInputStream());
        List<JsonNode> events = new CopyOnWriteArrayList<>();
        CompletableFuture<Void> ended = CompletableFuture.runAsync(() -> {
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = lines.readLine()) != null) {
                    events.add(ClusterServe.JSON.readTree(line));
                }
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        return new Follow(r, events, ended);
    }

    /** The ids of {@code user}'s executions running on {@code node} now. */
    private static List<String> activeOn(ClusterServe node) throws Exception {
        List<String> ids = new java.util.ArrayList<>();
        json(node.send(ClusterServe.USER, "GET", "/v1/executions?active=true", null), 200).path("executions")
                .forEach(e -> ids.add(e.get("executionId").asString()));
        return ids;
    }

    /**
     * A sync request sent to B while B's one slot is taken spills to A; its client waits on B. Followed through B
     * ({@code ?stream=true}), its output arrives live from A and the stream ends with its result.
     */
    @Test
    @Order(0)
    void aSpilledExecutionIsFollowedLiveThroughItsOrigin() throws Exception {
        CompletableFuture<HttpResponse<String>> filler = CompletableFuture.supplyAsync(() -> send(b,
                "{\"command\": [\"sh\", \"-c\", \"sleep 6\"]}"));
        await().atMost(Duration.ofSeconds(20)).until(() -> activeOn(b).size() == 1);
        CompletableFuture<HttpResponse<String>> spilled = CompletableFuture.supplyAsync(() -> send(b,
                "{\"command\": [\"sh\", \"-c\", \"echo first; sleep 3; echo second\"]}"));
        await().atMost(Duration.ofSeconds(20)).until(() -> activeOn(a).size() == 1);
        String id = activeOn(a).get(0);
        assertThat(activeOn(b)).doesNotContain(id);

        Follow live = follow(b, id);
        assertThat(live.response().statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(20)).until(() -> live.output().contains("first"));
        // Live: 'first' is here while it still runs on A ('second' and the result come 3 s later).
        assertThat(live.resultArrived()).isFalse();
        live.ended().get(30, java.util.concurrent.TimeUnit.SECONDS);
        JsonNode result = live.events().get(live.events().size() - 1);
        assertThat(result.get("type").asString()).isEqualTo("result");
        assertThat(result.get("result").get("stdout").asString()).isEqualTo("first\nsecond\n");
        assertThat(result.get("result").get("node").asString()).isEqualTo(a.nodeId());
        JsonNode answered = json(spilled.get(30, java.util.concurrent.TimeUnit.SECONDS), 200);
        assertThat(answered.get("executionId").asString()).isEqualTo(id);
        json(filler.get(30, java.util.concurrent.TimeUnit.SECONDS), 200);
    }

    private static HttpResponse<String> send(ClusterServe node, String body) {
        try {
            return node.send(ClusterServe.USER, "POST", "/v1/executions", body);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    @Order(1)
    void anExecutionOnAIsFollowedAndFedThroughB() throws Exception {
        String id = background(ECHO);
        // B has only the record (no output): A's running placeholder carries the output so far.
        JsonNode shown = json(b.send(ClusterServe.USER, "GET", "/v1/executions/" + id, null), 200);
        assertThat(shown.get("status").asString()).isEqualTo("running");
        assertThat(shown.get("stdout").asString()).isEqualTo("ready\n");

        Follow live = follow(b, id);
        assertThat(live.response().statusCode()).isEqualTo(200);
        assertThat(live.response().headers().firstValue("Content-Type").orElse("")).contains("ndjson");
        await().atMost(Duration.ofSeconds(20)).until(() -> live.output().contains("ready"));

        JsonNode written = json(stdin(b, ClusterServe.USER, id, "hello\n", false, null), 200);
        assertThat(written.get("bytesWritten").asInt()).isEqualTo(6);
        assertThat(written.get("stdinClosed").asBoolean()).isFalse();
        // Live: the echo arrives on the stream while the program still runs (no result yet).
        await().atMost(Duration.ofSeconds(20)).until(() -> live.output().contains("got:hello"));
        assertThat(live.resultArrived()).isFalse();

        // A routed header a client made up is not honoured: B forwards the call (with the key) as any other.
        String forged = a.nodeId() + ";" + System.currentTimeMillis() + ";" + "0".repeat(64);
        assertThat(json(stdin(b, ClusterServe.USER, id, "forged\n", false, forged), 200).get("bytesWritten")
                .asInt()).isEqualTo(7);
        await().atMost(Duration.ofSeconds(20)).until(() -> live.output().contains("got:forged"));
        assertThat(stdin(b, null, id, "nokey\n", false, forged).statusCode()).isEqualTo(401);
        HttpResponse<String> forgedGet = CLIENT.send(request(b, ClusterServe.USER, "/v1/executions/" + id)
                .header(ClusterSessionSigns.ROUTED_HEADER, forged).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(json(forgedGet, 200).get("stdout").asString()).contains("got:forged");

        // Another user: 404, as an unknown execution, and nothing of it reaches the program.
        assertThat(b.send(BOB, "GET", "/v1/executions/" + id, null).statusCode()).isEqualTo(404);
        assertThat(b.send(BOB, "GET", "/v1/executions/" + id + "?stream=true", null).statusCode()).isEqualTo(404);
        HttpResponse<String> bobs = stdin(b, BOB, id, "bob\n", false, null);
        assertThat(bobs.statusCode()).as(bobs.body()).isEqualTo(404);

        // MCP write_stdin through B (the Java client): carried out on A.
        try (McpSyncClient alice = mcp(b, ClusterServe.USER); McpSyncClient bob = mcp(b, BOB)) {
            McpSchema.CallToolResult r = alice.callTool(new McpSchema.CallToolRequest("write_stdin",
                    Map.of("executionId", id, "data", "via-mcp\n")));
            assertThat(r.isError()).as(r.content().toString()).isFalse();
            assertThat(ClusterServe.JSON.valueToTree(r.structuredContent()).get("bytesWritten").asInt())
                    .isEqualTo(8);
            await().atMost(Duration.ofSeconds(20)).until(() -> live.output().contains("got:via-mcp"));
            McpSchema.CallToolResult refused = bob.callTool(new McpSchema.CallToolRequest("write_stdin",
                    Map.of("executionId", id, "data", "bob\n")));
            assertThat(refused.isError()).isTrue();
            assertThat(refused.content().toString()).doesNotContain(a.nodeId());

            // MCP get_execution through B: running, with its output so far as A shows it (the shared record has none).
            McpSchema.CallToolResult seen = alice.callTool(new McpSchema.CallToolRequest("get_execution",
                    Map.of("executionId", id)));
            assertThat(seen.isError()).as(seen.content().toString()).isFalse();
            JsonNode seenResult = ClusterServe.JSON.valueToTree(seen.structuredContent());
            assertThat(seenResult.get("status").asString()).isEqualTo("running");
            assertThat(seenResult.get("stdout").asString()).isEqualTo("ready\ngot:hello\ngot:forged\ngot:via-mcp\n");
            McpSchema.CallToolResult bobSees = bob.callTool(new McpSchema.CallToolRequest("get_execution",
                    Map.of("executionId", id)));
            assertThat(bobSees.isError()).isTrue();
            assertThat(bobSees.content().toString()).contains("no execution").doesNotContain("got:");

            // eof through B ends the program; the stream ends with its result.
            JsonNode closed = json(stdin(b, ClusterServe.USER, id, "last\n", true, null), 200);
            assertThat(closed.get("stdinClosed").asBoolean()).isTrue();
            live.ended().get(30, java.util.concurrent.TimeUnit.SECONDS);
            JsonNode result = live.events().get(live.events().size() - 1);
            assertThat(result.get("type").asString()).isEqualTo("result");
            assertThat(result.get("result").get("status").asString()).isEqualTo("completed");
            assertThat(result.get("result").get("stdout").asString()).isEqualTo(
                    "ready\ngot:hello\ngot:forged\ngot:via-mcp\ngot:last\nbye\n");
            assertThat(live.output()).isEqualTo(result.get("result").get("stdout").asString());
            assertThat(live.output()).doesNotContain("bob").doesNotContain("nokey");

            // Ended: stdin answers 409 (REST), and write_stdin says it is not running (MCP).
            HttpResponse<String> late = stdin(b, ClusterServe.USER, id, "late\n", false, null);
            assertThat(late.statusCode()).as(late.body()).isEqualTo(409);
            McpSchema.CallToolResult lateMcp = alice.callTool(new McpSchema.CallToolRequest("write_stdin",
                    Map.of("executionId", id, "data", "late\n")));
            assertThat(lateMcp.isError()).isTrue();
            assertThat(lateMcp.content().toString()).contains("no running execution");
        }
    }

    /** A admits a stdin write only from the caller's key: a genuine routed header alone is no key. */
    @Test
    @Order(2)
    void aRoutedHeaderIsNoKeyOnTheNodeThatRunsIt() throws Exception {
        String id = background(ECHO);
        String target = "/v1/executions/" + id + "/stdin";
        String genuine = new ClusterSessionSigns(ClusterSecret.of(SECRET)).routed(b.nodeId(), java.time.Instant.now(),
                "POST", target);
        assertThat(stdin(a, null, id, "x\n", false, genuine).statusCode()).isEqualTo(401);
        assertThat(stdin(a, BOB, id, "x\n", false, genuine).statusCode()).isEqualTo(404);
        json(stdin(b, ClusterServe.USER, id, "", true, null), 200);
        await().atMost(Duration.ofSeconds(20)).until(() -> json(b.send(ClusterServe.USER, "GET",
                "/v1/executions/" + id, null), 200).get("status").asString().equals("completed"));
        assertThat(json(b.send(ClusterServe.USER, "GET", "/v1/executions/" + id, null), 200).get("stdout")
                .asString()).isEqualTo("ready\nbye\n");
    }

    /**
     * A killed: B answers 503 with Retry-After at once (never a hang) until the execution ends (node lost, or its
     * owner watchdog's reason).
     */
    @Test
    @Order(3)
    void aNodeThatDoesNotAnswerIs503() throws Exception {
        String id = background(ECHO);
        a.kill();
        long start = System.nanoTime();
        // A is still listed live for cluster.dead-after (1.5 s): B forwards, and A's refused connection is a 503.
        HttpResponse<String> r = stdin(b, ClusterServe.USER, id, "x\n", false, null);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(503);
        assertThat(r.headers().firstValue("Retry-After")).isPresent();
        assertThat(r.body()).contains(a.nodeId());
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
        HttpResponse<String> shown = b.send(ClusterServe.USER, "GET", "/v1/executions/" + id, null);
        assertThat(shown.statusCode()).as(shown.body()).isIn(200, 503);
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            HttpResponse<String> now = b.send(ClusterServe.USER, "GET", "/v1/executions/" + id, null);
            return now.statusCode() == 200 && !now.body().contains("\"status\":\"running\"");
        });
        // Closed "node lost" by B, unless A's owner watchdog, on this same host, closed it first.
        assertThat(json(b.send(ClusterServe.USER, "GET", "/v1/executions/" + id, null), 200).get("reason")
                .asString()).isIn("node lost: " + a.nodeId(), io.mcpsandbox.execution.SandboxServices.OWNER_DIED);
    }
}
