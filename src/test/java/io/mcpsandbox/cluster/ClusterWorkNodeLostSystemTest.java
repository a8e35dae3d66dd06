package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.record.RedisServerProcess;
import io.mcpsandbox.record.RedisUrls;
import io.mcpsandbox.testing.SystemTest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.Protocol;
import redis.clients.jedis.RedisClient;
import redis.clients.jedis.StreamEntryID;
import redis.clients.jedis.params.XAddParams;
import redis.clients.jedis.params.XReadGroupParams;
import redis.clients.jedis.resps.StreamEntry;
import tools.jackson.databind.JsonNode;

/**
 * Issue 17 step 2, a node lost: node B runs an execution spilled from A and holds an entry it took but never
 * started; B is killed (SIGKILL). A's caller gets {@code error} ({@code node lost: B}) soon after B is dead, and the
 * unstarted entry runs on A, once. B restarted with its id leaves the closed record as it is.
 */
@SystemTest
class ClusterWorkNodeLostSystemTest {
    private static final String SECRET = "node-lost-test-secret-0123456789abcdef";
    @TempDir
    static Path dir;
    private static RedisServerProcess redis;
    private static RedisClient jedis;
    private static ClusterServe a;
    private static ClusterServe b;
    private static final Pattern BLOCKED = Pattern.compile(" flags=[A-Za-z]*b");

    @BeforeAll
    static void startTwoNodes() throws Exception {
        redis = new RedisServerProcess(dir.resolve("redis"), false, null).start();
        jedis = RedisUrls.connect(RedisUrls.parse(redis.url()), Duration.ofSeconds(5), 2, "node-lost-test");
        Map<String, String> oneSlot = Map.of("MCP_SANDBOX_ADMISSION_MAX_CONCURRENT", "1",
                "MCP_SANDBOX_ADMISSION_MAX_PER_USER", "10", "MCP_SANDBOX_ADMISSION_QUEUE_TIMEOUT", "60s",
                "MCP_SANDBOX_CLUSTER_HEARTBEAT", "200ms", "MCP_SANDBOX_CLUSTER_DEAD_AFTER", "1s");
        a = new ClusterServe("lost-a", redis.url(), SECRET, true, oneSlot);
        b = new ClusterServe("lost-b", redis.url(), SECRET, true, oneSlot);
        List.of(a, b).stream().map(n -> CompletableFuture.runAsync(() -> {
            try {
                n.start();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        })).toList().forEach(CompletableFuture::join);
        await().atMost(Duration.ofSeconds(20)).until(() -> ClusterServe.JSON.readTree(a.send(ClusterServe.ADMIN,
                "GET", "/v1/cluster", null).body()).get("counts").get("active").asInt() == 2);
    }

    @AfterAll
    static void stopAll() throws Exception {
        for (ClusterServe s : new ClusterServe[] {a, b}) {
            if (s != null) {
                s.close();
            }
        }
        if (jedis != null) {
            jedis.close();
        }
        if (redis != null) {
            redis.close();
        }
    }

    private static CompletableFuture<HttpResponse<String>> run(ClusterServe node, String script) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return node.send(ClusterServe.USER, "POST", "/v1/executions",
                        "{\"command\":[\"sh\",\"-c\",\"" + script + "\"]}");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    private static int active(ClusterServe node) throws Exception {
        return ClusterServe.JSON.readTree(node.send(ClusterServe.USER, "GET", "/v1/executions?active=true", null)
                .body()).get("executions").size();
    }

    private static double remoteRuns(ClusterServe node) throws Exception {
        Matcher m = Pattern.compile("mcp_sandbox_cluster_executions_total\\{path=\"remote\"} ([0-9.]+)")
                .matcher(node.send(ClusterServe.USER, "GET", "/metrics", null).body());
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }

    /** No worker of any node is blocked in XREADGROUP now (CLIENT LIST: its last command, flag b). */
    private static boolean noWorkerReads() {
        String clients = new String((byte[]) jedis.sendCommand(Protocol.Command.CLIENT, "LIST"),
                java.nio.charset.StandardCharsets.UTF_8);
        return clients.lines().noneMatch(l -> l.contains("cmd=xreadgroup") && BLOCKED.matcher(l).find());
    }

    @Test
    void aLostNodesStartedExecutionEndsNodeLostAndItsUnstartedEntryRunsOnceElsewhere() throws Exception {
        // A's one slot is taken; the next request spills to B, which runs it.
        CompletableFuture<HttpResponse<String>> local = run(a, "sleep 10; echo local-done");
        await().atMost(Duration.ofSeconds(20)).until(() -> active(a) == 1);
        CompletableFuture<HttpResponse<String>> spilled = run(a, "sleep 120; echo never");
        await().atMost(Duration.ofSeconds(20)).until(() -> active(b) == 1);
        assertThat(remoteRuns(b)).isEqualTo(1.0);

        // An entry B took and never started (no claim): written and read as B by hand, while no node has a slot
        // (and so no worker waits in a read that would take it first).
        await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(50))
                .until(ClusterWorkNodeLostSystemTest::noWorkerReads);
        String handedOn = UUID.randomUUID().toString();
        ExecutionRequest request = ExecutionRequest.builder().command("sh", "-c", "echo handed-on")
                .userId(ClusterServe.USER).build();
        jedis.xadd(ClusterWork.streamKey("runc"), XAddParams.xAddParams(), WorkEntry.fields(handedOn, a.nodeId(),
                System.currentTimeMillis(), WorkEntry.json(request), ClusterSecret.of(SECRET)));
        List<Map.Entry<String, List<StreamEntry>>> taken = jedis.xreadGroup(ClusterWork.GROUP, b.nodeId(),
                XReadGroupParams.xReadGroupParams().count(1),
                Map.of(ClusterWork.streamKey("runc"), StreamEntryID.XREADGROUP_UNDELIVERED_ENTRY));
        assertThat(taken).hasSize(1);
        assertThat(taken.get(0).getValue().get(0).getFields().get("id")).isEqualTo(handedOn);

        long killedAt = System.nanoTime();
        b.kill();

        HttpResponse<String> lost = spilled.get(20, TimeUnit.SECONDS);
        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killedAt);
        assertThat(lost.statusCode()).as(lost.body()).isBetween(200, 599);
        JsonNode result = ClusterServe.JSON.readTree(lost.body());
        assertThat(result.get("status").asString()).as(lost.body()).isEqualTo("error");
        // On one host the dead server's owner watchdog may close it first ("the process that ran it died"); a lost
        // host has none, and a survivor closes it "node lost".
        assertThat(result.get("reason").asString()).isIn("node lost: " + b.nodeId(),
                io.mcpsandbox.execution.SandboxServices.OWNER_DIED);
        // dead-after (1 s) plus a few heartbeats, the reaper and the origin's notice: well under ten seconds.
        assertThat(tookMs).isLessThan(10_000);
        JsonNode record = ClusterServe.JSON.readTree(a.send(ClusterServe.USER, "GET", "/v1/executions/"
                + result.get("executionId").asString(), null).body());
        assertThat(record.get("status").asString()).isEqualTo("error");

        // A's own execution was not touched; then its freed slot runs the handed-on entry, once.
        HttpResponse<String> mine = local.get(30, TimeUnit.SECONDS);
        assertThat(ClusterServe.JSON.readTree(mine.body()).get("stdout").asString()).isEqualTo("local-done\n");
        await().atMost(Duration.ofSeconds(20)).until(() -> {
            HttpResponse<String> r = a.send(ClusterServe.USER, "GET", "/v1/executions/" + handedOn, null);
            return r.statusCode() == 200 && ClusterServe.JSON.readTree(r.body()).get("status").asString()
                    .equals("completed");
        });
        JsonNode ran = ClusterServe.JSON.readTree(a.send(ClusterServe.USER, "GET", "/v1/executions/" + handedOn,
                null).body());
        assertThat(ran.get("stdout").asString()).isEqualTo("handed-on\n");
        assertThat(jedis.get(ClusterWork.claimKey(handedOn))).isEqualTo(a.nodeId());
        assertThat(remoteRuns(a)).as("executions A took from the stream: the handed-on one").isEqualTo(1.0);
        await().atMost(Duration.ofSeconds(5)).until(() -> jedis.xpending(ClusterWork.streamKey("runc"),
                ClusterWork.GROUP).getTotal() == 0);
        assertThat(jedis.exists(ClusterWork.runningKey(b.nodeId()))).isFalse();

        // B comes back with its id: its start-up recovery finds the lost execution final and leaves it so.
        String lostId = result.get("executionId").asString();
        String closed = a.send(ClusterServe.ADMIN, "GET", "/v1/executions/" + lostId + "/record", null).body();
        String closedResult = a.send(ClusterServe.ADMIN, "GET", "/v1/executions/" + lostId, null).body();
        String bId = b.nodeId();
        b.start();
        assertThat(b.nodeId()).isEqualTo(bId);
        await().atMost(Duration.ofSeconds(20)).until(() -> ClusterServe.JSON.readTree(a.send(ClusterServe.ADMIN,
                "GET", "/v1/cluster", null).body()).get("counts").get("active").asInt() == 2);
        HttpResponse<String> again = run(b, "echo back").get(30, TimeUnit.SECONDS);
        assertThat(ClusterServe.JSON.readTree(again.body()).get("stdout").asString()).isEqualTo("back\n");
        assertThat(a.send(ClusterServe.ADMIN, "GET", "/v1/executions/" + lostId + "/record", null).body())
                .isEqualTo(closed);
        // Closed as it was before B came back: "node lost", or its owner watchdog's reason (see above).
        assertThat(ClusterServe.JSON.readTree(closedResult).get("reason").asString()).isIn("node lost: " + bId,
                io.mcpsandbox.execution.SandboxServices.OWNER_DIED);
        assertThat(a.send(ClusterServe.ADMIN, "GET", "/v1/executions/" + lostId, null).body())
                .isEqualTo(closedResult);
        assertThat(jedis.xpending(ClusterWork.streamKey("runc"), ClusterWork.GROUP).getTotal()).isZero();
    }
}
