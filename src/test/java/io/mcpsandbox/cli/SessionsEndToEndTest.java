package io.mcpsandbox.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.testing.ChildJvm;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The sessions CLI against a real {@code serve --http} process: real sessions, real files, real executions. */
@SystemTest
class SessionsEndToEndTest {
    private static final String KEY = "cli-e2e-key-0123456789abcdef";
    private static final Pattern SERVING = Pattern.compile("serving MCP at http://127\\.0\\.0\\.1:(\\d+)/mcp");

    private static Path dataDir;
    private static Path stateDir;
    private static Process server;
    private static String url;
    private static final StringBuffer SERVER_LOG = new StringBuffer();

    @TempDir
    Path dir;

    record Run(int exitCode, String stdout, String stderr) {
    }

    @BeforeAll
    static void startServer() throws Exception {
        String id = UUID.randomUUID().toString().substring(0, 8);
        dataDir = Files.createDirectories(Path.of("/tmp", "mcp-sandbox-cli-sessions-" + id));
        Files.setPosixFilePermissions(dataDir, PosixFilePermissions.fromString("rwxr-xr-x"));
        stateDir = Path.of("/run", "mcp-sandbox-cli-sessions-" + id);
        List<String> command = new ArrayList<>(ChildJvm.cli());
        command.addAll(List.of("serve", "--http", "127.0.0.1:0"));
        ProcessBuilder pb = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.environment().keySet().removeIf(k -> k.startsWith("MCP_SANDBOX_"));
        pb.environment().put("MCP_SANDBOX_DATA_DIR", dataDir.toString());
        pb.environment().put("MCP_SANDBOX_STATE_DIR", stateDir.toString());
        pb.environment().put("MCP_SANDBOX_API_KEYS", KEY + ":carol");
        pb.environment().put("MCP_SANDBOX_SANDBOX_AGENT", TestSandbox.BUILT_AGENT.toString());
        server = pb.start();
        CompletableFuture<String> port = new CompletableFuture<>();
        Thread.ofPlatform().daemon().name("serve-stderr").start(() -> {
            try (BufferedReader err = new BufferedReader(
                    new InputStreamReader(server.getErrorStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = err.readLine()) != null; ) {
                    SERVER_LOG.append(line).append('\n');
                    Matcher m = SERVING.matcher(line);
                    if (m.find()) {
                        port.complete(m.group(1));
                    }
                }
            } catch (java.io.IOException ignored) {
                // the server is gone; the test says so below
            }
            port.completeExceptionally(new IllegalStateException("serve exited:\n" + SERVER_LOG));
        });
        url = "http://127.0.0.1:" + port.get(120, TimeUnit.SECONDS);
    }

    @AfterAll
    static void stopServer() throws Exception {
        try {
            if (server != null) {
                server.destroy();
                assertThat(server.waitFor(90, TimeUnit.SECONDS)).as("serve stops on SIGTERM").isTrue();
            }
        } finally {
            for (Path d : List.of(dataDir, stateDir)) {
                DeleteTree.delete(d);
            }
        }
    }

    private static Run cli(String... args) {
        List<String> argv = new ArrayList<>(List.of(args));
        int dashes = argv.indexOf("--");
        argv.addAll(dashes < 0 ? argv.size() : dashes, List.of("--url", url, "--api-key", KEY));
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), argv.toArray(String[]::new));
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void createCopyInExecCopyOutListCloseShow() throws Exception {
        Run created = cli("sessions", "create", "--idle-timeout", "2m");
        assertThat(created.exitCode()).as(created.stderr() + SERVER_LOG).isZero();
        String id = created.stdout().strip();
        assertThat(id).isNotBlank().doesNotContain("\n");
        assertThat(created.stderr()).contains("session " + id).contains("expires at");
        try {
            byte[] bytes = new byte[300_000];
            new Random(11).nextBytes(bytes);
            for (int i = 0; i < 256; i++) {
                bytes[i] = (byte) i;
            }
            Path local = Files.write(dir.resolve("data.bin"), bytes);
            Run in = cli("sessions", "cp", local.toString(), id + ":/workspace/data.bin");
            assertThat(in.exitCode()).as(in.stderr()).isZero();

            Run sum = cli("sessions", "exec", id, "--", "sha256sum", "/workspace/data.bin");
            assertThat(sum.exitCode()).as(sum.stderr()).isZero();
            String expected = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
            assertThat(sum.stdout()).startsWith(expected);

            Run copy = cli("exec", "--session", id, "--", "sh", "-c",
                    "cp /workspace/data.bin /workspace/copy.bin; echo made >&2; exit 4");
            assertThat(copy.exitCode()).as(copy.stderr()).isEqualTo(4);
            assertThat(copy.stderr()).isEqualTo("made\n");

            Path back = dir.resolve("back.bin");
            Run out = cli("sessions", "cp", id + ":/workspace/copy.bin", back.toString());
            assertThat(out.exitCode()).as(out.stderr()).isZero();
            assertThat(Files.readAllBytes(back)).isEqualTo(bytes);

            Run missing = cli("sessions", "cp", id + ":/workspace/nothing", dir.resolve("n").toString());
            assertThat(missing.exitCode()).as(missing.stderr()).isEqualTo(SessionsClient.NOT_FOUND);

            Run list = cli("sessions", "list");
            assertThat(list.exitCode()).as(list.stderr()).isZero();
            assertThat(list.stdout()).contains(id);
            Run shown = cli("sessions", "show", id, "--json");
            assertThat(shown.exitCode()).as(shown.stderr()).isZero();
            JsonNode view = JsonMapper.shared().readTree(shown.stdout());
            assertThat(view.path("status").asString()).isEqualTo("open");
            assertThat(view.path("sessionId").asString()).isEqualTo(id);
            assertThat(view.path("executions").asLong()).isGreaterThanOrEqualTo(2);
        } catch (AssertionError e) {
            cli("sessions", "close", id); // not left open for the server's shutdown; the first failure is the one
            throw e;
        }
        Run closed = cli("sessions", "close", id);
        assertThat(closed.exitCode()).as(closed.stderr()).isZero();
        assertThat(closed.stdout()).isEqualTo("closed " + id + "\n");
        Run show = cli("sessions", "show", id);
        assertThat(show.exitCode()).isEqualTo(SessionsClient.GONE);
        assertThat(show.stderr()).startsWith("mcp-sandbox sessions show: ").contains("closed")
                .doesNotContain("Exception");
        Run exec = cli("sessions", "exec", id, "--", "true");
        assertThat(exec.exitCode()).isEqualTo(SessionsClient.GONE);
        assertThat(cli("sessions", "list").stdout()).doesNotContain(id);
        Run unknown = cli("sessions", "show", "no-such-session");
        assertThat(unknown.exitCode()).isEqualTo(SessionsClient.NOT_FOUND);
    }
}
