package io.mcpsandbox.bench;

import io.mcpsandbox.config.ConfigLoader;
import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.host.HostCommand;
import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real {@code mcp-sandbox serve --http} in a JVM of its own (the launcher's flags), on a free loopback port,
 * with data and state directories of its own ({@code /tmp/<prefix><id>}, {@code /run/<prefix><id>}) and the
 * API keys given: the server the REST benchmarks drive (SessionLoadBenchmark, FastPathBenchmark). Also what such
 * a server may leave behind, and the project's own reaper to remove it.
 */
final class ChildServer {
    /**
     * The agent as agent/Makefile builds it from this checkout: TestSandbox.BUILT_AGENT's value, not that
     * field itself, because the bench scripts run the benchmarks from a copy of the bench classes alone.
     */
    private static final Path BUILT_AGENT = Path.of("agent/build/mcp-agent").toAbsolutePath();
    private static final Duration HTTP_TIMEOUT = Duration.ofSeconds(90);
    /** The OCI runtimes whose --root is {@code <stateDir>/<binary>} (OciRuntime.allFlavors). */
    static final List<String> RUNTIMES = List.of("runc", "runsc");

    private final String runId = UUID.randomUUID().toString().substring(0, 8);
    private final Path dataDir;
    private final Path stateDir;
    private final Path log;
    /** The directories and the agent (all a reap needs), plus the settings given. */
    private final Map<String, String> env = new HashMap<>();
    private final SandboxConfig config;
    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private Process process;
    private int port;

    /**
     * Makes the directories and checks the configuration (and that the agent is built); starts nothing.
     *
     * @param settings more environment for the server ({@code MCP_SANDBOX_*} settings)
     */
    ChildServer(String prefix, Map<String, String> settings) throws IOException {
        dataDir = Path.of("/tmp", prefix + runId);
        stateDir = Path.of("/run", prefix + runId);
        log = Path.of("/tmp", prefix + runId + ".log");
        // The child inherits this process's environment: its MCP_SANDBOX_* settings are the server's too.
        System.getenv().forEach((name, value) -> {
            if (name.startsWith("MCP_SANDBOX_")) {
                env.put(name, value);
            }
        });
        env.putAll(directories(dataDir, stateDir));
        env.putAll(settings);
        config = load(env);
    }

    /**
     * Makes a benchmark's own data and state directories and returns the environment that points the project
     * at them and at the agent ({@code MCP_SANDBOX_SANDBOX_AGENT} as set, else agent/build/mcp-agent).
     */
    static Map<String, String> directories(Path dataDir, Path stateDir) throws IOException {
        Files.createDirectories(dataDir);
        Files.setPosixFilePermissions(dataDir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.createDirectories(stateDir);
        String agent = System.getenv("MCP_SANDBOX_SANDBOX_AGENT");
        return Map.of(ConfigLoader.ENV_DATA_DIR, dataDir.toString(), "MCP_SANDBOX_STATE_DIR", stateDir.toString(),
                "MCP_SANDBOX_SANDBOX_AGENT", agent != null ? agent : BUILT_AGENT.toString());
    }

    /** The configuration of that environment; fails when the agent is not built. */
    static SandboxConfig load(Map<String, String> env) {
        SandboxConfig config = new ConfigLoader(env).load();
        if (!Files.isRegularFile(config.sandboxAgent(), LinkOption.NOFOLLOW_LINKS)) {
            throw new IllegalStateException("no agent at " + config.sandboxAgent() + ": run `make -C agent` first");
        }
        return config;
    }

    /** The server's sandbox configuration, as it will load it. */
    SandboxConfig config() {
        return config;
    }

    /** Starts the server with these API keys ({@code key:user}) and waits until /healthz answers (120 s). */
    void start(List<String> apiKeys) throws Exception {
        start(apiKeys, List.of());
    }

    /** As {@link #start(List)}, with more arguments for {@code serve} (e.g. {@code --cluster}). */
    void start(List<String> apiKeys, List<String> serveArgs) throws Exception {
        try (ServerSocket free = new ServerSocket(0)) {
            port = free.getLocalPort();
        }
        List<String> argv = new ArrayList<>(List.of(java(), "--enable-native-access=ALL-UNNAMED",
                "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto", // bin/mcp-sandbox's flags
                "-cp", System.getProperty("java.class.path"), "io.mcpsandbox.cli.Main",
                "serve", "--http", "127.0.0.1:" + port));
        argv.addAll(serveArgs);
        ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(true)
                .redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().putAll(env);
        pb.environment().put("MCP_SANDBOX_API_KEYS", String.join(",", apiKeys));
        process = pb.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (true) {
            if (!process.isAlive()) {
                throw new IllegalStateException("the server exited: " + logTail());
            }
            try {
                HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(base() + "/healthz"))
                        .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) {
                    break;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the server did not answer /healthz in 120 s");
            }
            Thread.sleep(200);
        }
        System.out.println("server: pid " + process.pid() + " on " + base());
    }

    long pid() {
        return process.pid();
    }

    String base() {
        return "http://127.0.0.1:" + port;
    }

    Path dataDir() {
        return dataDir;
    }

    Path stateDir() {
        return stateDir;
    }

    /** One request on the shared client (HTTP/1.1, kept alive), {@code json} the body or null. */
    HttpResponse<String> send(String key, String method, String path, String json) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base() + path))
                .timeout(HTTP_TIMEOUT).header("Authorization", "Bearer " + key)
                .method(method, json == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(json, StandardCharsets.UTF_8));
        if (json != null) {
            b.header("Content-Type", "application/json");
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    String logTail() {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(no server log: " + e.getMessage() + ")";
        }
    }

    /** SIGTERM, as an operator stops it; whether it exited within 120 s. */
    boolean stop() throws InterruptedException {
        process.destroy();
        return process.waitFor(120, TimeUnit.SECONDS);
    }

    /** Stops the server if it still runs: SIGTERM, then SIGKILL after 120 s. */
    synchronized void stopHard() {
        if (process != null && process.isAlive()) {
            process.destroy();
            try {
                if (!process.waitFor(120, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The ids of the containers in one runtime's --root of this server (none when it has no root). */
    List<String> containers(String runtime) throws IOException {
        Path root = stateDir.resolve(runtime);
        if (!Files.isDirectory(root)) {
            return List.of();
        }
        HostCommand.Result r = HostCommand.run(List.of(runtime, "--root", root.toString(), "list", "-q"),
                Duration.ofSeconds(60));
        return r.stdout().lines().map(String::strip).filter(l -> !l.isEmpty()).toList();
    }

    /** What the server left in its own directories: containers in its runtime roots, bundles, mounts. */
    List<String> leftovers() throws IOException {
        List<String> left = new ArrayList<>();
        for (String runtime : RUNTIMES) {
            containers(runtime).forEach(c -> left.add(runtime + " container " + c));
        }
        Path bundles = dataDir.resolve("bundles");
        if (Files.isDirectory(bundles)) {
            try (Stream<Path> b = Files.list(bundles)) {
                b.forEach(p -> left.add("bundle " + p));
            }
        }
        for (String line : Files.readAllLines(Path.of("/proc/self/mounts"))) {
            String[] f = line.split(" ");
            if (f.length > 1 && (f[1].startsWith(dataDir.toString()) || f[1].startsWith(stateDir.toString()))) {
                left.add("mount " + f[1]);
            }
        }
        return left;
    }

    /** Reaps what a failed run left (the project's own reaper, same directories), then removes the directories. */
    void reapAndDelete(boolean reap) {
        if (reap) {
            try {
                ProcessBuilder pb = new ProcessBuilder(java(), "--enable-native-access=ALL-UNNAMED", "-cp",
                        System.getProperty("java.class.path"), "io.mcpsandbox.cli.Main", "reap").inheritIO();
                pb.environment().putAll(env);
                pb.environment().put("MCP_SANDBOX_SANDBOX_WATCHDOG", "false");
                pb.start().waitFor(120, TimeUnit.SECONDS);
            } catch (IOException | InterruptedException e) {
                System.err.println("cleanup: reap failed: " + e);
            }
        }
        LatencyBenchmark.deleteTree(dataDir);
        LatencyBenchmark.deleteTree(stateDir);
        try {
            Files.deleteIfExists(log);
        } catch (IOException e) {
            System.err.println("cleanup: " + log + ": " + e.getMessage());
        }
    }

    static String java() {
        return ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java");
    }
}
