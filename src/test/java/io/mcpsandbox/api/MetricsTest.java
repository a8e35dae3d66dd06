package io.mcpsandbox.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.testing.SystemTest;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** /metrics scraped and parsed as Prometheus text after executions that end in different ways. */
@SystemTest
class MetricsTest {
    private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[^}]*})? ([-+0-9.eE]+|NaN)$");
    private static ApiServerFixture fixture;
    private static final HttpClient http = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        fixture = ApiServerFixture.start();
    }

    @AfterAll
    static void stop() throws Exception {
        fixture.close();
    }

    private static HttpResponse<String> send(String method, String path, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(fixture.url(path)))
                .header("Authorization", "Bearer " + ApiServerFixture.KEY_ALICE)
                .header("Content-Type", "application/json");
        b.method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString(body));
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Every sample of the exposition, keyed by name plus its label set as written. */
    static Map<String, Double> parse(String exposition) {
        Map<String, Double> samples = new HashMap<>();
        for (String line : exposition.split("\n")) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            Matcher m = SAMPLE.matcher(line.trim());
            assertThat(m.matches()).as("a valid Prometheus sample line: " + line).isTrue();
            samples.put(m.group(1) + (m.group(2) == null ? "" : m.group(2)), Double.parseDouble(m.group(3)));
        }
        return samples;
    }

    @Test
    void executionsDurationsEventsAndRejectionsAreExposed() throws Exception {
        assertThat(send("POST", "/v1/executions", "{\"command\":[\"true\"]}").statusCode()).isEqualTo(200);
        assertThat(send("POST", "/v1/executions",
                "{\"command\":[\"sh\",\"-c\",\"yes\"],\"limits\":{\"outputBytes\":1024}}")
                .statusCode()).isEqualTo(200);
        assertThat(send("POST", "/v1/executions", "{\"command\":[\"true\"],\"limits\":{\"timeoutMs\":99999999}}")
                .statusCode()).isEqualTo(422);

        HttpResponse<String> scrape = send("GET", "/metrics", null);
        assertThat(scrape.statusCode()).isEqualTo(200);
        assertThat(scrape.headers().firstValue("Content-Type").orElse("")).startsWith("text/plain");
        Map<String, Double> m = parse(scrape.body());

        assertThat(m).containsEntry("mcp_sandbox_executions_total{runtime=\"runc\",status=\"completed\"}", 1.0)
                .containsEntry("mcp_sandbox_executions_total{runtime=\"runc\",status=\"output_limit\"}", 1.0)
                .containsEntry("mcp_sandbox_rejections_total{reason=\"timeoutMs\"}", 1.0)
                .containsEntry("mcp_sandbox_security_events_total{severity=\"low\",type=\"sandbox.output_limit\"}", 1.0)
                .containsEntry("mcp_sandbox_active_executions", 0.0)
                .containsEntry("mcp_sandbox_store_degraded", 0.0)
                .containsEntry("mcp_sandbox_store_pending_writes", 0.0);
        assertThat(m.get("mcp_sandbox_execution_duration_seconds_count{runtime=\"runc\"}")).isEqualTo(2.0);
        assertThat(m.get("mcp_sandbox_execution_duration_seconds_sum{runtime=\"runc\"}")).isPositive();
        assertThat(m.keySet()).anyMatch(k -> k.startsWith("mcp_sandbox_execution_duration_seconds_bucket{"));
        assertThat(m.keySet()).anyMatch(k -> k.startsWith("jvm_memory_used_bytes{"));
        // The SQLite file the two executions were recorded in.
        assertThat(m.get("mcp_sandbox_store_size_bytes")).as("store size gauge").isNotNull().isPositive();
    }
}
