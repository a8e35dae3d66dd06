package io.mcpsandbox.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.config.ServerConfig.AdmissionLimits;
import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.testing.ChildJvm;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestInternet;
import io.mcpsandbox.testing.TestSandbox;
import io.modelcontextprotocol.client.McpClient;
import io.modelcontextprotocol.client.McpSyncClient;
import io.modelcontextprotocol.client.transport.HttpClientStreamableHttpTransport;
import io.modelcontextprotocol.spec.McpSchema;
import java.io.File;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Network through the interfaces (docs/network.md): REST and MCP requests and sessions with {@code network}
 * (true or a narrowing list) reach an allowed name of {@link TestInternet} through the policy point, a name the
 * server's list does not cover is a 422 naming the field, a user's own list (network.user.*) replaces the server's,
 * and the runtimes say that network is available.
 */
@SystemTest
class NetworkApiTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final String FETCH = "import urllib.request; "
            + "print(urllib.request.urlopen('http://allowed.test/bytes/5', timeout=30).read().hex())";
    private static TestInternet internet;
    private static ApiServerFixture fixture;
    private static Path config;

    @BeforeAll
    static void start() throws Exception {
        internet = TestInternet.start();
        config = Files.createTempFile("mcp-network-api-", ".properties");
        Files.writeString(config, "network.enabled=true\nnetwork.allowed-domains=allowed.test,api.test\n"
                + "network.resolve=" + internet.resolveSetting() + "\n"
                // bob may reach api.test only
                + "network.user.bob.allowed-domains=api.test\n");
        fixture = ApiServerFixture.start(new AdmissionLimits(8, 4, 16, Duration.ofSeconds(30)),
                Map.of("MCP_SANDBOX_CONFIG", config.toString(), "MCP_SANDBOX_POOL_ENABLED", "false"));
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (fixture != null) {
                fixture.close();
            }
        } finally {
            if (internet != null) {
                internet.close();
            }
            Files.deleteIfExists(config);
        }
    }

    @Test
    void restExecutionsAskForTheServersListOrANarrowerOne() throws Exception {
        JsonNode all = post("/v1/executions", ApiServerFixture.KEY_ALICE, Map.of("language", "python", "code", FETCH,
                "runtime", "runc", "network", true));
        assertThat(all.get("stdout").asString()).as(all.toString()).isEqualTo("0001020304\n");
        assertThat(all.at("/resourceUsage/networkIO/bytesReceived").asLong()).isGreaterThan(5);
        JsonNode narrowed = post("/v1/executions", ApiServerFixture.KEY_ALICE, Map.of("language", "python",
                "code", FETCH, "runtime", "runc", "network", Map.of("allow", List.of("api.test"))));
        assertThat(narrowed.get("stdout").asString()).isEmpty();
        assertThat(narrowed.get("stderr").asString()).contains("403");
        assertThat(narrowed.get("securityEvents").toString()).contains("network.denied", "allowed.test:80");
    }

    @Test
    void aNameOutsideTheServersListOrNetworkForAUserWithoutItIsRefused() throws Exception {
        HttpResponse<String> wider = send("/v1/executions", ApiServerFixture.KEY_ALICE, Map.of("command",
                List.of("true"), "network", Map.of("allow", List.of("evil.test"))));
        assertThat(wider.statusCode()).isEqualTo(422);
        assertThat(wider.body()).contains("network", "evil.test");
        // bob's own list replaces the server's: allowed.test is not on it.
        HttpResponse<String> bob = send("/v1/executions", ApiServerFixture.KEY_BOB, Map.of("command",
                List.of("true"), "network", Map.of("allow", List.of("allowed.test"))));
        assertThat(bob.statusCode()).isEqualTo(422);
        HttpResponse<String> session = send("/v1/sessions", ApiServerFixture.KEY_ALICE, Map.of("network",
                Map.of("allow", List.of("evil.test"))));
        assertThat(session.statusCode()).isEqualTo(422);
        assertThat(session.body()).contains("network");
    }

    @Test
    void aRestSessionWithNetworkServesItsExecutions() throws Exception {
        JsonNode session = post("/v1/sessions", ApiServerFixture.KEY_ALICE, Map.of("runtime", "runc", "network",
                Map.of("allow", List.of("allowed.test"))));
        String id = session.get("sessionId").asString();
        try {
            JsonNode ran = post("/v1/executions", ApiServerFixture.KEY_ALICE, Map.of("language", "python", "code",
                    FETCH, "sessionId", id));
            assertThat(ran.get("stdout").asString()).as(ran.toString()).isEqualTo("0001020304\n");
        } finally {
            HTTP.send(HttpRequest.newBuilder(URI.create(fixture.url("/v1/sessions/" + id)))
                    .header("Authorization", "Bearer " + ApiServerFixture.KEY_ALICE).DELETE().build(),
                    HttpResponse.BodyHandlers.ofString());
        }
    }

    @Test
    void mcpExecuteCodeTakesNetworkAndRuntimesSayItIsAvailable() throws Exception {
        HttpClientStreamableHttpTransport transport = HttpClientStreamableHttpTransport.builder(fixture.url(""))
                .endpoint("/mcp").requestBuilder(HttpRequest.newBuilder().header("Authorization", "Bearer "
                        + ApiServerFixture.KEY_ALICE)).build();
        try (McpSyncClient client = McpClient.sync(transport).requestTimeout(Duration.ofSeconds(60)).build()) {
            client.initialize();
            McpSchema.CallToolResult result = client.callTool(new McpSchema.CallToolRequest("execute_code",
                    Map.of("language", "python", "code", FETCH, "runtime", "runc",
                            "network", Map.of("allow", List.of("allowed.test")))));
            assertThat(result.isError()).as(result.content().toString()).isFalse();
            assertThat(JSON.writeValueAsString(result.structuredContent())).contains("0001020304");
        }
        HttpResponse<String> runtimes = HTTP.send(HttpRequest.newBuilder(URI.create(fixture.url("/v1/runtimes")))
                .header("Authorization", "Bearer " + ApiServerFixture.KEY_ALICE).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        JsonNode body = JSON.readTree(runtimes.body());
        JsonNode list = body.isArray() ? body : body.path("runtimes");
        assertThat(list.valueStream().filter(r -> r.path("name").asString().equals("runc")).findFirst()
                .orElseThrow().path("network").asBoolean()).as(runtimes.body()).isTrue();
    }

    @Test
    void theCliAsksWithNetworkAndAllowDomain() throws Exception {
        String id = java.util.UUID.randomUUID().toString().substring(0, 8);
        // The sandboxes' uids must reach the data directory: 0755, as TestSandbox makes its own.
        Path data = Files.createDirectories(Path.of("/tmp", "mcp-sandbox-test-netcli-" + id),
                java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                        java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x")));
        Path state = Path.of("/run", "mcp-sandbox-test-netcli-" + id);
        try {
            CliRun allowed = cli(data, state, "exec", "--runtime", "runc", "--allow-domain", "allowed.test",
                    "--lang", "python", "--code", FETCH);
            assertThat(allowed.exit()).as(allowed.err()).isZero();
            assertThat(allowed.out()).isEqualTo("0001020304\n");
            CliRun all = cli(data, state, "exec", "--runtime", "runc", "--network", "--lang", "python", "--code",
                    FETCH);
            assertThat(all.out()).as(all.err()).isEqualTo("0001020304\n");
            CliRun wider = cli(data, state, "exec", "--allow-domain", "evil.test", "--", "true");
            assertThat(wider.exit()).as("rejected").isEqualTo(2);
            assertThat(wider.err()).contains("network", "evil.test");
        } finally {
            DeleteTree.delete(data);
            DeleteTree.delete(state);
        }
    }

    private record CliRun(int exit, String out, String err) {
    }

    private static CliRun cli(Path data, Path state, String... args) throws Exception {
        List<String> argv = new java.util.ArrayList<>(ChildJvm.cli());
        argv.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("MCP_SANDBOX_DATA_DIR", data.toString());
        pb.environment().put("MCP_SANDBOX_STATE_DIR", state.toString());
        pb.environment().put("MCP_SANDBOX_CONFIG", config.toString());
        pb.environment().put("MCP_SANDBOX_SANDBOX_AGENT", TestSandbox.BUILT_AGENT.toString());
        Process p = pb.start();
        java.util.concurrent.CompletableFuture<byte[]> err = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return p.getErrorStream().readAllBytes();
            } catch (java.io.IOException e) {
                return new byte[0];
            }
        });
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        return new CliRun(p.exitValue(), out, new String(err.get(), StandardCharsets.UTF_8));
    }

    private static JsonNode post(String path, String key, Map<String, Object> body) throws Exception {
        HttpResponse<String> r = send(path, key, body);
        assertThat(r.statusCode()).as(r.body()).isBetween(200, 201);
        return JSON.readTree(r.body());
    }

    private static HttpResponse<String> send(String path, String key, Map<String, Object> body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(fixture.url(path))).header("Authorization", "Bearer " + key)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))).build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
