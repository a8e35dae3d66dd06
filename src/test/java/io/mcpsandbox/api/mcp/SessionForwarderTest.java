package io.mcpsandbox.api.mcp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.mcpsandbox.cluster.ClusterSessionSigns;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.session.SessionService;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The forwarding client against a stand-in owner that answers what each test wants: what it sends (the key, the
 * signed routed header, the exact target), how it reads an answer (capped, strictly parsed, cut at the deadline),
 * and how a refusal is worded for the tool result.
 */
class SessionForwarderTest {
    private static final String SESSION = "0b8e6f2a-6a3e-4d3c-9a51-2f0f3c1b7d11";
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final Map<String, Answer> answers = new ConcurrentHashMap<>();
    private final List<Map<String, String>> seen = new ArrayList<>();
    private final CountDownLatch release = new CountDownLatch(1);
    private HttpServer owner;
    private SessionForwarder forwarder;
    private SessionForwarder.Owner target;

    private record Answer(int status, Map<String, String> headers, byte[] body, boolean stall) {
    }

    /** Signs by naming what it signs, so the test sees the header was made for exactly this request. */
    private static final class Signer implements SessionService.Directory {
        @Override
        public void opened(SessionRecord record) {
        }

        @Override
        public void closed(SessionRecord record) {
        }

        @Override
        public SessionService.Location locate(String sessionId) {
            return SessionService.Location.HERE;
        }

        @Override
        public String routedHeader(String method, String target) {
            return "signed " + method + " " + target;
        }

        @Override
        public boolean isRouted(String header, String method, String target) {
            return false;
        }
    }

    @BeforeEach
    void start() throws IOException {
        owner = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        owner.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        owner.createContext("/", this::answer);
        owner.start();
        forwarder = new SessionForwarder(null, JSON);
        target = owner("http://127.0.0.1:" + owner.getAddress().getPort());
    }

    @AfterEach
    void stop() {
        release.countDown();
        owner.stop(0);
    }

    private static SessionForwarder.Owner owner(String url) {
        return new SessionForwarder.Owner(SESSION, SessionService.Location.remote("node-a", url), "Bearer k-123",
                new Signer());
    }

    private void answer(HttpExchange ex) throws IOException {
        synchronized (seen) {
            seen.add(Map.of("method", ex.getRequestMethod(), "target", ex.getRequestURI().getRawPath()
                    + (ex.getRequestURI().getRawQuery() == null ? "" : "?" + ex.getRequestURI().getRawQuery()),
                    "authorization", String.valueOf(ex.getRequestHeaders().getFirst("Authorization")),
                    "routed", String.valueOf(ex.getRequestHeaders().getFirst(ClusterSessionSigns.ROUTED_HEADER)),
                    "body", new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8)));
        }
        Answer a = answers.get(ex.getRequestURI().getRawPath());
        a.headers().forEach((k, v) -> ex.getResponseHeaders().add(k, v));
        ex.sendResponseHeaders(a.status(), a.body().length == 0 && !a.stall() ? -1 : 0);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(a.body());
            out.flush();
            if (a.stall()) {
                release.await(30, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void on(String path, int status, String body, String... headers) {
        Map<String, String> h = new java.util.HashMap<>();
        for (int i = 0; i < headers.length; i += 2) {
            h.put(headers[i], headers[i + 1]);
        }
        answers.put(path, new Answer(status, h, body.getBytes(StandardCharsets.UTF_8), false));
    }

    @Test
    void sendsTheCallersKeyAndARoutedHeaderSignedForExactlyThisRequest() throws Exception {
        String path = "/v1/sessions/" + SESSION + "/files/workspace/a%20b.txt";
        on(path, 204, "");
        SessionForwarder.Answer a = forwarder.call(target, "PUT", path, "data".getBytes(StandardCharsets.UTF_8),
                "application/octet-stream", 100, Duration.ofSeconds(10));
        assertThat(a.ok()).isTrue();
        assertThat(seen).containsExactly(Map.of("method", "PUT", "target", path, "authorization", "Bearer k-123",
                "routed", "signed PUT " + path, "body", "data"));
    }

    @Test
    void anAnswerIsReadUpToItsCap() throws Exception {
        String path = "/v1/sessions/" + SESSION + "/files/workspace/big";
        on(path, 200, "x".repeat(1000));
        SessionForwarder.Answer a = forwarder.call(target, "GET", path, null, null, 100, Duration.ofSeconds(10));
        assertThat(a.body()).hasSize(100);
        assertThat(a.cut()).isTrue();
    }

    @Test
    void anAnswerThatStallsIsCutAtTheDeadline() {
        String path = "/v1/sessions/" + SESSION;
        answers.put(path, new Answer(200, Map.of(), "{\"sessionId\"".getBytes(StandardCharsets.UTF_8), true));
        long start = System.nanoTime();
        assertThatThrownBy(() -> forwarder.call(target, "GET", path, null, null, 1000, Duration.ofMillis(500)))
                .isInstanceOf(SessionForwarder.Failed.class).hasMessageContaining("broke off");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
    }

    @Test
    void anOwnerThatDoesNotAnswerIsAFailureNamingIt() throws Exception {
        int closed;
        try (ServerSocket s = new ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        SessionForwarder.Owner gone = owner("http://127.0.0.1:" + closed);
        assertThatThrownBy(() -> forwarder.call(gone, "GET", "/v1/sessions/" + SESSION, null, null, 1000,
                Duration.ofSeconds(10))).isInstanceOf(SessionForwarder.Failed.class)
                .satisfies(e -> assertThat(SessionForwarder.unanswered(gone, (Exception) e))
                        .contains("held by cluster node node-a, which did not answer"));
    }

    @Test
    void aStreamGivesItsEventsInOrderAndEndsWithItsResult() throws Exception {
        String path = "/v1/sessions/" + SESSION + "/executions";
        on(path, 200, "{\"type\":\"started\",\"executionId\":\"e1\"}\n{\"type\":\"stdout\",\"data\":\"hi\\n\","
                + "\"offset\":0}\n{\"type\":\"result\",\"result\":{\"executionId\":\"e1\"}}\n",
                "Content-Type", "application/x-ndjson; charset=utf-8");
        List<String> events = new ArrayList<>();
        SessionForwarder.Answer a = forwarder.stream(target, path + "?stream=true", "{}".getBytes(
                StandardCharsets.UTF_8), Duration.ofSeconds(10), new SessionForwarder.Stream(),
                e -> events.add(e.get("type").asString()));
        assertThat(events).containsExactly("started", "stdout");
        JsonNode result = forwarder.object(a.body());
        assertThat(result.get("result").get("executionId").asString()).isEqualTo("e1");
        assertThat(seen.get(0).get("routed")).isEqualTo("signed POST " + path + "?stream=true");
    }

    @Test
    void aStreamThatIsNotWellFormedIsAFailure() {
        String path = "/v1/sessions/" + SESSION + "/executions";
        for (String body : List.of("{\"type\":\"started\"}\n", "{\"type\":\"started\"}\n{\"no\":\"type\"}\n",
                "[1]\n", "not json\n", "{\"type\":\"started\"}\n{\"type\":\"result\"")) {
            on(path, 200, body, "Content-Type", "application/x-ndjson");
            assertThatThrownBy(() -> forwarder.stream(target, path, new byte[0], Duration.ofSeconds(10),
                    new SessionForwarder.Stream(), e -> { })).as(body).isInstanceOf(SessionForwarder.Failed.class);
        }
    }

    @Test
    void aRefusedStreamGivesTheOwnersErrorBody() throws Exception {
        String path = "/v1/sessions/" + SESSION + "/executions";
        on(path, 429, "{\"error\":\"too many running\"}", "Content-Type", "application/json", "Retry-After", "3");
        SessionForwarder.Answer a = forwarder.stream(target, path, new byte[0], Duration.ofSeconds(10),
                new SessionForwarder.Stream(), e -> { });
        assertThat(a.status()).isEqualTo(429);
        assertThat(forwarder.problem(target, a)).isEqualTo("too many running; retry in 3 s");
    }

    @Test
    void refusalsAreWordedAsTheLocalCallWordsThem() {
        assertThat(problem(404, "{\"error\":\"no session " + SESSION + "\"}", null))
                .isEqualTo("sessionId: no session " + SESSION);
        assertThat(problem(410, "{\"error\":\"session x is closed (idle)\",\"reason\":\"idle\"}", null))
                .isEqualTo("sessionId: session x is closed (idle)");
        assertThat(problem(404, "{\"error\":\"path: /workspace/x does not exist\",\"field\":\"path\"}", null))
                .isEqualTo("path: /workspace/x does not exist");
        assertThat(problem(503, "{\"error\":\"draining\"}", "12")).isEqualTo("draining; retry in 12 s");
        assertThat(problem(503, "{\"error\":\"draining\"}", null)).isEqualTo("draining");
        assertThat(problem(500, "<html>oops</html>", null)).contains("node-a").contains("HTTP 500")
                .doesNotContain("oops");
        assertThat(problem(500, "{\"error\":\"" + "e".repeat(5000) + "\"}", null)).hasSizeLessThan(2200);
    }

    private String problem(int status, String body, String retryAfter) {
        return forwarder.problem(target, new SessionForwarder.Answer(status, body.getBytes(StandardCharsets.UTF_8),
                false, retryAfter));
    }
}
