package io.mcpsandbox.api;

import static io.mcpsandbox.api.ApiServerFixture.KEY_ALICE;
import static io.mcpsandbox.api.ApiServerFixture.KEY_BOB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.config.ServerConfig.AdmissionLimits;
import io.mcpsandbox.testing.SystemTest;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The REST API through Java's HttpClient against a real server and real sandboxes. */
@SystemTest
class RestApiTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static ApiServerFixture fixture;
    private static final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @BeforeAll
    static void start() throws Exception {
        fixture = ApiServerFixture.start(new AdmissionLimits(4, 2, 0, Duration.ofSeconds(5)));
    }

    @AfterAll
    static void stop() throws Exception {
        if (fixture != null) {
            fixture.close();
        }
    }

    private static HttpResponse<String> send(String method, String path, String key, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(fixture.url(path))).timeout(Duration.ofSeconds(60))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static JsonNode json(HttpResponse<String> r) {
        return JSON.readTree(r.body());
    }

    @Test
    void everyApiPathNeedsAValidKeyButHealthzDoesNot() throws Exception {
        assertThat(send("GET", "/healthz", null, null).statusCode()).isEqualTo(200);
        for (String path : new String[] {"/v1/runtimes", "/v1/executions?active=true", "/metrics",
                "/v1/openapi.json"}) {
            HttpResponse<String> none = send("GET", path, null, null);
            assertThat(none.statusCode()).as(path).isEqualTo(401);
            assertThat(none.headers().firstValue("WWW-Authenticate"))
                    .hasValueSatisfying(v -> assertThat(v).startsWith("Bearer"));
            assertThat(send("GET", path, KEY_ALICE + "x", null).statusCode()).as(path).isEqualTo(401);
            assertThat(send("GET", path, KEY_ALICE.substring(1), null).statusCode()).as(path).isEqualTo(401);
        }
        HttpResponse<String> mcp = send("POST", "/mcp", null, "{}");
        assertThat(mcp.statusCode()).isEqualTo(401);
        HttpResponse<String> post = send("POST", "/v1/executions", null, "{\"command\":[\"true\"]}");
        assertThat(post.statusCode()).isEqualTo(401);
        assertThat(post.body()).doesNotContain(KEY_ALICE);
    }

    @Test
    void aForeignOriginIsRefusedOnMcpAndRest() throws Exception {
        String init = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                + "\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}";
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(fixture.url("/mcp")))
                .header("Authorization", "Bearer " + KEY_ALICE).header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofString(init));
        assertThat(client.send(b.copy().header("Origin", "https://evil.example").build(),
                HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(403);
        HttpResponse<String> local = client.send(b.copy().header("Origin", "http://localhost:3000").build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(local.statusCode()).isEqualTo(200);
        assertThat(local.body()).contains("mcp-sandbox");

        HttpRequest rest = HttpRequest.newBuilder(URI.create(fixture.url("/v1/runtimes")))
                .header("Authorization", "Bearer " + KEY_ALICE).header("Origin", "https://evil.example").GET().build();
        assertThat(client.send(rest, HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(403);
    }

    @Test
    void syncSnippetAndCommandReturnTheResultObject() throws Exception {
        HttpResponse<String> r = send("POST", "/v1/executions", KEY_ALICE,
                "{\"language\":\"python\",\"code\":\"print(6*7)\"}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode result = json(r);
        assertThat(result.get("status").asString()).isEqualTo("completed");
        assertThat(result.get("stdout").asString()).isEqualTo("42\n");
        assertThat(result.get("runtime").asString()).isEqualTo("runc");

        r = send("POST", "/v1/executions", KEY_ALICE,
                "{\"image\":\"host\",\"command\":[\"sh\",\"-c\",\"echo $X; exit 7\"],"
                + "\"env\":{\"X\":\"y\"},\"limits\":{\"timeoutMs\":10000}}");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(json(r).get("exitCode").asInt()).isEqualTo(7);
        assertThat(json(r).get("stdout").asString()).isEqualTo("y\n");

        // Bob cannot read Alice's execution: it looks like no execution at all.
        String id = json(r).get("executionId").asString();
        assertThat(send("GET", "/v1/executions/" + id, KEY_ALICE, null).statusCode()).isEqualTo(200);
        assertThat(send("GET", "/v1/executions/" + id, KEY_BOB, null).statusCode()).isEqualTo(404);
    }

    @Test
    void asyncExecutionIsRunningUntilItsResultAndCanBeTerminated() throws Exception {
        HttpResponse<String> r = send("POST", "/v1/executions?async=true", KEY_ALICE,
                "{\"command\":[\"sleep\",\"60\"]}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
        String id = json(r).get("executionId").asString();
        assertThat(r.headers().firstValue("Location")).hasValue("/v1/executions/" + id);

        JsonNode running = json(send("GET", "/v1/executions/" + id, KEY_ALICE, null));
        assertThat(running.get("status").asString()).isEqualTo("running");
        await().atMost(Duration.ofSeconds(20))
                .until(() -> json(send("GET", "/v1/executions?active=true", KEY_ALICE, null))
                .get("executions").size() == 1);
        assertThat(json(send("GET", "/v1/executions?active=true", KEY_BOB, null)).get("executions").size()).isZero();
        assertThat(send("DELETE", "/v1/executions/" + id, KEY_BOB, null).statusCode()).isEqualTo(404);

        assertThat(send("DELETE", "/v1/executions/" + id, KEY_ALICE, null).statusCode()).isEqualTo(202);
        await().atMost(Duration.ofSeconds(20)).until(() ->
                !json(send("GET", "/v1/executions/" + id, KEY_ALICE, null)).get("status").asString().equals("running"));
        JsonNode done = json(send("GET", "/v1/executions/" + id, KEY_ALICE, null));
        assertThat(done.get("status").asString()).isEqualTo("terminated");
        assertThat(send("DELETE", "/v1/executions/" + id, KEY_ALICE, null).statusCode()).isEqualTo(409);
    }

    @Test
    void badInputIsAClearErrorNamingTheField() throws Exception {
        assertError(send("POST", "/v1/executions", KEY_ALICE, "{\"language\":\"python\",\"code\":"),
                400, null, "malformed JSON");
        assertError(send("POST", "/v1/executions", KEY_ALICE, "[1,2]"), 400, null, "JSON object");
        assertError(send("POST", "/v1/executions", KEY_ALICE, "{\"language\":\"python\",\"code\":5}"),
                400, "code", "must be a string");
        assertError(send("POST", "/v1/executions", KEY_ALICE, "{\"language\":\"python\"}"), 400, "code", "is required");
        assertError(send("POST", "/v1/executions", KEY_ALICE, "{}"), 400, "command", "is required");
        assertError(send("POST", "/v1/executions", KEY_ALICE, "{\"command\":\"ls\"}"), 400, "command", "array");
        assertError(send("POST", "/v1/executions", KEY_ALICE, "{\"command\":[\"ls\",3]}"), 400, "command[1]", "string");
        assertError(send("POST", "/v1/executions", KEY_ALICE, "{\"command\":[\"ls\"],\"colour\":1}"),
                400, "colour", "not a known field");
        assertError(send("POST", "/v1/executions", KEY_ALICE, "{\"command\":[\"ls\"],\"userId\":\"bob\"}"),
                400, "userId", "API key");
        assertError(send("POST", "/v1/executions", KEY_ALICE,
                "{\"command\":[\"ls\"],\"limits\":{\"timeoutMs\":\"5s\"}}"), 400, "limits.timeoutMs", "whole number");
        assertError(send("POST", "/v1/executions", KEY_ALICE,
                "{\"command\":[\"ls\"],\"limits\":{\"timeoutMs\":1e400}}"), 400, "limits.timeoutMs", "whole number");
        assertError(send("POST", "/v1/executions", KEY_ALICE,
                "{\"command\":[\"ls\"],\"limits\":{\"timeoutMs\":99999999999999999999999}}"),
                400, "limits.timeoutMs", "whole number");
        assertError(send("POST", "/v1/executions", KEY_ALICE, "{\"command\":[\"ls\"],\"limits\":{\"wall\":1}}"),
                400, "limits.wall", "not a known limit");
        assertError(send("POST", "/v1/executions", KEY_ALICE, "{\"command\":[\"ls\"],\"securityLevel\":\"extreme\"}"),
                400, "securityLevel", "one of");
        assertError(send("POST", "/v1/executions", KEY_ALICE, "{\"command\":[\"ls\"],\"network\":\"yes\"}"),
                400, "network", "true or false");
        assertError(send("POST", "/v1/executions?async=maybe", KEY_ALICE, "{\"command\":[\"ls\"]}"),
                400, "async", "true or false");
        assertError(send("POST", "/v1/executions", KEY_ALICE, "{\"command\":[\"ls\"],\"command\":[\"id\"]}"),
                400, null, "malformed JSON");

        // Well-formed but refused by policy: 422 with the result object, whose reason names the field.
        assertRejected(send("POST", "/v1/executions", KEY_ALICE, "{\"language\":\"cobol\",\"code\":\"x\"}"),
                "language: ");
        assertRejected(send("POST", "/v1/executions", KEY_ALICE,
                "{\"command\":[\"ls\"],\"limits\":{\"timeoutMs\":-5}}"), "timeoutMs: ");
        assertRejected(send("POST", "/v1/executions", KEY_ALICE,
                "{\"command\":[\"ls\"],\"limits\":{\"timeoutMs\":86400000000}}"), "timeoutMs: ");
        assertRejected(send("POST", "/v1/executions", KEY_ALICE,
                "{\"language\":\"python\",\"code\":\"" + "x".repeat(10 << 20) + "\"}"), "code: ");

        // Expect: 100-continue, as a client sending a large body should: the server answers from the declared
        // length without reading the body (otherwise the client may still be writing when the server closes,
        // and sees a broken pipe instead of the answer).
        HttpRequest hugeRequest = HttpRequest.newBuilder(URI.create(fixture.url("/v1/executions"))).expectContinue(true)
                .header("Authorization", "Bearer " + KEY_ALICE).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"language\":\"python\",\"code\":\""
                        + "x".repeat((int) ApiServerFixture.MAX_BODY) + "\"}")).build();
        assertThat(client.send(hugeRequest, HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(413);

        HttpRequest notJson = HttpRequest.newBuilder(URI.create(fixture.url("/v1/executions")))
                .header("Authorization", "Bearer " + KEY_ALICE).header("Content-Type", "text/plain")
                .POST(HttpRequest.BodyPublishers.ofString("print(1)")).build();
        assertThat(client.send(notJson, HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(415);
        assertThat(send("PUT", "/v1/executions", KEY_ALICE, "{}").statusCode()).isEqualTo(405);
        assertThat(send("GET", "/v1/nothing", KEY_ALICE, null).statusCode()).isEqualTo(404);
        assertError(send("GET", "/v1/executions?active=maybe", KEY_ALICE, null), 400, "active", "true or false");
        assertError(send("GET", "/v1/executions?limit=0", KEY_ALICE, null), 400, "limit", "1 to 1000");
    }

    @Test
    void beyondTheUsersLimitRestAnswers429WithRetryAfter() throws Exception {
        // The fixture admits 2 per user and queues none.
        String[] ids = new String[2];
        for (int i = 0; i < 2; i++) {
            HttpResponse<String> r = send("POST", "/v1/executions?async=true", KEY_BOB,
                    "{\"command\":[\"sleep\",\"60\"]}");
            assertThat(r.statusCode()).isEqualTo(202);
            ids[i] = json(r).get("executionId").asString();
        }
        HttpResponse<String> third = send("POST", "/v1/executions", KEY_BOB, "{\"command\":[\"true\"]}");
        assertThat(third.statusCode()).isEqualTo(429);
        assertThat(third.headers().firstValue("Retry-After")).isPresent();
        assertThat(json(third).get("error").asString()).contains("admission.max-per-user");
        // Another user is not affected.
        assertThat(send("POST", "/v1/executions", KEY_ALICE, "{\"command\":[\"true\"]}").statusCode()).isEqualTo(200);
        for (String id : ids) {
            assertThat(send("DELETE", "/v1/executions/" + id, KEY_BOB, null).statusCode()).isEqualTo(202);
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> fixture.api.gateway().active("bob").isEmpty());
        await().atMost(Duration.ofSeconds(10)).until(() ->
                send("POST", "/v1/executions", KEY_BOB, "{\"command\":[\"true\"]}").statusCode() == 200);
    }

    @Test
    void runtimesAndMetrics() throws Exception {
        JsonNode runtimes = json(send("GET", "/v1/runtimes", KEY_ALICE, null)).get("runtimes");
        assertThat(runtimes.findValuesAsString("name")).contains("runc", "runsc");
        // issue 10 item 10: every runtime says what is known against its version
        for (JsonNode r : runtimes) {
            assertThat(r.get("advisories").isArray()).as("%s", r).isTrue();
            assertThat(r.get("knownVulnerable").isBoolean()).as("%s", r).isTrue();
        }
        send("POST", "/v1/executions", KEY_ALICE, "{\"command\":[\"true\"]}");
        HttpResponse<String> metrics = send("GET", "/metrics", KEY_ALICE, null);
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.body()).contains("mcp_sandbox_executions_total{runtime=\"runc\",status=\"completed\"}")
                .contains("mcp_sandbox_active_executions").contains("jvm_memory_used_bytes");
    }

    @Test
    void theOpenApiDocumentDescribesTheServedApiWithItsRuntimes() throws Exception {
        HttpResponse<String> r = send("GET", "/v1/openapi.json", KEY_ALICE, null);
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode doc = json(r);
        assertThat(doc.get("openapi").asString()).isEqualTo("3.1.0");
        assertThat(doc.at("/components/schemas/ExecutionRequest/properties/runtime/enum").toString())
                .contains("\"runc\"");
        assertThat(send("POST", "/v1/openapi.json", KEY_ALICE, "{}").statusCode()).isEqualTo(405);
    }

    private static void assertError(HttpResponse<String> r, int status, String field, String text) {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        JsonNode body = json(r);
        assertThat(body.get("error").asString()).contains(text);
        if (field != null) {
            assertThat(body.get("field").asString()).isEqualTo(field);
        }
    }

    private static void assertRejected(HttpResponse<String> r, String reasonPrefix) {
        assertThat(r.statusCode()).as(abbreviate(r.body())).isEqualTo(422);
        JsonNode body = json(r);
        assertThat(body.get("status").asString()).isEqualTo("rejected");
        assertThat(body.get("reason").asString()).startsWith(reasonPrefix);
    }

    private static String abbreviate(String s) {
        return s.length() < 500 ? s : s.substring(0, 500);
    }
}
