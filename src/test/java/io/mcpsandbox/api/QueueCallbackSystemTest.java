package io.mcpsandbox.api;

import static io.mcpsandbox.api.ApiServerFixture.KEY_ALICE;
import static io.mcpsandbox.api.ApiServerFixture.KEY_ROOT;
import static io.mcpsandbox.api.QueueRestApiTest.json;
import static io.mcpsandbox.api.QueueRestApiTest.send;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.callback.CallbackSigner;
import io.mcpsandbox.config.ServerConfig.AdmissionLimits;
import io.mcpsandbox.testing.NetnsReceiver;
import io.mcpsandbox.testing.SystemTest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Signed result callbacks from a server that serves the queue, to a receiver in a network namespace this test
 * creates (198.18.78.0/30). The callback host resolves only through network.resolve. Every queued execution's
 * result arrives once, signed, as its final result; refused URLs are refused at submission, before any socket.
 */
@SystemTest
class QueueCallbackSystemTest {
    private static final String SECRET = "queue-callback-secret-0123456789abcdef";
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final AdmissionLimits ONE_SLOT = new AdmissionLimits(1, 2, 4, Duration.ofSeconds(30));

    @TempDir
    static Path work;

    private static NetnsReceiver receiver;
    private static ApiServerFixture fixture;

    @BeforeAll
    static void start() throws Exception {
        receiver = NetnsReceiver.start("198.18.78", "qc", work, Map.of());
        fixture = ApiServerFixture.startQueued(ONE_SLOT, env("callbacks.test"));
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (fixture != null) {
                fixture.close();
            }
        } finally {
            if (receiver != null) {
                receiver.close();
            }
        }
    }

    private static Map<String, String> env(String allowedHosts) {
        return Map.of("MCP_SANDBOX_CALLBACKS_ALLOWED_HOSTS", allowedHosts,
                "MCP_SANDBOX_NETWORK_RESOLVE", "callbacks.test=" + receiver.address(),
                "MCP_SANDBOX_CALLBACKS_SECRET", SECRET);
    }

    private static String hook(String path) {
        return "http://callbacks.test:" + receiver.port() + path;
    }

    private static String printing(int i, String path) {
        return "{\"language\":\"python\",\"code\":\"print(" + i + ")\",\"callbackUrl\":\"" + hook(path) + "\"}";
    }

    @Test
    void everyQueuedResultIsCalledBackOnceSigned() throws Exception {
        receiver.assertRouteIsOurs();
        Map<String, Integer> printed = new HashMap<>();
        for (int i = 0; i < 20; i++) {
            HttpResponse<String> r = send(fixture, "POST", "/v1/executions?async=true", KEY_ALICE,
                    printing(i, "/hook"));
            assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
            printed.put(json(r).get("executionId").asString(), i);
        }
        HttpResponse<String> batch = send(fixture, "POST", "/v1/executions/batch", KEY_ALICE, "{\"executions\":["
                + printing(100, "/hook") + "," + printing(101, "/hook") + "," + printing(102, "/hook") + "]}");
        assertThat(batch.statusCode()).as(batch.body()).isEqualTo(202);
        assertThat(json(batch).get("rejected")).isEmpty();
        for (JsonNode a : json(batch).get("accepted")) {
            printed.put(a.get("executionId").asString(), 100 + a.get("index").asInt());
        }
        assertThat(printed).hasSize(23);

        await().atMost(Duration.ofSeconds(120)).until(() -> receiver.requests("/hook").size() >= printed.size());
        Thread.sleep(2000); // a second delivery of any of them would arrive by now
        List<JsonNode> requests = receiver.requests("/hook");
        assertThat(requests).hasSize(printed.size());
        List<String> delivered = new ArrayList<>();
        for (JsonNode request : requests) {
            JsonNode headers = request.get("headers");
            byte[] body = Base64.getDecoder().decode(request.get("body").asString());
            String id = headers.get("x-mcp-sandbox-execution").asString();
            delivered.add(id);
            assertSigned(headers, body);
            assertThat(headers.get("x-mcp-sandbox-delivery").asString()).isEqualTo("1");
            assertThat(headers.get("content-type").asString()).startsWith("application/json");

            JsonNode result = JSON.readTree(body);
            assertThat(result.get("executionId").asString()).isEqualTo(id);
            assertThat(result.get("status").asString()).as(result.toString()).isEqualTo("completed");
            assertThat(result.get("stdout").asString()).isEqualTo(printed.get(id) + "\n");
            // The body is the final result, as GET answers it.
            assertThat(result).isEqualTo(json(send(fixture, "GET", "/v1/executions/" + id, KEY_ALICE, null)));
        }
        assertThat(delivered).containsExactlyInAnyOrderElementsOf(printed.keySet());
        assertThat(receiver.trapConnections()).isZero();
    }

    @Test
    void aQueuedExecutionCancelledIsCalledBackAsCancelled() throws Exception {
        receiver.assertRouteIsOurs();
        HttpResponse<String> held = send(fixture, "POST", "/v1/executions?async=true", KEY_ROOT,
                "{\"command\":[\"sleep\",\"120\"]}");
        assertThat(held.statusCode()).as(held.body()).isEqualTo(202);
        String holder = json(held).get("executionId").asString();
        await().atMost(Duration.ofSeconds(60)).until(() -> status(KEY_ROOT, holder).equals("running"));

        HttpResponse<String> r = send(fixture, "POST", "/v1/executions?async=true", KEY_ALICE,
                printing(7, "/cancelled"));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
        String id = json(r).get("executionId").asString();
        HttpResponse<String> cancel = send(fixture, "DELETE", "/v1/executions/" + id, KEY_ALICE, null);
        assertThat(cancel.statusCode()).as(cancel.body()).isEqualTo(200);

        JsonNode request = receiver.awaitRequests("/cancelled", 1).get(0);
        byte[] body = Base64.getDecoder().decode(request.get("body").asString());
        assertSigned(request.get("headers"), body);
        JsonNode result = JSON.readTree(body);
        assertThat(result.get("executionId").asString()).isEqualTo(id);
        assertThat(result.get("status").asString()).isEqualTo("cancelled");

        assertThat(send(fixture, "DELETE", "/v1/executions/" + holder, KEY_ROOT, null).statusCode()).isEqualTo(202);
        await().atMost(Duration.ofSeconds(60)).until(() -> status(KEY_ROOT, holder).equals("terminated"));
        Thread.sleep(1000);
        assertThat(receiver.requests("/cancelled")).hasSize(1);
    }

    @Test
    void loopbackAndLinkLocalCallbacksAreRefusedAtSubmission() throws Exception {
        assertRefused(fixture);
        // Even where the allowlist names them: the address policy refuses them before any socket opens.
        try (ApiServerFixture allowing = ApiServerFixture.startQueued(ONE_SLOT,
                env("callbacks.test,127.0.0.1,169.254.169.254"))) {
            assertRefused(allowing);
        }
        assertThat(receiver.trapConnections()).isZero();
    }

    private static void assertRefused(ApiServerFixture f) throws Exception {
        String[] urls = {"http://127.0.0.1:" + receiver.port() + "/x", "http://169.254.169.254/latest",
                "http://[::ffff:127.0.0.1]:" + receiver.port() + "/x", "http://user@callbacks.test:"
                + receiver.port() + "/x", "http://elsewhere.test/x", "file:///etc/passwd"};
        for (String url : urls) {
            String body = "{\"language\":\"python\",\"code\":\"print(1)\",\"callbackUrl\":\"" + url + "\"}";
            for (String path : new String[] {"/v1/executions?async=true", "/v1/executions"}) {
                HttpResponse<String> r = send(f, "POST", path, KEY_ALICE, body);
                assertThat(r.statusCode()).as(url + " " + r.body()).isEqualTo(400);
                assertThat(json(r).get("field").asString()).isEqualTo("callbackUrl");
            }
            HttpResponse<String> batch = send(f, "POST", "/v1/executions/batch", KEY_ALICE,
                    "{\"executions\":[" + body + "]}");
            assertThat(batch.statusCode()).as(url + " " + batch.body()).isEqualTo(400);
            assertThat(json(batch).get("rejected").get(0).get("field").asString()).isEqualTo("callbackUrl");
        }
        HttpResponse<String> queue = send(f, "GET", "/v1/queue", KEY_ROOT, null);
        assertThat(json(queue).get("depth").asInt()).isZero();
    }

    private static String status(String key, String id) throws Exception {
        return json(send(fixture, "GET", "/v1/executions/" + id, key, null)).get("status").asString();
    }

    /** The signature checks with CallbackSigner and with an HMAC-SHA256 computed here; the timestamp is now. */
    private static void assertSigned(JsonNode headers, byte[] body) throws Exception {
        String timestamp = headers.get("x-mcp-sandbox-timestamp").asString();
        String signature = headers.get("x-mcp-sandbox-signature").asString();
        assertThat(CallbackSigner.verify(SECRET.getBytes(StandardCharsets.UTF_8), timestamp, body, signature))
                .isTrue();
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(SECRET.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
        mac.update((timestamp + ".").getBytes(StandardCharsets.US_ASCII));
        assertThat(signature).isEqualTo("sha256=" + HexFormat.of().formatHex(mac.doFinal(body)));
        assertThat(Long.parseLong(timestamp)).isBetween(Instant.now().getEpochSecond() - 120,
                Instant.now().getEpochSecond() + 5);
        assertThat(CallbackSigner.verify("another-secret-0123456789abcdefghij".getBytes(StandardCharsets.UTF_8),
                timestamp, body, signature)).isFalse();
    }
}
