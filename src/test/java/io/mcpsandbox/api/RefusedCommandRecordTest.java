package io.mcpsandbox.api;

import static io.mcpsandbox.api.ApiServerFixture.KEY_ALICE;
import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.config.ServerConfig.AdmissionLimits;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.testing.SystemTest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A hostile client sends commands far over the argv limit: each is refused, and its record keeps at most 128 KiB
 * of the command (a stream of such requests cannot fill the store with what was never run).
 */
@SystemTest
class RefusedCommandRecordTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static ApiServerFixture fixture;

    @BeforeAll
    static void start() throws Exception {
        fixture = ApiServerFixture.start(new AdmissionLimits(4, 4, 4, Duration.ofSeconds(30)));
    }

    @AfterAll
    static void stop() throws Exception {
        if (fixture != null) {
            fixture.close();
        }
    }

    @Test
    void aRefusedGiantCommandIsRecordedCut() throws Exception {
        StringBuilder body = new StringBuilder("{\"command\":[\"echo\"");
        String arg = "z".repeat(8 << 10);
        for (int i = 0; i < 1000; i++) { // 8 MB of arguments, within the 16 MiB body limit
            body.append(",\"").append(arg).append('"');
        }
        body.append("]}");
        HttpResponse<String> r = fixture.send("POST", "/v1/executions", KEY_ALICE, body.toString());
        JsonNode result = JSON.readTree(r.body());
        assertThat(result.path("status").asString()).as(r.body().substring(0, 300)).isEqualTo("rejected");
        assertThat(result.path("reason").asString()).contains("command").contains("bytes exceed the limit");
        String id = result.get("executionId").asString();

        HttpResponse<String> record = fixture.send("GET", "/v1/executions/" + id + "/record", KEY_ALICE, null);
        assertThat(record.statusCode()).as(record.body()).isEqualTo(200);
        assertThat(record.body().getBytes(StandardCharsets.UTF_8).length).isLessThan(200_000);
        JsonNode command = JSON.readTree(record.body()).get("command");
        assertThat(command.get(0).asString()).isEqualTo("echo");
        assertThat(command.get(command.size() - 1).asString()).isEqualTo("[cut: the command had 1001 arguments and "
                + (4 + 1000L * (8 << 10)) + " bytes; a record keeps " + ExecutionRecord.MAX_COMMAND_BYTES + "]");
    }
}
