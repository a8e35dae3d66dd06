package io.mcpsandbox.api;

import static io.mcpsandbox.api.ApiServerFixture.KEY_ALICE;
import static io.mcpsandbox.api.ApiServerFixture.KEY_ROOT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.config.ServerConfig.AdmissionLimits;
import io.mcpsandbox.record.SqliteExecutionStore;
import io.mcpsandbox.testing.SystemTest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The listings that show records without their result never read it from the store: with one record's stored
 * result and output made unreadable in the SQLite file, {@code GET /v1/executions} (plain, filtered, an admin's)
 * and {@code GET /v1/security-events} still answer with it, while {@code GET /v1/executions/{id}}, which
 * needs the result, cannot. Real server, a real execution (runc).
 */
@SystemTest
class ListingWithoutResultsTest {
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

    private static List<JsonNode> listed(String path, String key, String field) throws Exception {
        HttpResponse<String> r = send("GET", path, key, null);
        assertThat(r.statusCode()).as(path + ": " + r.body()).isEqualTo(200);
        List<JsonNode> out = new ArrayList<>();
        JSON.readTree(r.body()).get(field).forEach(out::add);
        return out;
    }

    private static List<JsonNode> of(List<JsonNode> items, String executionId) {
        return items.stream().filter(e -> e.get("executionId").asString().equals(executionId)).toList();
    }

    @Test
    void listingsAnswerWhileARecordsResultCannotBeRead() throws Exception {
        assertThat(fixture.sandbox.services().store()).as("the store without a Redis URL")
                .isInstanceOf(SqliteExecutionStore.class);
        // Prints an AWS access key id (made at run time): a security event on the record.
        HttpResponse<String> ran = send("POST", "/v1/executions", KEY_ALICE, "{\"image\":\"host\","
                + "\"command\":[\"sh\",\"-c\",\"k=AKIA; echo key=${k}IOSFODNN7EXAMPLE; yes | head -c 200000\"]}");
        assertThat(ran.statusCode()).as(ran.body()).isEqualTo(200);
        String id = JSON.readTree(ran.body()).get("executionId").asString();

        Path file = fixture.sandbox.services().config().dataDir().resolve(SqliteExecutionStore.FILE_NAME);
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file)) {
            await().atMost(Duration.ofSeconds(10)).until(() -> "completed".equals(status(c, id)));
            try (PreparedStatement ps = c.prepareStatement(
                    "UPDATE executions SET result = ?, output = ? WHERE execution_id = ?")) {
                ps.setString(1, "{not json");
                ps.setBytes(2, new byte[] {0x1f, (byte) 0x8b, 0, 1, 2, 3});
                ps.setString(3, id);
                assertThat(ps.executeUpdate()).isEqualTo(1);
            }
        }

        HttpResponse<String> show = send("GET", "/v1/executions/" + id, KEY_ALICE, null);
        assertThat(show.statusCode()).as("the result itself cannot be read: " + show.body()).isEqualTo(503);
        assertThat(show.body()).contains("not valid JSON");

        JsonNode record = of(listed("/v1/executions", KEY_ALICE, "executions"), id).get(0);
        String runtime = record.get("runtime").asString();
        String image = record.get("image").asString();
        for (String path : List.of("/v1/executions?limit=5", "/v1/executions?status=completed&runtime=" + runtime,
                "/v1/executions?image=" + java.net.URLEncoder.encode(image, java.nio.charset.StandardCharsets.UTF_8)
                        + "&limit=5")) {
            List<JsonNode> mine = of(listed(path, KEY_ALICE, "executions"), id);
            assertThat(mine).as(path).hasSize(1);
            assertThat(mine.get(0).get("status").asString()).isEqualTo("completed");
            assertThat(mine.get(0).get("outputBytes").asLong()).isGreaterThan(200_000);
            assertThat(mine.get(0).get("result") == null || mine.get(0).get("result").isNull()).isTrue();
        }
        assertThat(of(listed("/v1/executions?user=alice&limit=1000", KEY_ROOT, "executions"), id)).hasSize(1);
        assertThat(of(listed("/v1/executions?limit=1000", KEY_ROOT, "executions"), id)).hasSize(1);

        List<JsonNode> events = of(listed("/v1/security-events", KEY_ALICE, "events"), id);
        assertThat(events).extracting(e -> e.get("type").asString()).contains("dlp.aws_access_key");
        assertThat(of(listed("/v1/security-events?user=alice", KEY_ROOT, "events"), id)).isNotEmpty();
    }

    private static String status(Connection c, String id) throws Exception {
        try (PreparedStatement ps = c.prepareStatement("SELECT status FROM executions WHERE execution_id = ?")) {
            ps.setString(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getString(1) : null;
            }
        }
    }
}
