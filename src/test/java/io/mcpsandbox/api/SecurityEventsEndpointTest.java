package io.mcpsandbox.api;

import static io.mcpsandbox.api.ApiServerFixture.KEY_ALICE;
import static io.mcpsandbox.api.ApiServerFixture.KEY_BOB;
import static io.mcpsandbox.api.ApiServerFixture.KEY_ROOT;
import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.config.ServerConfig.AdmissionLimits;
import io.mcpsandbox.testing.SystemTest;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code GET /v1/security-events}: a program that prints an AWS access key id (made at run time, so no key is in
 * this file or the request) yields a {@code dlp.aws_access_key} event for its owner and an admin, never for
 * another user; {@code since} and {@code limit} are checked. Real server, real sandboxes (runc).
 */
@SystemTest
class SecurityEventsEndpointTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();
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

    private static HttpResponse<String> send(String method, String path, String key, String body) throws Exception {
        return fixture.send(method, path, key, body);
    }

    private static List<JsonNode> events(String query, String key) throws Exception {
        HttpResponse<String> r = send("GET", "/v1/security-events" + query, key, null);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        List<JsonNode> out = new ArrayList<>();
        JSON.readTree(r.body()).get("events").forEach(out::add);
        return out;
    }

    private static List<JsonNode> of(List<JsonNode> events, String executionId) {
        return events.stream().filter(e -> e.get("executionId").asString().equals(executionId)).toList();
    }

    private static void assertError(HttpResponse<String> r, int status, String field, String says) {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        JsonNode error = JSON.readTree(r.body());
        assertThat(error.get("field").asString()).isEqualTo(field);
        assertThat(error.get("error").asString()).contains(says);
    }

    private static String q(Instant at) {
        return URLEncoder.encode(at.toString(), StandardCharsets.UTF_8);
    }

    @Test
    void aLeakedKeyIsAnEventForItsOwnerAndTheAdminOnly() throws Exception {
        Instant before = Instant.now().minusSeconds(1);
        String program = "k = 'AKIA' + 'IOSFODNN7EXAMPLE'\nprint('key=' + k)\n";
        HttpResponse<String> ran = send("POST", "/v1/executions", KEY_ALICE,
                JSON.writeValueAsString(Map.of("language", "python", "code", program)));
        assertThat(ran.statusCode()).as(ran.body()).isEqualTo(200);
        JsonNode result = JSON.readTree(ran.body());
        String id = result.get("executionId").asString();
        HttpResponse<String> clean = send("POST", "/v1/executions", KEY_BOB,
                JSON.writeValueAsString(Map.of("language", "python", "code", "print('nothing to see')")));
        assertThat(clean.statusCode()).as(clean.body()).isEqualTo(200);
        String bobs = JSON.readTree(clean.body()).get("executionId").asString();

        List<JsonNode> mine = of(events("", KEY_ALICE), id);
        assertThat(mine).hasSize(1);
        JsonNode event = mine.get(0);
        assertThat(event.get("type").asString()).isEqualTo("dlp.aws_access_key");
        assertThat(event.get("severity").asString()).isEqualTo("high");
        assertThat(event.get("count").asLong()).isEqualTo(1);
        assertThat(event.get("userId").asString()).isEqualTo("alice");
        assertThat(event.get("runtime").asString()).isEqualTo(result.get("runtime").asString());
        assertThat(event.get("image").asString()).isEqualTo(result.get("image").asString());
        assertThat(Instant.parse(event.get("at").asString())).isAfterOrEqualTo(before.minusSeconds(1));
        assertThat(event.get("description").asString()).contains("AWS access key id");
        assertThat(event.toString()).doesNotContain("IOSFODNN7EXAMPLE");

        assertThat(of(events("", KEY_BOB), id)).isEmpty();
        assertThat(of(events("", KEY_BOB), bobs)).isEmpty();
        assertThat(of(events("", KEY_ROOT), id)).hasSize(1)
                .allSatisfy(e -> assertThat(e.get("userId").asString()).isEqualTo("alice"));
        assertThat(of(events("?user=alice", KEY_ROOT), id)).hasSize(1);
        assertThat(of(events("?user=bob", KEY_ROOT), id)).isEmpty();
        assertThat(of(events("?since=" + q(before), KEY_ALICE), id)).hasSize(1);
        // Since after it started: not listed.
        assertThat(of(events("?since=" + q(Instant.now()), KEY_ALICE), id)).isEmpty();
        assertThat(events("?limit=1", KEY_ROOT)).hasSize(1);
    }

    @Test
    void badParametersAreNamed() throws Exception {
        assertError(send("GET", "/v1/security-events?user=alice", KEY_BOB, null), 403, "user", "admin");
        assertError(send("GET", "/v1/security-events?since=yesterday", KEY_ALICE, null), 400, "since", "ISO-8601");
        assertError(send("GET", "/v1/security-events?since=" + q(Instant.now().plusSeconds(3600)), KEY_ALICE,
                null), 400, "since", "future");
        assertError(send("GET", "/v1/security-events?since=" + q(Instant.now().minus(Duration.ofDays(8))),
                KEY_ALICE, null), 400, "since", "7 days");
        assertError(send("GET", "/v1/security-events?limit=0", KEY_ALICE, null), 400, "limit", "1 to 5000");
        assertError(send("GET", "/v1/security-events?limit=5001", KEY_ROOT, null), 400, "limit", "1 to 5000");
        assertThat(send("POST", "/v1/security-events", KEY_ALICE, "{}").statusCode()).isEqualTo(405);
        assertThat(send("GET", "/v1/security-events?limit=5000", KEY_ALICE, null).statusCode()).isEqualTo(200);
    }
}
