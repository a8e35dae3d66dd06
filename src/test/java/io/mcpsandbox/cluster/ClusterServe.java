package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.testing.ServeProcess;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * One {@code mcp-sandbox serve [--cluster] --http 127.0.0.1:0} child JVM (a {@link ServeProcess}: data and state
 * directories of its own, kept across {@link #kill} and {@link #start}: a restart is the same node), and the CLI
 * run with its environment.
 */
final class ClusterServe implements AutoCloseable {
    static final JsonMapper JSON = JsonMapper.builder().build();
    static final String USER = "alice";
    static final String ADMIN = "root-admin";
    private static final Pattern JOINED = Pattern.compile("mcp-sandbox: cluster: node (\\S+) at (\\S+)");

    private final ServeProcess serve;
    private final boolean cluster;
    private String nodeId;
    private String advertised;

    /** A cluster node (or a plain server, {@code cluster} false) on this Redis with this secret. */
    ClusterServe(String name, String redisUrl, String secret, boolean cluster, Map<String, String> settings)
            throws IOException {
        this.cluster = cluster;
        Map<String, String> env = new HashMap<>();
        env.put("MCP_SANDBOX_RUNTIMES_ALLOWED", "runc");
        env.put("MCP_SANDBOX_POOL_ENABLED", "false");
        env.put("MCP_SANDBOX_API_KEYS", apiKeys());
        env.put("MCP_SANDBOX_REDIS_URL", redisUrl);
        env.put("MCP_SANDBOX_CLUSTER_SECRET", secret);
        env.put("MCP_SANDBOX_CLUSTER_HEARTBEAT", "300ms");
        env.put("MCP_SANDBOX_CLUSTER_DEAD_AFTER", "1500ms");
        env.putAll(settings);
        serve = new ServeProcess("mcp-cluster-test-" + name, env, ClusterServe::token, Duration.ofSeconds(60),
                Duration.ofSeconds(60));
    }

    /** Starts the nodes at once (each a JVM of its own), and returns once all have joined. */
    static void startAll(ClusterServe... nodes) {
        java.util.concurrent.CompletableFuture.allOf(java.util.Arrays.stream(nodes)
                .map(n -> java.util.concurrent.CompletableFuture.runAsync(() -> {
                    try {
                        n.start();
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                })).toArray(java.util.concurrent.CompletableFuture[]::new)).join();
    }

    /** Stops the nodes that were made (nulls are skipped) at once. */
    static void closeAll(ClusterServe... nodes) {
        java.util.concurrent.CompletableFuture.allOf(java.util.Arrays.stream(nodes)
                .filter(java.util.Objects::nonNull)
                .map(n -> java.util.concurrent.CompletableFuture.runAsync(() -> {
                    try {
                        n.close();
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                })).toArray(java.util.concurrent.CompletableFuture[]::new)).join();
    }

    /** MCP_SANDBOX_API_KEYS for {@link #USER}, {@code moreUsers} and the admin {@link #ADMIN}, each with its token. */
    static String apiKeys(String... moreUsers) {
        StringBuilder keys = new StringBuilder(token(USER) + ":" + USER);
        for (String user : moreUsers) {
            keys.append(',').append(token(user)).append(':').append(user);
        }
        return keys.append(',').append(token(ADMIN)).append(':').append(ADMIN).append(":admin").toString();
    }

    static String token(String user) {
        return "cluster-test-" + user + "-key-0123456789abcdef";
    }

    /** Starts it (again, after a kill) and waits until it serves and, as a node, has joined (120 s). */
    ClusterServe start() throws Exception {
        if (cluster) {
            serve.start("--cluster");
            Matcher joined = serve.awaitInLog(JOINED);
            nodeId = joined.group(1);
            advertised = joined.group(2);
        } else {
            serve.start();
        }
        return this;
    }

    /** Runs {@code serve --cluster} expecting it to refuse to start: its exit code and output. */
    Refused startExpectingRefusal() throws Exception {
        Process p = serve.command("serve", "--cluster", "--http", "127.0.0.1:0").start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).as("refused at once").isTrue();
        return new Refused(p.exitValue(), output);
    }

    record Refused(int exitCode, String output) {
    }

    /** Starts {@code serve --cluster} and returns at once, its output (stderr too) into {@code out}; not awaited. */
    Process launch(Path out) throws IOException {
        return serve.command("serve", "--cluster", "--http", "127.0.0.1:0")
                .redirectOutput(ProcessBuilder.Redirect.to(out.toFile())).start();
    }

    /** The CLI with this node's environment and {@code extraEnv}. */
    Run cli(Map<String, String> extraEnv, String... args) throws Exception {
        Path err = Files.createTempFile("cluster-cli", ".err");
        try {
            ProcessBuilder pb = serve.command(args).redirectErrorStream(false).redirectError(err.toFile());
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
        return serve.send(user, method, path, json);
    }

    int port() {
        return serve.port();
    }

    /** The runc containers in its runtime root now (what a kill left, until a start reaps it). */
    List<String> runcContainers() throws Exception {
        Path root = serve.stateDir().resolve("runc");
        if (!Files.isDirectory(root)) {
            return List.of();
        }
        Process p = new ProcessBuilder("runc", "--root", root.toString(), "list", "-q").redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        return out.lines().map(String::strip).filter(l -> !l.isEmpty()).toList();
    }

    String nodeId() {
        return nodeId;
    }

    String advertised() {
        return advertised;
    }

    /** SIGKILL: no shutdown hook runs, the entry is left to expire. */
    void kill() throws InterruptedException {
        serve.kill();
    }

    /** SIGTERM and wait: a clean stop. */
    void stop() throws InterruptedException {
        serve.stop();
    }

    /** For a server that never started (refused): its directories go, there is nothing to reap. */
    void discard() throws IOException {
        serve.discard();
    }

    /** A clean stop, the project's reaper on its directories, then they go. */
    @Override
    public void close() throws Exception {
        serve.stop();
        // A clean stop (0, or 143 after SIGTERM) removed its sandboxes itself: reap only after anything else.
        if (serve.endedUncleanly()) {
            serve.reap();
        }
        serve.discard();
    }
}
