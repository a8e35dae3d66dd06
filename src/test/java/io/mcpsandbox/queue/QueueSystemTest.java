package io.mcpsandbox.queue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.record.RedisServerProcess;
import io.mcpsandbox.testing.ServeProcess;
import io.mcpsandbox.testing.SystemTest;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.params.AfterParameterizedClassInvocation;
import org.junit.jupiter.params.BeforeParameterizedClassInvocation;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * Issue 18's "Tests and numbers" against a real {@code serve --http} child JVM, over REST only, once with the
 * SQLite default and once with Redis (a redis-server of the test's own): thousands of async python programs from
 * four users, fairly served and each recorded once; kill -9 of the server mid-queue and a restart on the same
 * data (each queued one runs exactly once); priority, cancel, the queue listing, the limits and the metrics.
 * One server per store for the class (the kill test, last, restarts it), plus one with tight limits.
 */
@SystemTest
@ParameterizedClass(name = "store: {0}")
@ValueSource(strings = {"sqlite", "redis"})
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class QueueSystemTest {
    private static final JsonMapper JSON = JsonMapper.shared();
    /** admission.max-concurrent of the main server: what {@link #holdQueue} fills. */
    private static final int SLOTS = 8;
    /** The kill test's batch: 500 end before the kill, the rest after the restart (on SQLite; see bulk). */
    private static final int KILL_TOTAL = 700;
    private static final int KILL_AFTER = 500;
    private static final String ADMIN = "root";
    private static final List<String> USERS = List.of("alice", "bob", "carol", "dave", "eve", "erin", "frank");
    private static final Set<String> FINAL = Set.of("completed", "timeout", "oom_killed", "output_limit",
            "terminated", "rejected", "error", "cancelled");
    /** The most ids one {@code ?ids=} may ask for (docs/api.md): their request line fits in 8 KiB. */
    private static final int MAX_IDS = 150;
    /** Ids per {@code GET /v1/executions?ids=} while polling, and when fetching results: the most allowed. */
    private static final int POLL_CHUNK = MAX_IDS;
    private static final int FETCH_CHUNK = MAX_IDS;

    private static RedisServerProcess redis;
    private static Path redisDir;
    private static ServeProcess server;
    /** Executions the main server's queue has started so far, and cancelled (what /metrics must count). */
    private static final AtomicInteger started = new AtomicInteger();
    private static final AtomicInteger cancelled = new AtomicInteger();

    @Parameter
    String store;

    @BeforeParameterizedClassInvocation
    static void startServer(String store) throws Exception {
        started.set(0);
        cancelled.set(0);
        if (store.equals("redis")) {
            redisDir = Files.createTempDirectory("mcp-queue-test-redis-");
            redis = new RedisServerProcess(redisDir, false, null).start();
        }
        server = serve("main", redisUrl(0),
                Map.of("MCP_SANDBOX_ADMISSION_MAX_CONCURRENT", Integer.toString(SLOTS)));
        server.start();
    }

    @AfterParameterizedClassInvocation
    static void stopServer() throws Exception {
        try {
            if (server != null) {
                server.close();
            }
        } finally {
            server = null;
            if (redis != null) {
                redis.close();
                redis = null;
                DeleteTree.delete(redisDir);
            }
        }
    }

    /**
     * The size of a bulk case: issue 18's numbers in full on the SQLite default, a quarter of them on Redis. The
     * paths are the same on both (the store's own behaviour is QueueStoreContract's, on a real redis-server); the
     * full numbers twice cost five minutes of the suite.
     */
    private int bulk(int full) {
        return store.equals("sqlite") ? full : full / 4;
    }

    /** The Redis URL of database {@code db}, or null on SQLite. */
    private static String redisUrl(int db) {
        return redis == null ? null : redis.url() + "/" + db;
    }

    // ------------------------------------------------------------------------------------------------ a

    /**
     * 2,000 python {@code print(i)} from four users, dave sending 1,700: all complete with their own output,
     * each id recorded once, and the three small users wait a fraction of what dave waits (round-robin). On Redis
     * a quarter of that ({@link #bulk}).
     */
    @Test
    @Order(1)
    void twoThousandFromFourUsersAllRunOnceAndSmallUsersWaitLess() throws Exception {
        Map<String, Integer> counts = new LinkedHashMap<>();
        counts.put("alice", bulk(100));
        counts.put("bob", bulk(100));
        counts.put("carol", bulk(100));
        counts.put("dave", bulk(1700));
        int total = counts.values().stream().mapToInt(Integer::intValue).sum();
        Tracker tracker = new Tracker(server);
        Map<String, List<Integer>> indices = new HashMap<>();
        int next = 0;
        for (var e : counts.entrySet()) {
            indices.put(e.getKey(), IntStream.range(next, next + e.getValue()).boxed().toList());
            next += e.getValue();
        }
        // Both paths: part of each user's programs in batches, the rest one async POST each.
        List<Runnable> submitters = new ArrayList<>();
        for (String user : List.of("alice", "bob", "carol")) {
            List<Integer> mine = indices.get(user);
            submitters.add(() -> {
                tracker.submitBatch(user, mine.subList(0, mine.size() / 2));
                mine.subList(mine.size() / 2, mine.size()).forEach(i -> tracker.submitOne(user, i));
            });
        }
        // dave: two batches of 500 and two runs of 350 single POSTs, on two threads (on SQLite).
        List<Integer> dave = indices.get("dave");
        int inBatch = bulk(500);
        int singles = (dave.size() - 2 * inBatch) / 2;
        submitters.add(() -> {
            tracker.submitBatch("dave", dave.subList(0, inBatch));
            dave.subList(2 * inBatch, 2 * inBatch + singles).forEach(i -> tracker.submitOne("dave", i));
        });
        submitters.add(() -> {
            tracker.submitBatch("dave", dave.subList(inBatch, 2 * inBatch));
            dave.subList(2 * inBatch + singles, dave.size()).forEach(i -> tracker.submitOne("dave", i));
        });

        long t0 = System.nanoTime();
        Thread poller = Thread.ofPlatform().name("queue-poller").start(tracker::pollUntilStopped);
        try {
            List<Thread> threads = submitters.stream().map(r -> Thread.ofPlatform().start(r)).toList();
            for (Thread t : threads) {
                t.join();
            }
            double submitSeconds = (System.nanoTime() - t0) / 1e9;
            assertThat(tracker.failures).as("submission failures").isEmpty();
            assertThat(tracker.submitted).hasSize(total);
            System.out.printf(Locale.ROOT, "[%s] %d submitted in %.1f s%n", store, total, submitSeconds);
            tracker.awaitAllFinal(Duration.ofMinutes(10));
        } finally {
            tracker.stop();
            poller.join();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        started.addAndGet(total);
        System.out.printf(Locale.ROOT, "[%s] %d ended %.1f s after the first submission: %.1f executions/s%s%n",
                store, total, seconds, total / seconds, seconds > 240 ? " (over the 4 minutes asked)" : "");

        Set<String> ids = tracker.submitted.keySet();
        assertThat(new HashSet<>(tracker.ownerOf.values())).hasSize(4);
        for (String user : counts.keySet()) {
            List<String> mine = tracker.idsOf(user);
            assertThat(mine).as("%s's ids", user).hasSize(counts.get(user)).doesNotHaveDuplicates();
            Map<String, JsonNode> results = fetch(server, user, mine, FETCH_CHUNK);
            for (String id : mine) {
                JsonNode r = results.get(id);
                assertThat(r.path("status").asString()).as("%s: %s", id, r).isEqualTo("completed");
                assertThat(r.path("exitCode").asInt(-1)).as("%s: %s", id, r).isZero();
                assertThat(r.path("stdout").asString()).as(id).isEqualTo(tracker.submitted.get(id) + "\n");
            }
            // The store's listing: each id once, complete for the small users, dave's newest 1,000 of 1,700.
            List<String> listed = listing(server, user, 1000).stream().map(n -> n.path("executionId").asString())
                    .toList();
            assertThat(listed).as("%s's records", user).doesNotHaveDuplicates();
            assertThat(listed.stream().filter(ids::contains).count()).as("%s's records of this case", user)
                    .isEqualTo(Math.min(1000, counts.get(user)));
        }

        Map<String, Double> medians = new LinkedHashMap<>();
        for (String user : counts.keySet()) {
            medians.put(user, median(tracker.waitsMs(user)));
        }
        System.out.printf(Locale.ROOT, "[%s] median wait (submission to start, %s), ms: %s%n", store,
                tracker.waitSource(), medians);
        for (String small : List.of("alice", "bob", "carol")) {
            assertThat(medians.get(small)).as("%s's median wait against dave's %s ms (%s)", small,
                    medians.get("dave"), medians).isLessThan(0.5 * medians.get("dave"));
        }
        // The API's most ids in one fetch.
        List<String> most150 = tracker.idsOf("dave").subList(0, MAX_IDS);
        HttpResponse<String> most = server.send("dave", "GET", "/v1/executions?ids=" + String.join(",", most150),
                null);
        assertThat(most.statusCode()).as("GET /v1/executions?ids= with the most ids the API allows: %s",
                most.body().length() > 300 ? most.body().substring(0, 300) : most.body()).isEqualTo(200);
        assertThat(list(JSON.readTree(most.body()).path("executions"))).hasSize(MAX_IDS);
    }

    // ------------------------------------------------------------------------------------------------ c

    /** One user's 50 queued programs and then one with priority 10: that one starts first. */
    @Test
    @Order(2)
    void aPriorityItemStartsBeforeTheUsersEarlierOnes() throws Exception {
        List<String> blockers = holdQueue();
        List<String> low = new ArrayList<>();
        String urgent;
        try {
            for (int i = 0; i < 50; i++) {
                low.add(submit(server, "carol", print(200_000 + i)));
            }
            ObjectNode body = python("import time; time.sleep(3); print('urgent')");
            body.put("priority", 10);
            urgent = submit(server, "carol", body.toString());
            JsonNode view = get(server, "carol", urgent);
            assertThat(view.path("status").asString()).as(view.toString()).isEqualTo("queued");
            assertThat(view.path("priority").asInt()).as(view.toString()).isEqualTo(10);
            assertThat(view.path("position").asInt()).as("the first to run: %s", view).isEqualTo(1);
            JsonNode queue = queue(server, "carol", null);
            assertThat(queue.path("depth").asInt()).isEqualTo(51);
            assertThat(queue.path("items").get(0).path("executionId").asString()).as(queue.toString())
                    .isEqualTo(urgent);

            // One slot freed: the next to start must be the urgent one, and it holds the slot for 3 s.
            release(blockers.subList(0, 1));
            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(50))
                    .until(() -> !get(server, "carol", urgent).path("status").asString().equals("queued"));
            Map<String, JsonNode> lows = fetch(server, "carol", low, FETCH_CHUNK);
            assertThat(lows.values()).as("carol's earlier ones when the urgent one started")
                    .allSatisfy(n -> assertThat(n.path("status").asString()).as(n.toString()).isEqualTo("queued"));
        } finally {
            release(blockers);
        }
        List<String> all = new ArrayList<>(low);
        all.add(urgent);
        Map<String, JsonNode> results = awaitFinal(server, "carol", all, Duration.ofMinutes(3));
        started.addAndGet(SLOTS + all.size());
        assertThat(results.get(urgent).path("stdout").asString()).isEqualTo("urgent\n");
        for (int i = 0; i < low.size(); i++) {
            JsonNode r = results.get(low.get(i));
            assertThat(r.path("status").asString()).as(r.toString()).isEqualTo("completed");
            assertThat(r.path("stdout").asString()).isEqualTo((200_000 + i) + "\n");
        }
    }

    // ------------------------------------------------------------------------------------------------ d

    /** DELETE of a queued execution: cancelled at once, and it never runs; only its owner may. */
    @Test
    @Order(3)
    void aCancelledQueuedExecutionNeverRuns() throws Exception {
        List<String> blockers = holdQueue();
        String first;
        String victim;
        String last;
        try {
            first = submit(server, "alice", print(300_001));
            victim = submit(server, "alice", print(300_002));
            last = submit(server, "alice", print(300_003));

            HttpResponse<String> foreign = server.send("bob", "DELETE", "/v1/executions/" + victim, null);
            assertThat(foreign.statusCode()).as("bob cancelling alice's: %s", foreign.body()).isEqualTo(404);
            assertThat(get(server, "alice", victim).path("status").asString()).isEqualTo("queued");

            HttpResponse<String> cancel = server.send("alice", "DELETE", "/v1/executions/" + victim, null);
            assertThat(cancel.statusCode()).as(cancel.body()).isEqualTo(200);
            JsonNode answer = JSON.readTree(cancel.body());
            assertThat(answer.path("executionId").asString()).isEqualTo(victim);
            assertThat(answer.path("outcome").asString()).isEqualTo("cancelled");
            cancelled.incrementAndGet();

            JsonNode view = get(server, "alice", victim);
            assertThat(view.path("status").asString()).as(view.toString()).isEqualTo("cancelled");
            assertThat(view.path("reason").asString("")).as(view.toString()).isNotBlank();
            HttpResponse<String> again = server.send("alice", "DELETE", "/v1/executions/" + victim, null);
            assertThat(again.statusCode()).as("cancelling it twice: %s", again.body()).isEqualTo(409);
            JsonNode queue = queue(server, "alice", null);
            assertThat(queue.path("depth").asInt()).as(queue.toString()).isEqualTo(2);
            assertThat(list(queue.path("items")).stream().map(i -> i.path("executionId").asString()).toList())
                    .containsExactly(first, last);
        } finally {
            release(blockers);
        }
        Map<String, JsonNode> results = awaitFinal(server, "alice", List.of(first, last), Duration.ofMinutes(2));
        started.addAndGet(SLOTS + 2);
        assertThat(results.get(first).path("stdout").asString()).isEqualTo("300001\n");
        assertThat(results.get(last).path("stdout").asString()).isEqualTo("300003\n");
        Thread.sleep(1000); // had it been dispatched anyway, it would have run by now, after the later one
        JsonNode after = get(server, "alice", victim);
        assertThat(after.path("status").asString()).as(after.toString()).isEqualTo("cancelled");
        assertThat(after.path("stdout").asString("")).isEmpty();
        List<JsonNode> records = listing(server, "alice", 1000).stream()
                .filter(n -> n.path("executionId").asString().equals(victim)).toList();
        assertThat(records).as("alice's record of the cancelled one").hasSize(1);
        assertThat(records.getFirst().path("status").asString()).isEqualTo("cancelled");
    }

    // ------------------------------------------------------------------------------------------------ f

    /** {@code GET /v1/queue}: a user sees their own items, an admin all of them, in run order 1..n. */
    @Test
    @Order(4)
    void theQueueShowsOwnItemsToAUserAndAllToAnAdminInRunOrder() throws Exception {
        List<String> blockers = holdQueue();
        Map<String, List<String>> mine = new LinkedHashMap<>();
        List<String> all = new ArrayList<>();
        try {
            int n = 400_000;
            for (String user : List.of("alice", "alice", "alice", "bob", "bob", "bob", "carol", "carol")) {
                String id = submit(server, user, print(n++));
                mine.computeIfAbsent(user, k -> new ArrayList<>()).add(id);
                all.add(id);
            }
            JsonNode adminView = queue(server, ADMIN, null);
            List<JsonNode> items = list(adminView.path("items"));
            assertThat(adminView.path("depth").asInt()).as(adminView.toString()).isEqualTo(8);
            assertThat(items.stream().map(i -> i.path("executionId").asString()).toList())
                    .containsExactlyInAnyOrderElementsOf(all);
            assertThat(items.stream().map(i -> i.path("position").asInt()).toList())
                    .containsExactly(1, 2, 3, 4, 5, 6, 7, 8);
            assertThat(items).allSatisfy(i -> {
                assertThat(i.path("queuedAt").asString("")).isNotBlank();
                assertThat(i.path("estimatedStartAt").asString("")).isNotBlank();
            });
            // Round-robin: the first three to run are the three users' first ones; each user's own order kept.
            assertThat(items.subList(0, 3).stream().map(i -> i.path("executionId").asString()).toList())
                    .containsExactlyInAnyOrder(mine.get("alice").getFirst(), mine.get("bob").getFirst(),
                            mine.get("carol").getFirst());
            Map<String, Integer> adminPositions = new HashMap<>();
            items.forEach(i -> adminPositions.put(i.path("executionId").asString(), i.path("position").asInt()));
            for (var e : mine.entrySet()) {
                JsonNode own = queue(server, e.getKey(), null);
                List<JsonNode> ownItems = list(own.path("items"));
                assertThat(own.path("depth").asInt()).as(own.toString()).isEqualTo(e.getValue().size());
                assertThat(ownItems.stream().map(i -> i.path("executionId").asString()).toList())
                        .as("%s's queue", e.getKey()).containsExactlyElementsOf(e.getValue());
                assertThat(ownItems).allSatisfy(i -> assertThat(i.path("userId").asString()).isEqualTo(e.getKey()));
                for (JsonNode i : ownItems) {
                    String id = i.path("executionId").asString();
                    assertThat(i.path("position").asInt()).as("%s in %s's queue and in all", id, e.getKey())
                            .isEqualTo(adminPositions.get(id));
                }
            }
            JsonNode limited = queue(server, ADMIN, 2);
            assertThat(list(limited.path("items"))).hasSize(2);
            assertThat(limited.path("depth").asInt()).isEqualTo(8);
            assertThat(server.send("alice", "GET", "/v1/queue?limit=abc", null).statusCode()).isEqualTo(400);

            String aliceFirst = mine.get("alice").getFirst();
            JsonNode view = get(server, "alice", aliceFirst);
            assertThat(view.path("status").asString()).isEqualTo("queued");
            assertThat(view.path("position").asInt()).isEqualTo(adminPositions.get(aliceFirst));
            assertThat(view.path("queuedAt").asString("")).isNotBlank();
            assertThat(view.path("estimatedStartAt").asString("")).isNotBlank();
            assertThat(view.path("priority").asInt(-1)).isZero();
            assertThat(server.send("bob", "GET", "/v1/executions/" + aliceFirst, null).statusCode())
                    .isEqualTo(404);
            HttpResponse<String> foreign = server.send("bob", "GET", "/v1/executions?ids=" + aliceFirst, null);
            assertThat(foreign.statusCode()).isEqualTo(200);
            assertThat(list(JSON.readTree(foreign.body()).path("unknown")).stream().map(JsonNode::asString))
                    .as(foreign.body()).containsExactly(aliceFirst);
            assertThat(list(JSON.readTree(foreign.body()).path("executions"))).isEmpty();
        } finally {
            release(blockers);
        }
        for (var e : mine.entrySet()) {
            awaitFinal(server, e.getKey(), e.getValue(), Duration.ofMinutes(2)).values().forEach(r ->
                    assertThat(r.path("status").asString()).as(r.toString()).isEqualTo("completed"));
        }
        started.addAndGet(SLOTS + all.size());
        assertThat(queue(server, ADMIN, null).path("depth").asInt()).isZero();
    }

    // ------------------------------------------------------------------------------------------------ g

    /** After the runs above: the queue's series in /metrics, the depth back to 0. */
    @Test
    @Order(5)
    void metricsShowTheQueue() throws Exception {
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            Metrics m = metrics(server);
            return m.sum("mcp_sandbox_queue_depth") == 0 && m.sum("mcp_sandbox_queue_users") == 0;
        });
        Metrics m = metrics(server);
        assertThat(m.labelsOf("mcp_sandbox_queue_depth")).as(m.text)
                .anySatisfy(l -> assertThat(l).contains("class=\"largest_user\""))
                .anySatisfy(l -> assertThat(l).contains("class=\"other_users\""));
        assertThat(m.sum("mcp_sandbox_queue_started_total")).as(m.text).isGreaterThanOrEqualTo(started.get());
        assertThat(m.sum("mcp_sandbox_queue_cancelled_total")).as(m.text).isGreaterThanOrEqualTo(cancelled.get());
        assertThat(m.has("mcp_sandbox_queue_wait_seconds_count") || m.has("mcp_sandbox_queue_wait_seconds"))
                .as("the wait histogram: %s", m.text).isTrue();
        if (m.has("mcp_sandbox_queue_wait_seconds_count")) {
            assertThat(m.sum("mcp_sandbox_queue_wait_seconds_count")).isGreaterThanOrEqualTo(started.get());
        }
    }

    // ------------------------------------------------------------------------------------------------ e

    /**
     * A server with queue.max-per-user=5 and one slot held by a sleeping program: the 6th queued item of a
     * user is refused with 429 and Retry-After while another user is accepted; batches are checked item by
     * item and bounded; the new fields and parameters are bounded.
     */
    @Test
    @Order(6)
    void beyondItsLimitsTheQueueRefusesAndBatchesAreCheckedPerItem() throws Exception {
        try (ServeProcess limited = serve("limits", redisUrl(1), Map.of(
                "MCP_SANDBOX_QUEUE_MAX_PER_USER", "5", "MCP_SANDBOX_ADMISSION_MAX_CONCURRENT", "1",
                "MCP_SANDBOX_POOL_ENABLED", "false"))) {
            limited.start();
            String sleeper = submit(limited, "alice", sleeper());
            await().atMost(Duration.ofSeconds(60))
                    .until(() -> get(limited, "alice", sleeper).path("status").asString().equals("running"));
            for (int i = 0; i < 5; i++) {
                submit(limited, "alice", print(500_000 + i));
            }
            HttpResponse<String> sixth = limited.send("alice", "POST", "/v1/executions?async=true",
                    print(500_005));
            assertThat(sixth.statusCode()).as(sixth.body()).isEqualTo(429);
            assertThat(sixth.headers().firstValue("Retry-After")).as("Retry-After")
                    .hasValueSatisfying(v -> assertThat(Integer.parseInt(v)).isPositive());
            assertThat(JSON.readTree(sixth.body()).path("error").asString()).contains("queue.max-per-user");
            submit(limited, "bob", print(500_010)); // another user is still served

            // A batch: each request on its own; index 3 names no known language.
            List<String> bodies = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                bodies.add(i == 3 ? "{\"language\":\"cobol\",\"code\":\"x\",\"runtime\":\"runc\"}"
                        : print(510_000 + i));
            }
            HttpResponse<String> mixed = limited.send("carol", "POST", "/v1/executions/batch", batch(bodies));
            assertThat(mixed.statusCode()).as(mixed.body()).isEqualTo(202);
            JsonNode mixedAnswer = JSON.readTree(mixed.body());
            assertThat(list(mixedAnswer.path("accepted")).stream().map(a -> a.path("index").asInt()).toList())
                    .containsExactly(0, 1, 2, 4);
            List<JsonNode> rejected = list(mixedAnswer.path("rejected"));
            assertThat(rejected).hasSize(1);
            assertThat(rejected.getFirst().path("index").asInt()).isEqualTo(3);
            assertThat(rejected.getFirst().path("error").asString("").toLowerCase(Locale.ROOT)
                    + rejected.getFirst().path("field").asString("")).contains("language");
            for (JsonNode a : list(mixedAnswer.path("accepted"))) {
                assertThat(get(limited, "carol", a.path("executionId").asString()).path("status").asString())
                        .isEqualTo("queued");
            }

            // Hostile: a batch of 7 from a user allowed 5 must not get past the per-user limit.
            List<String> seven = IntStream.range(0, 7).mapToObj(i -> print(520_000 + i)).toList();
            HttpResponse<String> flood = limited.send("dave", "POST", "/v1/executions/batch", batch(seven));
            assertThat(flood.statusCode()).as(flood.body()).isIn(202, 429);
            JsonNode floodAnswer = JSON.readTree(flood.body());
            if (flood.statusCode() == 202) {
                assertThat(list(floodAnswer.path("accepted"))).hasSize(5);
                assertThat(list(floodAnswer.path("rejected"))).hasSize(2).allSatisfy(r ->
                        assertThat(r.path("error").asString()).contains("queue.max-per-user"));
            }
            assertThat(queue(limited, "dave", null).path("depth").asInt()).isLessThanOrEqualTo(5);

            HttpResponse<String> tooMany = limited.send("erin", "POST", "/v1/executions/batch",
                    batch(IntStream.range(0, 1001).mapToObj(i -> print(i)).toList()));
            assertThat(tooMany.statusCode()).as(tooMany.body()).isEqualTo(400);
            assertThat(tooMany.body()).contains("queue.max-batch");
            assertThat(queue(limited, "erin", null).path("depth").asInt()).isZero();
            HttpResponse<String> noneValid = limited.send("erin", "POST", "/v1/executions/batch",
                    batch(List.of("{\"language\":\"cobol\",\"code\":\"x\"}", "{\"command\":[]}")));
            assertThat(noneValid.statusCode()).as(noneValid.body()).isEqualTo(400);
            assertThat(list(JSON.readTree(noneValid.body()).path("rejected"))).hasSize(2);
            for (String notABatch : List.of("[]", "{}", "{\"executions\":{}}", "{\"executions\":[1]}")) {
                assertThat(limited.send("erin", "POST", "/v1/executions/batch", notABatch).statusCode())
                        .as(notABatch).isEqualTo(400);
            }
            assertThat(queue(limited, "erin", null).path("depth").asInt()).isZero();

            for (String priority : List.of("101", "-101", "\"high\"", "1.5")) {
                ObjectNode body = python("print(1)");
                HttpResponse<String> r = limited.send("erin", "POST", "/v1/executions?async=true",
                        body.toString().replaceFirst("}$", ",\"priority\":" + priority + "}"));
                assertThat(r.statusCode()).as("priority %s: %s", priority, r.body()).isEqualTo(400);
                assertThat(JSON.readTree(r.body()).path("field").asString("")).isEqualTo("priority");
            }
            String tooManyIds = String.join(",", IntStream.range(0, MAX_IDS + 1)
                    .mapToObj(i -> UUID.randomUUID().toString()).toList());
            assertThat(limited.send("erin", "GET", "/v1/executions?ids=" + tooManyIds, null).statusCode())
                    .as("151 ids").isEqualTo(400);

            Metrics m = metrics(limited);
            assertThat(m.labelsOf("mcp_sandbox_queue_rejected_total")).as(m.text)
                    .anySatisfy(l -> assertThat(l).contains("limit="));
            assertThat(m.sum("mcp_sandbox_queue_rejected_total")).isGreaterThanOrEqualTo(1);
            release(limited, "alice", List.of(sleeper));
        }
    }

    // ------------------------------------------------------------------------------------------------ b

    /**
     * 700 queued in one batch; kill -9 of the server once 500 have ended (a quarter of that on Redis, {@link
     * #bulk}); a server on the same data (and Redis) runs the rest: each id ends once, the ones running at the
     * kill end {@code error} with a reason, the rest completed with their own index; none lost, none run twice.
     */
    @Test
    @Order(10)
    void aServerKilledMidQueueRunsEachQueuedOneExactlyOnceAfterRestart() throws Exception {
        int base = 100_000;
        int killTotal = bulk(KILL_TOTAL);
        int killAfter = bulk(KILL_AFTER);
        List<String> bodies = IntStream.range(0, killTotal).mapToObj(i -> print(base + i)).toList();
        HttpResponse<String> answer = server.send("frank", "POST", "/v1/executions/batch", batch(bodies));
        assertThat(answer.statusCode()).as(answer.body()).isEqualTo(202);
        JsonNode accepted = JSON.readTree(answer.body());
        assertThat(list(accepted.path("rejected"))).isEmpty();
        Map<String, Integer> indexOf = new LinkedHashMap<>();
        for (JsonNode a : list(accepted.path("accepted"))) {
            indexOf.put(a.path("executionId").asString(), base + a.path("index").asInt());
        }
        assertThat(indexOf).hasSize(killTotal);
        List<String> ids = List.copyOf(indexOf.keySet());

        Map<String, JsonNode> endedBeforeKill = new HashMap<>();
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        while (endedBeforeKill.size() < killAfter) {
            assertThat(System.nanoTime()).as("%d ended within 5 minutes (%d)", killAfter, endedBeforeKill.size())
                    .isLessThan(deadline);
            List<String> open = ids.stream().filter(id -> !endedBeforeKill.containsKey(id)).toList();
            fetch(server, "frank", open, POLL_CHUNK).forEach((id, r) -> {
                if (FINAL.contains(r.path("status").asString())) {
                    endedBeforeKill.put(id, r);
                }
            });
            Thread.sleep(100);
        }
        server.kill();
        Instant killedAt = Instant.now();
        System.out.printf(Locale.ROOT, "[%s] killed with %d of %d seen ended%n", store, endedBeforeKill.size(),
                killTotal);
        server.start();

        Map<String, JsonNode> results = awaitFinal(server, "frank", ids, Duration.ofMinutes(8));
        Map<String, List<String>> idsByStatus = new HashMap<>();
        Map<String, List<String>> idsByStdout = new HashMap<>();
        for (String id : ids) {
            JsonNode r = results.get(id);
            String status = r.path("status").asString();
            idsByStatus.computeIfAbsent(status, k -> new ArrayList<>()).add(id);
            if (status.equals("completed")) {
                assertThat(r.path("stdout").asString()).as("%s: %s", id, r).isEqualTo(indexOf.get(id) + "\n");
                idsByStdout.computeIfAbsent(r.path("stdout").asString(), k -> new ArrayList<>()).add(id);
            } else {
                assertThat(status).as("%s: %s", id, r).isEqualTo("error");
                assertThat(r.path("reason").asString("")).as("%s: %s", id, r).isNotBlank();
                assertThat(endedBeforeKill).as("ended before the kill, error after: %s", r).doesNotContainKey(id);
            }
        }
        System.out.printf(Locale.ROOT, "[%s] after the restart: %s%n", store, idsByStatus.entrySet().stream()
                .map(e -> e.getKey() + " " + e.getValue().size()).toList());
        assertThat(idsByStdout.values()).as("an index completed under two ids")
                .allSatisfy(v -> assertThat(v).hasSize(1));
        assertThat(idsByStatus.getOrDefault("error", List.of())).as("running at the kill")
                .hasSizeLessThanOrEqualTo(SLOTS);
        endedBeforeKill.forEach((id, before) -> assertThat(results.get(id).path("stdout").asString())
                .isEqualTo(before.path("stdout").asString()));

        // The records: each id once, and those that ended before the kill were not run again after it.
        Map<String, JsonNode> records = new HashMap<>();
        for (JsonNode n : listing(server, "frank", 1000)) {
            assertThat(records.put(n.path("executionId").asString(), n)).as("listed twice: %s", n).isNull();
        }
        assertThat(records.keySet()).containsExactlyInAnyOrderElementsOf(ids);
        long completedAfterKill = 0;
        for (String id : ids) {
            Instant ended = instant(records.get(id).path("endedAt"));
            assertThat(ended).as("endedAt of %s", records.get(id)).isNotNull();
            if (endedBeforeKill.containsKey(id)) {
                assertThat(ended).as("%s ended before the kill, ran again? %s", id, records.get(id))
                        .isBefore(killedAt);
            } else if (records.get(id).path("status").asString().equals("completed") && ended.isAfter(killedAt)) {
                completedAfterKill++;
            }
        }
        // The new server started each of the rest once: its counter equals what completed after the kill.
        Metrics m = metrics(server);
        assertThat(m.sum("mcp_sandbox_queue_started_total")).as("started by the restarted server")
                .isEqualTo(completedAfterKill);
        assertThat(m.sum("mcp_sandbox_queue_depth")).isZero();
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /** Fills every slot of the main server with eve's sleeping programs (running), so that later ones queue. */
    private static List<String> holdQueue() throws Exception {
        List<String> blockers = new ArrayList<>();
        for (int i = 0; i < SLOTS; i++) {
            blockers.add(submit(server, "eve", sleeper()));
        }
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200)).until(() ->
                fetch(server, "eve", blockers, FETCH_CHUNK).values().stream()
                        .allMatch(r -> r.path("status").asString().equals("running")));
        return blockers;
    }

    private static void release(List<String> blockers) throws Exception {
        release(server, "eve", blockers);
    }

    /** Ends sleeping programs (DELETE of a running one: 202; already ended: 409). */
    private static void release(ServeProcess s, String user, List<String> blockers) throws Exception {
        for (String id : blockers) {
            HttpResponse<String> r = s.send(user, "DELETE", "/v1/executions/" + id, null);
            assertThat(r.statusCode()).as(r.body()).isIn(200, 202, 409);
        }
    }

    private static String sleeper() {
        return "{\"command\":[\"sleep\",\"120\"],\"runtime\":\"runc\",\"limits\":{\"timeoutMs\":150000}}";
    }

    private static ObjectNode python(String code) {
        ObjectNode body = JSON.createObjectNode();
        body.put("language", "python");
        body.put("code", code);
        body.put("runtime", "runc");
        return body;
    }

    private static String print(int i) {
        return python("print(" + i + ")").toString();
    }

    private static String batch(List<String> bodies) {
        return "{\"executions\":[" + String.join(",", bodies) + "]}";
    }

    /** One async POST: 202, queued, Location; its id. */
    static String submit(ServeProcess s, String user, String body) throws Exception {
        HttpResponse<String> r = s.send(user, "POST", "/v1/executions?async=true", body);
        assertThat(r.statusCode()).as("%s: %s", body, r.body()).isEqualTo(202);
        JsonNode n = JSON.readTree(r.body());
        String id = n.path("executionId").asString("");
        assertThat(id).as(r.body()).isNotBlank();
        assertThat(n.path("status").asString()).as(r.body()).isEqualTo("queued");
        assertThat(n.path("position").asInt(0)).as(r.body()).isPositive();
        assertThat(r.headers().firstValue("Location")).as("Location").hasValueSatisfying(l ->
                assertThat(l).endsWith("/v1/executions/" + id));
        return id;
    }

    private static JsonNode get(ServeProcess s, String user, String id) throws Exception {
        HttpResponse<String> r = s.send(user, "GET", "/v1/executions/" + id, null);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body());
    }

    private static JsonNode queue(ServeProcess s, String user, Integer limit) throws Exception {
        HttpResponse<String> r = s.send(user, "GET", "/v1/queue" + (limit == null ? "" : "?limit=" + limit), null);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body());
    }

    /** {@code GET /v1/executions?ids=} in chunks: every id known, answered in the order asked. */
    static Map<String, JsonNode> fetch(ServeProcess s, String user, Collection<String> ids, int chunk)
            throws Exception {
        List<String> all = List.copyOf(ids);
        Map<String, JsonNode> found = new LinkedHashMap<>();
        for (int from = 0; from < all.size(); from += chunk) {
            List<String> asked = all.subList(from, Math.min(all.size(), from + chunk));
            HttpResponse<String> r = s.send(user, "GET", "/v1/executions?ids=" + String.join(",", asked), null);
            assertThat(r.statusCode()).as("%d ids: %s", asked.size(), r.body()).isEqualTo(200);
            JsonNode answer = JSON.readTree(r.body());
            assertThat(list(answer.path("unknown"))).as("unknown ids").isEmpty();
            List<JsonNode> executions = list(answer.path("executions"));
            assertThat(executions.stream().map(e -> e.path("executionId").asString()).toList())
                    .as("answered in the order asked").containsExactlyElementsOf(asked);
            executions.forEach(e -> found.put(e.path("executionId").asString(), e));
        }
        return found;
    }

    /** Polls until every id has a final result (at most {@code timeout}); the final results. */
    static Map<String, JsonNode> awaitFinal(ServeProcess s, String user, Collection<String> ids, Duration timeout)
            throws Exception {
        Map<String, JsonNode> done = new HashMap<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (done.size() < ids.size()) {
            List<String> open = ids.stream().filter(id -> !done.containsKey(id)).toList();
            assertThat(System.nanoTime()).as("%d of %d ended within %s", done.size(), ids.size(), timeout)
                    .isLessThan(deadline);
            fetch(s, user, open, POLL_CHUNK).forEach((id, r) -> {
                if (FINAL.contains(r.path("status").asString())) {
                    done.put(id, r);
                }
            });
            if (done.size() < ids.size()) {
                Thread.sleep(200);
            }
        }
        return fetch(s, user, ids, FETCH_CHUNK);
    }

    /** {@code GET /v1/executions?limit=N}: the user's records, newest first. */
    private static List<JsonNode> listing(ServeProcess s, String user, int limit) throws Exception {
        HttpResponse<String> r = s.send(user, "GET", "/v1/executions?limit=" + limit, null);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return list(JSON.readTree(r.body()).path("executions"));
    }

    private static List<JsonNode> list(JsonNode array) {
        List<JsonNode> out = new ArrayList<>();
        array.forEach(out::add);
        return out;
    }

    /** An instant in a result or record: ISO-8601 text, or epoch seconds (with a fraction) or milliseconds. */
    static Instant instant(JsonNode n) {
        if (n == null || n.isNull() || n.isMissingNode()) {
            return null;
        }
        if (n.isString()) {
            return Instant.parse(n.asString());
        }
        double v = n.asDouble();
        return v > 1e11 ? Instant.ofEpochMilli((long) v) : Instant.ofEpochSecond((long) v, (long) ((v % 1) * 1e9));
    }

    static double median(List<Double> values) {
        List<Double> sorted = values.stream().sorted().toList();
        if (sorted.isEmpty()) {
            return Double.NaN;
        }
        int m = sorted.size() / 2;
        return sorted.size() % 2 == 1 ? sorted.get(m) : (sorted.get(m - 1) + sorted.get(m)) / 2;
    }

    private static Metrics metrics(ServeProcess s) throws Exception {
        HttpResponse<String> r = s.send("alice", "GET", "/metrics", null);
        assertThat(r.statusCode()).isEqualTo(200);
        return new Metrics(r.body());
    }

    /** A Prometheus text exposition. */
    record Metrics(String text) {
        private List<String> samples(String name) {
            return text.lines().filter(l -> !l.startsWith("#"))
                    .filter(l -> l.startsWith(name + "{") || l.startsWith(name + " ")).toList();
        }

        boolean has(String name) {
            return !samples(name).isEmpty();
        }

        /** The sum of a series over its labels; NaN when it is missing. */
        double sum(String name) {
            List<String> s = samples(name);
            return s.isEmpty() ? Double.NaN
                    : s.stream().mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
        }

        List<String> labelsOf(String name) {
            return samples(name).stream().map(l -> l.substring(0, l.lastIndexOf(' '))).toList();
        }
    }

    /**
     * Case a's bookkeeping: what was submitted when and by whom, and when each was first seen out of the
     * queue (a poller asks for the ones not seen so, in small chunks).
     */
    static final class Tracker {
        private final ServeProcess s;
        /** id -> index printed. */
        final Map<String, Integer> submitted = new ConcurrentHashMap<>();
        final Map<String, String> ownerOf = new ConcurrentHashMap<>();
        final Map<String, Long> submittedAt = new ConcurrentHashMap<>();
        final Map<String, Long> seenStartedAt = new ConcurrentHashMap<>();
        final Map<String, JsonNode> finals = new ConcurrentHashMap<>();
        final List<String> failures = Collections.synchronizedList(new ArrayList<>());
        private volatile boolean stopped;

        Tracker(ServeProcess s) {
            this.s = s;
        }

        void submitOne(String user, int index) {
            long t0 = System.nanoTime();
            try {
                String id = submit(s, user, print(index));
                note(user, id, index, t0);
            } catch (Exception | AssertionError e) {
                failures.add(user + " " + index + ": " + e);
            }
        }

        void submitBatch(String user, List<Integer> indices) {
            long t0 = System.nanoTime();
            try {
                HttpResponse<String> r = s.send(user, "POST", "/v1/executions/batch",
                        batch(indices.stream().map(QueueSystemTest::print).toList()));
                assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
                JsonNode answer = JSON.readTree(r.body());
                assertThat(list(answer.path("rejected"))).as(r.body()).isEmpty();
                List<JsonNode> accepted = list(answer.path("accepted"));
                assertThat(accepted).hasSize(indices.size());
                for (JsonNode a : accepted) {
                    note(user, a.path("executionId").asString(), indices.get(a.path("index").asInt()), t0);
                }
            } catch (Exception | AssertionError e) {
                failures.add(user + " batch of " + indices.size() + ": " + e);
            }
        }

        private void note(String user, String id, int index, long t0) {
            submittedAt.put(id, t0);
            ownerOf.put(id, user);
            if (submitted.put(id, index) != null) {
                failures.add("id " + id + " answered twice");
            }
        }

        List<String> idsOf(String user) {
            return ownerOf.entrySet().stream().filter(e -> e.getValue().equals(user)).map(Map.Entry::getKey)
                    .toList();
        }

        /** Until stopped: the ids not yet seen started, each user's, asked for every second. */
        void pollUntilStopped() {
            while (!stopped) {
                try {
                    for (String user : Set.copyOf(ownerOf.values())) {
                        List<String> open = idsOf(user).stream().filter(id -> !finals.containsKey(id)).toList();
                        for (var e : fetch(s, user, open, POLL_CHUNK).entrySet()) {
                            String status = e.getValue().path("status").asString();
                            long now = System.nanoTime();
                            if (!status.equals("queued")) {
                                seenStartedAt.putIfAbsent(e.getKey(), now);
                            }
                            if (FINAL.contains(status)) {
                                finals.put(e.getKey(), e.getValue());
                            }
                        }
                    }
                    Thread.sleep(1000); // a light poll: the server has 2,000 programs to run
                } catch (InterruptedException e) {
                    return;
                } catch (Exception | AssertionError e) {
                    failures.add("poll: " + e);
                    stopped = true;
                }
            }
        }

        void awaitAllFinal(Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (finals.size() < submitted.size()) {
                assertThat(failures).isEmpty();
                assertThat(System.nanoTime()).as("%d of %d ended within %s", finals.size(), submitted.size(),
                        timeout).isLessThan(deadline);
                Thread.sleep(500);
            }
        }

        void stop() {
            stopped = true;
        }

        /** The server's own times when the final result has them (queuedAt, startedAt), else what was seen. */
        String waitSource() {
            JsonNode any = finals.values().iterator().next();
            return any.hasNonNull("queuedAt") && any.hasNonNull("startedAt") ? "the results' queuedAt/startedAt"
                    : "first seen out of the queue by a poller every ~1 s";
        }

        List<Double> waitsMs(String user) {
            List<Double> waits = new ArrayList<>();
            for (String id : idsOf(user)) {
                JsonNode r = finals.get(id);
                Instant queuedAt = instant(r.get("queuedAt"));
                Instant startedAt = instant(r.get("startedAt"));
                if (queuedAt != null && startedAt != null) {
                    waits.add(Duration.between(queuedAt, startedAt).toNanos() / 1e6);
                } else {
                    waits.add((seenStartedAt.get(id) - submittedAt.get(id)) / 1e6);
                }
            }
            return waits;
        }
    }

    /**
     * A {@code serve --http} child JVM with the test's API keys (alice, bob, carol, dave, eve, erin, frank; root
     * with an admin key), the OCI runtimes only and the settings given; killed (SIGKILL) and started again on the
     * same directories.
     */
    private static ServeProcess serve(String name, String redisUrl, Map<String, String> settings) throws IOException {
        Map<String, String> env = new HashMap<>();
        // The OCI runtimes only: a Docker test sandbox would leave an image of this data directory behind.
        env.put("MCP_SANDBOX_RUNTIMES_ALLOWED", "runc,runsc");
        List<String> keys = new ArrayList<>();
        USERS.forEach(u -> keys.add(token(u) + ":" + u));
        keys.add(token(ADMIN) + ":" + ADMIN + ":admin");
        env.put("MCP_SANDBOX_API_KEYS", String.join(",", keys));
        if (redisUrl != null) {
            env.put("MCP_SANDBOX_REDIS_URL", redisUrl);
        }
        env.putAll(settings);
        return new ServeProcess("mcp-queue-test-" + name, env, QueueSystemTest::token, Duration.ofSeconds(120),
                Duration.ofSeconds(120));
    }

    static String token(String user) {
        return "queue-test-" + user + "-key-0123456789abcdef";
    }
}
