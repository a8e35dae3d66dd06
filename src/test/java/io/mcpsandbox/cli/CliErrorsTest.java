package io.mcpsandbox.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.testing.ChildJvm;
import io.mcpsandbox.testing.SystemTest;
import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Start-up and configuration failures as a person meets them: the CLI in a JVM of its own (as root, and as the
 * unprivileged user nobody), one line that says what failed and what to do, a non-zero exit, and a stack trace
 * only with --debug.
 */
@SystemTest
class CliErrorsTest {
    private static Path dir;

    record Run(int exitCode, String stdout, String stderr) {
        List<String> errLines() {
            return stderr.lines().filter(l -> !l.isBlank()).toList();
        }
    }

    @BeforeAll
    static void dirs() throws IOException {
        dir = Files.createDirectories(
                Path.of("/tmp", "mcp-sandbox-cli-errors-" + UUID.randomUUID().toString().substring(0, 8)));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @AfterAll
    static void clean() throws IOException {
        DeleteTree.delete(dir);
    }

    private static Run run(List<String> prefix, List<String> cli, Map<String, String> env, String... args)
            throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>(prefix);
        argv.addAll(cli);
        argv.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(argv);
        pb.environment().keySet().removeIf(k -> k.startsWith("MCP_SANDBOX_"));
        pb.environment().put("MCP_SANDBOX_DATA_DIR", dir.resolve("data").toString());
        pb.environment().put("MCP_SANDBOX_STATE_DIR", "/run/" + dir.getFileName());
        pb.environment().putAll(env);
        Process p = pb.start();
        p.getOutputStream().close();
        var out = p.getInputStream().readAllBytes();
        var err = p.getErrorStream().readAllBytes();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    private static Run asRoot(Map<String, String> env, String... args) throws Exception {
        return run(List.of(), ChildJvm.cli(), env, args);
    }

    /** One line naming the cause and the fix; no Java stack. */
    private static void assertOneLine(Run r, String... contains) {
        assertThat(r.exitCode()).as(r.stderr()).isNotZero();
        assertThat(r.errLines()).as(r.stderr()).hasSize(1);
        assertThat(r.stderr()).doesNotContain("\tat ").doesNotContain("Exception in thread");
        for (String c : contains) {
            assertThat(r.errLines().get(0)).contains(c);
        }
    }

    @Test
    void execAsAnUnprivilegedUserSaysItNeedsRootInOneLine() throws Exception {
        // nobody cannot read root's Maven repository: give it a world-readable copy of the classpath.
        Path jars = Files.createDirectories(dir.resolve("classpath"));
        List<String> entries = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Path p = Path.of(entry);
            if (Files.isRegularFile(p)) {
                Path copy = jars.resolve(entries.size() + "-" + p.getFileName());
                Files.copy(p, copy, StandardCopyOption.REPLACE_EXISTING);
                Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rw-r--r--"));
                entries.add(copy.toString());
            } else {
                entries.add(entry);
            }
        }
        Files.setPosixFilePermissions(jars, PosixFilePermissions.fromString("rwxr-xr-x"));
        List<String> cli = List.of(ChildJvm.java(), "--enable-native-access=ALL-UNNAMED", "-cp",
                String.join(File.pathSeparator, entries), "io.mcpsandbox.cli.Main");
        List<String> asNobody = List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups");

        Run probe = run(asNobody, List.of("id", "-u"), Map.of());
        assertThat(probe.stdout().strip()).as("the child really runs as nobody").isEqualTo("65534");

        Run exec = run(asNobody, cli, Map.of("MCP_SANDBOX_DATA_DIR", "/var/lib/mcp-sandbox"), "exec", "--", "true");
        assertOneLine(exec, "mcp-sandbox exec: exec needs root", "sudo");
        assertThat(exec.exitCode()).isEqualTo(1);
        assertThat(exec.stderr()).doesNotContain("SQLITE").doesNotContain("uid range");
        assertOneLine(run(asNobody, cli, Map.of(), "serve", "--stdio"), "serve needs root", "sudo");
        assertOneLine(run(asNobody, cli, Map.of(), "runtimes"), "runtimes needs root", "sudo");
    }

    @Test
    void aBadEnvironmentValueIsOneLineNamingTheKey() throws Exception {
        Run r = asRoot(Map.of("MCP_SANDBOX_LIMITS_DEFAULT_PIDS", "lots"), "exec", "--", "true");
        assertOneLine(r, "limits.default.pids", "whole number", "docs/configuration.md");
        assertThat(r.exitCode()).isEqualTo(2);

        // With --debug the same line, then the stack trace.
        Run debug = asRoot(Map.of("MCP_SANDBOX_LIMITS_DEFAULT_PIDS", "lots"), "--debug", "exec", "--", "true");
        assertThat(debug.errLines().get(0)).contains("limits.default.pids");
        assertThat(debug.stderr()).contains("\tat ");
        assertThat(debug.exitCode()).isEqualTo(2);
    }

    @Test
    void aBadConfigFileIsOneLineNamingTheKey() throws Exception {
        Path file = dir.resolve("bad.properties");
        Files.writeString(file, "dlp.mode=sometimes\n");
        assertOneLine(asRoot(Map.of("MCP_SANDBOX_CONFIG", file.toString()), "exec", "--", "true"), "dlp.mode");
        assertOneLine(asRoot(Map.of("MCP_SANDBOX_CONFIG", dir.resolve("missing.properties").toString()),
                "exec", "--", "true"), "missing.properties");
    }

    @Test
    void anUnusableDataDirectoryIsOneLineWithTheFix() throws Exception {
        Path file = Files.writeString(dir.resolve("not-a-dir"), "x");
        Run r = asRoot(Map.of("MCP_SANDBOX_DATA_DIR", file.resolve("data").toString()), "exec", "--", "true");
        assertOneLine(r, "not-a-dir", "MCP_SANDBOX_DATA_DIR");
    }

    @Test
    void aPortInUseIsOneLineWithTheFix() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Map<String, String> env = new HashMap<>();
            env.put("MCP_SANDBOX_API_KEYS", "0123456789abcdef0123:alice");
            Run r = asRoot(env, "serve", "--http", "127.0.0.1:" + taken.getLocalPort());
            assertThat(r.exitCode()).as(r.stderr()).isNotZero();
            List<String> errors = r.errLines().stream().filter(l -> l.startsWith("mcp-sandbox serve:")).toList();
            assertThat(errors).as(r.stderr()).hasSize(1);
            assertThat(errors.get(0)).contains("cannot listen").contains("--http");
            assertThat(r.stderr()).doesNotContain("\tat ");
        }
    }
}
