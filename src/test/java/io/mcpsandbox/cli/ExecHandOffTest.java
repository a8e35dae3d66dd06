package io.mcpsandbox.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.testing.ChildJvm;
import io.mcpsandbox.testing.SystemTest;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code exec} handing its request to a real {@code serve --http} child on this machine (issue 12 item 4), and
 * running in its own process when the endpoint file is missing, stale, foreign, a link or readable by others.
 * One server for the class; the CLI runs as a separate JVM as a user runs it.
 */
@SystemTest
class ExecHandOffTest {
    private static final String KEY = "hand-off-test-key-0123456789";
    private static Path dataDir;
    private static Path stateDir;
    private static Process server;

    record Run(int exitCode, String stdout, String stderr) {
        JsonNode json() {
            return JsonMapper.shared().readTree(stdout);
        }
    }

    @BeforeAll
    static void startServer() throws Exception {
        String id = UUID.randomUUID().toString().substring(0, 8);
        dataDir = Files.createDirectories(Path.of("/tmp", "mcp-sandbox-handoff-test-" + id));
        Files.setPosixFilePermissions(dataDir, PosixFilePermissions.fromString("rwxr-xr-x"));
        stateDir = Path.of("/run", "mcp-sandbox-handoff-test-" + id);
        List<String> argv = new ArrayList<>(ChildJvm.cli());
        argv.addAll(List.of("serve", "--http", "127.0.0.1:0"));
        ProcessBuilder pb = new ProcessBuilder(argv);
        environment(pb, stateDir);
        pb.environment().put("MCP_SANDBOX_API_KEYS", KEY + ":alice");
        server = pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(dataDir.resolve("serve.log").toFile()).start();
        Path endpoint = stateDir.resolve(LocalEndpoint.FILE_NAME);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!Files.exists(endpoint)) {
            assertThat(server.isAlive()).as("server: %s", log()).isTrue();
            assertThat(System.nanoTime()).as("endpoint file within 120 s: %s", log()).isLessThan(deadline);
            Thread.sleep(100);
        }
    }

    @AfterAll
    static void stopServer() throws Exception {
        try {
            if (server != null) {
                server.destroy(); // SIGTERM: a clean stop
                assertThat(server.waitFor(60, TimeUnit.SECONDS)).isTrue();
                assertThat(stateDir.resolve(LocalEndpoint.FILE_NAME)).as("removed on a clean stop").doesNotExist();
            }
        } finally {
            for (Path dir : List.of(dataDir, stateDir)) {
                DeleteTree.delete(dir);
            }
        }
    }

    private static String log() throws IOException {
        return Files.readString(dataDir.resolve("serve.log"));
    }

    private static void environment(ProcessBuilder pb, Path state) {
        pb.environment().put("MCP_SANDBOX_DATA_DIR", dataDir.toString());
        pb.environment().put("MCP_SANDBOX_STATE_DIR", state.toString());
        // The OCI runtimes only: the server's test sandbox on Docker would import an image of this data
        // directory's host root into the daemon, which outlives the directory (the suite checks none is left).
        pb.environment().put("MCP_SANDBOX_RUNTIMES_ALLOWED", "runc,runsc");
        pb.environment().remove("MCP_SANDBOX_URL");
        pb.environment().remove("MCP_SANDBOX_API_KEY");
    }

    static Run cli(Path state, String... args) throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>(ChildJvm.cli());
        argv.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(argv);
        environment(pb, state);
        Process p = pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        var out = p.getInputStream().readAllBytes();
        var err = p.getErrorStream().readAllBytes();
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    static Run cli(String... args) throws IOException, InterruptedException {
        return cli(stateDir, args);
    }

    @Test
    void aRunningServerTakesTheRequestAndRecordsItAsTheLocalUser() throws Exception {
        Run r = cli("--debug", "exec", "--", "sh", "-c", "echo out; echo err >&2; exit 7");
        assertThat(r.exitCode()).isEqualTo(7);
        assertThat(r.stdout()).isEqualTo("out\n");
        assertThat(r.stderr()).contains("mcp-sandbox exec: handed to the local server at http://127.0.0.1:")
                .contains("err\n");
        String id = r.stderr().replaceAll("(?s).*, execution ([0-9a-f-]{36}).*", "$1");
        // The record is the server's (same data directory) and names the user a local run records, not the key's.
        Run list = cli("executions", "list", "--json", "--limit", "50");
        JsonNode record = null;
        for (JsonNode n : list.json()) {
            if (n.path("executionId").asString("").equals(id)) {
                record = n;
            }
        }
        assertThat(record).as("record %s in %s", id, list.stdout()).isNotNull();
        assertThat(record.path("userId").asString()).isEqualTo(System.getProperty("user.name"));
    }

    @Test
    void sigtermStopsTheHandedOffExecutionOnTheServerToo() throws Exception {
        List<String> argv = new ArrayList<>(ChildJvm.cli());
        argv.addAll(List.of("--debug", "exec", "--", "sleep", "60"));
        ProcessBuilder pb = new ProcessBuilder(argv);
        environment(pb, stateDir);
        Path err = Files.createTempFile(dataDir, "exec-", ".err");
        Process p = pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(err.toFile()).start();
        try {
            Awaitility.await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(50))
                    .until(() -> Files.readString(err).contains(", execution "));
            String id = Files.readString(err).replaceAll("(?s).*, execution ([0-9a-f-]{36}).*", "$1");
            p.destroy(); // SIGTERM, as kill or a closing terminal sends it
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).isEqualTo(143);
            // The stopper asked the server to stop it: it ends long before its 60 s.
            Awaitility.await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
                    .untilAsserted(() -> assertThat(cli("executions", "show", "--json", id).json().path("status")
                            .asString()).isIn("terminated", "cancelled"));
        } finally {
            p.destroyForcibly();
        }
    }

    @Test
    void outputAndExitCodesAreTheSameOnBothPaths() throws Exception {
        String[] program = {"--", "sh", "-c", "printf 'a\\nb'; echo oops >&2; exit 3"};
        assertSamePrinted(program);
        assertSamePrinted("--timeout", "1s", "--", "sleep", "30");
        // A program that cannot start: the same exit code. The in-process run does not print the agent's "cannot
        // execute" line live (it is only in the result's stderr), the server's stream does: that gap is the
        // in-process relay's (OutputRelay), reported to the lead, so only the exit code is compared here.
        Run missingViaServer = cli("exec", "--", "/no/such/program");
        Run missingHere = cli("exec", "--local", "--", "/no/such/program");
        assertThat(missingViaServer.exitCode()).isEqualTo(127).isEqualTo(missingHere.exitCode());
        assertSamePrinted("--lang", "nope", "--code", "x"); // rejected
    }

    private static void assertSamePrinted(String... execArgs) throws Exception {
        List<String> handed = new ArrayList<>(List.of("--debug", "exec"));
        handed.addAll(List.of(execArgs));
        List<String> local = new ArrayList<>(List.of("exec", "--local"));
        local.addAll(List.of(execArgs));
        Run viaServer = cli(handed.toArray(String[]::new));
        Run here = cli(local.toArray(String[]::new));
        assertThat(viaServer.stderr()).contains("handed to the local server");
        assertThat(viaServer.exitCode()).as("exit code of %s", List.of(execArgs)).isEqualTo(here.exitCode());
        assertThat(viaServer.stdout()).isEqualTo(here.stdout());
        // Without the --debug line (the only one that starts so), stderr is the same too.
        assertThat(viaServer.stderr().replaceAll("(?m)^mcp-sandbox exec: handed to .*\\n", ""))
                .isEqualTo(here.stderr());
    }

    @Test
    void jsonResultsHaveTheSameFieldsOnBothPaths() throws Exception {
        Run viaServer = cli("exec", "--json", "--", "sh", "-c", "echo hi; exit 4");
        Run here = cli("exec", "--json", "--local", "--", "sh", "-c", "echo hi; exit 4");
        assertThat(viaServer.exitCode()).isZero().isEqualTo(here.exitCode());
        List<String> fields = new ArrayList<>();
        viaServer.json().propertyNames().forEach(fields::add);
        List<String> localFields = new ArrayList<>();
        here.json().propertyNames().forEach(localFields::add);
        assertThat(fields).isEqualTo(localFields).contains("pooled");
        for (String same : List.of("status", "exitCode", "stdout", "stderr", "runtime", "image", "securityLevel")) {
            assertThat(viaServer.json().get(same)).as(same).isEqualTo(here.json().get(same));
        }
        assertThat(viaServer.stderr()).isEmpty();
    }

    /** Handed to the server, a request uses its warm pools; this process has none. */
    @Test
    void aHandedOffExecUsesTheServersWarmPool() throws Exception {
        boolean pooled = false;
        for (int i = 0; i < 20 && !pooled; i++) {
            Thread.sleep(500); // the pool fills after the server starts, and refills after each take
            Run viaServer = cli("exec", "--json", "--", "true");
            assertThat(viaServer.exitCode()).isZero();
            pooled = viaServer.json().get("pooled").asBoolean();
        }
        Run here = cli("exec", "--json", "--local", "--", "true");

        assertThat(pooled).as("a handed-off exec served from the server's pool").isTrue();
        assertThat(here.json().get("pooled").asBoolean()).isFalse();
    }

    @Test
    void localForcesThisProcess() throws Exception {
        Run r = cli("--debug", "exec", "--local", "--", "true");
        assertThat(r.exitCode()).isZero();
        assertThat(r.stderr()).contains("mcp-sandbox exec: runs in this process (--local)")
                .doesNotContain("handed to");
    }

    /** Endpoint files that must not be used: each run then happens here, and says why with --debug. */
    @Test
    void anUnusableEndpointFileMeansThisProcess() throws Exception {
        Path real = stateDir.resolve(LocalEndpoint.FILE_NAME);
        Path other = Files.createDirectories(Path.of(stateDir + "-other"));
        Path file = other.resolve(LocalEndpoint.FILE_NAME);
        try {
            assertHere(other, "no local server");

            String stale = Files.readString(real).replaceAll("(?m)^start=.*$", "start=1");
            writeOwnerOnly(file, stale);
            assertHere(other, "is gone");

            Files.copy(real, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
            assertHere(other, "may be read or written by others");

            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
            Files.setAttribute(file, "unix:uid", 4242);
            assertHere(other, "belongs to uid 4242");

            Files.delete(file);
            Files.createSymbolicLink(file, real);
            assertHere(other, "is not a regular file");
        } finally {
            DeleteTree.delete(other);
        }
    }

    private static void writeOwnerOnly(Path file, String text) throws IOException {
        Files.deleteIfExists(file);
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(file, text);
    }

    private static void assertHere(Path state, String why) throws Exception {
        Run r = cli(state, "--debug", "exec", "--", "sh", "-c", "echo here");
        assertThat(r.exitCode()).as(r.stderr()).isZero();
        assertThat(r.stdout()).isEqualTo("here\n");
        assertThat(r.stderr()).contains("mcp-sandbox exec: runs in this process: ").contains(why)
                .doesNotContain("handed to");
    }

    @Test
    void theEndpointFileIsOwnerOnlyAndNamesThisServer() throws Exception {
        Path file = stateDir.resolve(LocalEndpoint.FILE_NAME);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file,
                java.nio.file.LinkOption.NOFOLLOW_LINKS))).isEqualTo("rw-------");
        LocalEndpoint endpoint = LocalEndpoint.read(stateDir, -1);
        assertThat(endpoint.pid()).isEqualTo(server.pid());
        assertThat(endpoint.url()).startsWith("http://127.0.0.1:");
        // The token is the local user's key on this server, and only there: a wrong one is refused.
        var http = java.net.http.HttpClient.newHttpClient();
        for (Map.Entry<String, Integer> c : Map.of(endpoint.token(), 200, "0".repeat(64), 401).entrySet()) {
            var response = http.send(java.net.http.HttpRequest.newBuilder(
                    java.net.URI.create(endpoint.url() + "/v1/runtimes"))
                    .header("Authorization", "Bearer " + c.getKey()).build(),
                    java.net.http.HttpResponse.BodyHandlers.discarding());
            assertThat(response.statusCode()).isEqualTo(c.getValue());
        }
    }
}
