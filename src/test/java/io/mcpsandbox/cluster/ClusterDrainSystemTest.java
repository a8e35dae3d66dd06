package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.record.RedisServerProcess;
import io.mcpsandbox.testing.SystemTest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/**
 * {@code cluster drain} against a real node: new executions (sync, async, batch) and sessions are refused with
 * 503 naming the drain, while a running execution and an open session go on; {@code cluster undrain} restores.
 * A server not in cluster mode answers {@code /v1/cluster} with 404.
 */
@SystemTest
class ClusterDrainSystemTest {
    private static final String SECRET = "drain-test-secret-0123456789abcdef-0123";
    @TempDir
    static Path dir;
    private static RedisServerProcess redis;
    private static ClusterServe node;
    private static ClusterServe plain;

    @BeforeAll
    static void start() throws Exception {
        redis = new RedisServerProcess(dir.resolve("redis"), false, null).start();
        node = new ClusterServe("drain", redis.url(), SECRET, true, Map.of());
        plain = new ClusterServe("plain", redis.url(), SECRET, false, Map.of());
        CompletableFuture<Void> startPlain = CompletableFuture.runAsync(() -> {
            try {
                plain.start();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        node.start();
        startPlain.join();
    }

    @AfterAll
    static void stop() throws Exception {
        CompletableFuture<Void> closePlain = CompletableFuture.runAsync(() -> {
            try {
                if (plain != null) {
                    plain.close();
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        if (node != null) {
            node.close();
        }
        closePlain.join();
        if (redis != null) {
            redis.close();
        }
    }

    private static String state() throws Exception {
        HttpResponse<String> r = node.send(ClusterServe.ADMIN, "GET", "/v1/cluster", null);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode self = null;
        for (JsonNode n : ClusterServe.JSON.readTree(r.body()).get("nodes")) {
            if (n.get("id").asString().equals(node.nodeId())) {
                self = n;
            }
        }
        assertThat(self).isNotNull();
        return self.get("state").asString();
    }

    private static HttpResponse<String> post(String path, String body) throws Exception {
        return node.send(ClusterServe.USER, "POST", path, body);
    }

    @Test
    void drainRefusesNewWorkWhileRunningWorkAndOpenSessionsFinish() throws Exception {
        HttpResponse<String> opened = post("/v1/sessions", "{}");
        assertThat(opened.statusCode()).as(opened.body()).isEqualTo(201);
        String session = ClusterServe.JSON.readTree(opened.body()).get("sessionId").asString();

        CompletableFuture<HttpResponse<String>> running = CompletableFuture.supplyAsync(() -> {
            try {
                return post("/v1/executions", "{\"command\":[\"sh\",\"-c\",\"sleep 3; echo finished\"]}");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        await().atMost(Duration.ofSeconds(20)).until(() -> ClusterServe.JSON.readTree(
                node.send(ClusterServe.USER, "GET", "/v1/executions?active=true", null).body()).get("executions")
                .size() == 1);

        ClusterServe.Run drain = node.cli("cluster", "drain", node.nodeId());
        assertThat(drain.exitCode()).as(drain.stderr()).isZero();
        await().atMost(Duration.ofSeconds(5)).until(() -> state().equals("draining"));

        for (HttpResponse<String> refused : List.of(
                post("/v1/executions", "{\"command\":[\"echo\",\"new\"]}"),
                post("/v1/executions?async=true", "{\"command\":[\"echo\",\"new\"]}"),
                post("/v1/executions/batch", "{\"executions\":[{\"command\":[\"echo\",\"new\"]}]}"),
                post("/v1/sessions", "{}"))) {
            assertThat(refused.statusCode()).as(refused.body()).isEqualTo(503);
            assertThat(refused.body()).contains("node " + node.nodeId() + " is draining");
        }
        HttpResponse<String> inSession = post("/v1/sessions/" + session + "/executions",
                "{\"command\":[\"echo\",\"still-open\"]}");
        assertThat(inSession.statusCode()).as(inSession.body()).isEqualTo(200);
        assertThat(ClusterServe.JSON.readTree(inSession.body()).get("stdout").asString()).isEqualTo("still-open\n");

        HttpResponse<String> finished = running.get();
        assertThat(finished.statusCode()).as(finished.body()).isEqualTo(200);
        JsonNode result = ClusterServe.JSON.readTree(finished.body());
        assertThat(result.get("status").asString()).isEqualTo("completed");
        assertThat(result.get("stdout").asString()).isEqualTo("finished\n");
        assertThat(node.send(ClusterServe.USER, "GET", "/metrics", null).body())
                .contains("mcp_sandbox_cluster_nodes{state=\"draining\"} 1.0");

        ClusterServe.Run undrain = node.cli("cluster", "undrain", node.nodeId());
        assertThat(undrain.exitCode()).as(undrain.stderr()).isZero();
        await().atMost(Duration.ofSeconds(5)).until(() -> state().equals("active"));
        HttpResponse<String> again = post("/v1/executions", "{\"command\":[\"echo\",\"back\"]}");
        assertThat(again.statusCode()).as(again.body()).isEqualTo(200);
        assertThat(ClusterServe.JSON.readTree(again.body()).get("stdout").asString()).isEqualTo("back\n");

        ClusterServe.Run unknown = node.cli("cluster", "drain", "no-such-node");
        assertThat(unknown.exitCode()).isEqualTo(5);
        assertThat(unknown.stderr()).contains("no node 'no-such-node'").contains(node.nodeId());
        assertThat(node.send(ClusterServe.USER, "DELETE", "/v1/sessions/" + session, null).statusCode())
                .isBetween(200, 204);
    }

    @Test
    void aServerNotInClusterModeHasNoClusterEndpoint() throws Exception {
        HttpResponse<String> r = plain.send(ClusterServe.ADMIN, "GET", "/v1/cluster", null);
        assertThat(r.statusCode()).isEqualTo(404);
        assertThat(r.body()).contains("not in cluster mode");
        assertThat(plain.send(ClusterServe.USER, "GET", "/v1/cluster", null).statusCode()).isEqualTo(403);
    }

    @Test
    void aServerNotInClusterModeNamesNoNodeInItsRecords() throws Exception {
        HttpResponse<String> ran = plain.send(ClusterServe.USER, "POST", "/v1/executions",
                "{\"command\":[\"echo\",\"plain\"]}");
        assertThat(ran.statusCode()).as(ran.body()).isEqualTo(200);
        tools.jackson.databind.JsonNode result = ClusterServe.JSON.readTree(ran.body());
        assertThat(result.get("status").asString()).isEqualTo("completed");
        assertThat(result.has("node")).as(ran.body()).isFalse();
        HttpResponse<String> record = plain.send(ClusterServe.USER, "GET", "/v1/executions/"
                + result.get("executionId").asString() + "/record", null);
        assertThat(record.statusCode()).as(record.body()).isEqualTo(200);
        assertThat(ClusterServe.JSON.readTree(record.body()).has("node")).as(record.body()).isFalse();
    }
}
