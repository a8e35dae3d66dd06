package io.mcpsandbox.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import io.mcpsandbox.config.ConfigLoader;
import io.mcpsandbox.model.DlpMode;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.SecurityLevel;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The request schema and the parser over it: shape errors name the field; limits are left to policy. */
class RequestParserTest {
    private static final JsonMapper JSON = Json.mapper();
    private final RequestSchemas schemas = new RequestSchemas(new ConfigLoader(Map.of(
            ConfigLoader.ENV_DATA_DIR, "/nonexistent", "MCP_SANDBOX_LIMITS_MAX_TIMEOUT", "2m")).load(),
            List.of("runc", "runsc"));
    private final RequestParser parser = new RequestParser(schemas);

    private ExecutionRequest parse(String body, RequestForm form) throws InvalidRequestException {
        return parser.parse(JSON.readTree(body), form, "alice");
    }

    private void refused(String body, RequestForm form, String field, String message) {
        assertThatThrownBy(() -> parse(body, form))
                .isInstanceOfSatisfying(InvalidRequestException.class, e -> {
                    assertThat(e.field()).isEqualTo(field);
                    assertThat(e.getMessage()).contains(message);
                });
    }

    @Test
    void aFullSnippetAndAFullCommandAreRead() throws Exception {
        ExecutionRequest snippet = parse("""
                {"language":"python","code":"print(1)","files":{"a.txt":"x"},"stdin":"in","network":false,
                 "limits":{"timeoutMs":1000,"memoryBytes":67108864,"cpus":0.5,"pids":16,"outputBytes":100},
                 "securityLevel":"HIGH","runtime":"runsc","sessionId":"s1","dlpMode":"redact"}""", RequestForm.SNIPPET);
        assertThat(snippet.language()).isEqualTo("python");
        assertThat(snippet.files()).containsEntry("a.txt", "x");
        assertThat(snippet.limits().timeoutMs()).isEqualTo(1000L);
        assertThat(snippet.limits().cpus()).isEqualTo(0.5);
        assertThat(snippet.securityLevel()).isEqualTo(SecurityLevel.HIGH);
        assertThat(snippet.dlpMode()).isEqualTo(DlpMode.REDACT);
        assertThat(snippet.userId()).isEqualTo("alice");

        ExecutionRequest command = parse("""
                {"image":"alpine:3.19","command":["sh","-c","echo $A"],"env":{"A":"b"},"workDir":"/tmp"}""",
                RequestForm.COMMAND);
        assertThat(command.command()).containsExactly("sh", "-c", "echo $A");
        assertThat(command.env()).containsEntry("A", "b");
        assertThat(command.image()).isEqualTo("alpine:3.19");
    }

    @Test
    void nullMeansLeftOut() throws Exception {
        ExecutionRequest r = parse("{\"command\":[\"ls\"],\"image\":null,\"limits\":{\"cpus\":null},\"stdin\":null}",
                RequestForm.ANY);
        assertThat(r.image()).isNull();
        assertThat(r.limits().cpus()).isNull();
        refused("{\"command\":[\"ls\"],\"userId\":null}", RequestForm.ANY, "userId", "API key");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            {"language":5,"code":"x"}                         | language         | must be a string; got 5
            {"language":"python","code":true}                 | code             | must be a string; got true
            {"language":"python","code":"x","files":[]}       | files            | object whose values are strings
            {"language":"python","code":"x","files":{"a":1}}  | files.a          | must be a string; got 1
            {"language":"python","code":"x","stdin":1}        | stdin            | must be a string
            {"command":"ls"}                                  | command          | must be an array of strings
            {"command":["ls",3]}                              | command[1]       | must be a string; got 3
            {"command":["ls"],"env":"A=b"}                    | env              | object whose values are strings
            {"command":["ls"],"env":{"A":{}}}                 | env.A            | must be a string; got {}
            {"command":["ls"],"image":1}                      | image            | must be a string
            {"command":["ls"],"workDir":[]}                   | workDir          | must be a string
            {"command":["ls"],"network":"yes"}                | network          | must be true or false, or an object
            {"command":["ls"],"runtime":1}                    | runtime          | must be a string
            {"command":["ls"],"sessionId":1}                  | sessionId        | must be a string
            {"command":["ls"],"securityLevel":1}              | securityLevel    | must be a string
            {"command":["ls"],"dlpMode":false}                | dlpMode          | must be a string
            {"command":["ls"],"limits":5}                     | limits           | an object with any of timeoutMs
            {"command":["ls"],"limits":{"timeoutMs":"5s"}}    | limits.timeoutMs | a whole number, at most 120000
            {"command":["ls"],"limits":{"timeoutMs":1.5}}     | limits.timeoutMs | whole number
            {"command":["ls"],"limits":{"timeoutMs":2.0}}     | limits.timeoutMs | whole number
            {"command":["ls"],"limits":{"timeoutMs":1e400}}   | limits.timeoutMs | whole number
            {"command":["ls"],"limits":{"pids":99999999999999999999}} | limits.pids | whole number
            {"command":["ls"],"limits":{"memoryBytes":true}}  | limits.memoryBytes | whole number
            {"command":["ls"],"limits":{"outputBytes":[]}}    | limits.outputBytes | whole number
            {"command":["ls"],"limits":{"cpus":"2"}}          | limits.cpus      | must be a number, at most
            """)
    void everyFieldsTypeErrorNamesTheField(String body, String field, String message) {
        refused(body, RequestForm.ANY, field, message);
    }

    @Test
    void unknownFieldsAreNamedWithTheKnownOnes() {
        refused("{\"command\":[\"ls\"],\"colour\":1}", RequestForm.ANY, "colour",
                "is not a known field (known: background, callbackUrl, code,");
        refused("{\"command\":[\"ls\"],\"userId\":\"bob\"}", RequestForm.ANY, "userId", "comes from the API key");
        refused("{\"command\":[\"ls\"],\"limits\":{\"wall\":1}}", RequestForm.ANY, "limits.wall",
                "is not a known limit (known: timeoutMs, memoryBytes, cpus, pids, outputBytes)");
        // Each tool takes only its own fields.
        refused("{\"language\":\"python\",\"code\":\"x\",\"command\":[\"ls\"]}", RequestForm.SNIPPET, "command",
                "not a known field");
        refused("{\"command\":[\"ls\"],\"files\":{}}", RequestForm.COMMAND, "files", "not a known field");
        // Unknown fields come first, before what is missing.
        refused("{\"bogus\":1}", RequestForm.SNIPPET, "bogus", "not a known field");
        // The client's own key is echoed back bounded, not whole.
        String huge = "k".repeat(40_000); // under Jackson's own 50,000-character cap on names
        assertThatThrownBy(() -> parse("{\"command\":[\"ls\"],\"" + huge + "\":1}", RequestForm.ANY))
                .isInstanceOfSatisfying(InvalidRequestException.class, e -> {
                    assertThat(e.field()).hasSizeLessThanOrEqualTo(40).endsWith("...");
                    assertThat(e.getMessage()).hasSizeLessThan(1000).contains("not a known field");
                });
    }

    @Test
    void whatIsMissingOrDoubleIsNamed() {
        refused("[1,2]", RequestForm.ANY, null, "the request must be a JSON object");
        refused("\"x\"", RequestForm.SNIPPET, null, "the request must be a JSON object");
        refused("{}", RequestForm.ANY, "command", "is required: give command");
        refused("{}", RequestForm.COMMAND, "command", "is required: an array of strings");
        refused("{\"language\":\"python\"}", RequestForm.ANY, "code", "is required");
        refused("{\"code\":\"x\"}", RequestForm.ANY, "language", "is required");
        refused("{\"language\":\"python\"}", RequestForm.SNIPPET, "code", "is required");
        refused("{\"language\":\"python\",\"code\":\"x\",\"command\":[\"ls\"]}", RequestForm.ANY, "command",
                "not both");
    }

    @Test
    void fixedCapsAreCheckedHere() {
        refused("{\"command\":[\"ls\"],\"sessionId\":\"" + "s".repeat(257) + "\"}", RequestForm.ANY, "sessionId",
                "is longer than 256 characters");
        refused("{\"command\":[\"ls\"],\"image\":\"" + "i".repeat(513) + "\"}", RequestForm.ANY, "image",
                "is longer than 512 characters");
        refused("{\"command\":[\"ls\"],\"runtime\":\"" + "r".repeat(65) + "\"}", RequestForm.ANY, "runtime",
                "is longer than 64 characters");
        refused("{\"command\":[\"ls\"],\"securityLevel\":\"extreme\"}", RequestForm.ANY, "securityLevel",
                "must be one of low, medium, high, critical; got 'extreme'");
        refused("{\"command\":[\"ls\"],\"dlpMode\":\"shred\"}", RequestForm.ANY, "dlpMode",
                "must be one of report, redact, block; got 'shred'");
    }

    @Test
    void configuredLimitsAreAdvertisedButLeftToPolicy() throws Exception {
        // Policy refuses these with the configured limit named, and records the rejection.
        ExecutionRequest r = parse("{\"language\":\"cobol\",\"code\":\"x\",\"runtime\":\"kata\","
                + "\"limits\":{\"timeoutMs\":-5,\"memoryBytes\":1,\"cpus\":1000,\"pids\":0,\"outputBytes\":0}}",
                RequestForm.ANY);
        assertThat(r.language()).isEqualTo("cobol");
        assertThat(r.limits().timeoutMs()).isEqualTo(-5L);
        assertThat(parse("{\"command\":[]}", RequestForm.ANY).command()).isEmpty();

        JsonNode limits = schemas.input(RequestForm.SNIPPET).at("/properties/limits/properties");
        assertThat(limits.at("/timeoutMs/maximum").asLong()).isEqualTo(120_000L);
        assertThat(schemas.input(RequestForm.SNIPPET).at("/properties/language/enum").toString()).contains("python");
        assertThat(schemas.input(RequestForm.COMMAND).at("/properties/runtime/enum").toString())
                .isEqualTo("[\"runc\",\"runsc\"]");
    }

    @Test
    void everySchemaIsValidDraft202012() {
        var metaSchema = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12)
                .getSchema(com.networknt.schema.SchemaLocation.of(RequestSchemas.DIALECT));
        for (RequestForm form : RequestForm.values()) {
            assertThat(metaSchema.validate(schemas.input(form))).as(form.name()).isEmpty();
        }
        assertThat(metaSchema.validate(schemas.result())).isEmpty();
        assertThat(metaSchema.validate(schemas.executionId("x"))).isEmpty();
        assertThat(metaSchema.validate(schemas.terminated())).isEmpty();
        assertThat(metaSchema.validate(schemas.writeStdin())).isEmpty();
        assertThat(metaSchema.validate(schemas.stdinWritten())).isEmpty();
        assertThat(schemas.fields(RequestForm.SNIPPET)).containsExactlyInAnyOrder("language", "code", "files",
                "stdin", "limits", "network", "securityLevel", "runtime", "sessionId", "dlpMode", "persistent",
                "background", "keepStdinOpen", "priority", "callbackUrl");
        assertThat(schemas.fields(RequestForm.COMMAND)).containsExactlyInAnyOrder("image", "command", "env",
                "workDir", "stdin", "limits", "network", "securityLevel", "runtime", "sessionId", "dlpMode",
                "background", "keepStdinOpen", "priority", "callbackUrl");
    }

    @Test
    void priorityIsAWholeNumberInItsRange() {
        refused("{\"command\":[\"ls\"],\"priority\":101}", RequestForm.ANY, "priority", "100");
        refused("{\"command\":[\"ls\"],\"priority\":1.5}", RequestForm.ANY, "priority", "whole number");
    }

    @Test
    void networkIsTrueFalseOrANarrowingListOfNames() throws Exception {
        ExecutionRequest all = parse("{\"command\":[\"ls\"],\"network\":true}", RequestForm.ANY);
        assertThat(all.network()).isTrue();
        assertThat(all.networkAllow()).isEmpty();
        ExecutionRequest narrowed = parse("{\"command\":[\"ls\"],\"network\":{\"allow\":[\"pypi.org\","
                + "\"*.pythonhosted.org\"]}}", RequestForm.ANY);
        assertThat(narrowed.network()).isTrue();
        assertThat(narrowed.networkAllow()).containsExactly("pypi.org", "*.pythonhosted.org");
        assertThat(parse("{\"command\":[\"ls\"],\"network\":false}", RequestForm.ANY).network()).isFalse();
        // Hostile names and shapes are refused before policy sees them, naming the field.
        refused("{\"command\":[\"ls\"],\"network\":{\"allow\":[\"a b\"]}}", RequestForm.ANY, "network.allow[0]",
                "");
        refused("{\"command\":[\"ls\"],\"network\":{\"allow\":[\"x.org/../\"]}}", RequestForm.ANY,
                "network.allow[0]", "");
        refused("{\"command\":[\"ls\"],\"network\":{\"deny\":[]}}", RequestForm.ANY, "network.deny", "known");
        refused("{\"command\":[\"ls\"],\"network\":{\"allow\":[" + "\"a.org\",".repeat(64)
                + "\"b.org\"]}}", RequestForm.ANY, "network.allow", "");
        refused("{\"command\":[\"ls\"],\"network\":1}", RequestForm.ANY, "network", "true or false");
    }
}
