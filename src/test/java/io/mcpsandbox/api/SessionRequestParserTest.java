package io.mcpsandbox.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.config.ConfigLoader;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.model.SessionRequest;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The session-create body: its schema states the configured lifetimes, the parser names the field at fault. */
class SessionRequestParserTest {
    private static final JsonMapper JSON = Json.mapper();
    private static final RequestSchemas SCHEMAS = new RequestSchemas(new ConfigLoader(Map.of(
            "MCP_SANDBOX_SESSION_MAX_LIFETIME", "2h")).load(), List.of("runc", "runsc"));
    private static final RequestParser PARSER = new RequestParser(SCHEMAS);

    private static SessionRequest parse(String body) throws Exception {
        return PARSER.parseSession(JSON.readTree(body), "alice");
    }

    @Test
    void aFullBodyBecomesTheRequestWithTheKeysUser() throws Exception {
        SessionRequest r = parse("{\"image\":\"host\",\"runtime\":\"runsc\",\"securityLevel\":\"HIGH\",\"limits\":"
                + "{\"memoryBytes\":268435456,\"timeoutMs\":5000,\"cpus\":null},\"env\":{\"A\":\"b\"},\"files\":"
                + "{\"d/x.txt\":\"hi\"},\"rootfs\":\"read-only\",\"idleTimeoutSeconds\":0,\"lifetimeSeconds\":60,"
                + "\"network\":false}");
        assertThat(r.userId()).isEqualTo("alice");
        assertThat(r.runtime()).isEqualTo("runsc");
        assertThat(r.securityLevel()).isEqualTo(SecurityLevel.HIGH);
        assertThat(r.limits().memoryBytes()).isEqualTo(268435456L);
        assertThat(r.limits().cpus()).isNull();
        assertThat(r.env()).containsEntry("A", "b");
        assertThat(r.files()).containsEntry("d/x.txt", "hi");
        assertThat(r.idleTimeoutSeconds()).isZero();
        assertThat(r.lifetimeSeconds()).isEqualTo(60L);
        SessionRequest empty = parse("{}");
        assertThat(empty.image()).isNull();
        assertThat(empty.idleTimeoutSeconds()).isNull();
    }

    @Test
    void badFieldsAreNamed() {
        Map<String, String> cases = Map.of(
                "{\"idleTimeoutSeconds\":\"ten\"}", "idleTimeoutSeconds",
                "{\"lifetimeSeconds\":1e400}", "lifetimeSeconds",
                "{\"lifetimeSeconds\":99999999999999999999999}", "lifetimeSeconds",
                "{\"rootfs\":\"rw\"}", "rootfs",
                "{\"files\":{\"a\":[1]}}", "files.a",
                "{\"code\":\"x\"}", "code",
                "{\"image\":\"" + "x".repeat(600) + "\"}", "image");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            assertThatThrownBy(() -> parse(c.getKey())).as(c.getKey()).isInstanceOfSatisfying(
                    InvalidRequestException.class, e -> assertThat(e.field()).isEqualTo(c.getValue()));
        }
        assertThatThrownBy(() -> parse("{\"rootfs\":\"rw\"}")).hasMessageContaining("read-only, writable");
        assertThatThrownBy(() -> parse("{\"network\":{\"allow\":[\"a b\"]}}")).isInstanceOfSatisfying(
                InvalidRequestException.class, e -> assertThat(e.field()).startsWith("network"));
        assertThatThrownBy(() -> parse("{\"network\":{\"deny\":[\"x.org\"]}}")).isInstanceOfSatisfying(
                InvalidRequestException.class, e -> assertThat(e.field()).startsWith("network"));
    }

    @Test
    void networkIsTrueOrANarrowingList() throws Exception {
        assertThat(parse("{\"network\":true}").network()).isTrue();
        assertThat(parse("{\"network\":true}").networkAllow()).isEmpty();
        assertThat(parse("{}").network()).isFalse();
        SessionRequest narrowed = parse("{\"network\":{\"allow\":[\"pypi.org\",\"*.pythonhosted.org\"]}}");
        assertThat(narrowed.network()).isTrue();
        assertThat(narrowed.networkAllow()).containsExactly("pypi.org", "*.pythonhosted.org");
    }

    @Test
    void theSchemaStatesTheConfiguredLifetimes() {
        JsonNode schema = SCHEMAS.input(RequestForm.SESSION);
        assertThat(schema.at("/properties/lifetimeSeconds/maximum").asLong()).isEqualTo(7200);
        assertThat(schema.at("/properties/idleTimeoutSeconds/default").asLong()).isEqualTo(600);
        assertThat(schema.at("/properties/lifetimeSeconds/description").asString()).contains("7200");
        assertThat(SCHEMAS.fields(RequestForm.SESSION)).doesNotContain("userId", "command", "sessionId");
        assertThat(SCHEMAS.input(RequestForm.ANY).at("/properties/sessionId/description").asString())
                .contains("session");
    }
}
