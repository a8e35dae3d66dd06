package io.mcpsandbox.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.testing.SystemTest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Real MCP clients against real servers: the official TypeScript SDK client (src/test/node/mcp-client.mjs)
 * over Streamable HTTP (in-process server) and stdio (the server as a child JVM on the test classpath), and
 * the MCP Inspector CLI. Needs {@code npm ci --prefix src/test/node}; without it this test fails.
 */
@SystemTest
class NodeClientsTest {
    static final Path NODE_DIR = Path.of("src/test/node").toAbsolutePath();
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static ApiServerFixture fixture;
    private static Path stdioDirs;

    @BeforeAll
    static void start() throws Exception {
        assertThat(NODE_DIR.resolve("node_modules/@modelcontextprotocol/sdk")).as(
                "the Node test clients are not installed; run: npm ci --prefix src/test/node").isDirectory();
        assertThat(NODE_DIR.resolve("node_modules/.bin/mcp-inspector")).as(
                "the MCP Inspector is not installed; run: npm ci --prefix src/test/node").exists();
        fixture = ApiServerFixture.start();
        stdioDirs = Path.of("/tmp", "mcp-sandbox-stdio-" + UUID.randomUUID().toString().substring(0, 8));
        Files.createDirectories(stdioDirs.resolve("data"));
        Files.setPosixFilePermissions(stdioDirs, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(stdioDirs.resolve("data"), PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (fixture != null) {
                fixture.close();
            }
        } finally {
            if (stdioDirs != null) {
                // The stdio servers were separate JVMs: check they left no container in their runtime state.
                for (String runtime : List.of("runc", "runsc")) {
                    Path root = stateDir().resolve(runtime);
                    if (Files.isDirectory(root)) {
                        try (Stream<Path> left = Files.list(root)) {
                            assertThat(left.filter(Files::isDirectory).toList()).as(runtime + " containers left")
                                    .isEmpty();
                        }
                    }
                }
                DeleteTree.delete(stdioDirs);
                DeleteTree.delete(stateDir());
            }
        }
    }

    @Test
    void typescriptSdkClientOverStreamableHttp() throws Exception {
        Result r = node(List.of("mcp-client.mjs"), Map.of("MODE", "http", "MCP_URL", fixture.url("/mcp"),
                "MCP_KEY", ApiServerFixture.KEY_ALICE, "MCP_KEY_B", ApiServerFixture.KEY_BOB));
        assertThat(r.exit).as(r.output).isZero();
        assertThat(r.output).contains("OK 15 checks (http)");
    }

    @Test
    void typescriptSdkClientOverStdio() throws Exception {
        Result r = node(List.of("mcp-client.mjs"), Map.of("MODE", "stdio", "JAVA_BIN", javaBin(),
                "JAVA_CP", System.getProperty("java.class.path"), "SERVER_ENV", JSON.writeValueAsString(serverEnv())));
        assertThat(r.exit).as(r.output).isZero();
        assertThat(r.output).contains("OK 14 checks (stdio)");
    }

    @Test
    void inspectorCliOverHttp() throws Exception {
        List<String> target = List.of("--cli", fixture.url("/mcp"), "--transport", "http",
                "--header", "Authorization: Bearer " + ApiServerFixture.KEY_ALICE);
        JsonNode tools = inspector(target, List.of("--method", "tools/list"));
        assertThat(toolNames(tools)).containsExactlyInAnyOrder("execute_code",
                "run_command", "list_runtimes", "get_execution", "list_active_executions", "terminate_execution",
                "create_session", "list_sessions", "close_session", "write_file", "read_file", "list_files",
                "write_stdin");
        JsonNode call = inspector(target, List.of("--method", "tools/call", "--tool-name", "execute_code",
                "--tool-arg", "language=python", "--tool-arg", "code=print(6*7)"));
        assertThat(call.get("structuredContent").get("stdout").asString()).isEqualTo("42\n");
        assertThat(call.get("isError").asBoolean()).isFalse();
        JsonNode bad = inspector(target, List.of("--method", "tools/call", "--tool-name", "execute_code",
                "--tool-arg", "language=brainfuck", "--tool-arg", "code=+"));
        assertThat(bad.get("isError").asBoolean()).isTrue();
        assertThat(bad.get("structuredContent").get("reason").asString()).startsWith("language: ");

        // A session through the Inspector: every call is a new MCP connection, the session outlives them.
        JsonNode created = inspector(target, List.of("--method", "tools/call", "--tool-name", "create_session"));
        String sid = created.get("structuredContent").get("sessionId").asString();
        JsonNode wrote = inspector(target, List.of("--method", "tools/call", "--tool-name", "write_file",
                "--tool-arg", "sessionId=" + sid, "--tool-arg", "path=/workspace/n.txt", "--tool-arg", "content=6*7"));
        assertThat(wrote.get("isError").asBoolean()).as(wrote.toString()).isFalse();
        JsonNode ran = inspector(target, List.of("--method", "tools/call", "--tool-name", "run_command",
                "--tool-arg", "sessionId=" + sid, "--tool-arg",
                "command=[\"sh\",\"-c\",\"echo $(( $(cat n.txt) )) > out.txt\"]"));
        assertThat(ran.get("structuredContent").get("status").asString()).as(ran.toString()).isEqualTo("completed");
        JsonNode read = inspector(target, List.of("--method", "tools/call", "--tool-name", "read_file",
                "--tool-arg", "sessionId=" + sid, "--tool-arg", "path=/workspace/out.txt"));
        assertThat(read.get("structuredContent").get("content").asString()).isEqualTo("42\n");
        // Notebook mode across two Inspector connections: the interpreter outlives them, as the session does.
        JsonNode define = inspector(target, List.of("--method", "tools/call", "--tool-name", "execute_code",
                "--tool-arg", "sessionId=" + sid, "--tool-arg", "language=python", "--tool-arg", "persistent=true",
                "--tool-arg", "code=x = 6"));
        assertThat(define.get("isError").asBoolean()).as(define.toString()).isFalse();
        JsonNode use = inspector(target, List.of("--method", "tools/call", "--tool-name", "execute_code",
                "--tool-arg", "sessionId=" + sid, "--tool-arg", "language=python", "--tool-arg", "persistent=true",
                "--tool-arg", "code=x * 7"));
        assertThat(use.get("structuredContent").get("result").asString()).as(use.toString()).isEqualTo("42");
        JsonNode closed = inspector(target, List.of("--method", "tools/call", "--tool-name", "close_session",
                "--tool-arg", "sessionId=" + sid));
        assertThat(closed.get("structuredContent").get("status").asString()).isEqualTo("closed");

        Result denied = node(List.of("node_modules/.bin/mcp-inspector", "--cli", fixture.url("/mcp"), "--transport",
                "http", "--method", "tools/list"), Map.of());
        assertThat(denied.exit).as("no key: the inspector cannot connect").isNotZero();
    }

    @Test
    void inspectorCliOverStdio() throws Exception {
        // The Inspector would take the server's own options for its own: start it through a script.
        Path script = stdioDirs.resolve("serve-stdio.sh");
        Files.writeString(script, "#!/bin/sh\nexec '" + javaBin() + "' --enable-native-access=ALL-UNNAMED -cp '"
                + System.getProperty("java.class.path") + "' io.mcpsandbox.cli.Main serve --stdio\n");
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
        List<String> target = new ArrayList<>(List.of("--cli"));
        serverEnv().forEach((k, v) -> target.addAll(List.of("-e", k + "=" + v)));
        target.add(script.toString());
        JsonNode tools = inspector(target, List.of("--method", "tools/list"));
        assertThat(toolNames(tools)).contains("execute_code", "terminate_execution");
        JsonNode call = inspector(target, List.of("--method", "tools/call", "--tool-name", "run_command",
                "--tool-arg", "command=[\"sh\",\"-c\",\"echo stdio-ok\"]"));
        assertThat(call.get("structuredContent").get("stdout").asString()).isEqualTo("stdio-ok\n");
    }

    /** The tools' own names (a recursive find would also meet schema properties called "name"). */
    private static List<String> toolNames(JsonNode tools) {
        return tools.get("tools").valueStream().map(t -> t.get("name").asString()).toList();
    }

    private JsonNode inspector(List<String> target, List<String> method) throws Exception {
        List<String> args = new ArrayList<>(List.of("node_modules/.bin/mcp-inspector"));
        args.addAll(target);
        args.addAll(method);
        Result r = node(args, Map.of());
        assertThat(r.exit).as(r.output).isZero();
        return JSON.readTree(r.stdout);
    }

    private static Map<String, String> serverEnv() {
        return Map.of("MCP_SANDBOX_DATA_DIR", stdioDirs.resolve("data").toString(),
                "MCP_SANDBOX_STATE_DIR", stateDir().toString(), "MCP_SANDBOX_LOG_LEVEL", "WARN");
    }

    private static Path stateDir() {
        return Path.of("/run", stdioDirs.getFileName().toString());
    }

    private static String javaBin() {
        return ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java");
    }

    record Result(int exit, String stdout, String output) {
    }

    /** Runs node in src/test/node with {@code args}, stdin closed, within 240 s (then killed, exit -1). */
    static Result node(List<String> args, Map<String, String> env) throws Exception {
        List<String> command = new ArrayList<>(List.of("node"));
        command.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(command).directory(NODE_DIR.toFile());
        pb.environment().putAll(env);
        Path err = Files.createTempFile("node-stderr", ".txt");
        pb.redirectError(err.toFile());
        Process p = pb.start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        boolean done = p.waitFor(240, TimeUnit.SECONDS);
        if (!done) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        String stderr = Files.readString(err, StandardCharsets.UTF_8);
        Files.delete(err);
        String stdout = new String(out, StandardCharsets.UTF_8);
        return new Result(done ? p.exitValue() : -1, stdout, "stdout:\n" + stdout + "\nstderr:\n" + stderr);
    }
}
