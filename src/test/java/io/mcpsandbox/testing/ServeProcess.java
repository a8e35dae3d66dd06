package io.mcpsandbox.testing;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.host.DeleteTree;
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
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One {@code mcp-sandbox serve --http 127.0.0.1:0} child JVM with data and state directories and a log of its own
 * (kept across {@link #kill} and {@link #start}: a restart is the same server, on a new port), the settings given
 * and none of the test JVM's other {@code MCP_SANDBOX_} variables; requests to it with a user's key.
 */
public final class ServeProcess implements AutoCloseable {
    private static final Pattern SERVING = Pattern.compile("serving MCP at http://127\\.0\\.0\\.1:(\\d+)/mcp");
    private static final Duration START_TIMEOUT = Duration.ofSeconds(120);

    private final Path dataDir;
    private final Path stateDir;
    private final Path log;
    private final Map<String, String> env = new HashMap<>();
    private final UnaryOperator<String> keyOf;
    private final Duration requestTimeout;
    private final Duration stopTimeout;
    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private Process process;
    /** Where the current run's output starts in the log, and when it must be serving. */
    private long logStart;
    private long startDeadline;
    private int port;

    /**
     * @param name names /tmp/NAME-ID (data), /run/NAME-ID (state) and /tmp/NAME-ID.log, ID a random one
     * @param settings its {@code MCP_SANDBOX_} variables besides those directories and the built agent
     * @param keyOf a user's API key, for {@link #send}
     * @param requestTimeout how long {@link #send} waits for an answer
     * @param stopTimeout how long {@link #stop} lets a SIGTERM take before a SIGKILL
     */
    public ServeProcess(String name, Map<String, String> settings, UnaryOperator<String> keyOf,
            Duration requestTimeout, Duration stopTimeout) throws IOException {
        String id = UUID.randomUUID().toString().substring(0, 8);
        dataDir = Files.createDirectories(Path.of("/tmp", name + "-" + id));
        Files.setPosixFilePermissions(dataDir, PosixFilePermissions.fromString("rwxr-xr-x"));
        stateDir = Path.of("/run", name + "-" + id);
        log = Path.of("/tmp", name + "-" + id + ".log");
        env.put("MCP_SANDBOX_DATA_DIR", dataDir.toString());
        env.put("MCP_SANDBOX_STATE_DIR", stateDir.toString());
        env.put("MCP_SANDBOX_SANDBOX_AGENT", TestSandbox.BUILT_AGENT.toString());
        env.putAll(settings);
        this.keyOf = keyOf;
        this.requestTimeout = requestTimeout;
        this.stopTimeout = stopTimeout;
    }

    /** The CLI with these arguments and this server's environment; stderr into stdout, stdin empty. */
    public ProcessBuilder command(String... args) {
        List<String> argv = new ArrayList<>(ChildJvm.cli());
        argv.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().keySet().removeIf(k -> k.startsWith("MCP_SANDBOX_"));
        pb.environment().putAll(env);
        return pb;
    }

    /**
     * Starts {@code serve --http 127.0.0.1:0} and these arguments (again, after a kill), its output appended to
     * the log, and waits until it says its port and answers /healthz (120 s).
     */
    public void start(String... extraArgs) throws Exception {
        List<String> args = new ArrayList<>(List.of("serve", "--http", "127.0.0.1:0"));
        args.addAll(List.of(extraArgs));
        logStart = Files.exists(log) ? Files.size(log) : 0;
        startDeadline = System.nanoTime() + START_TIMEOUT.toNanos();
        process = command(args.toArray(String[]::new)).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .start();
        port = Integer.parseInt(awaitInLog(SERVING).group(1));
        while (!healthy()) {
            assertStarting("/healthz");
            Thread.sleep(100);
        }
    }

    /** Waits for {@code pattern} in what the current run wrote, within 120 s of its {@link #start}. */
    public Matcher awaitInLog(Pattern pattern) throws Exception {
        while (true) {
            Matcher m = pattern.matcher(logOfThisRun());
            if (m.find()) {
                return m;
            }
            assertStarting(pattern.pattern());
            Thread.sleep(100);
        }
    }

    private String logOfThisRun() throws IOException {
        if (!Files.exists(log)) {
            return "";
        }
        byte[] all = Files.readAllBytes(log);
        int from = (int) Math.min(logStart, all.length);
        return new String(all, from, all.length - from, StandardCharsets.UTF_8);
    }

    private boolean healthy() throws Exception {
        try {
            return send(null, "GET", "/healthz", null).statusCode() == 200;
        } catch (IOException notYet) {
            return false;
        }
    }

    private void assertStarting(String awaited) {
        assertThat(process.isAlive()).as("the server exited: %s", logTail()).isTrue();
        assertThat(System.nanoTime()).as("%s within %s of the start: %s", awaited, START_TIMEOUT, logTail())
                .isLessThan(startDeadline);
    }

    /** {@code user}'s key (none when null), {@code json} the body or null. */
    public HttpResponse<String> send(String user, String method, String path, String json) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(requestTimeout)
                .method(method, json == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(json, StandardCharsets.UTF_8));
        if (user != null) {
            b.header("Authorization", "Bearer " + keyOf.apply(user));
        }
        if (json != null) {
            b.header("Content-Type", "application/json");
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    public int port() {
        return port;
    }

    /** Its state directory (the runtimes' roots are below it), kept across restarts. */
    public Path stateDir() {
        return stateDir;
    }

    /** SIGKILL: no shutdown hook runs. */
    public void kill() throws InterruptedException {
        process.destroyForcibly().waitFor();
    }

    /** SIGTERM and wait (a SIGKILL after the stop timeout): a clean stop. */
    public void stop() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroy();
            if (!process.waitFor(stopTimeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly().waitFor();
            }
        }
    }

    /** It ran and ended other than by a clean stop (exit 0, or 143 after SIGTERM). */
    public boolean endedUncleanly() {
        return process != null && process.exitValue() != 0 && process.exitValue() != 143;
    }

    /** The last 40 lines of its log. */
    public String logTail() {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /** The project's reaper on its directories (120 s), its output into the log. */
    public void reap() throws Exception {
        ProcessBuilder pb = command("reap").redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.environment().put("MCP_SANDBOX_SANDBOX_WATCHDOG", "false");
        Process reap = pb.start();
        if (!reap.waitFor(120, TimeUnit.SECONDS)) {
            reap.destroyForcibly().waitFor();
        }
    }

    /** Its directories and log go; nothing is stopped or reaped. */
    public void discard() throws IOException {
        DeleteTree.delete(dataDir);
        DeleteTree.delete(stateDir);
        Files.deleteIfExists(log);
    }

    /** {@link #stop}, {@link #reap}, {@link #discard}. */
    @Override
    public void close() throws Exception {
        stop();
        reap();
        discard();
    }
}
