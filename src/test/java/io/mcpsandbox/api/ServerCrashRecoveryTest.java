package io.mcpsandbox.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.execution.SandboxServices;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.runtime.oci.OciRuntime;
import io.mcpsandbox.testing.ChildJvm;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.io.File;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.json.JsonMapper;

/**
 * The scenario: a server is killed with SIGKILL during a long execution; when a server starts again
 * on the same data directory, nothing of the sandbox remains and its record says the server restarted.
 */
@SystemTest
class ServerCrashRecoveryTest {
    private static final String KEY = "crash-test-key-0123456789";

    /**
     * @param pooled the execution runs in a sandbox of the server's warm pool, whose name does not carry its id:
     *               recovery finds its record through the claim the server wrote when it took the sandbox
     */
    @ParameterizedTest(name = "pooled: {0}")
    @ValueSource(booleans = {false, true})
    void aKilledServersExecutionIsCleanedUpAndClosedOnRestart(boolean pooled) throws Exception {
        try (TestSandbox sandbox = TestSandbox.start()) {
            int port;
            try (ServerSocket free = new ServerSocket(0)) {
                port = free.getLocalPort();
            }
            String marker = "server-crash-" + UUID.randomUUID();
            Process server = serve(sandbox, port, pooled);
            try {
                HttpClient http = HttpClient.newHttpClient();
                await().atMost(Duration.ofSeconds(60)).ignoreExceptions().until(() -> http.send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/healthz")).build(),
                        HttpResponse.BodyHandlers.ofString()).statusCode() == 200);
                OciRuntime runcOfServer = (OciRuntime) sandbox.services().registry().find("runc").orElseThrow();
                if (pooled) {
                    await().atMost(Duration.ofSeconds(60)).until(() -> runcOfServer.listContainers().size() == 1);
                }
                HttpResponse<String> accepted = http.send(HttpRequest.newBuilder(
                                URI.create("http://127.0.0.1:" + port + "/v1/executions?async=true"))
                        .header("Authorization", "Bearer " + KEY).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"command\":[\"sh\",\"-c\",\"sleep 1000; echo "
                                + marker + "\"],\"limits\":{\"timeoutMs\":600000}}")).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertThat(accepted.statusCode()).as(accepted.body()).isEqualTo(202);
                String id = JsonMapper.shared().readTree(accepted.body()).path("executionId").asString();
                assertThat(accepted.body()).doesNotContain("\"pooled\":true"); // an async answer says nothing yet
                await().atMost(Duration.ofSeconds(60)).until(() -> !TestSandbox.hostProcessesWith(marker).isEmpty());
                assertThat(sandbox.services().store().find(id)).map(ExecutionRecord::status)
                        .contains(ExecutionStatus.RUNNING);

                server.destroyForcibly().waitFor(); // SIGKILL: no shutdown hook runs
                // Its agent read the end of its channel: it killed the program and exited. The container, its
                // mounts and cgroup, and the running record stay until a restart reaps them.
                await().atMost(Duration.ofSeconds(30)).until(() -> TestSandbox.hostProcessesWith(marker).isEmpty());
                if (pooled) {
                    Path claims = sandbox.services().config().stateDir().resolve("claims");
                    try (java.util.stream.Stream<Path> files = Files.list(claims)) {
                        assertThat(files.map(f -> f.getFileName().toString()).toList())
                                .as("the claim on the pooled sandbox").hasSize(1)
                                .allSatisfy(n -> assertThat(runcOfServer.listContainers()).contains(n));
                    }
                } else {
                    assertThat(runcOfServer.listContainers()).as("the dead server's container")
                            .contains("mcp-exec-" + id);
                }

                // A new server on the same data directory does this before it serves.
                List<String> closed = sandbox.services().recoverFromCrash();

                assertThat(closed).containsExactly(id);
                assertThat(TestSandbox.hostProcessesWith(marker)).as("the sandbox's processes").isEmpty();
                ExecutionRecord record = sandbox.services().store().find(id).orElseThrow();
                assertThat(record.status()).isEqualTo(ExecutionStatus.ERROR);
                assertThat(record.result().reason()).isEqualTo(SandboxServices.SERVER_RESTARTED);
                assertThat(record.userId()).isEqualTo("crash-tester");
                assertThat(record.endedAt()).isNotNull();
                OciRuntime runc = (OciRuntime) sandbox.services().registry().find("runc").orElseThrow();
                assertThat(runc.listContainers()).isEmpty();
                sandbox.assertNothingLeftBehind();
                assertThat(TestSandbox.leftoverCgroups().stream()
                        .filter(p -> p.getFileName().toString().equals("mcp-exec-" + id))).isEmpty();
                Path claims = sandbox.services().config().stateDir().resolve("claims");
                if (Files.isDirectory(claims)) {
                    try (java.util.stream.Stream<Path> files = Files.list(claims)) {
                        assertThat(files.toList()).as("claims after recovery").isEmpty();
                    }
                }
            } finally {
                server.destroyForcibly().waitFor();
                // Whatever a failed run left (its sandboxes, the pool's), removed before the directories go.
                sandbox.services().recoverFromCrash();
            }
        }
    }

    private static Process serve(TestSandbox sandbox, int port, boolean pooled) throws Exception {
        List<String> argv = new java.util.ArrayList<>(ChildJvm.cli());
        argv.addAll(List.of("serve", "--http", "127.0.0.1:" + port));
        ProcessBuilder pb = new ProcessBuilder(argv)
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("MCP_SANDBOX_DATA_DIR", sandbox.services().config().dataDir().toString());
        pb.environment().put("MCP_SANDBOX_STATE_DIR", sandbox.services().config().stateDir().toString());
        // No owner watchdog: this test is about what the next process does with a dead owner's leftovers.
        pb.environment().put("MCP_SANDBOX_SANDBOX_WATCHDOG", "false");
        pb.environment().put("MCP_SANDBOX_API_KEYS", KEY + ":crash-tester");
        // One plain sandbox on runc kept ahead, or none: the command below is served from it, or cold.
        pb.environment().put("MCP_SANDBOX_POOL_SANDBOXES", pooled ? "runc:host=1" : "");
        return pb.start();
    }
}
