package io.mcpsandbox.api;

import static io.mcpsandbox.api.ApiServerFixture.KEY_ALICE;
import static io.mcpsandbox.api.ApiServerFixture.KEY_BOB;
import static io.mcpsandbox.api.ApiServerFixture.KEY_ROOT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.config.ServerConfig.AdmissionLimits;
import io.mcpsandbox.record.SqliteExecutionStore;
import io.mcpsandbox.testing.SystemTest;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * What an admin key ({@code TOKEN:USER:admin}, user root here) sees that a user's key does not: every user's
 * executions (get, follow, terminate; never stdin) and sessions (list, show; never use or close), the
 * {@code user} filter (403 for a user naming another), the listing filters, and {@code GET /v1/me}. Real server,
 * real sandboxes (runc).
 */
@SystemTest
class AdminVisibilityTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static ApiServerFixture fixture;

    @BeforeAll
    static void start() throws Exception {
        fixture = ApiServerFixture.start(new AdmissionLimits(8, 4, 8, Duration.ofSeconds(30)));
    }

    @AfterAll
    static void stop() throws Exception {
        if (fixture != null) {
            fixture.close();
        }
    }

    private static HttpRequest request(String method, String path, String key, String body) {
        return fixture.request(method, path, key, body);
    }

    private static HttpResponse<String> send(String method, String path, String key, String body) throws Exception {
        return fixture.send(method, path, key, body);
    }

    private static JsonNode get(String path, String key) throws Exception {
        HttpResponse<String> r = send("GET", path, key, null);
        assertThat(r.statusCode()).as(path + ": " + r.body()).isEqualTo(200);
        return JSON.readTree(r.body());
    }

    private static String run(String key, String body) throws Exception {
        HttpResponse<String> r = send("POST", "/v1/executions", key, body);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body()).get("executionId").asString();
    }

    private static List<String> ids(JsonNode list, String array, String idField) {
        List<String> out = new ArrayList<>();
        list.get(array).forEach(e -> out.add(e.get(idField).asString()));
        return out;
    }

    private static void assertError(HttpResponse<String> r, int status, String field, String says) {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        JsonNode error = JSON.readTree(r.body());
        assertThat(error.get("field").asString()).isEqualTo(field);
        assertThat(error.get("error").asString()).contains(says);
    }

    private static String q(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8);
    }

    @Test
    void meSaysWhoTheKeyIsAndWhetherItIsAnAdmin() throws Exception {
        JsonNode alice = get("/v1/me", KEY_ALICE);
        assertThat(alice.get("userId").asString()).isEqualTo("alice");
        assertThat(alice.get("admin").asBoolean()).isFalse();
        JsonNode root = get("/v1/me", KEY_ROOT);
        assertThat(root.get("userId").asString()).isEqualTo("root");
        assertThat(root.get("admin").asBoolean()).isTrue();
        assertThat(send("POST", "/v1/me", KEY_ALICE, "{}").statusCode()).isEqualTo(405);
        HttpResponse<String> unknown = send("GET", "/v1/nothing", KEY_ALICE, null);
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(unknown.body()).contains("/v1/me", "/v1/security-events", "/v1/stats", "/v1/images");
    }

    @Test
    void anAdminSeesFollowsAndTerminatesAnotherUsersExecutionButAnotherUserCannot() throws Exception {
        HttpResponse<String> started = send("POST", "/v1/executions?async=true", KEY_ALICE,
                "{\"command\":[\"sh\",\"-c\",\"echo ready; sleep 60\"],\"keepStdinOpen\":true}");
        assertThat(started.statusCode()).as(started.body()).isEqualTo(202);
        String id = JSON.readTree(started.body()).get("executionId").asString();
        String path = "/v1/executions/" + id;

        // Bob: it does not exist, whichever way he asks.
        assertThat(send("GET", path, KEY_BOB, null).statusCode()).isEqualTo(404);
        assertThat(send("GET", path + "?stream=true", KEY_BOB, null).statusCode()).isEqualTo(404);
        assertThat(send("DELETE", path, KEY_BOB, null).statusCode()).isEqualTo(404);
        assertThat(ids(get("/v1/executions?active=true", KEY_BOB), "executions", "executionId")).doesNotContain(id);

        // The admin sees it running, with whose it is, among every user's running executions.
        assertThat(get(path, KEY_ROOT).get("status").asString()).isEqualTo("running");
        await().atMost(Duration.ofSeconds(20)).until(() ->
                ids(get("/v1/executions?active=true", KEY_ROOT), "executions", "executionId").contains(id));
        JsonNode active = get("/v1/executions?active=true", KEY_ROOT);
        for (JsonNode e : active.get("executions")) {
            if (e.get("executionId").asString().equals(id)) {
                assertThat(e.get("userId").asString()).isEqualTo("alice");
            }
        }
        assertThat(ids(get("/v1/executions?active=true&user=bob", KEY_ROOT), "executions", "executionId"))
                .doesNotContain(id);
        // Its stdin stays the owner's.
        assertThat(send("POST", path + "/stdin", KEY_ROOT, "x").statusCode()).isEqualTo(404);

        // The admin follows it, then ends it: the stream sees its output and its terminated result.
        CompletableFuture<HttpResponse<Stream<String>>> follow = client.sendAsync(
                request("GET", path + "?stream=true", KEY_ROOT, null), HttpResponse.BodyHandlers.ofLines());
        HttpResponse<Stream<String>> stream = follow.get();
        assertThat(stream.statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(20)).until(() -> get(path, KEY_ALICE).get("stdout").asString()
                .contains("ready"));
        assertThat(send("DELETE", path, KEY_ROOT, null).statusCode()).isEqualTo(202);
        List<JsonNode> events = stream.body().map(JSON::readTree).toList();
        assertThat(events).anySatisfy(e -> {
            assertThat(e.get("type").asString()).isEqualTo("stdout");
            assertThat(e.get("data").asString()).contains("ready");
        });
        JsonNode last = events.get(events.size() - 1);
        assertThat(last.get("type").asString()).isEqualTo("result");
        assertThat(last.get("result").get("status").asString()).isEqualTo("terminated");
        assertThat(get(path, KEY_ALICE).get("status").asString()).isEqualTo("terminated");
        assertThat(send("DELETE", path, KEY_ROOT, null).statusCode()).isEqualTo(409);
        assertThat(send("DELETE", "/v1/executions/no-such-execution", KEY_ROOT, null).statusCode()).isEqualTo(404);
        assertThat(send("GET", path, KEY_BOB, null).statusCode()).isEqualTo(404);
    }

    @Test
    void listingsFilterByStatusRuntimeImageAndUserAndOnlyAnAdminNamesOthers() throws Exception {
        String aliceDone = run(KEY_ALICE, "{\"image\":\"host\",\"command\":[\"true\"]}");
        String aliceTimeout = run(KEY_ALICE, "{\"image\":\"host\",\"command\":[\"sleep\",\"10\"],"
                + "\"limits\":{\"timeoutMs\":300}}");
        String bobDone = run(KEY_BOB, "{\"image\":\"host\",\"command\":[\"true\"]}");
        JsonNode doneRecord = get("/v1/executions?limit=1", KEY_BOB).get("executions").get(0);
        assertThat(doneRecord.get("executionId").asString()).isEqualTo(bobDone);
        assertThat(doneRecord.get("userId").asString()).isEqualTo("bob");
        String image = doneRecord.get("image").asString();
        String runtime = doneRecord.get("runtime").asString();

        assertThat(ids(get("/v1/executions?status=timeout", KEY_ALICE), "executions", "executionId"))
                .contains(aliceTimeout).doesNotContain(aliceDone, bobDone);
        assertThat(ids(get("/v1/executions?status=completed", KEY_ALICE), "executions", "executionId"))
                .contains(aliceDone).doesNotContain(aliceTimeout, bobDone);
        assertThat(ids(get("/v1/executions?status=completed&image=" + q(image) + "&runtime=" + runtime,
                KEY_ALICE), "executions", "executionId")).contains(aliceDone).doesNotContain(aliceTimeout);
        assertThat(get("/v1/executions?image=no-such-image", KEY_ALICE).get("executions").size()).isZero();
        assertThat(get("/v1/executions?status=timeout&limit=1", KEY_ALICE).get("executions").size()).isEqualTo(1);
        assertThat(ids(get("/v1/executions?user=alice", KEY_ALICE), "executions", "executionId")).contains(aliceDone);

        // A user sees only their own records; the admin every user's, or one user's.
        assertThat(ids(get("/v1/executions", KEY_ALICE), "executions", "executionId")).doesNotContain(bobDone);
        JsonNode all = get("/v1/executions?limit=1000", KEY_ROOT);
        assertThat(ids(all, "executions", "executionId")).contains(aliceDone, aliceTimeout, bobDone);
        all.get("executions").forEach(e -> assertThat(e.get("result") == null || e.get("result").isNull())
                .as("a listed record has no result").isTrue());
        all.get("executions").forEach(e -> assertThat(e.has("request")).as("nor its request").isFalse());
        assertThat(ids(get("/v1/executions?user=bob", KEY_ROOT), "executions", "executionId")).contains(bobDone)
                .doesNotContain(aliceDone, aliceTimeout);
        assertThat(ids(get("/v1/executions?user=alice&status=timeout", KEY_ROOT), "executions", "executionId"))
                .containsExactly(aliceTimeout);

        assertError(send("GET", "/v1/executions?user=bob", KEY_ALICE, null), 403, "user", "admin");
        assertError(send("GET", "/v1/executions?active=true&user=bob", KEY_ALICE, null), 403, "user", "admin");
        assertError(send("GET", "/v1/executions?status=finished", KEY_ALICE, null), 400, "status", "completed");
        assertError(send("GET", "/v1/executions?runtime=qemu", KEY_ROOT, null), 400, "runtime", "runc");
        assertError(send("GET", "/v1/executions?image=" + q("bad image"), KEY_ALICE, null), 400, "image", "image");
        assertError(send("GET", "/v1/executions?user=" + q("al ice"), KEY_ROOT, null), 400, "user", "user id");
        assertError(send("GET", "/v1/executions?limit=0", KEY_ROOT, null), 400, "limit", "1 to 1000");
        assertError(send("GET", "/v1/executions?limit=1001", KEY_ALICE, null), 400, "limit", "1 to 1000");
        assertError(send("GET", "/v1/executions?status=completed&status=timeout", KEY_ALICE, null), 400, "status",
                "at most once");
    }

    @Test
    void anAdminListsAndShowsAnotherUsersSessionButCannotUseIt() throws Exception {
        HttpResponse<String> opened = send("POST", "/v1/sessions", KEY_ALICE, "{}");
        assertThat(opened.statusCode()).as(opened.body()).isEqualTo(201);
        String id = JSON.readTree(opened.body()).get("sessionId").asString();
        String path = "/v1/sessions/" + id;
        try {
            assertThat(send("GET", path, KEY_BOB, null).statusCode()).isEqualTo(404);
            assertThat(ids(get("/v1/sessions", KEY_BOB), "sessions", "sessionId")).doesNotContain(id);
            assertError(send("GET", "/v1/sessions?user=alice", KEY_BOB, null), 403, "user", "admin");

            JsonNode shown = get(path, KEY_ROOT);
            assertThat(shown.get("sessionId").asString()).isEqualTo(id);
            assertThat(shown.get("userId").asString()).isEqualTo("alice");
            assertThat(shown.get("status").asString()).isEqualTo("open");
            JsonNode all = get("/v1/sessions", KEY_ROOT);
            assertThat(ids(all, "sessions", "sessionId")).contains(id);
            assertThat(ids(get("/v1/sessions?user=alice", KEY_ROOT), "sessions", "sessionId")).containsExactly(id);
            assertThat(ids(get("/v1/sessions?user=bob", KEY_ROOT), "sessions", "sessionId")).doesNotContain(id);
            assertThat(ids(get("/v1/sessions", KEY_ALICE), "sessions", "sessionId")).containsExactly(id);
            assertThat(get("/v1/sessions", KEY_ALICE).get("sessions").get(0).has("userId")).isFalse();

            // Everything else in it stays the owner's.
            assertThat(send("GET", path + "/files", KEY_ROOT, null).statusCode()).isEqualTo(404);
            assertThat(send("GET", path + "/files/workspace/x", KEY_ROOT, null).statusCode()).isEqualTo(404);
            assertThat(send("POST", path + "/executions", KEY_ROOT, "{\"command\":[\"true\"]}").statusCode())
                    .isEqualTo(404);
            assertThat(send("DELETE", path, KEY_ROOT, null).statusCode()).isEqualTo(404);
            assertThat(get(path, KEY_ALICE).get("status").asString()).isEqualTo("open");
        } finally {
            assertThat(send("DELETE", path, KEY_ALICE, null).statusCode()).isEqualTo(200);
        }
        // Closed: the admin sees it gone, as its owner does.
        assertThat(send("GET", path, KEY_ROOT, null).statusCode()).isEqualTo(410);
        assertThat(send("GET", "/v1/sessions/no-such-session", KEY_ROOT, null).statusCode()).isEqualTo(404);
    }

    @Test
    void anExecutionsRecordIsItsOwnersAndTheAdminsWithoutItsOutput() throws Exception {
        String id = run(ApiServerFixture.KEY_ALICE, "{\"language\":\"python\",\"code\":\"print('the ' + 'output')\"}");
        String path = "/v1/executions/" + id + "/record";
        JsonNode own = get(path, ApiServerFixture.KEY_ALICE);
        assertThat(own.get("executionId").asString()).isEqualTo(id);
        assertThat(own.get("userId").asString()).isEqualTo("alice");
        assertThat(own.get("language").asString()).isEqualTo("python");
        assertThat(own.get("command").isArray()).isTrue();
        assertThat(own.get("startedAt").asString()).isNotBlank();
        assertThat(own.path("result").isNull() || own.path("result").isMissingNode()).as(own.toString()).isTrue();
        assertThat(own.toString()).doesNotContain("the output");
        assertThat(get(path, ApiServerFixture.KEY_ROOT).get("userId").asString()).isEqualTo("alice");
        HttpResponse<String> other = send("GET", path, ApiServerFixture.KEY_BOB, null);
        assertThat(other.statusCode()).isEqualTo(404);
        assertThat(other.body()).doesNotContain("alice");
        assertThat(send("GET", "/v1/executions/no-such-id/record", ApiServerFixture.KEY_ROOT, null).statusCode())
                .isEqualTo(404);
        assertThat(send("DELETE", path, ApiServerFixture.KEY_ALICE, null).statusCode()).isEqualTo(405);
    }

    @Test
    void anExecutionsRecordShowsWhatWasAskedButNeverAnEnvValueStdinOrFileContent() throws Exception {
        String secret = "value-must-not-be-stored";
        String code = "import os, sys\nprint(len(os.environ['SECRET_TOKEN']), len(sys.stdin.read()), "
                + "len(open('in.txt').read()))\n";
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("language", "python");
        body.put("code", code);
        body.put("env", Map.of("SECRET_TOKEN", secret));
        body.put("stdin", secret);
        body.put("files", Map.of("in.txt", secret));
        body.put("limits", Map.of("timeoutMs", 20000));
        HttpResponse<String> ran = send("POST", "/v1/executions", KEY_ALICE, JSON.writeValueAsString(body));
        assertThat(ran.statusCode()).as(ran.body()).isEqualTo(200);
        JsonNode result = JSON.readTree(ran.body());
        assertThat(result.get("stdout").asString()).as("the program had all three").isEqualTo("24 24 24\n");
        String id = result.get("executionId").asString();

        HttpResponse<String> raw = send("GET", "/v1/executions/" + id + "/record", KEY_ALICE, null);
        assertThat(raw.statusCode()).as(raw.body()).isEqualTo(200);
        assertThat(raw.body()).doesNotContain(secret);
        JsonNode request = JSON.readTree(raw.body()).get("request");
        assertThat(request).as(raw.body()).isNotNull();
        assertThat(request.get("code").asString()).isEqualTo(code);
        assertThat(request.get("codeBytes").asLong()).isEqualTo(code.length());
        assertThat(request.get("codeTruncated").asBoolean()).isFalse();
        assertThat(request.get("envNames").get(0).asString()).isEqualTo("SECRET_TOKEN");
        assertThat(request.get("envNames").size()).isEqualTo(1);
        assertThat(request.get("stdinBytes").asLong()).isEqualTo(secret.length());
        assertThat(request.get("files").get(0).get("name").asString()).isEqualTo("in.txt");
        assertThat(request.get("files").get(0).get("bytes").asLong()).isEqualTo(secret.length());
        assertThat(request.get("limits").get("timeoutMs").asLong()).isEqualTo(20000);
        assertThat(get("/v1/executions/" + id + "/record", KEY_ROOT).get("request").get("code").asString())
                .isEqualTo(code);

        Path db = fixture.sandbox.services().config().dataDir().resolve(SqliteExecutionStore.FILE_NAME);
        assertThat(db).exists();
        StringBuilder stored = new StringBuilder();
        for (Path file : List.of(db, db.resolveSibling(db.getFileName() + "-wal"))) {
            if (Files.exists(file)) {
                stored.append(new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1));
            }
        }
        assertThat(stored.toString()).as("the database file and its write-ahead log").contains("SECRET_TOKEN")
                .doesNotContain(secret);
    }
}
