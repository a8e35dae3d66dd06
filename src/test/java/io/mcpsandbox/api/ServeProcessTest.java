package io.mcpsandbox.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.testing.ChildJvm;
import io.mcpsandbox.testing.SystemTest;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** {@code serve} as a real process: stdio hygiene and lifetime, and the refusal to serve HTTP without keys. */
@SystemTest
class ServeProcessTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private static ProcessBuilder serve(Map<String, String> env, String... args) {
        List<String> command = new ArrayList<>(ChildJvm.cli());
        command.add("serve");
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().keySet().removeIf(k -> k.startsWith("MCP_SANDBOX_"));
        pb.environment().putAll(env);
        return pb;
    }

    @Test
    void stdioWritesOnlyJsonRpcToStdoutAndExitsWhenStdinCloses() throws Exception {
        String id = UUID.randomUUID().toString().substring(0, 8);
        Path data = Path.of("/tmp", "mcp-sandbox-serve-" + id);
        Path state = Path.of("/run", "mcp-sandbox-serve-" + id);
        Files.createDirectories(data);
        Files.setPosixFilePermissions(data, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path stderr = Files.createTempFile("serve-stderr", ".txt");
        try {
            Process p = serve(Map.of("MCP_SANDBOX_DATA_DIR", data.toString(), "MCP_SANDBOX_STATE_DIR", state.toString(),
                    "MCP_SANDBOX_LOG_LEVEL", "DEBUG"), "--stdio").redirectError(stderr.toFile()).start();
            OutputStream in = p.getOutputStream();
            in.write(("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
                    + "{\"protocolVersion\":\"2025-06-18\","
                    + "\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}\n"
                    + "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"
                    + "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"run_command\","
                    + "\"arguments\":{\"command\":[\"echo\",\"from-sandbox\"]}}}\n").getBytes(StandardCharsets.UTF_8));
            in.flush();
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            JsonNode init = JSON.readTree(out.readLine());
            assertThat(init.get("id").asInt()).isEqualTo(1);
            assertThat(init.get("result").get("serverInfo").get("name").asString()).isEqualTo("mcp-sandbox");
            // The program's output comes first as logging notifications, then the call's response.
            JsonNode call = JSON.readTree(out.readLine());
            while (!call.has("id")) {
                assertThat(call.get("method").asString()).isEqualTo("notifications/message");
                assertThat(call.get("params").get("logger").asString()).isEqualTo("stdout");
                call = JSON.readTree(out.readLine());
            }
            assertThat(call.get("id").asInt()).isEqualTo(2);
            assertThat(call.get("result").get("structuredContent").get("stdout").asString())
                    .isEqualTo("from-sandbox\n");

            in.close();
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("the server exits when stdin closes").isTrue();
            assertThat(p.exitValue()).isZero();
            assertThat(out.readLine()).as("nothing but JSON-RPC on stdout").isNull();
            // DEBUG logging went somewhere: stderr, never stdout.
            assertThat(Files.readString(stderr)).contains("mcp-sandbox: runtime runc");
        } finally {
            Files.deleteIfExists(stderr);
            for (Path dir : List.of(data, state)) {
                DeleteTree.delete(dir);
            }
        }
    }

    @Test
    void httpRefusesToStartWithoutKeysUnlessToldToBeInsecure() throws Exception {
        Process p = serve(Map.of(), "--http", "127.0.0.1:0").redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(2);
        assertThat(output).contains("refusing to serve HTTP without API keys").contains("--insecure-no-auth");

        Process weak = serve(Map.of("MCP_SANDBOX_API_KEYS", "short:alice"), "--http", "127.0.0.1:0")
                .redirectErrorStream(true).start();
        String weakOutput = new String(weak.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(weak.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(weak.exitValue()).isEqualTo(2);
        assertThat(weakOutput).contains("api.keys: entry 1").contains("shorter than 16").doesNotContain("short:");
    }
}
