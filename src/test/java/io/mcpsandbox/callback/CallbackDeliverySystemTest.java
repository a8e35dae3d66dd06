package io.mcpsandbox.callback;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.config.Settings;
import io.mcpsandbox.network.AddressPolicy;
import io.mcpsandbox.network.NameResolver;
import io.mcpsandbox.testing.NetnsReceiver;
import io.mcpsandbox.testing.SystemTest;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/**
 * Real deliveries to a receiver in a network namespace this test creates ({@link NetnsReceiver}: host
 * 198.18.77.1/30, namespace 198.18.77.2/30, the benchmark range the address policy allows; a python3 HTTP server
 * inside records every request and answers from a script per path). Names resolve only through network.resolve.
 * A listener on the host's loopback, on the same port, catches any connection that must never happen
 * (a followed redirect, a rebound name).
 */
@SystemTest
class CallbackDeliverySystemTest {
    private static final String NETWORK = "198.18.77";
    private static final String SECRET = "system-test-secret-0123456789abcdef";

    @TempDir
    static Path work;

    private static NetnsReceiver receiver;
    private static int port;

    @BeforeAll
    static void createNamespaceAndReceiver() throws Exception {
        // Each test has its own path, so tests never disturb one another. The redirect points at the trap.
        receiver = NetnsReceiver.start(NETWORK, "cb", work, Map.of(
                "/flaky", List.of(List.of(500), List.of(500), List.of(200)),
                "/down", List.of(List.of(503)),
                "/redirect", List.of(List.of(302, "http://127.0.0.1:{port}/trap")),
                "/resume", List.of(List.of(500), List.of(200)),
                "/silent", List.of(List.of("silent")),
                "/endless", List.of(List.of("endless"))));
        port = receiver.port();
    }

    @AfterAll
    static void removeNamespace() throws Exception {
        if (receiver != null) {
            receiver.close();
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
            assertThat(receiver.trapConnections()).isZero();
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
            assertThat(receiver.trapConnections()).isZero();
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
            this(maxAttempts, outbox, "callbacks.test=" + receiver.address());
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
        return receiver.requests(path);
    }

    private static List<JsonNode> awaitRequests(String path, int count) {
        return receiver.awaitRequests(path, count);
    }
}
