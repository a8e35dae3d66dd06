package io.mcpsandbox.api.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.api.RequestForm;
import io.mcpsandbox.api.RequestSchemas;
import io.mcpsandbox.config.ConfigLoader;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.node.ObjectNode;

/** The OpenAPI document lists every HTTP endpoint and embeds the very request schema the parser validates with. */
class OpenApiDocumentTest {
    static final RequestSchemas SCHEMAS = new RequestSchemas(new ConfigLoader(Map.of(
            ConfigLoader.ENV_DATA_DIR, "/nonexistent")).load(), List.of("runc", "runsc"));

    @Test
    void everyEndpointIsDescribed() {
        ObjectNode doc = OpenApiDocument.build(SCHEMAS);
        assertThat(doc.get("openapi").asString()).isEqualTo("3.1.0");
        assertThat(doc.get("paths").propertyNames()).containsExactlyInAnyOrder("/v1/executions",
                "/v1/executions/{executionId}", "/v1/executions/{executionId}/stdin",
                "/v1/executions/{executionId}/record", "/v1/executions/batch",
                "/v1/queue", "/v1/sessions",
                "/v1/sessions/{sessionId}",
                "/v1/sessions/{sessionId}/executions", "/v1/sessions/{sessionId}/files",
                "/v1/sessions/{sessionId}/files/{path}", "/v1/runtimes", "/v1/openapi.json", "/metrics", "/healthz",
                "/mcp", "/v1/me", "/v1/security-events", "/v1/stats", "/v1/images",
                "/v1/cluster");
        assertThat(doc.at("/paths/~1v1~1sessions/post/responses").propertyNames()).contains("201", "400", "422",
                "429");
        assertThat(doc.at("/paths/~1v1~1sessions~1{sessionId}~1files~1{path}").propertyNames())
                .contains("get", "put", "delete");
        assertThat(doc.at("/paths/~1v1~1sessions~1{sessionId}~1executions/post/responses").propertyNames())
                .contains("200", "202", "404", "410", "422");
        // The session request is the parser's schema; a session shows nothing of where its sandbox is.
        assertThat(doc.at("/components/schemas/SessionRequest"))
                .isEqualTo(SCHEMAS.input(io.mcpsandbox.api.RequestForm.SESSION));
        assertThat(doc.at("/components/schemas/Session/properties").propertyNames())
                .doesNotContain("sandboxName", "serverId", "userId");
        assertThat(doc.at("/paths/~1v1~1executions").propertyNames()).containsExactlyInAnyOrder("get", "post");
        assertThat(doc.at("/paths/~1v1~1executions~1{executionId}").propertyNames())
                .contains("get", "delete");
        assertThat(doc.at("/paths/~1v1~1executions/post/responses").propertyNames()).contains("200", "202", "400",
                "401", "408", "413", "415", "422", "429", "500");
        assertThat(doc.at("/paths/~1v1~1executions/get/parameters").toString()).contains("\"active\"", "\"limit\"",
                "\"ids\"");
        assertThat(doc.at("/paths/~1v1~1executions~1batch/post/responses").propertyNames()).contains("202", "400",
                "429");
        // What the web console reads: the filters, the admin's user filter and its 403, and the console's endpoints.
        assertThat(doc.at("/paths/~1v1~1executions/get/parameters").toString()).contains("\"status\"",
                "\"runtime\"", "\"image\"", "\"user\"", "\"completed\"", "\"timeout\"");
        assertThat(doc.at("/paths/~1v1~1executions/get/responses").propertyNames()).contains("400", "403");
        assertThat(doc.at("/paths/~1v1~1sessions/get/responses").propertyNames()).contains("200", "403");
        assertThat(doc.at("/paths/~1v1~1sessions/get/parameters").toString()).contains("\"user\"");
        assertThat(doc.at("/paths/~1v1~1security-events/get/parameters").toString()).contains("\"since\"",
                "\"limit\"", "\"maximum\":5000", "\"default\":500");
        assertThat(doc.at("/paths/~1v1~1security-events/get/responses").propertyNames()).contains("200", "400",
                "403");
        assertThat(doc.at("/components/schemas/Me/required").toString()).contains("userId", "admin");
        assertThat(doc.at("/components/schemas/SecurityEventEntry/properties").propertyNames()).contains("at",
                "executionId", "userId", "runtime", "image", "type", "severity", "count");
        assertThat(doc.at("/components/schemas/Stats/properties").propertyNames()).contains("generatedAt",
                "activeExecutions", "perMinute", "runtimes", "statuses", "securityEvents", "pools");
        assertThat(doc.at("/components/schemas/Images/properties").propertyNames()).contains("scanner", "images");
        // /healthz answers without a key; everything else needs one.
        assertThat(doc.at("/paths/~1healthz/get/security/0").isEmpty()).isTrue();
        assertThat(doc.at("/security/0/apiKey").isArray()).isTrue();
    }

    @Test
    void theRequestBodyIsTheParsersSchema() {
        ObjectNode doc = OpenApiDocument.build(SCHEMAS);
        assertThat(doc.at("/components/schemas/ExecutionRequest")).isEqualTo(SCHEMAS.input(RequestForm.ANY));
        assertThat(doc.at("/components/schemas/ExecutionResult")).isEqualTo(SCHEMAS.result());
    }
}
