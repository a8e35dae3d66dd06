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
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The session routes of the REST API against a real server and real sandboxes: a session's life through
 * executions and files, what another user sees, the caps, bad bodies and paths, and links the sandbox plants.
 */
@SystemTest
class SessionRestApiTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static ApiServerFixture fixture;
    private final List<String> opened = new ArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        // One session per user at a time: the caps test needs no more, and each test closes what it opened.
        fixture = ApiServerFixture.start(new AdmissionLimits(4, 2, 4, Duration.ofSeconds(30)),
                Map.of("MCP_SANDBOX_SESSION_MAX_PER_USER", "1"));
    }

    @AfterAll
    static void stop() throws Exception {
        if (fixture != null) {
            fixture.close();
        }
    }

    @AfterEach
    void closeOpened() throws Exception {
        for (String id : opened) {
            send("DELETE", "/v1/sessions/" + id, KEY_ALICE, null);
        }
    }

    private static HttpResponse<byte[]> raw(String method, String path, String key, String type, byte[] body)
            throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(fixture.url(path))).timeout(Duration.ofSeconds(90))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofByteArray(body));
        if (type != null) {
            b.header("Content-Type", type);
        }
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    private static Answer send(String method, String path, String key, String body) throws Exception {
        HttpResponse<byte[]> r = raw(method, path, key, body == null ? null : "application/json",
                body == null ? null : body.getBytes(StandardCharsets.UTF_8));
        return new Answer(r.statusCode(), new String(r.body(), StandardCharsets.UTF_8), r);
    }

    private record Answer(int status, String body, HttpResponse<byte[]> response) {
        JsonNode json() {
            return JSON.readTree(body);
        }
    }

    private String create(String body) throws Exception {
        Answer r = send("POST", "/v1/sessions", KEY_ALICE, body);
        assertThat(r.status()).as(r.body()).isEqualTo(201);
        String id = r.json().get("sessionId").asString();
        opened.add(id);
        assertThat(r.response().headers().firstValue("Location")).hasValue("/v1/sessions/" + id);
        return id;
    }

    private static JsonNode exec(String id, String script) throws Exception {
        Answer r = send("POST", "/v1/sessions/" + id + "/executions", KEY_ALICE,
                JSON.writeValueAsString(Map.of("command", List.of("sh", "-c", script))));
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        return r.json();
    }

    /** create, run twice (files and a background process persist), files both ways, close, then 410. */
    private void lifeOfASession(String runtime) throws Exception {
        String id = create(runtime == null ? "{}" : "{\"runtime\":\"" + runtime + "\"}");
        JsonNode view = send("GET", "/v1/sessions/" + id, KEY_ALICE, null).json();
        assertThat(view.get("status").asString()).isEqualTo("open");
        assertThat(view.has("sandboxName")).isFalse();
        assertThat(view.has("serverId")).isFalse();
        assertThat(view.has("userId")).isFalse();
        if (runtime != null) {
            assertThat(view.get("runtime").asString()).isEqualTo(runtime);
        }

        JsonNode first = exec(id, "echo hi > /workspace/a; cat /workspace/a; (sleep 300 >/dev/null 2>&1 &); "
                + "echo started");
        assertThat(first.get("status").asString()).as(first.toString()).isEqualTo("completed");
        assertThat(first.get("stdout").asString()).isEqualTo("hi\nstarted\n");
        JsonNode second = exec(id, "cat /workspace/a; ps -eo args | grep -c '^sleep 300'");
        assertThat(second.get("stdout").asString()).as(second.toString()).isEqualTo("hi\n1\n");

        byte[] every = new byte[256 * 4];
        for (int i = 0; i < every.length; i++) {
            every[i] = (byte) i;
        }
        HttpResponse<byte[]> put = raw("PUT", "/v1/sessions/" + id + "/files/workspace/sub/bin.dat", KEY_ALICE,
                "application/octet-stream", every);
        assertThat(put.statusCode()).as(new String(put.body(), StandardCharsets.UTF_8)).isEqualTo(204);
        HttpResponse<byte[]> got = raw("GET", "/v1/sessions/" + id + "/files/workspace/sub/bin.dat", KEY_ALICE,
                null, null);
        assertThat(got.statusCode()).isEqualTo(200);
        assertThat(got.headers().firstValue("Content-Type")).hasValue("application/octet-stream");
        assertThat(got.body()).isEqualTo(every);
        assertThat(exec(id, "wc -c < /workspace/sub/bin.dat").get("stdout").asString().strip()).isEqualTo("1024");

        JsonNode listing = send("GET", "/v1/sessions/" + id + "/files", KEY_ALICE, null).json();
        assertThat(listing.get("dir").asString()).isEqualTo("/workspace");
        assertThat(listing.get("truncated").asBoolean()).isFalse();
        Map<String, String> types = new java.util.HashMap<>();
        listing.get("entries").forEach(e -> types.put(e.get("name").asString(), e.get("type").asString()));
        assertThat(types).containsEntry("a", "file").containsEntry("sub", "dir");
        JsonNode sub = send("GET", "/v1/sessions/" + id + "/files?dir=/workspace/sub", KEY_ALICE, null).json();
        assertThat(sub.get("entries").get(0).get("size").asLong()).isEqualTo(1024);
        assertThat(sub.get("entries").get(0).get("modifiedAt").asString()).endsWith("Z");

        assertThat(raw("DELETE", "/v1/sessions/" + id + "/files/workspace/sub/bin.dat", KEY_ALICE, null, null)
                .statusCode()).isEqualTo(204);
        assertThat(raw("GET", "/v1/sessions/" + id + "/files/workspace/sub/bin.dat", KEY_ALICE, null, null)
                .statusCode()).isEqualTo(404);

        Answer closed = send("DELETE", "/v1/sessions/" + id, KEY_ALICE, null);
        assertThat(closed.status()).as(closed.body()).isEqualTo(200);
        assertThat(closed.json().get("status").asString()).isEqualTo("closed");
        assertThat(closed.json().get("closeReason").asString()).isEqualTo("closed");
        Answer gone = send("GET", "/v1/sessions/" + id, KEY_ALICE, null);
        assertThat(gone.status()).isEqualTo(410);
        assertThat(gone.json().get("reason").asString()).isEqualTo("closed");
        assertThat(send("DELETE", "/v1/sessions/" + id, KEY_ALICE, null).status()).isEqualTo(410);
        assertThat(send("POST", "/v1/executions", KEY_ALICE, "{\"command\":[\"true\"],\"sessionId\":\"" + id
                + "\"}").status()).isEqualTo(410);
        assertThat(raw("GET", "/v1/sessions/" + id + "/files", KEY_ALICE, null, null).statusCode()).isEqualTo(410);
        assertThat(send("GET", "/v1/sessions", KEY_ALICE, null).json().get("sessions").size()).isZero();
    }

    @Test
    void aSessionLivesThroughExecutionsAndFilesUntilItIsClosed() throws Exception {
        lifeOfASession(null);
    }

    @ParameterizedTest
    @ValueSource(strings = {"runsc", "docker", "docker-runsc"})
    void aSessionWorksTheSameOnEveryRuntime(String runtime) throws Exception {
        lifeOfASession(runtime);
    }

    @Test
    void anotherUsersKeyFindsNoSessionOnAnyRoute() throws Exception {
        String id = create("{}");
        String base = "/v1/sessions/" + id;
        for (String[] route : new String[][] {{"GET", base}, {"DELETE", base}, {"GET", base + "/files"},
                {"GET", base + "/files/workspace/a"}, {"DELETE", base + "/files/workspace/a"}}) {
            Answer r = send(route[0], route[1], KEY_BOB, null);
            assertThat(r.status()).as(route[0] + " " + route[1]).isEqualTo(404);
            assertThat(r.body()).doesNotContain("alice");
        }
        assertThat(raw("PUT", base + "/files/workspace/a", KEY_BOB, "application/octet-stream", new byte[] {1})
                .statusCode()).isEqualTo(404);
        assertThat(send("POST", base + "/executions", KEY_BOB, "{\"command\":[\"true\"]}").status()).isEqualTo(404);
        assertThat(send("POST", "/v1/executions", KEY_BOB, "{\"command\":[\"true\"],\"sessionId\":\"" + id + "\"}")
                .status()).isEqualTo(404);
        assertThat(send("GET", "/v1/sessions", KEY_BOB, null).json().get("sessions").size()).isZero();
        // Nothing reached Alice's session: it is open and ran nothing.
        JsonNode view = send("GET", base, KEY_ALICE, null).json();
        assertThat(view.get("status").asString()).isEqualTo("open");
        assertThat(view.get("executions").asLong()).isZero();

        for (String unknown : new String[] {"00000000-0000-0000-0000-000000000000", "x".repeat(300)}) {
            assertThat(send("GET", "/v1/sessions/" + unknown, KEY_ALICE, null).status()).isEqualTo(404);
        }
    }

    @Test
    void theCapsRefuseASecondSessionWithRetryAfter() throws Exception {
        create("{}");
        Answer second = send("POST", "/v1/sessions", KEY_ALICE, "{}");
        assertThat(second.status()).as(second.body()).isEqualTo(429);
        assertThat(second.response().headers().firstValue("Retry-After")).hasValue("5");
        assertThat(second.json().get("error").asString()).contains("session.max-per-user");
    }

    @Test
    void badBodiesAreRefusedNamingTheField() throws Exception {
        Map<String, String> cases = new java.util.LinkedHashMap<>();
        cases.put("{\"idleTimeoutSeconds\":\"ten\"}", "idleTimeoutSeconds");
        cases.put("{\"lifetimeSeconds\":1.5}", "lifetimeSeconds");
        cases.put("{\"rootfs\":\"rw\"}", "rootfs");
        cases.put("{\"limits\":{\"memoryBytez\":1}}", "limits.memoryBytez");
        cases.put("{\"env\":{\"A\":1}}", "env.A");
        cases.put("{\"userId\":\"bob\"}", "userId");
        cases.put("{\"command\":[\"true\"]}", "command");
        cases.put("{\"securityLevel\":\"extreme\"}", "securityLevel");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            Answer r = send("POST", "/v1/sessions", KEY_ALICE, c.getKey());
            assertThat(r.status()).as(c.getKey() + " -> " + r.body()).isEqualTo(400);
            assertThat(r.json().get("field").asString()).as(c.getKey()).isEqualTo(c.getValue());
        }
        assertThat(send("POST", "/v1/sessions", KEY_ALICE, "[1]").status()).isEqualTo(400);
        assertThat(send("POST", "/v1/sessions", KEY_ALICE, "{").status()).isEqualTo(400);
        // Policy refuses with 422, naming the field and the limit.
        Answer network = send("POST", "/v1/sessions", KEY_ALICE, "{\"network\":true}");
        assertThat(network.status()).isEqualTo(422);
        assertThat(network.json().get("field").asString()).isEqualTo("network");
        Answer life = send("POST", "/v1/sessions", KEY_ALICE, "{\"lifetimeSeconds\":99999999}");
        assertThat(life.status()).isEqualTo(422);
        assertThat(life.json().get("error").asString()).contains("session.max-lifetime");
        Answer memory = send("POST", "/v1/sessions", KEY_ALICE, "{\"limits\":{\"memoryBytes\":1}}");
        assertThat(memory.status()).isEqualTo(422);
        assertThat(memory.json().get("field").asString()).contains("memoryBytes");
        assertThat(send("GET", "/v1/sessions", KEY_ALICE, null).json().get("sessions").size()).isZero();

        String id = create("{}");
        Answer mismatch = send("POST", "/v1/sessions/" + id + "/executions", KEY_ALICE,
                "{\"command\":[\"true\"],\"sessionId\":\"other\"}");
        assertThat(mismatch.status()).isEqualTo(400);
        assertThat(mismatch.json().get("field").asString()).isEqualTo("sessionId");
    }

    @Test
    void pathsOutsideTheWorkspaceAndPlantedLinksAreRefused() throws Exception {
        String id = create("{}");
        String base = "/v1/sessions/" + id + "/files/";
        exec(id, "ln -s /etc/passwd /workspace/evil; ln -s /etc /workspace/etc");

        HttpResponse<byte[]> link = raw("GET", base + "workspace/evil", KEY_ALICE, null, null);
        String text = new String(link.body(), StandardCharsets.UTF_8);
        assertThat(link.statusCode()).as(text).isEqualTo(422);
        assertThat(text).doesNotContain("root:");
        HttpResponse<byte[]> through = raw("GET", base + "workspace/etc/passwd", KEY_ALICE, null, null);
        assertThat(through.statusCode()).isEqualTo(422);
        assertThat(new String(through.body(), StandardCharsets.UTF_8)).doesNotContain("root:");
        HttpResponse<byte[]> overLink = raw("PUT", base + "workspace/evil", KEY_ALICE, "application/octet-stream",
                "x".getBytes(StandardCharsets.UTF_8));
        assertThat(overLink.statusCode()).isIn(204, 422); // replaces the link itself, or refuses: never the target
        assertThat(exec(id, "head -c 5 /etc/passwd").get("stdout").asString()).isNotEqualTo("x");

        HttpResponse<byte[]> etc = raw("PUT", base + "etc/passwd", KEY_ALICE, "application/octet-stream",
                "x".getBytes(StandardCharsets.UTF_8));
        assertThat(etc.statusCode()).isEqualTo(400);
        assertThat(JSON.readTree(etc.body()).get("field").asString()).isEqualTo("path");
        // Jetty may normalise a path before it arrives (so workspace/./a is workspace/a); whatever arrives, the
        // session service refuses what leaves /workspace, and a route that no longer matches is a 404.
        for (String dots : new String[] {"workspace/../etc/passwd", "workspace/%2e%2e/etc/passwd",
                "workspace/%2E%2E/%2e%2e/etc/passwd", "workspace/x/..", "workspace/./../../etc/passwd", "workspace//a",
                "workspace%2f..%2fetc%2fpasswd"}) {
            HttpResponse<byte[]> r = raw("GET", base + dots, KEY_ALICE, null, null);
            String body = new String(r.body(), StandardCharsets.UTF_8);
            assertThat(r.statusCode()).as(dots + " -> " + body).isIn(400, 404);
            assertThat(body).as(dots).doesNotContain("root:");
            assertThat(raw("PUT", base + dots, KEY_ALICE, "application/octet-stream", new byte[] {1}).statusCode())
                    .as("PUT " + dots).isIn(400, 404);
        }
        assertThat(raw("GET", "/v1/sessions/" + id + "/files?dir=/etc", KEY_ALICE, null, null).statusCode())
                .isEqualTo(400);
        // Names are the sandbox's text, escaped as JSON and nothing more.
        exec(id, "touch \"/workspace/$(printf 'q\"<b>\\t')\"");
        JsonNode listing = send("GET", "/v1/sessions/" + id + "/files", KEY_ALICE, null).json();
        List<String> names = new ArrayList<>();
        listing.get("entries").forEach(e -> names.add(e.get("name").asString()));
        assertThat(names).contains("q\"<b>\t", "evil", "etc");
    }

    @Test
    void aFileLargerThanTheCapIsRefusedBeforeItIsRead() throws Exception {
        String id = create("{}");
        long max = fixture.api.sessions().settings().maxFileBytes();
        String head = "PUT /v1/sessions/" + id + "/files/workspace/big HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "Authorization: Bearer " + KEY_ALICE + "\r\nContent-Type: application/octet-stream\r\n"
                + "Content-Length: " + (max + 1) + "\r\n\r\n";
        RawHttp.Answer a = RawHttp.exchange(fixture.server.port(), head.getBytes(StandardCharsets.US_ASCII),
                new byte[] {1, 2, 3}, 0, 10_000);
        assertThat(a.status()).as(a.text()).isEqualTo(413);
        assertThat(a.text()).contains("session.max-file-bytes");
    }

    @Test
    void anAsyncExecutionInASessionIsPolledLikeAnyOther() throws Exception {
        String id = create("{}");
        Answer accepted = send("POST", "/v1/sessions/" + id + "/executions?async=true", KEY_ALICE,
                "{\"command\":[\"sh\",\"-c\",\"sleep 1; echo later > /workspace/b; echo done\"]}");
        assertThat(accepted.status()).as(accepted.body()).isEqualTo(202);
        String executionId = accepted.json().get("executionId").asString();
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).until(() ->
                !send("GET", "/v1/executions/" + executionId, KEY_ALICE, null).json().get("status").asString()
                        .equals("running"));
        JsonNode result = send("GET", "/v1/executions/" + executionId, KEY_ALICE, null).json();
        assertThat(result.get("status").asString()).as(result.toString()).isEqualTo("completed");
        assertThat(result.get("stdout").asString()).isEqualTo("done\n");
        // The same session, through POST /v1/executions with its id in the body.
        Answer viaBody = send("POST", "/v1/executions", KEY_ALICE,
                "{\"command\":[\"cat\",\"/workspace/b\"],\"sessionId\":\"" + id + "\"}");
        assertThat(viaBody.status()).as(viaBody.body()).isEqualTo(200);
        assertThat(viaBody.json().get("stdout").asString()).isEqualTo("later\n");
        assertThat(send("GET", "/v1/sessions/" + id, KEY_ALICE, null).json().get("executions").asLong())
                .isGreaterThanOrEqualTo(2);
    }
}
