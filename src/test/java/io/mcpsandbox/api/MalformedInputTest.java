package io.mcpsandbox.api;

import static io.mcpsandbox.api.ApiServerFixture.KEY_ALICE;
import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.config.ServerConfig.AdmissionLimits;
import io.mcpsandbox.testing.SystemTest;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Hostile and malformed HTTP against a real server (issue 10 items 8, 9, 14): bodies that lie about their
 * length or stall, /healthz without a key, and a seeded run of 10,000+ malformed requests on REST and MCP. Every
 * answer must be a 4xx with a JSON error, never a 5xx or an HTML page, and the server must stay healthy.
 */
@SystemTest
class MalformedInputTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final long SEED = 20240610L;
    private static final int REQUESTS = 10_200;
    private static ApiServerFixture fixture;

    @BeforeAll
    static void start() throws Exception {
        fixture = ApiServerFixture.start(new AdmissionLimits(4, 4, 8, Duration.ofSeconds(10)), Duration.ofSeconds(2));
    }

    @AfterAll
    static void stop() throws Exception {
        if (fixture != null) {
            fixture.close();
        }
    }

    private static int port() {
        return fixture.server.port();
    }

    private static RawHttp.Answer send(String method, String path, String contentType, byte[] body, String... headers)
            throws Exception {
        StringBuilder head = new StringBuilder(method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + port()
                + "\r\nConnection: close\r\nAuthorization: Bearer " + KEY_ALICE + "\r\n");
        if (contentType != null) {
            head.append("Content-Type: ").append(contentType).append("\r\n");
        }
        for (String h : headers) {
            head.append(h).append("\r\n");
        }
        if (body != null) {
            head.append("Content-Length: ").append(body.length).append("\r\n");
        }
        head.append("\r\n");
        return RawHttp.exchange(port(), RawHttp.ascii(head.toString()), body, 0, 30_000);
    }

    /** A 4xx whose body is JSON with an error message (an object for JSON-RPC). */
    private static String problem(RawHttp.Answer a) {
        if (a.status() < 400 || a.status() > 499) {
            return "status " + a.status();
        }
        String type = a.header("content-type");
        if (type == null || !type.startsWith("application/json")) {
            return "content type " + type;
        }
        try {
            JsonNode error = JSON.readTree(a.body()).get("error");
            if (error == null || (error.isString() ? error.asString().isBlank() : !error.has("message"))) {
                return "no error message in " + a.text();
            }
        } catch (RuntimeException e) {
            return "not JSON: " + a.text();
        }
        return null;
    }

    @Test
    void aGetOnMcpThatOpensNoStreamIsA400WithoutTheServersStackTrace() throws Exception {
        for (String[] headers : List.of(new String[0], new String[] {"Accept: text/event-stream"},
                new String[] {"Accept: application/json", "mcp-session-id: x"})) {
            RawHttp.Answer a = send("GET", "/mcp", null, null, headers);
            assertThat(problem(a)).as(a.text()).isNull();
            assertThat(a.status()).isEqualTo(400);
            assertThat(a.text()).contains("text/event-stream").doesNotContain("stackTrace", "at io.", "Exception");
        }
    }

    @Test
    void healthzWithoutAKeyRevealsNothingButTheStatus() throws Exception {
        RawHttp.Answer plain = RawHttp.exchange(port(), RawHttp.ascii("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "Connection: close\r\n\r\n"), null, 0, 10_000);
        assertThat(plain.status()).isEqualTo(200);
        JsonNode body = JSON.readTree(plain.body());
        assertThat(body.propertyNames()).containsExactly("status");
        assertThat(body.get("status").asString()).isEqualTo("ok");
        assertThat(plain.text()).doesNotContain("/tmp").doesNotContain("sqlite").doesNotContain("pending");

        RawHttp.Answer detailNoKey = RawHttp.exchange(port(), RawHttp.ascii("GET /healthz?detail=true HTTP/1.1\r\n"
                + "Host: 127.0.0.1\r\nConnection: close\r\n\r\n"), null, 0, 10_000);
        assertThat(detailNoKey.status()).isEqualTo(401);
        assertThat(detailNoKey.text()).doesNotContain("/tmp");

        RawHttp.Answer detail = send("GET", "/healthz?detail=true", null, null);
        assertThat(detail.status()).isEqualTo(200);
        assertThat(JSON.readTree(detail.body()).get("store").get("backend").asString()).isNotBlank();
    }

    @Test
    void aBodyThatDeclaresTheLimitAndSendsLittleNeitherAllocatesItNorHangsTheServer() throws Exception {
        // Over the limit by declaration: refused at once, naming the limit.
        for (String path : List.of("/v1/executions", "/mcp")) {
            RawHttp.Answer over = RawHttp.exchange(port(), RawHttp.ascii("POST " + path + " HTTP/1.1\r\n"
                    + "Host: 127.0.0.1:" + port() + "\r\nAuthorization: Bearer " + KEY_ALICE
                    + "\r\nContent-Type: application/json\r\n"
                    + "Accept: application/json, text/event-stream\r\nContent-Length: 99999999999\r\n\r\n{"),
                    null, 0, 10_000);
            assertThat(problem(over)).as(path + ": " + over.text()).isNull();
            assertThat(over.status()).isEqualTo(413);
            assertThat(over.text()).contains("server.max-request-bytes");
        }
        // Just under the limit by declaration, 1 byte sent, then silence: 48 at once. Memory must not grow by
        // 48 x 16 MiB; each is answered (408) or closed once the idle timeout passes.
        var memory = ManagementFactory.getMemoryMXBean();
        System.gc();
        long before = memory.getHeapMemoryUsage().getUsed();
        ExecutorService pool = Executors.newFixedThreadPool(48);
        List<Future<RawHttp.Answer>> stalled = new ArrayList<>();
        for (int i = 0; i < 48; i++) {
            String path = i % 2 == 0 ? "/v1/executions" : "/mcp";
            stalled.add(pool.submit(() -> RawHttp.exchange(port(), RawHttp.ascii("POST " + path + " HTTP/1.1\r\nHost: "
                    + "127.0.0.1:" + port() + "\r\nAuthorization: Bearer " + KEY_ALICE + "\r\nContent-Type: "
                    + "application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: "
                    + (ApiServerFixture.MAX_BODY - 1) + "\r\n\r\n{"), null, 0, 20_000)));
        }
        Thread.sleep(1_000);
        System.gc();
        long during = memory.getHeapMemoryUsage().getUsed();
        assertThat(during - before).as("heap growth with 48 stalled 16 MiB bodies").isLessThan(100L << 20);
        for (Future<RawHttp.Answer> f : stalled) {
            RawHttp.Answer a = f.get();
            if (a.status() != -1) {
                assertThat(problem(a)).as(a.text()).isNull();
                assertThat(a.status()).isEqualTo(408);
            }
        }
        pool.shutdown();
        assertHealthy();
    }

    @Test
    void tenThousandMalformedRequestsGetJson4xxAndTheServerStaysHealthy() throws Exception {
        String session = mcpSession();
        Random random = new Random(SEED);
        List<Malformed.Request> requests = new ArrayList<>();
        for (int i = 0; i < REQUESTS; i++) {
            requests.add(Malformed.next(random, port(), KEY_ALICE, session));
        }
        Map<String, List<String>> failures = new ConcurrentHashMap<>();
        AtomicInteger answered = new AtomicInteger();
        AtomicInteger ran = new AtomicInteger();
        long start = System.nanoTime();
        try (ExecutorService pool = Executors.newFixedThreadPool(8)) {
            for (Malformed.Request r : requests) {
                pool.submit(() -> {
                    try {
                        RawHttp.Answer a = RawHttp.exchange(port(), r.head(), r.body(), 0, 30_000);
                        String problem = r.accept(a);
                        if (problem == null) {
                            answered.incrementAndGet();
                            if (r.mayRun() && a.status() < 300) {
                                ran.incrementAndGet();
                            }
                        } else {
                            failures.computeIfAbsent(r.kind(), k -> new ArrayList<>())
                                    .add(problem + " <- " + r.describe());
                        }
                    } catch (Exception e) {
                        failures.computeIfAbsent(r.kind(), k -> new ArrayList<>()).add(e + " <- " + r.describe());
                    }
                });
            }
        }
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        System.out.println("malformed run: " + requests.size() + " requests in " + took.toMillis() + " ms, "
                + ran.get() + " ran");
        failures.forEach((kind, list) -> System.out.println(kind + ": " + list.size() + " e.g. "
                + list.subList(0, Math.min(3, list.size()))));
        assertThat(failures).isEmpty();
        assertThat(answered.get()).isEqualTo(REQUESTS);
        assertThat(ran.get()).as("requests that really ran a sandbox").isLessThan(REQUESTS / 20);
        assertHealthy();
    }

    /** healthz ok, and a real execution still runs. */
    private static void assertHealthy() throws Exception {
        RawHttp.Answer health = send("GET", "/healthz", null, null);
        assertThat(health.status()).isEqualTo(200);
        assertThat(JSON.readTree(health.body()).get("status").asString()).isEqualTo("ok");
        RawHttp.Answer run = send("POST", "/v1/executions", "application/json",
                "{\"command\":[\"echo\",\"still-alive\"]}".getBytes(StandardCharsets.UTF_8));
        assertThat(run.status()).as(run.text()).isEqualTo(200);
        assertThat(JSON.readTree(run.body()).get("stdout").asString()).isEqualTo("still-alive\n");
    }

    private static String mcpSession() throws Exception {
        RawHttp.Answer init = send("POST", "/mcp", "application/json", ("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
                + "\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":"
                + "{\"name\":\"fuzz\",\"version\":\"1\"}}}").getBytes(StandardCharsets.UTF_8),
                "Accept: application/json, text/event-stream");
        assertThat(init.status()).as(init.text()).isEqualTo(200);
        String session = init.header("mcp-session-id");
        assertThat(session).isNotBlank();
        RawHttp.Answer initialized = send("POST", "/mcp", "application/json",
                "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}".getBytes(StandardCharsets.UTF_8),
                "Accept: application/json, text/event-stream", "Mcp-Session-Id: " + session);
        assertThat(initialized.status()).isEqualTo(202);
        return session;
    }
}
