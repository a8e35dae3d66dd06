package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.record.RedisServerProcess;
import io.mcpsandbox.testing.SystemTest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/**
 * Issue 17 step 1 with real processes: two {@code serve --cluster} nodes on one redis-server see each other in
 * {@code cluster status}, {@code /v1/cluster} and {@code /metrics}; a node killed with SIGKILL shows dead to the
 * other after {@code cluster.dead-after} (its restart: {@link ClusterNodeRestartSystemTest}; refusals:
 * {@link ClusterJoinRefusalSystemTest}).
 */
@SystemTest
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterMembershipSystemTest {
    private static final String SECRET = "membership-test-secret-0123456789abcdef";
    @TempDir
    static Path dir;
    private static RedisServerProcess redis;
    private static ClusterServe a;
    private static ClusterServe b;

    @BeforeAll
    static void startTwoNodes() throws Exception {
        redis = new RedisServerProcess(dir.resolve("redis"), false, null).start();
        a = new ClusterServe("a", redis.url(), SECRET, true, Map.of());
        b = new ClusterServe("b", redis.url(), SECRET, true, Map.of());
        CompletableFuture<ClusterServe> startA = CompletableFuture.supplyAsync(() -> started(a));
        CompletableFuture<ClusterServe> startB = CompletableFuture.supplyAsync(() -> started(b));
        startA.join();
        startB.join();
    }

    private static ClusterServe started(ClusterServe s) {
        try {
            return s.start();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @AfterAll
    static void stopAll() throws Exception {
        List<CompletableFuture<Void>> closing = new java.util.ArrayList<>();
        for (ClusterServe s : new ClusterServe[] {a, b}) {
            if (s != null) {
                closing.add(CompletableFuture.runAsync(() -> {
                    try {
                        s.close();
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }));
            }
        }
        closing.forEach(CompletableFuture::join);
        if (redis != null) {
            redis.close();
        }
    }

    /** {@code GET /v1/cluster} on a node, as an admin: quicker to poll than a CLI process. */
    private static JsonNode api(ClusterServe node) throws Exception {
        HttpResponse<String> r = node.send(ClusterServe.ADMIN, "GET", "/v1/cluster", null);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return ClusterServe.JSON.readTree(r.body());
    }

    private static Map<String, JsonNode> byId(JsonNode status) {
        Map<String, JsonNode> nodes = new HashMap<>();
        status.get("nodes").forEach(n -> nodes.put(n.get("id").asString(), n));
        return nodes;
    }

    @Test
    @Order(1)
    void twoNodesSeeEachOtherInStatusAndOnTheApi() throws Exception {
        assertThat(a.nodeId()).isNotEqualTo(b.nodeId());
        assertThat(a.advertised()).isEqualTo("http://127.0.0.1:" + a.port());

        JsonNode status = a.status();
        Map<String, JsonNode> nodes = byId(status);
        assertThat(nodes).containsOnlyKeys(a.nodeId(), b.nodeId());
        for (ClusterServe s : List.of(a, b)) {
            JsonNode n = nodes.get(s.nodeId());
            assertThat(n.get("state").asString()).isEqualTo("active");
            assertThat(n.get("url").asString()).isEqualTo("http://127.0.0.1:" + s.port());
            assertThat(StreamSupport.stream(n.get("runtimes").spliterator(), false).map(JsonNode::asString))
                    .containsExactly("runc");
            assertThat(n.get("capacity").get("maxInFlight").asInt()).isPositive();
            assertThat(n.get("capacity").get("active").asInt()).isZero();
        }
        assertThat(status.get("counts").get("active").asInt()).isEqualTo(2);

        HttpResponse<String> api = b.send(ClusterServe.ADMIN, "GET", "/v1/cluster", null);
        assertThat(api.statusCode()).as(api.body()).isEqualTo(200);
        JsonNode body = ClusterServe.JSON.readTree(api.body());
        assertThat(body.get("self").asString()).isEqualTo(b.nodeId());
        assertThat(byId(body)).containsOnlyKeys(a.nodeId(), b.nodeId());
        assertThat(byId(body).get(a.nodeId()).get("url").asString()).isEqualTo(a.advertised());

        HttpResponse<String> user = b.send(ClusterServe.USER, "GET", "/v1/cluster", null);
        assertThat(user.statusCode()).isEqualTo(403);
        assertThat(b.send(null, "GET", "/v1/cluster", null).statusCode()).isEqualTo(401);

        String metrics = a.send(ClusterServe.USER, "GET", "/metrics", null).body();
        assertThat(metrics).contains("mcp_sandbox_cluster_nodes{state=\"active\"} 2.0")
                .contains("mcp_sandbox_cluster_nodes{state=\"dead\"} 0.0");

        ClusterServe.Run text = a.cli("cluster", "status");
        assertThat(text.exitCode()).isZero();
        assertThat(text.stdout()).contains(a.nodeId()).contains(b.nodeId()).contains("2 active, 0 draining, 0 dead");
    }

    @Test
    @Order(2)
    void aKilledNodeShowsDeadToTheOthers() throws Exception {
        String id = b.nodeId();
        b.kill();
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(300))
                .until(() -> byId(api(a)).get(id).get("state").asString().equals("dead"));
        JsonNode dead = byId(api(a)).get(id);
        assertThat(dead.get("url").asString()).as("its last address").isEqualTo(b.advertised());
        assertThat(dead.get("heartbeatAt").isNull()).isFalse();
        assertThat(byId(api(a)).get(a.nodeId()).get("state").asString()).isEqualTo("active");
        await().atMost(Duration.ofSeconds(5)).until(() -> a.send(ClusterServe.USER, "GET", "/metrics", null).body()
                .contains("mcp_sandbox_cluster_nodes{state=\"dead\"} 1.0"));
    }
}
