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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.RedisClient;
import redis.clients.jedis.params.ScanParams;
import redis.clients.jedis.resps.ScanResult;
import tools.jackson.databind.JsonNode;

/**
 * A lost node's queue adopted (docs/cluster.md, "Node lost"): node A (one slot) runs a long async execution and
 * holds more async executions waiting in its durable queue (Redis), which B shows queued (in A's order) and cancels
 * one of (through A, which holds it); A is killed (SIGKILL). The survivor B ends the
 * started one {@code error} ({@code node lost: A}), takes the waiting ones into its own queue and runs each there,
 * once; A's queue is left empty. A restarted with its id and data runs none of them again.
 */
@SystemTest
class ClusterQueueAdoptionSystemTest {
    private static final String SECRET = "queue-adoption-test-secret-0123456789abcdef";
    private static final int QUEUED = 5;
    private static final Set<String> FINAL = Set.of("completed", "timeout", "oom_killed", "output_limit",
            "terminated", "rejected", "error", "cancelled");
    @TempDir
    static Path dir;
    private static RedisServerProcess redis;
    private static RedisClient jedis;
    private static ClusterServe a;
    private static ClusterServe b;

    @BeforeAll
    static void startTwoNodes() throws Exception {
        redis = new RedisServerProcess(dir.resolve("redis"), false, null).start();
        jedis = RedisUrls.connect(RedisUrls.parse(redis.url()), Duration.ofSeconds(5), 2, "queue-adoption-test");
        Map<String, String> fast = Map.of("MCP_SANDBOX_ADMISSION_MAX_PER_USER", "20",
                "MCP_SANDBOX_CLUSTER_HEARTBEAT", "200ms", "MCP_SANDBOX_CLUSTER_DEAD_AFTER", "1s");
        Map<String, String> oneSlot = new LinkedHashMap<>(fast);
        oneSlot.put("MCP_SANDBOX_ADMISSION_MAX_CONCURRENT", "1");
        a = new ClusterServe("adopt-a", redis.url(), SECRET, true, oneSlot);
        b = new ClusterServe("adopt-b", redis.url(), SECRET, true, fast);
        ClusterServe.startAll(a, b);
        awaitActive(2);
    }

    @AfterAll
    static void stopAll() throws Exception {
        ClusterServe.closeAll(a, b);
        if (jedis != null) {
            jedis.close();
        }
        if (redis != null) {
            redis.close();
        }
    }

    private static void awaitActive(int nodes) {
        await().atMost(Duration.ofSeconds(30)).until(() -> ClusterServe.JSON.readTree(b.send(ClusterServe.ADMIN,
                "GET", "/v1/cluster", null).body()).get("counts").get("active").asInt() == nodes);
    }

    /** {@code POST /v1/executions?async=true} of this command on {@code node}: its execution id (202, queued). */
    private static String submit(ClusterServe node, String body) throws Exception {
        HttpResponse<String> r = node.send(ClusterServe.USER, "POST", "/v1/executions?async=true", body);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
        JsonNode accepted = ClusterServe.JSON.readTree(r.body());
        assertThat(accepted.get("status").asString()).as(r.body()).isEqualTo("queued");
        return accepted.get("executionId").asString();
    }

    private static JsonNode get(ClusterServe node, String id) throws Exception {
        HttpResponse<String> r = node.send(ClusterServe.USER, "GET", "/v1/executions/" + id, null);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return ClusterServe.JSON.readTree(r.body());
    }

    /** Its status as {@code node} answers now, or the HTTP code (503 while its dead node is not yet lost). */
    private static String statusOn(ClusterServe node, String id) throws Exception {
        HttpResponse<String> r = node.send(ClusterServe.USER, "GET", "/v1/executions/" + id, null);
        return r.statusCode() == 200 ? ClusterServe.JSON.readTree(r.body()).get("status").asString()
                : "HTTP " + r.statusCode();
    }

    /** The ids' views through {@code GET /v1/executions?ids=} on {@code node}, none unknown. */
    private static List<JsonNode> all(ClusterServe node, List<String> ids) throws Exception {
        HttpResponse<String> r = node.send(ClusterServe.USER, "GET", "/v1/executions?ids=" + String.join(",", ids),
                null);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode body = ClusterServe.JSON.readTree(r.body());
        assertThat(body.get("unknown").size()).as(r.body()).isZero();
        List<JsonNode> views = new ArrayList<>();
        body.get("executions").forEach(views::add);
        return views;
    }

    /** The Redis key of the sorted set of the queue that holds {@code id} now (one node's queue). */
    private static String queueHolding(String id) {
        List<String> keys = new ArrayList<>();
        String cursor = ScanParams.SCAN_POINTER_START;
        do {
            ScanResult<String> page = jedis.scan(cursor, new ScanParams().match("mcp-sandbox:queue:*:items")
                    .count(100));
            keys.addAll(page.getResult());
            cursor = page.getCursor();
        } while (!cursor.equals(ScanParams.SCAN_POINTER_START));
        List<String> holding = keys.stream().filter(k -> jedis.zscore(k, id) != null).toList();
        assertThat(holding).as("queues holding %s among %s", id, keys).hasSize(1);
        return holding.get(0);
    }

    /** The result and the record of each id, as B answers them now. */
    private static Map<String, String> ends(List<String> ids) throws Exception {
        Map<String, String> ends = new LinkedHashMap<>();
        for (String id : ids) {
            ends.put(id, b.send(ClusterServe.ADMIN, "GET", "/v1/executions/" + id, null).body()
                    + "\n" + b.send(ClusterServe.ADMIN, "GET", "/v1/executions/" + id + "/record", null).body());
        }
        return ends;
    }

    @Test
    void aLostNodesQueuedExecutionsRunOnceOnTheSurvivorAndItsStartedOneEndsNodeLost() throws Exception {
        // A's one slot: a long async execution, running on A.
        String longId = submit(a, "{\"command\":[\"sleep\",\"120\"],\"limits\":{\"timeoutMs\":300000}}");
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(get(a, longId).toString())
                .contains("\"status\":\"running\""));

        // Then more, which wait in A's queue (in Redis) behind it.
        Map<String, String> markers = new LinkedHashMap<>();
        for (int i = 0; i < QUEUED; i++) {
            String marker = "adopted-" + i + "-" + Long.toHexString(System.nanoTime());
            markers.put(submit(a, "{\"command\":[\"sh\",\"-c\",\"echo " + marker + "\"]}"), marker);
        }
        List<String> queued = List.copyOf(markers.keySet());
        for (String id : queued) {
            JsonNode v = get(a, id);
            assertThat(v.get("status").asString()).as(v.toString()).isEqualTo("queued");
        }
        String aQueue = queueHolding(queued.get(0));
        for (String id : queued) {
            assertThat(queueHolding(id)).as("each waits in A's queue").isEqualTo(aQueue);
        }
        assertThat(a.cli("executions", "list", "--queued", "--json").stdout()).contains(queued);

        // Any node answers for them while they wait (no record yet): B shows each queued, in A's order ...
        List<JsonNode> seenFromB = all(b, queued);
        assertThat(seenFromB).extracting(v -> v.get("status").asString()).containsOnly("queued");
        assertThat(seenFromB).extracting(v -> v.get("position").asInt()).containsExactly(1, 2, 3, 4, 5);
        assertThat(get(b, queued.get(3)).get("position").asInt()).isEqualTo(4);
        // ... and cancels one of them in A's queue: it never runs, and its record says so.
        String cancelled = queued.get(2);
        HttpResponse<String> cancel = b.send(ClusterServe.USER, "DELETE", "/v1/executions/" + cancelled, null);
        assertThat(cancel.statusCode()).as(cancel.body()).isEqualTo(200);
        assertThat(cancel.body()).contains("cancelled");
        assertThat(get(b, cancelled).get("status").asString()).isEqualTo("cancelled");
        assertThat(jedis.zscore(aQueue, cancelled)).isNull();
        assertThat(all(b, queued)).extracting(v -> v.get("status").asString())
                .containsExactly("queued", "queued", "cancelled", "queued", "queued");
        List<String> waiting = queued.stream().filter(id -> !id.equals(cancelled)).toList();

        String aId = a.nodeId();
        a.kill();

        // B closes the started one as lost (A's own watchdog on this host may close it first) ...
        await().atMost(Duration.ofSeconds(20)).until(() -> FINAL.contains(statusOn(b, longId)));
        JsonNode lost = get(b, longId);
        assertThat(lost.get("status").asString()).as(lost.toString()).isEqualTo("error");
        assertThat(lost.get("reason").asString()).isIn("node lost: " + aId,
                io.mcpsandbox.execution.SandboxServices.OWNER_DIED);

        // ... and runs each waiting one, once, itself.
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(250)).untilAsserted(() ->
                assertThat(all(b, waiting)).as("the queued executions of the lost node A, through B")
                        .allMatch(v -> FINAL.contains(v.get("status").asString())));
        for (JsonNode v : all(b, waiting)) {
            String id = v.get("executionId").asString();
            assertThat(v.get("status").asString()).as(v.toString()).isEqualTo("completed");
            assertThat(v.get("exitCode").asInt()).as(v.toString()).isZero();
            assertThat(v.get("stdout").asString()).as(v.toString()).isEqualTo(markers.get(id) + "\n");
            assertThat(v.get("node").asString()).as(v.toString()).isEqualTo(b.nodeId());
        }
        assertThat(jedis.zcard(aQueue)).as("A's queue is empty: " + jedis.zrange(aQueue, 0, -1)).isZero();
        ClusterServe.Run left = a.cli("executions", "list", "--queued", "--json");
        assertThat(left.exitCode()).as(left.stderr()).isZero();
        assertThat(ClusterServe.JSON.readTree(left.stdout()).size()).as("A's queue, read by its CLI: " + left.stdout())
                .isZero();

        // A back on its id and data: nothing of it runs again, nothing is rewritten.
        List<String> everyId = new ArrayList<>(queued);
        everyId.add(longId);
        Map<String, String> before = ends(everyId);
        a.start();
        assertThat(a.nodeId()).isEqualTo(aId);
        awaitActive(2);
        await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(500))
                .until(() -> ends(everyId).equals(before) && jedis.zcard(aQueue) == 0);
        assertThat(get(a, cancelled).get("status").asString()).isEqualTo("cancelled");
        for (JsonNode v : all(a, waiting)) {
            assertThat(v.get("node").asString()).as(v.toString()).isEqualTo(b.nodeId());
            assertThat(v.get("stdout").asString()).as(v.toString())
                    .isEqualTo(markers.get(v.get("executionId").asString()) + "\n");
        }
        assertThat(get(a, longId).get("status").asString()).isEqualTo("error");
    }
}
