package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.record.RedisServerProcess;
import io.mcpsandbox.testing.SystemTest;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.Jedis;
import tools.jackson.databind.JsonNode;

/**
 * Issue 17 with real {@code serve --cluster} processes: a second live server configured with a node id the cluster
 * already has is refused (exit 2, naming the id, the other's address and the fix) while the first goes on; the
 * first, killed with SIGKILL, comes back as itself while its previous run's claim is still in Redis; of two started
 * at once with one id exactly one joins. Records name the node that ran them (a plain server's name none:
 * ClusterDrainSystemTest).
 */
@SystemTest
class ClusterNodeIdSystemTest {
    private static final String SECRET = "node-id-system-secret-0123456789abcdef";
    @TempDir
    static Path dir;
    private static RedisServerProcess redis;
    private static ClusterRedis reader;

    @BeforeAll
    static void startRedis() throws Exception {
        redis = new RedisServerProcess(dir.resolve("redis"), false, null).start();
        reader = new ClusterRedis(redis.url(), ClusterSecret.of(SECRET), Duration.ofSeconds(2), Clock.systemUTC());
    }

    @AfterAll
    static void stopRedis() {
        if (reader != null) {
            reader.close();
        }
        if (redis != null) {
            redis.close();
        }
    }

    private static Map<String, String> withId(String id) {
        // A long dead-after: a restart after a kill finds its previous run's claim still there.
        return Map.of("MCP_SANDBOX_CLUSTER_NODE_ID", id, "MCP_SANDBOX_CLUSTER_DEAD_AFTER", "6s");
    }

    private static Optional<NodeView> listed(String id) {
        return reader.status().nodes().stream().filter(n -> n.id().equals(id)).findFirst();
    }

    private static JsonNode json(HttpResponse<String> r) {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return ClusterServe.JSON.readTree(r.body());
    }

    /** Runs {@code echo <word>} there; its result. */
    private static JsonNode run(ClusterServe node, String word) throws Exception {
        JsonNode result = json(node.send(ClusterServe.USER, "POST", "/v1/executions",
                "{\"command\":[\"echo\",\"" + word + "\"]}"));
        assertThat(result.get("status").asString()).as(result.toString()).isEqualTo("completed");
        assertThat(result.get("stdout").asString()).isEqualTo(word + "\n");
        return result;
    }

    /** MCP {@code get_execution} over Streamable HTTP there: the tool result's structured content. */
    private static JsonNode mcpGetExecution(ClusterServe node, String executionId) throws Exception {
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpResponse<String> init = mcp(client, node, null, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
                + "\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
                + "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}");
        assertThat(init.statusCode()).as(init.body()).isEqualTo(200);
        String session = init.headers().firstValue("Mcp-Session-Id").orElseThrow();
        mcp(client, node, session, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
        HttpResponse<String> r = mcp(client, node, session, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":"
                + "\"tools/call\",\"params\":{\"name\":\"get_execution\",\"arguments\":{\"executionId\":\""
                + executionId + "\"}}}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        String body = r.body().strip();
        String message = body.startsWith("{") ? body : body.lines().filter(l -> l.startsWith("data:"))
                .map(l -> l.substring(5).strip()).reduce((a, b) -> b).orElseThrow();
        JsonNode content = ClusterServe.JSON.readTree(message).path("result").path("structuredContent");
        assertThat(content.isObject()).as(body).isTrue();
        return content;
    }

    private static HttpResponse<String> mcp(HttpClient client, ClusterServe node, String session, String body)
            throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.port() + "/mcp"))
                .timeout(Duration.ofSeconds(30)).header("Authorization", "Bearer " + ClusterServe.token(
                        ClusterServe.USER)).header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (session != null) {
            b.header("Mcp-Session-Id", session);
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void aSecondLiveServerWithTheIdIsRefusedAndTheFirstComesBackAfterAKill() throws Exception {
        ClusterServe first = new ClusterServe("id-first", redis.url(), SECRET, true, withId("twin"));
        ClusterServe second = new ClusterServe("id-second", redis.url(), SECRET, true, withId("twin"));
        try {
            first.start();
            assertThat(first.nodeId()).isEqualTo("twin");

            ClusterServe.Refused r = second.startExpectingRefusal();
            assertThat(r.exitCode()).as(r.output()).isEqualTo(2);
            assertThat(r.output()).contains("refusing to join the cluster")
                    .contains("node id 'twin' is in use by another live server (at " + first.advertised() + ")")
                    .contains("cluster.node-id").doesNotContain(SECRET);

            // The first goes on: still listed at its address, it runs work, and its records name it.
            assertThat(listed("twin").map(NodeView::url)).contains(first.advertised());
            assertThat(listed("twin").map(NodeView::state)).contains(NodeView.ACTIVE);
            JsonNode result = run(first, "still-here");
            String id = result.get("executionId").asString();
            assertThat(result.get("node").asString()).isEqualTo("twin");
            assertThat(json(first.send(ClusterServe.USER, "GET", "/v1/executions/" + id, null)).get("node")
                    .asString()).isEqualTo("twin");
            assertThat(json(first.send(ClusterServe.USER, "GET", "/v1/executions/" + id + "/record", null))
                    .get("node").asString()).isEqualTo("twin");
            JsonNode listing = json(first.send(ClusterServe.USER, "GET", "/v1/executions", null)).get("executions");
            JsonNode listed = null;
            for (JsonNode e : listing) {
                if (e.get("executionId").asString().equals(id)) {
                    listed = e;
                }
            }
            assertThat(listed).as(listing.toString()).isNotNull();
            assertThat(listed.get("node").asString()).isEqualTo("twin");
            assertThat(mcpGetExecution(first, id).get("node").asString()).isEqualTo("twin");

            // Killed, it comes back as itself although its previous run's claim is still in Redis.
            first.kill();
            try (Jedis j = redis.client()) {
                assertThat(j.exists(NodeClaim.key("twin"))).as("the killed run's claim").isTrue();
            }
            first.start();
            assertThat(first.nodeId()).isEqualTo("twin");
            assertThat(listed("twin").map(NodeView::state)).contains(NodeView.ACTIVE);
            assertThat(listed("twin").map(NodeView::url)).contains("http://127.0.0.1:" + first.port());
            assertThat(run(first, "back").get("node").asString()).isEqualTo("twin");
        } finally {
            second.discard();
            first.close();
        }
    }

    @Test
    void ofTwoStartedAtOnceWithOneIdExactlyOneJoins() throws Exception {
        List<ClusterServe> twins = List.of(
                new ClusterServe("id-race-a", redis.url(), SECRET, true, withId("race")),
                new ClusterServe("id-race-b", redis.url(), SECRET, true, withId("race")));
        List<Path> logs = List.of(dir.resolve("race-a.log"), dir.resolve("race-b.log"));
        Process[] p = new Process[2];
        try {
            p[0] = twins.get(0).launch(logs.get(0));
            p[1] = twins.get(1).launch(logs.get(1));
            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
                    .until(() -> !p[0].isAlive() || !p[1].isAlive());
            int loser = p[0].isAlive() ? 1 : 0;
            int winner = 1 - loser;
            assertThat(p[loser].exitValue()).as(Files.readString(logs.get(loser))).isEqualTo(2);
            assertThat(Files.readString(logs.get(loser))).contains("node id 'race' is in use by another live server");
            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
                    .until(() -> Files.readString(logs.get(winner), StandardCharsets.UTF_8)
                            .contains("mcp-sandbox: cluster: node race at "));
            assertThat(p[winner].isAlive()).isTrue();
            assertThat(listed("race").map(NodeView::state)).contains(NodeView.ACTIVE);
        } finally {
            for (Process each : p) {
                if (each != null && each.isAlive()) {
                    each.destroy();
                    if (!each.waitFor(60, TimeUnit.SECONDS)) {
                        each.destroyForcibly().waitFor();
                    }
                }
            }
            for (ClusterServe t : twins) {
                t.discard();
            }
        }
        assertThat(listed("race")).as("the winner left on its clean stop").isEmpty();
    }
}
