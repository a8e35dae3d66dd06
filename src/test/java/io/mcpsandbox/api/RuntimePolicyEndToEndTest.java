package io.mcpsandbox.api;

import static io.mcpsandbox.api.ApiServerFixture.KEY_ALICE;
import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.config.ServerConfig.AdmissionLimits;
import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.runtime.SandboxRuntime;
import io.mcpsandbox.testing.ChildJvm;
import io.mcpsandbox.testing.SystemTest;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Issue 10 items 1 and 3 through the real service: a server with {@code security.minimum-level=high} and
 * {@code runtimes.allowed=runc,runsc} refuses the weaker picks over REST, MCP and from the CLI, runs a request
 * without a level on gVisor, and refuses a workDir outside the sandbox's tmpfs on every entry point.
 */
@SystemTest
class RuntimePolicyEndToEndTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static final Map<String, String> SETTINGS = Map.of(
            "MCP_SANDBOX_SECURITY_MINIMUM_LEVEL", "high", "MCP_SANDBOX_RUNTIMES_ALLOWED", "runc,runsc");
    private static ApiServerFixture fixture;

    @BeforeAll
    static void start() throws Exception {
        fixture = ApiServerFixture.start(new AdmissionLimits(4, 2, 4, Duration.ofSeconds(30)), SETTINGS);
    }

    @AfterAll
    static void stop() throws Exception {
        if (fixture != null) {
            fixture.close();
        }
    }

    private static HttpResponse<String> post(String body) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create(fixture.url("/v1/executions")))
                .timeout(Duration.ofSeconds(90)).header("Content-Type", "application/json")
                .header("Authorization", "Bearer " + KEY_ALICE)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static JsonNode rejected(String body, String... fragments) throws Exception {
        HttpResponse<String> r = post(body);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(422);
        JsonNode result = JSON.readTree(r.body());
        assertThat(result.path("status").asString()).isEqualTo("rejected");
        for (String fragment : fragments) {
            assertThat(result.path("reason").asString()).contains(fragment);
        }
        return result;
    }

    @Test
    void restRefusesTheWeakerPicksAndRunsTheRestOnGvisor() throws Exception {
        rejected("{\"command\":[\"true\"],\"runtime\":\"runc\"}", "runtime: ", "'runc'", "security.minimum-level");
        rejected("{\"command\":[\"true\"],\"runtime\":\"docker\"}", "runtime: ", "runtimes.allowed");
        rejected("{\"command\":[\"true\"],\"runtime\":\"docker-runsc\"}", "runtime: ", "runtimes.allowed");
        rejected("{\"command\":[\"true\"],\"securityLevel\":\"low\"}", "securityLevel: ", "security.minimum-level");
        rejected("{\"command\":[\"true\"],\"workDir\":\"/var/tmp/x\"}", "workDir: ", "/workspace", "/tmp");
        rejected("{\"command\":[\"true\"],\"workDir\":\"/proc/self/fd/7\"}", "workDir: ");

        // No level given: the server's minimum; positive evidence that it ran, under gVisor's own kernel.
        HttpResponse<String> r = post("{\"command\":[\"sh\",\"-c\",\"pwd; uname -r\"],\"workDir\":\"/tmp/w\"}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode result = JSON.readTree(r.body());
        assertThat(result.path("status").asString()).as(r.body()).isEqualTo("completed");
        assertThat(result.path("runtime").asString()).isEqualTo("runsc");
        assertThat(result.path("securityLevel").asString()).isEqualTo("high");
        String[] out = result.path("stdout").asString().split("\n");
        assertThat(out[0]).isEqualTo("/tmp/w");
        // gVisor's kernel answers with its own release, not the host's.
        assertThat(out[1]).isNotBlank().isNotEqualTo(System.getProperty("os.version"));

        // What `runtimes` shows: the settings' exclusions, and no test sandbox is run on them.
        List<RuntimeInfo> infos = fixture.sandbox.services().verifyRuntimes();
        Map<String, String> excluded = new HashMap<>();
        for (RuntimeInfo info : infos) {
            SandboxRuntime runtime = fixture.sandbox.services().registry().find(info.name()).orElseThrow();
            fixture.sandbox.services().exclusion(runtime).ifPresent(why -> excluded.put(info.name(), why));
        }
        assertThat(excluded).containsKeys("runc", "docker", "docker-runsc", "crun", "kata-runtime")
                .doesNotContainKey("runsc");
        assertThat(infos.stream().filter(i -> i.name().equals("runsc")).findFirst().orElseThrow().usable()).isTrue();
    }

    /** One JSON-RPC message over MCP Streamable HTTP; the answer may come as an SSE event. */
    private static HttpResponse<String> mcp(String session, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(fixture.url("/mcp"))).timeout(Duration.ofSeconds(90))
                .header("Authorization", "Bearer " + KEY_ALICE).header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (session != null) {
            b.header("Mcp-Session-Id", session);
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static JsonNode mcpResult(HttpResponse<String> r) {
        String body = r.body().strip();
        String json = body.startsWith("{") ? body : body.lines().filter(l -> l.startsWith("data:"))
                .map(l -> l.substring(5).strip()).reduce((a, b) -> b).orElseThrow();
        return JSON.readTree(json);
    }

    @Test
    void mcpAppliesTheSameRules() throws Exception {
        HttpResponse<String> init = mcp(null, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
                + "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
                + "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}");
        assertThat(init.statusCode()).as(init.body()).isEqualTo(200);
        String session = init.headers().firstValue("Mcp-Session-Id").orElseThrow();
        mcp(session, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
        String[][] calls = {
                {"{\"command\":[\"true\"],\"workDir\":\"/var/tmp/x\"}", "workDir: "},
                {"{\"command\":[\"true\"],\"runtime\":\"docker\"}", "runtimes.allowed"},
                {"{\"command\":[\"true\"],\"runtime\":\"runc\"}", "security.minimum-level"},
        };
        int id = 2;
        for (String[] call : calls) {
            HttpResponse<String> r = mcp(session, "{\"jsonrpc\":\"2.0\",\"id\":" + id++ + ",\"method\":\"tools/call\","
                    + "\"params\":{\"name\":\"run_command\",\"arguments\":" + call[0] + "}}");
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            JsonNode structured = mcpResult(r).path("result").path("structuredContent");
            assertThat(structured.path("status").asString()).as(r.body()).isEqualTo("rejected");
            assertThat(structured.path("reason").asString()).as(r.body()).contains(call[1]);
        }
    }

    private record Run(int exitCode, String stdout, String stderr) {
    }

    private static Run cli(String... args) throws Exception {
        List<String> argv = new ArrayList<>(ChildJvm.cli());
        argv.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(argv);
        Path data = fixture.sandbox.services().config().dataDir();
        pb.environment().put("MCP_SANDBOX_DATA_DIR", data.toString());
        pb.environment().put("MCP_SANDBOX_STATE_DIR", fixture.sandbox.services().config().stateDir().toString());
        pb.environment().putAll(SETTINGS);
        Process p = pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        byte[] out = p.getInputStream().readAllBytes();
        byte[] err = p.getErrorStream().readAllBytes();
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    @Test
    void theCliAppliesTheSameSettingsAndWorkDirRules() throws Exception {
        Run weak = cli("exec", "--json", "--runtime", "runc", "--", "true");
        assertThat(weak.exitCode()).as(weak.stderr()).isEqualTo(2);
        assertThat(weak.stdout()).contains("\"rejected\"").contains("security.minimum-level");

        Run outside = cli("exec", "--json", "--workdir", "/var/tmp/x", "--", "true");
        assertThat(outside.exitCode()).as(outside.stderr()).isEqualTo(2);
        assertThat(outside.stdout()).contains("\"rejected\"").contains("workDir: ");

        Run inside = cli("exec", "--workdir", "/workspace/a/b", "--", "pwd");
        assertThat(inside.exitCode()).as(inside.stderr()).isZero();
        assertThat(inside.stdout()).isEqualTo("/workspace/a/b\n");

        Run runtimes = cli("runtimes");
        assertThat(runtimes.exitCode()).as(runtimes.stderr()).isZero();
        assertThat(runtimes.stdout().lines().filter(l -> l.startsWith("docker ")).findFirst().orElseThrow())
                .contains("EXCLUDED").contains("runtimes.allowed");
        assertThat(runtimes.stdout().lines().filter(l -> l.startsWith("runc ")).findFirst().orElseThrow())
                .contains("EXCLUDED").contains("security.minimum-level");
        assertThat(runtimes.stdout().lines().filter(l -> l.startsWith("runsc ")).findFirst().orElseThrow())
                .doesNotContain("EXCLUDED");
        assertThat(runtimes.stdout()).contains("security.minimum-level = high");
        assertThat(Files.isDirectory(fixture.sandbox.services().config().dataDir())).isTrue();
    }
}
