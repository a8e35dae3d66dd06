package io.mcpsandbox.api;

import static io.mcpsandbox.api.ApiServerFixture.KEY_ALICE;
import static io.mcpsandbox.api.ApiServerFixture.KEY_BOB;
import static io.mcpsandbox.api.ApiServerFixture.KEY_ROOT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.config.ServerConfig.AdmissionLimits;
import io.mcpsandbox.testing.SystemTest;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The durable queue through REST and MCP (docs/queue.md) against a real server that serves the queue, with a
 * single execution slot: a long {@code sleep} holds it whenever a test needs items to wait.
 */
@SystemTest
class QueueRestApiTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final AdmissionLimits ONE_SLOT = new AdmissionLimits(1, 2, 4, Duration.ofSeconds(30));
    private static final String PRINT_42 = "{\"language\":\"python\",\"code\":\"print(6*7)\"}";
    private static final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static ApiServerFixture fixture;

    @BeforeAll
    static void start() throws Exception {
        fixture = ApiServerFixture.startQueued(ONE_SLOT, Map.of("MCP_SANDBOX_QUEUE_MAX_BATCH", "3"));
    }

    @AfterAll
    static void stop() throws Exception {
        if (fixture != null) {
            fixture.close();
        }
    }

    /** Each test leaves nothing queued or running for the next. */
    @AfterEach
    void nothingWaitsOrRuns() {
        drained(fixture);
    }

    @Test
    void anAsyncExecutionWaitsInTheQueueThenRuns() throws Exception {
        String holder = hold(fixture);
        HttpResponse<String> r = send(fixture, "POST", "/v1/executions?async=true", KEY_ALICE, PRINT_42);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
        JsonNode accepted = json(r);
        String id = accepted.get("executionId").asString();
        assertThat(accepted.get("status").asString()).isEqualTo("queued");
        assertThat(accepted.get("position").asInt()).isEqualTo(1);
        assertThat(Instant.parse(accepted.get("estimatedStartAt").asString())).isAfter(Instant.now().minusSeconds(5));
        assertThat(r.headers().firstValue("Location")).hasValue("/v1/executions/" + id);

        HttpResponse<String> seen = send(fixture, "GET", "/v1/executions/" + id, KEY_ALICE, null);
        assertThat(seen.statusCode()).as(seen.body()).isEqualTo(200);
        JsonNode queued = json(seen);
        assertThat(queued.get("executionId").asString()).isEqualTo(id);
        assertThat(queued.get("status").asString()).isEqualTo("queued");
        assertThat(queued.get("position").asInt()).isEqualTo(1);
        assertThat(queued.get("priority").asInt()).isZero();
        assertThat(Instant.parse(queued.get("queuedAt").asString())).isBefore(Instant.now().plusSeconds(1));
        Instant.parse(queued.get("estimatedStartAt").asString());
        // Someone else's queued execution looks like no execution at all, and cannot be cancelled.
        assertThat(send(fixture, "GET", "/v1/executions/" + id, KEY_BOB, null).statusCode()).isEqualTo(404);
        assertThat(send(fixture, "DELETE", "/v1/executions/" + id, KEY_BOB, null).statusCode()).isEqualTo(404);

        release(fixture, holder);
        JsonNode done = awaitFinal(fixture, KEY_ALICE, id);
        assertThat(done.get("status").asString()).as(done.toString()).isEqualTo("completed");
        assertThat(done.get("stdout").asString()).isEqualTo("42\n");
    }

    @Test
    void aQueuedExecutionCancelledNeverRuns() throws Exception {
        String holder = hold(fixture);
        String id = queue(fixture, KEY_ALICE, "{\"language\":\"python\",\"code\":\"print('ran')\"}");

        HttpResponse<String> cancel = send(fixture, "DELETE", "/v1/executions/" + id, KEY_ALICE, null);
        assertThat(cancel.statusCode()).as(cancel.body()).isEqualTo(200);
        assertThat(json(cancel).get("executionId").asString()).isEqualTo(id);
        assertThat(json(cancel).get("outcome").asString()).isEqualTo("cancelled");
        assertThat(status(fixture, KEY_ALICE, id)).isEqualTo("cancelled");

        // One queued after it runs once the slot is free: the dispatcher went past the cancelled one.
        String after = queue(fixture, KEY_ALICE, PRINT_42);
        release(fixture, holder);
        assertThat(awaitFinal(fixture, KEY_ALICE, after).get("status").asString()).isEqualTo("completed");
        JsonNode cancelled = json(send(fixture, "GET", "/v1/executions/" + id, KEY_ALICE, null));
        assertThat(cancelled.get("status").asString()).as(cancelled.toString()).isEqualTo("cancelled");
        assertThat(cancelled.path("stdout").asString("")).doesNotContain("ran");
        assertThat(send(fixture, "DELETE", "/v1/executions/" + id, KEY_ALICE, null).statusCode()).isEqualTo(409);
    }

    @Test
    void aQueuedExecutionHasNoStdinAndNoStreamYet() throws Exception {
        String holder = hold(fixture);
        String id = queue(fixture, KEY_ALICE, "{\"command\":[\"cat\"],\"keepStdinOpen\":true}");

        HttpRequest stdin = HttpRequest.newBuilder(URI.create(fixture.url("/v1/executions/" + id + "/stdin")))
                .header("Authorization", "Bearer " + KEY_ALICE).header("Content-Type", "application/octet-stream")
                .POST(HttpRequest.BodyPublishers.ofString("hello\n")).timeout(Duration.ofSeconds(30)).build();
        HttpResponse<String> written = client.send(stdin, HttpResponse.BodyHandlers.ofString());
        assertThat(written.statusCode()).as(written.body()).isEqualTo(409);
        assertThat(json(written).get("error").asString()).contains("queued");

        HttpResponse<String> stream = send(fixture, "GET", "/v1/executions/" + id + "?stream=true", KEY_ALICE, null);
        assertThat(stream.statusCode()).as(stream.body()).isEqualTo(409);
        assertThat(json(stream).get("field").asString()).isEqualTo("stream");
        assertThat(status(fixture, KEY_ALICE, id)).isEqualTo("queued");

        assertThat(send(fixture, "DELETE", "/v1/executions/" + id, KEY_ALICE, null).statusCode()).isEqualTo(200);
        release(fixture, holder);
    }

    @Test
    void aHigherPriorityRunsFirstWithinTheUsersQueueAndOutOfRangeIsRefused() throws Exception {
        for (String priority : new String[] {"101", "-101", "1.5", "\"5\"", "true"}) {
            HttpResponse<String> r = send(fixture, "POST", "/v1/executions?async=true", KEY_ALICE,
                    "{\"language\":\"python\",\"code\":\"print(1)\",\"priority\":" + priority + "}");
            assertThat(r.statusCode()).as(priority + " -> " + r.body()).isEqualTo(400);
            assertThat(json(r).get("field").asString()).isEqualTo("priority");
        }
        String holder = hold(fixture);
        String low = queue(fixture, KEY_ALICE, PRINT_42);
        String high = queue(fixture, KEY_ALICE, "{\"language\":\"python\",\"code\":\"print(1)\",\"priority\":100}");
        JsonNode items = queueOf(fixture, KEY_ALICE).get("items");
        assertThat(items).extracting(i -> i.get("executionId").asString()).containsExactly(high, low);
        assertThat(items).extracting(i -> i.get("priority").asInt()).containsExactly(100, 0);
        assertThat(json(send(fixture, "GET", "/v1/executions/" + low, KEY_ALICE, null)).get("position").asInt())
                .isEqualTo(2);
        for (String id : List.of(low, high)) {
            assertThat(send(fixture, "DELETE", "/v1/executions/" + id, KEY_ALICE, null).statusCode()).isEqualTo(200);
        }
        release(fixture, holder);
    }

    @Test
    void aBatchAcceptsAndRejectsEachRequestByIndex() throws Exception {
        HttpResponse<String> r = send(fixture, "POST", "/v1/executions/batch", KEY_ALICE, "{\"executions\":["
                + PRINT_42 + ",{\"language\":\"cobol\",\"code\":\"x\"},"
                + "{\"command\":[\"true\"],\"sessionId\":\"s-0123456789abcdef\"}]}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
        JsonNode answer = json(r);
        assertThat(answer.get("accepted")).hasSize(1);
        assertThat(answer.get("accepted").get(0).get("index").asInt()).isZero();
        String id = answer.get("accepted").get(0).get("executionId").asString();
        JsonNode rejected = answer.get("rejected");
        assertThat(rejected).hasSize(2);
        assertThat(rejected.get(0).get("index").asInt()).isEqualTo(1);
        assertThat(rejected.get(0).get("field").asString()).isEqualTo("language");
        assertThat(rejected.get(1).get("index").asInt()).isEqualTo(2);
        assertThat(rejected.get(1).get("field").asString()).isEqualTo("sessionId");
        assertThat(awaitFinal(fixture, KEY_ALICE, id).get("stdout").asString()).isEqualTo("42\n");

        // None valid: 400 with the same body.
        HttpResponse<String> none = send(fixture, "POST", "/v1/executions/batch", KEY_ALICE,
                "{\"executions\":[{\"language\":\"cobol\",\"code\":\"x\"},{\"code\":\"print(1)\"}]}");
        assertThat(none.statusCode()).as(none.body()).isEqualTo(400);
        assertThat(json(none).get("accepted")).isEmpty();
        assertThat(json(none).get("rejected")).extracting(n -> n.get("index").asInt()).containsExactly(0, 1);

        String four = IntStream.range(0, 4).mapToObj(i -> PRINT_42).collect(Collectors.joining(",",
                "{\"executions\":[", "]}"));
        HttpResponse<String> tooMany = send(fixture, "POST", "/v1/executions/batch", KEY_ALICE, four);
        assertThat(tooMany.statusCode()).as(tooMany.body()).isEqualTo(400);
        assertThat(json(tooMany).get("error").asString()).contains("queue.max-batch");

        for (String malformed : new String[] {"{\"executions\":[", "[]", "{\"executions\":{}}", "{\"executions\":[],"
                + "\"x\":1}", "{\"executions\":[]}", "null", ""}) {
            HttpResponse<String> bad = send(fixture, "POST", "/v1/executions/batch", KEY_ALICE, malformed);
            assertThat(bad.statusCode()).as(malformed + " -> " + bad.body()).isEqualTo(400);
        }
        HttpRequest text = HttpRequest.newBuilder(URI.create(fixture.url("/v1/executions/batch")))
                .header("Authorization", "Bearer " + KEY_ALICE).header("Content-Type", "text/plain")
                .POST(HttpRequest.BodyPublishers.ofString("{\"executions\":[" + PRINT_42 + "]}")).build();
        assertThat(client.send(text, HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(415);
        assertThat(queueOf(fixture, KEY_ALICE).get("depth").asInt()).isZero();
    }

    @Test
    void executionsAreFetchedByIdsInTheOrderAsked() throws Exception {
        HttpResponse<String> ran = send(fixture, "POST", "/v1/executions", KEY_ALICE, PRINT_42);
        assertThat(ran.statusCode()).as(ran.body()).isEqualTo(200);
        String done = json(ran).get("executionId").asString();
        String holder = hold(fixture);
        String waiting = queue(fixture, KEY_ALICE, PRINT_42);

        HttpResponse<String> r = send(fixture, "GET", "/v1/executions?ids=" + waiting + "," + done
                + ",no-such-id", KEY_ALICE, null);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode list = json(r).get("executions");
        assertThat(list).extracting(e -> e.get("executionId").asString()).containsExactly(waiting, done);
        assertThat(list.get(0).get("status").asString()).isEqualTo("queued");
        assertThat(list.get(1).get("status").asString()).isEqualTo("completed");
        assertThat(json(r).get("unknown")).extracting(JsonNode::asString).containsExactly("no-such-id");

        // Another user's ids are unknown to bob, never shown.
        JsonNode bobs = json(send(fixture, "GET", "/v1/executions?ids=" + done + "," + waiting, KEY_BOB, null));
        assertThat(bobs.get("executions")).isEmpty();
        assertThat(bobs.get("unknown")).extracting(JsonNode::asString).containsExactly(done, waiting);

        String tooMany = IntStream.range(0, 151).mapToObj(i -> "id" + i).collect(Collectors.joining(","));
        HttpResponse<String> over = send(fixture, "GET", "/v1/executions?ids=" + tooMany, KEY_ALICE, null);
        assertThat(over.statusCode()).as(over.body()).isEqualTo(400);
        assertThat(json(over).get("field").asString()).isEqualTo("ids");
        String most150 = IntStream.range(0, 150).mapToObj(i -> java.util.UUID.randomUUID().toString())
                .collect(Collectors.joining(","));
        HttpResponse<String> most = send(fixture, "GET", "/v1/executions?ids=" + most150, KEY_ALICE, null);
        assertThat(most.statusCode()).as(most.body()).isEqualTo(200);
        assertThat(json(most).get("unknown")).hasSize(150);

        assertThat(send(fixture, "DELETE", "/v1/executions/" + waiting, KEY_ALICE, null).statusCode()).isEqualTo(200);
        release(fixture, holder);
    }

    @Test
    void eachUserSeesOnlyTheirQueueAndAnAdminSeesAll() throws Exception {
        String holder = hold(fixture);
        List<String> ids = new ArrayList<>();
        ids.add(queue(fixture, KEY_ALICE, PRINT_42));
        ids.add(queue(fixture, KEY_ALICE, PRINT_42));
        ids.add(queue(fixture, KEY_BOB, PRINT_42));

        JsonNode alice = queueOf(fixture, KEY_ALICE);
        assertThat(alice.get("depth").asInt()).isEqualTo(2);
        assertThat(alice.get("items")).extracting(i -> i.get("userId").asString()).containsOnly("alice");
        assertThat(alice.get("items")).extracting(i -> i.get("executionId").asString())
                .containsExactly(ids.get(0), ids.get(1));
        JsonNode bob = queueOf(fixture, KEY_BOB);
        assertThat(bob.get("depth").asInt()).isEqualTo(1);
        assertThat(bob.get("items")).extracting(i -> i.get("executionId").asString()).containsExactly(ids.get(2));

        JsonNode all = queueOf(fixture, KEY_ROOT);
        assertThat(all.get("depth").asInt()).isEqualTo(3);
        assertThat(all.get("items")).extracting(i -> i.get("position").asInt()).containsExactly(1, 2, 3);
        assertThat(all.get("items")).extracting(i -> i.get("executionId").asString())
                .containsExactlyInAnyOrderElementsOf(ids);
        // Fair order: bob's one item does not wait behind both of alice's.
        assertThat(all.get("items").get(2).get("userId").asString()).isEqualTo("alice");
        for (JsonNode item : all.get("items")) {
            Instant.parse(item.get("queuedAt").asString());
            Instant.parse(item.get("estimatedStartAt").asString());
        }
        assertThat(send(fixture, "GET", "/v1/queue?limit=0", KEY_ROOT, null).statusCode()).isEqualTo(400);
        assertThat(json(send(fixture, "GET", "/v1/queue?limit=1", KEY_ROOT, null)).get("items")).hasSize(1);

        for (String id : ids) {
            String key = id.equals(ids.get(2)) ? KEY_BOB : KEY_ALICE;
            assertThat(send(fixture, "DELETE", "/v1/executions/" + id, key, null).statusCode()).isEqualTo(200);
        }
        release(fixture, holder);
    }

    @Test
    void aUserBeyondTheirQueueLimitIsToldToRetryWhileOthersAreServed() throws Exception {
        try (ApiServerFixture limited = ApiServerFixture.startQueued(ONE_SLOT,
                Map.of("MCP_SANDBOX_QUEUE_MAX_PER_USER", "2"))) {
            String holder = hold(limited);
            List<String> queued = new ArrayList<>(List.of(queue(limited, KEY_ALICE, PRINT_42),
                    queue(limited, KEY_ALICE, PRINT_42)));

            HttpResponse<String> third = send(limited, "POST", "/v1/executions?async=true", KEY_ALICE, PRINT_42);
            assertThat(third.statusCode()).as(third.body()).isEqualTo(429);
            assertThat(third.headers().firstValue("Retry-After")).hasValueSatisfying(v ->
                    assertThat(Long.parseLong(v)).isPositive());
            assertThat(json(third).get("error").asString()).contains("queue.max-per-user");
            // The body's background flag is the same submission: refused as well.
            HttpResponse<String> fourth = send(limited, "POST", "/v1/executions", KEY_ALICE,
                    "{\"language\":\"python\",\"code\":\"print(1)\",\"background\":true}");
            assertThat(fourth.statusCode()).as(fourth.body()).isEqualTo(429);
            HttpResponse<String> batch = send(limited, "POST", "/v1/executions/batch", KEY_ALICE,
                    "{\"executions\":[" + PRINT_42 + "]}");
            assertThat(batch.statusCode()).as(batch.body()).isEqualTo(429);
            assertThat(batch.headers().firstValue("Retry-After")).isPresent();
            assertThat(json(batch).get("rejected").get(0).get("error").asString()).contains("queue.max-per-user");

            String bobs = queue(limited, KEY_BOB, PRINT_42);
            assertThat(queueOf(limited, KEY_ROOT).get("depth").asInt()).isEqualTo(3);

            for (String id : queued) {
                assertThat(send(limited, "DELETE", "/v1/executions/" + id, KEY_ALICE, null).statusCode())
                        .isEqualTo(200);
            }
            assertThat(send(limited, "DELETE", "/v1/executions/" + bobs, KEY_BOB, null).statusCode()).isEqualTo(200);
            // Cancelled items free their places at once.
            queued.add(queue(limited, KEY_ALICE, PRINT_42));
            release(limited, holder);
            assertThat(awaitFinal(limited, KEY_ALICE, queued.get(2)).get("status").asString()).isEqualTo("completed");
            drained(limited);
        }
    }

    @Test
    void aCallbackUrlIsRefusedWhereCallbacksAreNotServed() throws Exception {
        String body = "{\"language\":\"python\",\"code\":\"print(1)\",\"callbackUrl\":\"http://callbacks.test/x\"}";
        for (String path : new String[] {"/v1/executions?async=true", "/v1/executions"}) {
            HttpResponse<String> r = send(fixture, "POST", path, KEY_ALICE, body);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
            assertThat(json(r).get("field").asString()).isEqualTo("callbackUrl");
            assertThat(json(r).get("error").asString()).contains("callbacks.allowed-hosts");
        }
        HttpResponse<String> batch = send(fixture, "POST", "/v1/executions/batch", KEY_ALICE,
                "{\"executions\":[" + body + "]}");
        assertThat(batch.statusCode()).as(batch.body()).isEqualTo(400);
        assertThat(json(batch).get("rejected").get(0).get("field").asString()).isEqualTo("callbackUrl");
        assertThat(queueOf(fixture, KEY_ALICE).get("depth").asInt()).isZero();
    }

    @Test
    void mcpBackgroundExecutionsAreQueuedToo() throws Exception {
        String holder = hold(fixture);
        Mcp mcp = Mcp.open(fixture, KEY_ALICE);
        JsonNode started = mcp.call("execute_code", "{\"language\":\"python\",\"code\":\"print(6*7)\","
                + "\"background\":true}");
        assertThat(started.path("isError").asBoolean(false)).as(started.toString()).isFalse();
        JsonNode queued = started.get("structuredContent");
        assertThat(queued.get("status").asString()).as(started.toString()).isEqualTo("queued");
        assertThat(queued.get("position").asInt()).isEqualTo(1);
        String id = queued.get("executionId").asString();
        assertThat(started.get("content").get(0).get("text").asString()).contains("queued as " + id);

        JsonNode seen = mcp.call("get_execution", "{\"executionId\":\"" + id + "\"}").get("structuredContent");
        assertThat(seen.get("status").asString()).isEqualTo("queued");
        assertThat(seen.get("executionId").asString()).isEqualTo(id);
        // The same item over REST, and only for its owner.
        assertThat(status(fixture, KEY_ALICE, id)).isEqualTo("queued");
        JsonNode bobs = Mcp.open(fixture, KEY_BOB).call("get_execution", "{\"executionId\":\"" + id + "\"}");
        assertThat(bobs.path("isError").asBoolean(false)).as(bobs.toString()).isTrue();

        release(fixture, holder);
        awaitFinal(fixture, KEY_ALICE, id);
        JsonNode done = mcp.call("get_execution", "{\"executionId\":\"" + id + "\"}").get("structuredContent");
        assertThat(done.get("status").asString()).isEqualTo("completed");
        assertThat(done.get("stdout").asString()).isEqualTo("42\n");
    }

    @Test
    void mcpCancelsAQueuedExecution() throws Exception {
        String holder = hold(fixture);
        Mcp mcp = Mcp.open(fixture, KEY_ALICE);
        JsonNode started = mcp.call("execute_code", "{\"language\":\"python\",\"code\":\"print(1)\","
                + "\"background\":true}");
        assertThat(started.path("structuredContent").path("status").asString()).as(started.toString())
                .isEqualTo("queued");
        String id = started.get("structuredContent").get("executionId").asString();
        JsonNode cancelled = mcp.call("terminate_execution", "{\"executionId\":\"" + id + "\"}");
        assertThat(cancelled.path("structuredContent").path("outcome").asString()).as(cancelled.toString())
                .isEqualTo("cancelled");
        assertThat(status(fixture, KEY_ALICE, id)).isEqualTo("cancelled");
        release(fixture, holder);
    }

    // --- helpers ---

    /** Holds the only slot with a long sleep of root's; returns its id once it runs. */
    private static String hold(ApiServerFixture f) throws Exception {
        String id = queue(f, KEY_ROOT, "{\"command\":[\"sleep\",\"120\"]}");
        await().atMost(Duration.ofSeconds(30)).until(() -> status(f, KEY_ROOT, id).equals("running"));
        return id;
    }

    /** Ends the holder: the slot is free again. */
    private static void release(ApiServerFixture f, String holder) throws Exception {
        HttpResponse<String> r = send(f, "DELETE", "/v1/executions/" + holder, KEY_ROOT, null);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
        assertThat(awaitFinal(f, KEY_ROOT, holder).get("status").asString()).isEqualTo("terminated");
    }

    /** Submits an async request; returns its id (asserting 202 and status queued). */
    private static String queue(ApiServerFixture f, String key, String body) throws Exception {
        HttpResponse<String> r = send(f, "POST", "/v1/executions?async=true", key, body);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
        assertThat(json(r).get("status").asString()).isEqualTo("queued");
        return json(r).get("executionId").asString();
    }

    private static String status(ApiServerFixture f, String key, String id) throws Exception {
        HttpResponse<String> r = send(f, "GET", "/v1/executions/" + id, key, null);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return json(r).get("status").asString();
    }

    private static JsonNode awaitFinal(ApiServerFixture f, String key, String id) {
        await().atMost(Duration.ofSeconds(60)).until(() -> !List.of("queued", "running")
                .contains(status(f, key, id)));
        try {
            return json(send(f, "GET", "/v1/executions/" + id, key, null));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static JsonNode queueOf(ApiServerFixture f, String key) throws Exception {
        HttpResponse<String> r = send(f, "GET", "/v1/queue", key, null);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return json(r);
    }

    private static void drained(ApiServerFixture f) {
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
            assertThat(queueOf(f, KEY_ROOT).get("depth").asInt()).isZero();
            for (String key : List.of(KEY_ALICE, KEY_BOB, KEY_ROOT)) {
                assertThat(json(send(f, "GET", "/v1/executions?active=true", key, null)).get("executions"))
                        .isEmpty();
            }
        });
    }

    static HttpResponse<String> send(ApiServerFixture f, String method, String path, String key, String body)
            throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(f.url(path))).timeout(Duration.ofSeconds(60))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        b.header("Authorization", "Bearer " + key);
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode json(HttpResponse<String> r) {
        return JSON.readTree(r.body());
    }

    /** One MCP session over Streamable HTTP (as RuntimePolicyEndToEndTest speaks it). */
    private record Mcp(ApiServerFixture f, String key, String session) {
        static Mcp open(ApiServerFixture f, String key) throws Exception {
            HttpResponse<String> init = post(f, key, null, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
                    + "\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
                    + "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}");
            assertThat(init.statusCode()).as(init.body()).isEqualTo(200);
            String session = init.headers().firstValue("Mcp-Session-Id").orElseThrow();
            post(f, key, session, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
            return new Mcp(f, key, session);
        }

        /** The tool call's result (content, structuredContent, isError). */
        JsonNode call(String tool, String arguments) throws Exception {
            HttpResponse<String> r = post(f, key, session, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\","
                    + "\"params\":{\"name\":\"" + tool + "\",\"arguments\":" + arguments + "}}");
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            String body = r.body().strip();
            String message = body.startsWith("{") ? body : body.lines().filter(l -> l.startsWith("data:"))
                    .map(l -> l.substring(5).strip()).reduce((a, b) -> b).orElseThrow();
            JsonNode result = JSON.readTree(message).get("result");
            assertThat(result).as(body).isNotNull();
            return result;
        }

        private static HttpResponse<String> post(ApiServerFixture f, String key, String session, String body)
                throws Exception {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(f.url("/mcp"))).timeout(Duration.ofSeconds(90))
                    .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
                    .header("Accept", "application/json, text/event-stream")
                    .POST(HttpRequest.BodyPublishers.ofString(body));
            if (session != null) {
                b.header("Mcp-Session-Id", session);
            }
            return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
        }
    }
}
