package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.testing.ChildJvm;
import io.mcpsandbox.testing.TestSandbox;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * One {@code mcp-sandbox serve [--cluster] --http 127.0.0.1:0} child JVM with data and state directories of its
 * own (kept across {@link #kill} and {@link #start}: a restart is the same node), and the CLI run with its
 * environment.
 */
final class ClusterServe implements AutoCloseable {
    static final JsonMapper JSON = JsonMapper.builder().build();
    static final String USER = "alice";
    static final String ADMIN = "root-admin";
    private static final Pattern SERVING = Pattern.compile("serving MCP at http://127\\.0\\.0\\.1:(\\d+)/mcp");
    private static final Pattern JOINED = Pattern.compile("mcp-sandbox: cluster: node (\\S+) at (\\S+)");

    private final Path dataDir;
    private final Path stateDir;
    private final Path log;
    private final boolean cluster;
    private final Map<String, String> env = new HashMap<>();
    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private Process process;
    private int port;
    private String nodeId;
    private String advertised;

    /** A cluster node (or a plain server, {@code cluster} false) on this Redis with this secret. */
    ClusterServe(String name, String redisUrl, String secret, boolean cluster, Map<String, String> settings)
            throws IOException {
        String id = UUID.randomUUID().toString().substring(0, 8);
        this.cluster = cluster;
        dataDir = Files.createDirectories(Path.of("/tmp", "mcp-cluster-test-" + name + "-" + id));
        Files.setPosixFilePermissions(dataDir, PosixFilePermissions.fromString("rwxr-xr-x"));
        stateDir = Path.of("/run", "mcp-cluster-test-" + name + "-" + id);
        log = Path.of("/tmp", "mcp-cluster-test-" + name + "-" + id + ".log");
        env.put("MCP_SANDBOX_DATA_DIR", dataDir.toString());
        env.put("MCP_SANDBOX_STATE_DIR", stateDir.toString());
        env.put("MCP_SANDBOX_SANDBOX_AGENT", TestSandbox.BUILT_AGENT.toString());
        env.put("MCP_SANDBOX_RUNTIMES_ALLOWED", "runc");
        env.put("MCP_SANDBOX_POOL_ENABLED", "false");
        env.put("MCP_SANDBOX_API_KEYS", token(USER) + ":" + USER + "," + token(ADMIN) + ":" + ADMIN + ":admin");
        env.put("MCP_SANDBOX_REDIS_URL", redisUrl);
        env.put("MCP_SANDBOX_CLUSTER_SECRET", secret);
        env.put("MCP_SANDBOX_CLUSTER_HEARTBEAT", "300ms");
        env.put("MCP_SANDBOX_CLUSTER_DEAD_AFTER", "1500ms");
        env.putAll(settings);
    }

    static String token(String user) {
        return "cluster-test-" + user + "-key-0123456789abcdef";
    }

    private ProcessBuilder command(String... args) {
        List<String> argv = new ArrayList<>(ChildJvm.cli());
        argv.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().keySet().removeIf(k -> k.startsWith("MCP_SANDBOX_"));
        pb.environment().putAll(env);
        return pb;
    }

    /** Starts it (again, after a kill) and waits until it serves and, as a node, has joined (120 s). */
    ClusterServe start() throws Exception {
        List<String> args = new ArrayList<>(List.of("serve", "--http", "127.0.0.1:0"));
        if (cluster) {
            args.add("--cluster");
        }
        Files.deleteIfExists(log);
        process = command(args.toArray(String[]::new)).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (true) {
            String text = Files.exists(log) ? Files.readString(log) : "";
            Matcher serving = SERVING.matcher(text);
            Matcher joined = JOINED.matcher(text);
            if (serving.find() && (!cluster || joined.find())) {
                port = Integer.parseInt(serving.group(1));
                if (cluster) {
                    nodeId = joined.group(1);
                    advertised = joined.group(2);
                }
                return this;
            }
            assertThat(process.isAlive()).as("the server exited: %s", logTail()).isTrue();
            assertThat(System.nanoTime()).as("serving within 120 s: %s", logTail()).isLessThan(deadline);
            Thread.sleep(100);
        }
    }

    /** Runs {@code serve --cluster} expecting it to refuse to start: its exit code and output. */
    Refused startExpectingRefusal() throws Exception {
        Process p = command("serve", "--cluster", "--http", "127.0.0.1:0").start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).as("refused at once").isTrue();
        return new Refused(p.exitValue(), output);
    }

    record Refused(int exitCode, String output) {
    }

    /** The CLI with this node's environment and {@code extraEnv}. */
    Run cli(Map<String, String> extraEnv, String... args) throws Exception {
        Path err = Files.createTempFile("cluster-cli", ".err");
        try {
            ProcessBuilder pb = command(args).redirectErrorStream(false).redirectError(err.toFile());
            pb.environment().putAll(extraEnv);
            Process p = pb.start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            return new Run(p.exitValue(), out, Files.readString(err));
        } finally {
            Files.deleteIfExists(err);
        }
    }

    Run cli(String... args) throws Exception {
        return cli(Map.of(), args);
    }

    record Run(int exitCode, String stdout, String stderr) {
    }

    /** {@code cluster status --json}, parsed. */
    JsonNode status() throws Exception {
        Run r = cli("cluster", "status", "--json");
        assertThat(r.exitCode()).as(r.stderr()).isZero();
        return JSON.readTree(r.stdout());
    }

    HttpResponse<String> send(String user, String method, String path, String json) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(60))
                .method(method, json == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(json, StandardCharsets.UTF_8));
        if (user != null) {
            b.header("Authorization", "Bearer " + token(user));
        }
        if (json != null) {
            b.header("Content-Type", "application/json");
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    int port() {
        return port;
    }

    String nodeId() {
        return nodeId;
    }

    String advertised() {
        return advertised;
    }

    /** SIGKILL: no shutdown hook runs, the entry is left to expire. */
    void kill() throws InterruptedException {
        process.destroyForcibly().waitFor();
    }

    /** SIGTERM and wait: a clean stop. */
    void stop() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor();
        }
    }

    String logTail() {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /** For a server that never started (refused): its directories go, there is nothing to reap. */
    void discard() throws IOException {
        DeleteTree.delete(dataDir);
        DeleteTree.delete(stateDir);
        Files.deleteIfExists(log);
    }

    /** A clean stop, the project's reaper on its directories, then they go. */
    @Override
    public void close() throws Exception {
        if (process != null && process.isAlive()) {
            stop();
        }
        // A clean stop (0, or 143 after SIGTERM) removed its sandboxes itself: reap only after anything else.
        if (process != null && process.exitValue() != 0 && process.exitValue() != 143) {
            reap();
        }
        discard();
    }

    private void reap() throws Exception {
        ProcessBuilder pb = command("reap").redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.environment().put("MCP_SANDBOX_SANDBOX_WATCHDOG", "false");
        Process reap = pb.start();
        if (!reap.waitFor(120, TimeUnit.SECONDS)) {
            reap.destroyForcibly().waitFor();
        }
    }
}
