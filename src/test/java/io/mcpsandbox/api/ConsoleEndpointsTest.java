package io.mcpsandbox.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * What the console stands on, over real HTTP: its files with their security headers and nothing else under
 * /ui, the CSP report endpoint and its counter, and the two overviews it reads ({@code /v1/stats},
 * {@code /v1/images}). The browser test drives the pages themselves.
 */
class ConsoleEndpointsTest {
    private static final JsonMapper JSON = JsonMapper.shared();
    private static final HttpClient HTTP = HttpClient.newBuilder()
            .followRedirects(HttpClient.Redirect.NEVER).build();
    private static ApiServerFixture fixture;

    @BeforeAll
    static void start() throws Exception {
        fixture = ApiServerFixture.start();
    }

    @AfterAll
    static void stop() throws Exception {
        fixture.close();
    }

    private static HttpResponse<String> get(String path, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(fixture.url(path))).GET();
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> report(String type, String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(fixture.url("/ui/csp-report")))
                .header("Content-Type", type).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static double cspReports() throws Exception {
        String metrics = get("/metrics", ApiServerFixture.KEY_ALICE).body();
        return MetricsTest.parse(metrics).get("mcp_sandbox_console_csp_reports_total");
    }

    @Test
    void theConsolePageComesWithAStrictPolicyAndNeedsNoKey() throws Exception {
        HttpResponse<String> page = get("/ui/", null);
        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.headers().firstValue("Content-Type").orElseThrow()).startsWith("text/html;");
        String csp = page.headers().firstValue("Content-Security-Policy").orElseThrow();
        assertThat(csp).contains("default-src 'none'", "script-src 'self'", "frame-ancestors 'none'",
                "report-uri /ui/csp-report").doesNotContain("unsafe-inline", "unsafe-eval", "http:", "https:");
        assertThat(page.headers().firstValue("X-Frame-Options")).hasValue("DENY");
        assertThat(page.headers().firstValue("X-Content-Type-Options")).hasValue("nosniff");
        assertThat(page.headers().firstValue("Referrer-Policy")).hasValue("no-referrer");
        // No inline script or style: everything the page runs is a file of its own origin.
        assertThat(page.body()).containsIgnoringCase("<script").doesNotContainPattern("<script(?![^>]*\\ssrc=)")
                .doesNotContainIgnoringCase("<style").doesNotContainIgnoringCase(" style=")
                .doesNotContainPattern("(?i)(src|href)=\"(https?:)?//");
        assertThat(get("/ui", null).statusCode()).isEqualTo(302);
        assertThat(get("/ui", null).headers().firstValue("Location")).hasValue("/ui/");
    }

    @Test
    void onlyTheConsolesOwnFilesAreServed() throws Exception {
        for (String path : new String[] {"/ui/nothing.js", "/ui/.hidden.js", "/ui/index.html.bak",
                "/ui/%2e%2e/v1/me", "/ui/..%2fmcp-sandbox.properties", "/ui/logback.xml",
                "/ui/io/mcpsandbox/x.class"}) {
            HttpResponse<String> r = get(path, null);
            assertThat(r.statusCode()).as(path).isIn(400, 404);
            assertThat(r.body()).as(path).doesNotContain("<configuration", "package ");
        }
        // An error answer carries the policy too.
        assertThat(get("/ui/nothing.js", null).headers().firstValue("Content-Security-Policy")).isPresent();
    }

    @Test
    void aForeignHostOrOriginIsRefusedAsOnTheApi() throws Exception {
        byte[] head = RawHttp.ascii("GET /ui/ HTTP/1.1\r\nHost: attacker.example:80\r\nConnection: close\r\n\r\n");
        assertThat(RawHttp.exchange(fixture.server.port(), head, new byte[0], 0, 5000).status()).isEqualTo(403);
        HttpResponse<String> foreign = HTTP.send(HttpRequest.newBuilder(URI.create(fixture.url("/ui/")))
                .header("Origin", "http://attacker.example").GET().build(), HttpResponse.BodyHandlers.ofString());
        assertThat(foreign.statusCode()).isEqualTo(403);
    }

    @Test
    void cspReportsAreCountedAndBounded() throws Exception {
        double before = cspReports();
        assertThat(report("application/csp-report", "{\"csp-report\":{\"blocked-uri\":\"inline\","
                + "\"effective-directive\":\"script-src-elem\",\"document-uri\":\"http://127.0.0.1/ui/\"}}")
                .statusCode()).isEqualTo(204);
        assertThat(cspReports()).isEqualTo(before + 1);
        assertThat(report("text/plain", "{}").statusCode()).isEqualTo(415);
        assertThat(report("application/csp-report", "not json").statusCode()).isEqualTo(400);
        assertThat(report("application/csp-report", "{\"x\":\"" + "a".repeat(20_000) + "\"}").statusCode())
                .isEqualTo(413);
        assertThat(HTTP.send(HttpRequest.newBuilder(URI.create(fixture.url("/ui/csp-report"))).GET().build(),
                HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(405);
        assertThat(cspReports()).as("refused reports are not counted").isEqualTo(before + 1);
    }

    @Test
    void statsSummariseTheMetersAfterAnExecution() throws Exception {
        HttpResponse<String> ran = HTTP.send(HttpRequest.newBuilder(URI.create(fixture.url("/v1/executions")))
                .header("Authorization", "Bearer " + ApiServerFixture.KEY_ALICE)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"command\":[\"sh\",\"-c\",\"exit 3\"]}")).build(),
                HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        assertThat(ran.statusCode()).as(ran.body()).isEqualTo(200);
        String runtime = JSON.readTree(ran.body()).get("runtime").asString();
        String status = JSON.readTree(ran.body()).get("status").asString();

        assertThat(get("/v1/stats", null).statusCode()).isEqualTo(401);
        HttpResponse<String> answer = get("/v1/stats", ApiServerFixture.KEY_BOB);
        assertThat(answer.statusCode()).isEqualTo(200);
        JsonNode stats = JSON.readTree(answer.body());
        assertThat(stats.get("perMinute")).hasSize(60);
        JsonNode thisMinute = stats.get("perMinute").get(59);
        assertThat(thisMinute.get("executions").asLong()).isPositive();
        assertThat(stats.get("statuses").path(status).asLong()).as(stats.toString()).isPositive();
        JsonNode latency = null;
        for (JsonNode r : stats.get("runtimes")) {
            if (r.get("runtime").asString().equals(runtime)) {
                latency = r;
            }
        }
        assertThat(latency).as(stats.toString()).isNotNull();
        assertThat(latency.get("executions").asLong()).isPositive();
        double p50 = latency.get("p50Ms").asDouble();
        double p99 = latency.get("p99Ms").asDouble();
        assertThat(p50).isPositive().isLessThanOrEqualTo(p99);
        assertThat(stats.get("pools").isArray()).isTrue();
    }

    @Test
    void imagesListTheCatalogWithTheScannersState() throws Exception {
        HttpResponse<String> answer = get("/v1/images", ApiServerFixture.KEY_ALICE);
        assertThat(answer.statusCode()).isEqualTo(200);
        JsonNode images = JSON.readTree(answer.body());
        assertThat(images.get("scanner").asString()).isNotBlank();
        JsonNode host = images.get("images").get(0);
        assertThat(host.get("name").asString()).isEqualTo("host");
        assertThat(host.get("kind").asString()).isEqualTo("builtin");
        assertThat(host.get("digest").asString()).startsWith("host:");
        assertThat(host.has("scan")).isTrue();
    }
}
