package io.mcpsandbox.api;

import static io.mcpsandbox.api.ApiServerFixture.KEY_ALICE;
import static io.mcpsandbox.api.ApiServerFixture.KEY_BOB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.config.ServerConfig.AdmissionLimits;
import io.mcpsandbox.testing.DockerDaemon;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Live output, stdin, background executions and notebook-style persistent calls through the REST API, against a
 * real server and real sandboxes on every runtime: NDJSON streams that arrive while the program runs and add up
 * to its result, input written to a running program, a program that never reads that cannot stall its session,
 * the output cap and the DLP modes holding in the stream too, interpreter state kept between calls and a killed
 * interpreter restarted with a notice, and bad requests named.
 */
@SystemTest
class StreamingRestApiTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static ApiServerFixture fixture;
    private final List<String> opened = new ArrayList<>();

    static List<String> runtimes() {
        return TestSandbox.ALL_RUNTIMES;
    }

    @BeforeAll
    static void start() throws Exception {
        DockerDaemon.ensureRunning(); // the docker runtimes are among the parameters
        fixture = ApiServerFixture.start(new AdmissionLimits(8, 6, 8, Duration.ofSeconds(30)));
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
            send("DELETE", "/v1/sessions/" + id, KEY_ALICE, null, null);
        }
    }

    /** One event of a stream and when it arrived. */
    private record Event(JsonNode json, long atNanos) {
        String type() {
            return json.get("type").asString();
        }
    }

    private static HttpResponse<String> send(String method, String path, String key, String type, byte[] body)
            throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(fixture.url(path))).timeout(Duration.ofSeconds(90))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofByteArray(body));
        if (type != null) {
            b.header("Content-Type", type);
        }
        b.header("Authorization", "Bearer " + key);
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> post(String path, Object body) throws Exception {
        return send("POST", path, KEY_ALICE, "application/json", JSON.writeValueAsBytes(body));
    }

    private static HttpResponse<String> stdin(String executionId, String data, boolean eof) throws Exception {
        return send("POST", "/v1/executions/" + executionId + "/stdin" + (eof ? "?eof=true" : ""), KEY_ALICE,
                "application/octet-stream", data.getBytes(StandardCharsets.UTF_8));
    }

    /** Reads an NDJSON stream to its end, each event stamped as it arrives. */
    private static List<Event> stream(String method, String path, Object body, List<Event> into) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(fixture.url(path))).timeout(Duration.ofSeconds(90))
                .header("Authorization", "Bearer " + KEY_ALICE);
        if (body != null) {
            b.header("Content-Type", "application/json").method(method,
                    HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(body)));
        } else {
            b.method(method, HttpRequest.BodyPublishers.noBody());
        }
        HttpResponse<InputStream> r = client.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type")).hasValueSatisfying(t -> assertThat(t)
                .startsWith("application/x-ndjson"));
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = lines.readLine()) != null) {
                into.add(new Event(JSON.readTree(line), System.nanoTime()));
            }
        }
        return into;
    }

    private static String joined(List<Event> events, String type) {
        StringBuilder text = new StringBuilder();
        long expected = 0;
        for (Event e : events) {
            if (e.type().equals(type)) {
                // Offsets count the stream's bytes: each piece starts where the one before ended.
                assertThat(e.json().get("offset").asLong()).as("offset of %s", e.json()).isEqualTo(expected);
                String data = e.json().get("data").asString();
                expected += data.getBytes(StandardCharsets.UTF_8).length;
                text.append(data);
            }
        }
        return text.toString();
    }

    private static JsonNode resultOf(List<Event> events) {
        Event last = events.get(events.size() - 1);
        assertThat(last.type()).as("the last event").isEqualTo("result");
        assertThat(events.stream().filter(e -> e.type().equals("result"))).hasSize(1);
        return last.json().get("result");
    }

    private String createSession(String runtime) throws Exception {
        HttpResponse<String> r = post("/v1/sessions", Map.of("runtime", runtime));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
        String id = JSON.readTree(r.body()).get("sessionId").asString();
        opened.add(id);
        return id;
    }

    @ParameterizedTest
    @MethodSource("runtimes")
    void aStreamCarriesTheOutputWhileTheProgramRunsAndAddsUpToItsResult(String runtime) throws Exception {
        // A character cut between two writes (é is c3 a9) arrives whole.
        List<Event> events = stream("POST", "/v1/executions?stream=true", Map.of("runtime", runtime, "command",
                List.of("sh", "-c", "echo one; sleep 1; echo two >&2; printf '\\303'; sleep 0.3; printf '\\251\\n'; "
                        + "echo three")), new ArrayList<>());

        assertThat(events.get(0).type()).isEqualTo("started");
        JsonNode result = resultOf(events);
        assertThat(events.get(0).json().get("executionId").asString())
                .isEqualTo(result.get("executionId").asString());
        assertThat(result.get("status").asString()).as(result.toString()).isEqualTo("completed");
        assertThat(joined(events, "stdout")).isEqualTo(result.get("stdout").asString()).isEqualTo("one\né\nthree\n");
        assertThat(joined(events, "stderr")).isEqualTo(result.get("stderr").asString()).isEqualTo("two\n");
        Event first = events.stream().filter(e -> e.type().equals("stdout")).findFirst().orElseThrow();
        assertThat(first.json().get("data").asString()).isEqualTo("one\n");
        // Live: "one" came while the program still had more than a second to run.
        assertThat(events.get(events.size() - 1).atNanos() - first.atNanos())
                .isGreaterThan(TimeUnit.MILLISECONDS.toNanos(900));
    }

    @ParameterizedTest
    @MethodSource("runtimes")
    void aBackgroundProgramInASessionTakesStdinWhileItsStreamIsFollowed(String runtime) throws Exception {
        String session = createSession(runtime);
        HttpResponse<String> started = post("/v1/sessions/" + session + "/executions", Map.of(
                "command", List.of("python3", "-u", "-c",
                        "import sys\nfor line in sys.stdin:\n    print('got', line.strip())\nprint('eof')"),
                "background", true, "keepStdinOpen", true, "stdin", "first\n"));
        assertThat(started.statusCode()).as(started.body()).isEqualTo(202);
        String id = JSON.readTree(started.body()).get("executionId").asString();

        List<Event> events = new CopyOnWriteArrayList<>();
        CompletableFuture<List<Event>> follower = CompletableFuture.supplyAsync(() -> {
            try {
                return stream("GET", "/v1/executions/" + id + "?stream=true", null, events);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        await().atMost(Duration.ofSeconds(30)).until(() -> joined(events, "stdout").contains("got first\n"));
        HttpResponse<String> written = stdin(id, "second\n", false);
        assertThat(written.statusCode()).as(written.body()).isEqualTo(200);
        assertThat(JSON.readTree(written.body()).get("bytesWritten").asLong()).isEqualTo(7);
        await().atMost(Duration.ofSeconds(30)).until(() -> joined(events, "stdout").contains("got second\n"));

        // While it runs, its output so far is in the running placeholder.
        JsonNode running = JSON.readTree(send("GET", "/v1/executions/" + id, KEY_ALICE, null, null).body());
        assertThat(running.get("status").asString()).isEqualTo("running");
        assertThat(running.get("stdout").asString()).isEqualTo("got first\ngot second\n");
        // Nobody else writes to it or follows it.
        assertThat(send("POST", "/v1/executions/" + id + "/stdin", KEY_BOB, null, "x".getBytes()).statusCode())
                .isEqualTo(404);

        HttpResponse<String> closed = stdin(id, "third\n", true);
        assertThat(JSON.readTree(closed.body()).get("stdinClosed").asBoolean()).isTrue();
        JsonNode result = resultOf(follower.get(60, TimeUnit.SECONDS));
        assertThat(result.get("status").asString()).as(result.toString()).isEqualTo("completed");
        assertThat(result.get("stdout").asString()).isEqualTo("got first\ngot second\ngot third\neof\n");
        assertThat(joined(events, "stdout")).isEqualTo(result.get("stdout").asString());

        HttpResponse<String> late = stdin(id, "late\n", false);
        assertThat(late.statusCode()).isEqualTo(409);
        assertThat(late.body()).contains("has ended");
    }

    /**
     * Hostile: a program that never reads its stdin while input is pushed at it. The writer waits for the program
     * (never for more than one frame in the agent), so the session's one channel goes on serving other
     * executions, and the program can still be terminated.
     */
    @ParameterizedTest
    @MethodSource("runtimes")
    void inputForAProgramThatNeverReadsDoesNotStallItsSession(String runtime) throws Exception {
        String session = createSession(runtime);
        HttpResponse<String> started = post("/v1/sessions/" + session + "/executions", Map.of(
                "command", List.of("sleep", "300"), "background", true, "keepStdinOpen", true));
        String id = JSON.readTree(started.body()).get("executionId").asString();
        byte[] mib = new byte[1 << 20];
        CompletableFuture<HttpResponse<String>> stuck = CompletableFuture.supplyAsync(() -> {
            try {
                return send("POST", "/v1/executions/" + id + "/stdin", KEY_ALICE, "application/octet-stream", mib);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        Thread.sleep(1000);
        assertThat(stuck).isNotDone();

        HttpResponse<String> other = post("/v1/sessions/" + session + "/executions",
                Map.of("command", List.of("echo", "still served")));
        assertThat(JSON.readTree(other.body()).get("stdout").asString()).as(other.body()).isEqualTo("still served\n");
        assertThat(send("DELETE", "/v1/executions/" + id, KEY_ALICE, null, null).statusCode()).isEqualTo(202);

        HttpResponse<String> answer = stuck.get(30, TimeUnit.SECONDS);
        assertThat(answer.statusCode()).as(answer.body()).isEqualTo(409);
        JsonNode body = JSON.readTree(answer.body());
        assertThat(body.get("bytesWritten").asLong()).isLessThan(mib.length);
        assertThat(body.get("error").asString()).contains("has ended");
        await().atMost(Duration.ofSeconds(30)).until(() -> JSON.readTree(send("GET", "/v1/executions/" + id,
                KEY_ALICE, null, null).body()).get("status").asString().equals("terminated"));
    }

    @Test
    void aFloodIsCutAtTheOutputCapInTheStreamAsInTheResult() throws Exception {
        List<Event> events = stream("POST", "/v1/executions?stream=true", Map.of("command",
                List.of("sh", "-c", "yes 0123456789abcdef | head -c 20000000"), "limits",
                Map.of("outputBytes", 100_000)), new ArrayList<>());
        JsonNode result = resultOf(events);
        assertThat(result.get("status").asString()).isEqualTo("output_limit");
        String streamed = joined(events, "stdout");
        assertThat(streamed.length()).isLessThanOrEqualTo(100_000);
        assertThat(streamed).isEqualTo(result.get("stdout").asString());
    }

    @Test
    void outputTheScannerMustSeeWholeIsNotStreamed() throws Exception {
        String secret = "AKIA" + "IOSFODNN7EXAMPLE";
        List<Event> events = stream("POST", "/v1/executions?stream=true", Map.of("command",
                List.of("sh", "-c", "echo key=" + secret + "; sleep 0.5; echo done"), "dlpMode", "redact"),
                new ArrayList<>());
        assertThat(events).extracting(Event::type).containsExactly("started", "notice", "result");
        assertThat(events.get(1).json().get("message").asString()).contains("withheld");
        JsonNode result = resultOf(events);
        assertThat(result.get("stdout").asString()).doesNotContain(secret).contains("done");
    }

    @Test
    void badStreamAndStdinRequestsAreNamed() throws Exception {
        HttpResponse<String> r = post("/v1/executions?stream=maybe", Map.of("command", List.of("true")));
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(JSON.readTree(r.body()).get("field").asString()).isEqualTo("stream");
        r = post("/v1/executions?stream=true", Map.of("command", List.of("true"), "background", true));
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).contains("cannot be combined");
        r = stdin("no-such-execution", "x", false);
        assertThat(r.statusCode()).isEqualTo(404);

        // stdin not kept open: a write is refused, naming why.
        HttpResponse<String> started = post("/v1/executions?async=true", Map.of("command", List.of("sleep", "5")));
        String id = JSON.readTree(started.body()).get("executionId").asString();
        await().atMost(Duration.ofSeconds(20)).until(() -> stdin(id, "x", false).statusCode() == 409);
        assertThat(stdin(id, "x", false).body()).contains("keepStdinOpen");
        // Declared too large: answered before the body is read (a client still sending would see its
        // connection closed mid-upload, so the raw exchange sends only the head and a few bytes).
        String head = "POST /v1/executions/" + id + "/stdin HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                + KEY_ALICE + "\r\nContent-Type: application/octet-stream\r\nContent-Length: " + ((1 << 20) + 1)
                + "\r\n\r\n";
        RawHttp.Answer tooMuch = RawHttp.exchange(fixture.server.port(), head.getBytes(StandardCharsets.US_ASCII),
                new byte[] {1, 2, 3}, 0, 10_000);
        assertThat(tooMuch.status()).as(tooMuch.text()).isEqualTo(413);
        send("DELETE", "/v1/executions/" + id, KEY_ALICE, null, null);
        await().atMost(Duration.ofSeconds(30)).until(() -> !JSON.readTree(send("GET", "/v1/executions/" + id,
                KEY_ALICE, null, null).body()).get("status").asString().equals("running"));
    }

    private JsonNode cell(String session, String language, String code, Map<String, Object> extra) throws Exception {
        Map<String, Object> body = new java.util.HashMap<>(Map.of("language", language, "code", code,
                "persistent", true));
        body.putAll(extra);
        HttpResponse<String> r = post("/v1/sessions/" + session + "/executions", body);
        return JSON.readTree(r.body());
    }

    @ParameterizedTest
    @MethodSource("runtimes")
    void persistentCallsKeepStateAndAKilledInterpreterIsRestartedWithANotice(String runtime) throws Exception {
        String session = createSession(runtime);
        assertThat(cell(session, "python", "import json\nx = 1", Map.of()).get("status").asString())
                .isEqualTo("completed");
        JsonNode second = cell(session, "python", "x += 1\nprint('side', x)\njson.dumps({'x': x})", Map.of());
        assertThat(second.get("stdout").asString()).as(second.toString()).isEqualTo("side 2\n");
        assertThat(second.get("result").asString()).isEqualTo("'{\"x\": 2}'");
        assertThat(second.has("notice")).isFalse();
        JsonNode raised = cell(session, "python", "1 / 0", Map.of());
        assertThat(raised.get("exitCode").asInt()).isEqualTo(1);
        assertThat(raised.get("stderr").asString()).contains("ZeroDivisionError");
        assertThat(cell(session, "python", "x", Map.of()).get("result").asString()).isEqualTo("2");

        // The time limit kills the interpreter; the next call gets a new one and is told.
        JsonNode loop = cell(session, "python", "while True: pass", Map.of("limits", Map.of("timeoutMs", 1500)));
        assertThat(loop.get("status").asString()).as(loop.toString()).isEqualTo("timeout");
        JsonNode after = cell(session, "python", "'x' in globals()", Map.of());
        assertThat(after.get("result").asString()).isEqualTo("False");
        assertThat(after.get("notice").asString()).contains("python interpreter was restarted").contains("time limit");

        // node keeps its own interpreter beside python's.
        cell(session, "node", "const greet = (n) => `hi ${n}`; let count = 40", Map.of());
        assertThat(cell(session, "node", "count += 2; greet(count)", Map.of()).get("result").asString())
                .isEqualTo("'hi 42'");
    }

    /** A persistent call's value is output like any other: the DLP scanner redacts it and says where. */
    @Test
    void aSecretAsThePersistentValueIsScannedLikeOutput() throws Exception {
        String session = createSession("runc");
        String secret = "AKIA" + "IOSFODNN7EXAMPLE";
        JsonNode r = cell(session, "python", "'key=" + secret + "'", Map.of("dlpMode", "redact"));
        assertThat(r.get("status").asString()).as(r.toString()).isEqualTo("completed");
        assertThat(r.get("result").asString()).doesNotContain(secret);
        assertThat(r.get("securityEvents").toString()).contains("\"stream\":\"result\"").doesNotContain(secret);
        JsonNode blocked = cell(session, "python", "'key=" + secret + "'", Map.of("dlpMode", "block"));
        assertThat(blocked.has("result")).as(blocked.toString()).isFalse();
    }

    @Test
    void persistentCallsThatCannotBeAreRefusedNamingWhy() throws Exception {
        HttpResponse<String> noSession = post("/v1/executions", Map.of("language", "python", "code", "1",
                "persistent", true));
        assertThat(noSession.statusCode()).isEqualTo(422);
        assertThat(JSON.readTree(noSession.body()).get("reason").asString())
                .startsWith("persistent: needs a sessionId");
        String session = createSession("runc");
        assertThat(cell(session, "sh", "echo", Map.of()).get("reason").asString())
                .isEqualTo("persistent: 'sh' has no persistent interpreter (python and node have)");
        assertThat(cell(session, "python", "input()", Map.of("stdin", "x\n")).get("reason").asString())
                .startsWith("stdin: a persistent call takes no stdin");

        // One call at a time per interpreter: a second one while the first runs is refused, nothing else changes.
        HttpResponse<String> slow = post("/v1/sessions/" + session + "/executions", Map.of("language", "python",
                "code", "import time\ntime.sleep(3)\n'slept'", "persistent", true, "background", true));
        String slowId = JSON.readTree(slow.body()).get("executionId").asString();
        await().atMost(Duration.ofSeconds(20)).until(() -> {
            JsonNode busy = cell(session, "python", "1", Map.of());
            return busy.get("status").asString().equals("rejected");
        });
        JsonNode busy = cell(session, "python", "1", Map.of());
        assertThat(busy.get("reason").asString()).contains("still running an earlier call");
        await().atMost(Duration.ofSeconds(30)).until(() -> JSON.readTree(send("GET", "/v1/executions/" + slowId,
                KEY_ALICE, null, null).body()).get("status").asString().equals("completed"));
        assertThat(JSON.readTree(send("GET", "/v1/executions/" + slowId, KEY_ALICE, null, null).body())
                .get("result").asString()).isEqualTo("'slept'");
    }
}
