package io.mcpsandbox.callback;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.config.Settings;
import io.mcpsandbox.network.AddressPolicy;
import io.mcpsandbox.network.NameResolver;
import io.mcpsandbox.testing.SystemTest;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Real deliveries to a receiver in a network namespace this test creates: a veth pair (host 198.18.77.1/30,
 * namespace 198.18.77.2/30, the benchmark range the address policy allows) and a python3 HTTP server inside
 * that records every request and answers from a script per path. Names resolve only through network.resolve.
 * A listener on the host's loopback, on the same port, catches any connection that must never happen
 * (a followed redirect, a rebound name).
 */
@SystemTest
class CallbackDeliverySystemTest {
    private static final String HOST_ADDRESS = "198.18.77.1";
    private static final String RECEIVER = "198.18.77.2";
    private static final String SECRET = "system-test-secret-0123456789abcdef";
    private static final JsonMapper JSON = JsonMapper.builder().build();

    /**
     * Answers each path's n-th request with script[path][min(n, last)]: [status], [status, location], ["silent"]
     * (never answers) or ["endless"] (200 and a body that never ends).
     */
    private static final String SERVER = """
            import json, sys, base64, http.server, socketserver, threading, time
            script_file, log_file, ready_file, host, port = sys.argv[1:6]
            counts = {}
            lock = threading.Lock()
            class Handler(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers.get('Content-Length', '0')))
                    with lock:
                        n = counts.get(self.path, 0)
                        counts[self.path] = n + 1
                        with open(log_file, 'a') as f:
                            f.write(json.dumps({'path': self.path, 'time': time.time(),
                                                'headers': {k.lower(): v for k, v in self.headers.items()},
                                                'body': base64.b64encode(body).decode()}) + '\\n')
                    with open(script_file) as f:
                        answers = json.load(f).get(self.path, [[200]])
                    answer = answers[min(n, len(answers) - 1)]
                    if answer[0] == 'silent':
                        time.sleep(60)
                        return
                    if answer[0] == 'endless':
                        self.send_response(200)
                        self.end_headers()
                        try:
                            while True:
                                self.wfile.write(b'x' * 65536)
                        except OSError:
                            return
                    self.send_response(answer[0])
                    if len(answer) > 1:
                        self.send_header('Location', answer[1])
                    self.send_header('Content-Length', '2')
                    self.end_headers()
                    self.wfile.write(b'ok')
                def log_message(self, *args):
                    pass
            class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
                daemon_threads = True
            server = Server((host, int(port)), Handler)
            open(ready_file, 'w').close()
            server.serve_forever()
            """;

    @TempDir
    static Path work;

    private static String suffix;
    private static String namespace;
    private static String hostVeth;
    private static Process receiver;
    private static ServerSocket trap;
    private static final AtomicInteger trapConnections = new AtomicInteger();
    private static int port;
    private static Path script;
    private static Path requestLog;

    @BeforeAll
    static void createNamespaceAndReceiver() throws Exception {
        suffix = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()).substring(2);
        namespace = "mcpcb-" + suffix;
        hostVeth = "cbh" + suffix;
        String nsVeth = "cbn" + suffix;
        run("ip", "netns", "add", namespace);
        run("ip", "link", "add", hostVeth, "type", "veth", "peer", "name", nsVeth);
        run("ip", "link", "set", nsVeth, "netns", namespace);
        run("ip", "addr", "add", HOST_ADDRESS + "/30", "dev", hostVeth);
        run("ip", "link", "set", hostVeth, "up");
        run("ip", "netns", "exec", namespace, "ip", "addr", "add", RECEIVER + "/30", "dev", nsVeth);
        run("ip", "netns", "exec", namespace, "ip", "link", "set", nsVeth, "up");
        run("ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up");
        String route = run("ip", "route", "get", RECEIVER);
        assertThat(route).as("the route to the test receiver must be this test's veth")
                .contains("dev " + hostVeth + " ");

        // The trap: the same port on the host's loopback, where nothing may ever connect.
        trap = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
        port = trap.getLocalPort();
        Thread.ofVirtual().start(() -> {
            while (!trap.isClosed()) {
                try (Socket ignored = trap.accept()) {
                    trapConnections.incrementAndGet();
                } catch (IOException e) {
                    return;
                }
            }
        });

        script = work.resolve("script.json");
        requestLog = work.resolve("requests.jsonl");
        Path ready = work.resolve("ready");
        // Each test has its own path, so tests never disturb one another.
        Files.writeString(script, JSON.writeValueAsString(Map.of(
                "/flaky", List.of(List.of(500), List.of(500), List.of(200)),
                "/down", List.of(List.of(503)),
                "/redirect", List.of(List.of(302, "http://127.0.0.1:" + port + "/trap")),
                "/resume", List.of(List.of(500), List.of(200)),
                "/silent", List.of(List.of("silent")),
                "/endless", List.of(List.of("endless")))));
        Files.createFile(requestLog);
        receiver = new ProcessBuilder("ip", "netns", "exec", namespace, "python3", "-c", SERVER,
                script.toString(), requestLog.toString(), ready.toString(), RECEIVER, Integer.toString(port))
                .redirectErrorStream(true).redirectOutput(work.resolve("receiver.out").toFile()).start();
        await().atMost(Duration.ofSeconds(20)).until(() -> Files.exists(ready) || !receiver.isAlive());
        assertThat(receiver.isAlive()).as("the receiver runs: " + Files.readString(work.resolve("receiver.out")))
                .isTrue();
    }

    @AfterAll
    static void removeNamespace() throws Exception {
        if (receiver != null) {
            receiver.destroyForcibly();
            receiver.waitFor(10, TimeUnit.SECONDS);
        }
        if (trap != null) {
            trap.close();
        }
        if (namespace != null) {
            runQuietly("ip", "link", "del", hostVeth);
            runQuietly("ip", "netns", "del", namespace);
            assertThat(run("ip", "netns", "list")).doesNotContain(namespace);
        }
    }

    @Test
    void deliversTheResultWithAValidSignature() throws Exception {
        Fixture fixture = new Fixture(3);
        try (CallbackSender sender = fixture.sender()) {
            URI url = fixture.policy.check("http://callbacks.test:" + port + "/ok");
            sender.deliver("exec-ok", url);

            JsonNode request = awaitRequests("/ok", 1).get(0);
            byte[] body = Base64.getDecoder().decode(request.get("body").asString());
            JsonNode headers = request.get("headers");
            assertThat(new String(body, StandardCharsets.UTF_8)).isEqualTo(Fixture.body("exec-ok"));
            assertThat(headers.get("content-type").asString()).startsWith("application/json");
            assertThat(headers.get("x-mcp-sandbox-execution").asString()).isEqualTo("exec-ok");
            assertThat(headers.get("x-mcp-sandbox-delivery").asString()).isEqualTo("1");
            String timestamp = headers.get("x-mcp-sandbox-timestamp").asString();
            assertThat(Long.parseLong(timestamp)).isCloseTo(Instant.now().getEpochSecond(), org.assertj.core.data
                    .Offset.offset(30L));
            assertThat(CallbackSigner.verify(SECRET.getBytes(StandardCharsets.UTF_8), timestamp, body,
                    headers.get("x-mcp-sandbox-signature").asString())).isTrue();
            await().atMost(Duration.ofSeconds(5)).until(() -> fixture.count("delivered") == 1);
            assertThat(fixture.outbox.pending()).isEmpty();
        }
    }

    @Test
    void retriesWithBackOffThenDelivers() throws Exception {
        Fixture fixture = new Fixture(5);
        try (CallbackSender sender = fixture.sender()) {
            sender.deliver("exec-flaky", fixture.policy.check("http://callbacks.test:" + port + "/flaky"));

            List<JsonNode> requests = awaitRequests("/flaky", 3);
            assertThat(requests).extracting(r -> r.get("headers").get("x-mcp-sandbox-delivery").asString())
                    .containsExactly("1", "2", "3");
            double firstWait = requests.get(1).get("time").asDouble() - requests.get(0).get("time").asDouble();
            double secondWait = requests.get(2).get("time").asDouble() - requests.get(1).get("time").asDouble();
            assertThat(firstWait).as("1 s, jittered").isBetween(0.7, 1.6);
            assertThat(secondWait).as("2 s, jittered").isBetween(1.45, 2.9);
            await().atMost(Duration.ofSeconds(5)).until(() -> fixture.count("delivered") == 1);
            assertThat(fixture.count("retried")).isEqualTo(2);
            assertThat(fixture.outbox.pending()).isEmpty();
        }
    }

    @Test
    void givesUpAfterTheLastAttempt() throws Exception {
        Fixture fixture = new Fixture(3);
        try (CallbackSender sender = fixture.sender()) {
            sender.deliver("exec-down", fixture.policy.check("http://callbacks.test:" + port + "/down"));

            await().atMost(Duration.ofSeconds(15)).until(() -> fixture.count("failed") == 1);
            assertThat(fixture.outbox.pending()).isEmpty();
            Thread.sleep(1500);
            assertThat(requests("/down")).hasSize(3);
            assertThat(fixture.count("retried")).isEqualTo(2);
        }
    }

    @Test
    void doesNotFollowARedirect() throws Exception {
        Fixture fixture = new Fixture(1);
        try (CallbackSender sender = fixture.sender()) {
            sender.deliver("exec-redirect", fixture.policy.check("http://callbacks.test:" + port + "/redirect"));

            await().atMost(Duration.ofSeconds(10)).until(() -> fixture.count("failed") == 1);
            assertThat(requests("/redirect")).hasSize(1);
            assertThat(trapConnections).hasValue(0);
        }
    }

    @Test
    void aReceiverThatNeverAnswersCostsOneTimeoutPerAttempt() throws Exception {
        Fixture fixture = new Fixture(1);
        try (CallbackSender sender = fixture.sender()) {
            long start = System.nanoTime();
            sender.deliver("exec-silent", fixture.policy.check("http://callbacks.test:" + port + "/silent"));

            await().atMost(Duration.ofSeconds(15)).until(() -> fixture.count("failed") == 1);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isBetween(Duration.ofSeconds(3),
                    Duration.ofSeconds(9));
            assertThat(requests("/silent")).hasSize(1);
        }
    }

    @Test
    void anEndlessAnswerIsCutOffAndItsStatusCounts() throws Exception {
        Fixture fixture = new Fixture(1);
        try (CallbackSender sender = fixture.sender()) {
            sender.deliver("exec-endless", fixture.policy.check("http://callbacks.test:" + port + "/endless"));

            // Well before the 3 s timeout: the body is cut off at its cap, not read until time runs out.
            await().atMost(Duration.ofMillis(2500)).until(() -> fixture.count("delivered") == 1);
            assertThat(fixture.outbox.pending()).isEmpty();
        }
    }

    @Test
    void aNewSenderResumesWhatTheLastOneLeftPending() throws Exception {
        Fixture fixture = new Fixture(5);
        try (CallbackSender first = fixture.sender()) {
            first.deliver("exec-resume", fixture.policy.check("http://callbacks.test:" + port + "/resume"));
            awaitRequests("/resume", 1);
            await().atMost(Duration.ofSeconds(5)).until(() -> fixture.count("retried") == 1);
        }
        // The "restart": the first sender is closed with its retry due; only the outbox remains.
        assertThat(fixture.outbox.pending()).singleElement()
                .satisfies(p -> assertThat(p.attempts()).isEqualTo(1));
        Fixture restarted = new Fixture(5, fixture.outbox);
        try (CallbackSender second = restarted.sender()) {
            second.resume();
            List<JsonNode> requests = awaitRequests("/resume", 2);
            assertThat(requests.get(1).get("headers").get("x-mcp-sandbox-delivery").asString()).isEqualTo("2");
            await().atMost(Duration.ofSeconds(5)).until(() -> restarted.count("delivered") == 1);
            assertThat(restarted.outbox.pending()).isEmpty();
        }
    }

    @Test
    void aNameThatRebindsToLoopbackAfterTheCheckIsRefusedAtDelivery() throws Exception {
        Fixture atSubmission = new Fixture(3);
        URI url = atSubmission.policy.check("http://callbacks.test:" + port + "/rebind");
        Fixture atDelivery = new Fixture(3, new InMemoryCallbackOutbox(), "callbacks.test=127.0.0.1");
        try (CallbackSender sender = atDelivery.sender()) {
            sender.deliver("exec-rebind", url);

            await().atMost(Duration.ofSeconds(10)).until(() -> atDelivery.count("refused") == 1);
            assertThat(atDelivery.outbox.pending()).isEmpty();
            assertThat(atDelivery.count("retried")).isZero();
            assertThat(trapConnections).hasValue(0);
            assertThat(requests("/rebind")).isEmpty();
        }
    }

    @Test
    void anExecutionWithoutAStoredResultIsGivenUpWithoutARequest() throws Exception {
        Fixture fixture = new Fixture(3);
        try (CallbackSender sender = fixture.sender()) {
            sender.deliver("missing", fixture.policy.check("http://callbacks.test:" + port + "/missing"));

            await().atMost(Duration.ofSeconds(10)).until(() -> fixture.count("failed") == 1);
            assertThat(requests("/missing")).isEmpty();
            assertThat(fixture.outbox.pending()).isEmpty();
        }
    }

    /** One server configuration: settings, policy, outbox, meters. */
    private static final class Fixture {
        final CallbackSettings settings;
        final CallbackPolicy policy;
        final CallbackOutbox outbox;
        final SimpleMeterRegistry registry = new SimpleMeterRegistry();

        Fixture(int maxAttempts) {
            this(maxAttempts, new InMemoryCallbackOutbox());
        }

        Fixture(int maxAttempts, CallbackOutbox outbox) {
            this(maxAttempts, outbox, "callbacks.test=" + RECEIVER);
        }

        Fixture(int maxAttempts, CallbackOutbox outbox, String answers) {
            Settings config = new Settings(new Properties(), Map.of(
                    "MCP_SANDBOX_NETWORK_RESOLVE", answers,
                    "MCP_SANDBOX_CALLBACKS_ALLOWED_HOSTS", "callbacks.test",
                    "MCP_SANDBOX_CALLBACKS_MAX_ATTEMPTS", Integer.toString(maxAttempts),
                    "MCP_SANDBOX_CALLBACKS_TIMEOUT", "3s",
                    "MCP_SANDBOX_CALLBACKS_SECRET", SECRET));
            this.settings = CallbackSettings.from(config, work);
            this.policy = new CallbackPolicy(settings, new NameResolver(config), new AddressPolicy());
            this.outbox = outbox;
        }

        CallbackSender sender() {
            return new CallbackSender(settings, policy, outbox,
                    id -> id.equals("missing") ? Optional.empty()
                            : Optional.of(body(id).getBytes(StandardCharsets.UTF_8)),
                    registry);
        }

        static String body(String id) {
            return "{\"executionId\":\"" + id + "\",\"status\":\"completed\",\"stdout\":\"42\\n\"}";
        }

        double count(String outcome) {
            var counter = registry.find(CallbackSender.METER).tag("outcome", outcome).counter();
            return counter == null ? 0 : counter.count();
        }
    }

    private static List<JsonNode> requests(String path) throws IOException {
        List<JsonNode> matching = new ArrayList<>();
        for (String line : Files.readAllLines(requestLog)) {
            if (line.isBlank()) {
                continue;
            }
            JsonNode request = JSON.readTree(line);
            if (request.get("path").asString().equals(path)) {
                matching.add(request);
            }
        }
        return matching;
    }

    private static List<JsonNode> awaitRequests(String path, int count) {
        await().atMost(Duration.ofSeconds(20)).until(() -> requests(path).size() >= count);
        try {
            return requests(path);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static String run(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(30, TimeUnit.SECONDS) || process.exitValue() != 0) {
            throw new IllegalStateException(String.join(" ", command) + " failed: " + output);
        }
        return output;
    }

    private static void runQuietly(String... command) {
        try {
            run(command);
        } catch (Exception e) {
            System.err.println("cleanup: " + e.getMessage());
        }
    }
}
