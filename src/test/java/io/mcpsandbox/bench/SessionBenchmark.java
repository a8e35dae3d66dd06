package io.mcpsandbox.bench;

import io.mcpsandbox.api.SandboxApi;
import io.mcpsandbox.api.http.ApiKeys;
import io.mcpsandbox.api.http.HttpApiServer;
import io.mcpsandbox.api.mcp.HttpMcpServer;
import io.mcpsandbox.config.ConfigLoader;
import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.config.ServerConfig;
import io.mcpsandbox.execution.SandboxServices;
import io.mcpsandbox.host.CgroupReader;
import io.mcpsandbox.host.CpuPressure;
import io.mcpsandbox.host.HostCommand;
import io.mcpsandbox.image.HostImage;
import io.mcpsandbox.image.ImageResolver;
import io.mcpsandbox.model.RootFilesystem;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.SeccompProfile;
import io.mcpsandbox.runtime.UidRangeAllocator;
import io.mcpsandbox.runtime.oci.BundleWriter;
import io.mcpsandbox.runtime.oci.OciFlavor;
import io.mcpsandbox.runtime.oci.OciRuntime;
import java.io.File;
import java.io.IOException;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Issue 11's session figures: opening a session, running python {@code print(1)} in an open one, and the same
 * as a one-shot execution, all through REST on a real {@link HttpApiServer} started in this JVM (an API key,
 * loopback, {@code java.net.http} as the client), side by side with two yardsticks measured in the same run:
 * the bare interpreter and {@code runc exec} into a running runc container of the host root. A program, not
 * a test (Surefire does not pick this name up): run it with {@code bench/sessions.sh}. Needs root, runc,
 * runsc and the agent ({@code make -C agent}).
 *
 * <p>Every measurement runs once per round, round-robin after warm-up rounds, so drift on a noisy machine
 * hits them all alike. A create is timed from the request to its 201; the session is then closed, untimed,
 * and its teardown awaited. Executions in a session run in sessions opened before the rounds (three per runtime:
 * snippets one after the other, a command before each snippet, persistent calls).
 */
public final class SessionBenchmark {
    private static final String BENCH_PREFIX = "mcp-bench-";
    private static final String USER = "bench";
    private static final Duration CMD_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration HTTP_TIMEOUT = Duration.ofSeconds(90);
    /** The pause before each measurement. */
    private static final Duration SETTLE = Duration.ofMillis(100);
    /** The agent as agent/Makefile builds it (the bench classes run from a copy: no TestSandbox here). */
    private static final Path BUILT_AGENT = Path.of("agent/build/mcp-agent").toAbsolutePath();
    private static final String PYTHON_BODY = "{\"language\": \"python\", \"code\": \"print(1)\"}";
    private static final JsonMapper JSON = JsonMapper.builder().build();

    /** Issue 11's targets: the median of a measurement (by its name) at most this many ms. */
    private static final Map<String, Double> TARGETS = targets();

    private static Map<String, Double> targets() {
        Map<String, Double> t = new LinkedHashMap<>();
        t.put("session exec runc", 25.0);
        t.put("session exec spare runc", 25.0);
        t.put("session exec runsc", 60.0);
        t.put("session exec spare runsc", 60.0);
        t.put("session create runc", 100.0);
        t.put("persistent x += 1 runc", 10.0);
        return t;
    }

    record Options(int iterations, int warmup, List<String> runtimes) {
        static Options parse(String[] args) {
            int iterations = 30;
            // A server runs warm: 3 rounds left its JIT cold and added ~10 ms to every HTTP figure.
            int warmup = 50;
            boolean quick = false;
            List<String> runtimes = List.of("runc", "runsc");
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--iterations" -> iterations = Integer.parseInt(args[++i]);
                    case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                    case "--quick" -> quick = true;
                    case "--runtimes" -> runtimes = List.of(args[++i].split(","));
                    case "-h", "--help" -> {
                        System.out.println("usage: SessionBenchmark [--iterations N] [--warmup N] [--quick]"
                                + " [--runtimes runc,runsc]");
                        System.exit(0);
                    }
                    default -> throw new IllegalArgumentException("unknown option " + args[i] + " (try --help)");
                }
            }
            if (quick) {
                iterations = 5;
                warmup = Math.min(warmup, 1);
            }
            if (iterations < 1 || warmup < 0) {
                throw new IllegalArgumentException("iterations must be >= 1 and warmup >= 0");
            }
            for (String r : runtimes) {
                LatencyBenchmark.flavorOf(r); // only the OCI runtimes: a clear error before anything starts
            }
            return new Options(iterations, warmup, runtimes);
        }
    }

    /** One measurement: its name (the row) and one timed run, in nanoseconds. */
    record Measurement(String name, String note, Timed run) {
    }

    @FunctionalInterface
    interface Timed {
        long run() throws Exception;
    }

    private final Options options;
    private final String runId = UUID.randomUUID().toString().substring(0, 8);
    private final Path dataDir = Path.of("/tmp", BENCH_PREFIX + "sessions-" + runId);
    private final Path stateDir = Path.of("/run", BENCH_PREFIX + "sessions-" + runId);
    private final Path rawRoot = stateDir.resolve("raw-runc");
    private final String apiKey = "bench-" + UUID.randomUUID().toString().replace("-", "");
    /** Every sandbox and container name this run made: the leftover check looks for exactly these. */
    private final Set<String> names = ConcurrentHashMap.newKeySet();
    private final List<String> containersLeft = new ArrayList<>();
    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private SandboxServices services;
    /** The server's {@code session.spare-max-cpu-pressure}, and the pressure at each measured round's start. */
    private int spareMaxPressure;
    private final List<Double> cpuPressure = new ArrayList<>();
    private SandboxApi api;
    private HttpApiServer server;
    private UidRangeAllocator rawUids;
    private long rawUidBase = -1;
    private String execContainer;
    private volatile boolean cleanedUp;

    private SessionBenchmark(Options options) {
        this.options = options;
    }

    public static void main(String[] args) throws Exception {
        Options options = Options.parse(args);
        if (!"0".equals(String.valueOf(Files.getAttribute(Path.of("/proc/self"), "unix:uid")))) {
            System.err.println("the benchmark needs root (it mounts, creates cgroups and runs runc)");
            System.exit(2);
        }
        SessionBenchmark bench = new SessionBenchmark(options);
        Thread hook = new Thread(bench::cleanup, "bench-cleanup");
        Runtime.getRuntime().addShutdownHook(hook);
        int rc = 0;
        try {
            bench.run();
        } catch (Exception | Error e) {
            System.err.println("benchmark failed: " + e);
            e.printStackTrace();
            rc = 1;
        } finally {
            bench.cleanup();
            Runtime.getRuntime().removeShutdownHook(hook);
        }
        List<String> left = bench.leftovers();
        if (left.isEmpty()) {
            System.out.println("cleanup: nothing left behind (no session, container, bundle, mount, cgroup"
                    + " or directory)");
        } else {
            System.out.println("cleanup: LEFT BEHIND: " + left);
            rc = rc == 0 ? 3 : rc;
        }
        System.exit(rc);
    }

    // ------------------------------------------------------------------------------------------------ run

    private void run() throws Exception {
        Files.createDirectories(dataDir);
        Files.setPosixFilePermissions(dataDir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.createDirectories(stateDir);
        Map<String, String> env = new HashMap<>();
        env.put(ConfigLoader.ENV_DATA_DIR, dataDir.toString());
        env.put("MCP_SANDBOX_STATE_DIR", stateDir.toString());
        String agent = System.getenv("MCP_SANDBOX_SANDBOX_AGENT");
        env.put("MCP_SANDBOX_SANDBOX_AGENT", agent != null ? agent : BUILT_AGENT.toString());
        SandboxConfig config = new ConfigLoader(env).load();
        if (!Files.isRegularFile(config.sandboxAgent(), LinkOption.NOFOLLOW_LINKS)) {
            throw new IllegalStateException("no agent at " + config.sandboxAgent() + ": run `make -C agent` first");
        }
        services = new SandboxServices(config);
        spareMaxPressure = services.sessions().settings().spareMaxCpuPressure();
        ServerConfig serverConfig = new ServerConfig(List.of(new ServerConfig.ApiKey(apiKey, USER)),
                ServerConfig.LOOPBACK_ORIGINS, List.of(), 16L << 20,
                new ServerConfig.AdmissionLimits(4, 4, 8, Duration.ofSeconds(30)), ServerConfig.DEFAULT_IDLE_TIMEOUT);
        api = new SandboxApi(services, serverConfig);
        server = HttpApiServer.start(api, serverConfig, ApiKeys.of(serverConfig.apiKeys()), "127.0.0.1", 0,
                HttpMcpServer::create);

        LatencyBenchmark.Machine machine = LatencyBenchmark.Machine.describe();
        System.out.println("machine: " + machine.oneLine());
        System.out.printf(Locale.ROOT, "iterations: %d measured + %d warm-up rounds, round-robin; runtimes: %s;"
                + " REST on http://127.0.0.1:%d%n", options.iterations(), options.warmup(),
                String.join(",", options.runtimes()), server.port());

        startExecContainer(config);
        // Per runtime: one session for python snippets only (from the third call on, each takes the spare
        // interpreter the previous one left), one where a command runs before each snippet (the snippet then starts
        // its interpreter anew, as a snippet after other work does) and one for the persistent interpreter.
        Map<String, String> sessions = new LinkedHashMap<>();
        Map<String, String> freshSessions = new LinkedHashMap<>();
        Map<String, String> persistentSessions = new LinkedHashMap<>();
        for (String runtime : options.runtimes()) {
            sessions.put(runtime, createSession(runtime));
            freshSessions.put(runtime, createSession(runtime));
            persistentSessions.put(runtime, createSession(runtime));
            definePersistentX(persistentSessions.get(runtime));
        }

        List<Measurement> measurements = new ArrayList<>();
        measurements.add(new Measurement("bare python3", "`/usr/bin/python3 -c 'print(1)'`, ProcessBuilder",
                SessionBenchmark::barePython));
        measurements.add(new Measurement("runc exec", "`runc exec` of the same into a running runc container",
                this::runcExec));
        for (String runtime : options.runtimes()) {
            measurements.add(new Measurement("session create " + runtime, "`POST /v1/sessions` to its 201",
                    () -> timedCreate(runtime)));
            measurements.add(new Measurement("session exec " + runtime,
                    "`POST /v1/sessions/{id}/executions` python `print(1)` after a command `true` (untimed): python "
                    + "starts anew (other work came between: no spare)",
                    () -> sessionExecAfterCommand(freshSessions.get(runtime))));
            measurements.add(new Measurement("session exec spare " + runtime,
                    "the same after the same: the spare interpreter (`session.spare-interpreters`, on by default "
                    + "while the host's CPU pressure is at most " + spareMaxPressure + " %)",
                    () -> sessionExec(sessions.get(runtime))));
            measurements.add(new Measurement("persistent x += 1 " + runtime,
                    "`POST /v1/sessions/{id}/executions` python `x += 1`, `persistent: true`",
                    () -> persistentIncrement(persistentSessions.get(runtime))));
            measurements.add(new Measurement("one-shot " + runtime, "`POST /v1/executions` python `print(1)`",
                    () -> oneShot(runtime)));
        }

        Map<String, List<Long>> samples = new LinkedHashMap<>();
        int rounds = options.warmup() + options.iterations();
        long started = System.nanoTime();
        for (int round = 0; round < rounds; round++) {
            boolean measured = round >= options.warmup();
            if (measured) {
                CpuPressure.host().someAvg10().ifPresent(cpuPressure::add);
            }
            for (Measurement m : measurements) {
                // Background work the previous measurement left (a session's spare interpreter loading) ends
                // first, so that it does not land on this one: an agent's calls come seconds apart.
                Thread.sleep(SETTLE.toMillis());
                long nanos = m.run().run();
                if (measured) {
                    samples.computeIfAbsent(m.name(), k -> new ArrayList<>()).add(nanos);
                }
            }
            System.out.printf(Locale.ROOT, "  round %d/%d%s done (%.0f s)%n", round + 1, rounds,
                    measured ? "" : " (warm-up)", (System.nanoTime() - started) / 1e9);
        }

        for (Map<String, String> opened : List.of(sessions, freshSessions, persistentSessions)) {
            for (String id : opened.values()) {
                closeSession(id);
            }
        }
        checkNoSessionOpen();
        System.out.println();
        System.out.println(render(machine, measurements, samples));
    }

    // ------------------------------------------------------------------------------------------------ measurements

    private static long barePython() throws Exception {
        ProcessBuilder pb = new ProcessBuilder(LatencyBenchmark.onSandboxPath("python3"), "-c", "print(1)");
        pb.environment().clear();
        pb.environment().put("PATH", io.mcpsandbox.policy.RequestValidator.PATH);
        pb.environment().put("HOME", "/tmp");
        long t0 = System.nanoTime();
        LatencyBenchmark.Captured c = LatencyBenchmark.capture(pb);
        long t1 = System.nanoTime();
        c.expect(0, "1\n", "bare python3");
        return t1 - t0;
    }

    private long runcExec() throws Exception {
        List<String> argv = List.of("runc", "--root", rawRoot.toString(), "exec", execContainer,
                LatencyBenchmark.onSandboxPath("python3"), "-c", "print(1)");
        long t0 = System.nanoTime();
        LatencyBenchmark.Captured c = LatencyBenchmark.capture(HostCommand.builder(argv));
        long t1 = System.nanoTime();
        c.expect(0, "1\n", String.join(" ", argv));
        return t1 - t0;
    }

    /** Opens a session, timed to its 201; then closes it and awaits its teardown, untimed. */
    private long timedCreate(String runtime) throws Exception {
        long t0 = System.nanoTime();
        HttpResponse<String> r = send("POST", "/v1/sessions", "{\"runtime\": \"" + runtime + "\"}");
        long t1 = System.nanoTime();
        String id = sessionIdOf(r, runtime);
        closeSession(id);
        return t1 - t0;
    }

    private String createSession(String runtime) throws Exception {
        return sessionIdOf(send("POST", "/v1/sessions", "{\"runtime\": \"" + runtime + "\"}"), runtime);
    }

    private String sessionIdOf(HttpResponse<String> r, String runtime) throws Exception {
        if (r.statusCode() != 201) {
            throw new IllegalStateException("session create " + runtime + ": " + r.statusCode() + " " + r.body());
        }
        String id = JSON.readTree(r.body()).path("sessionId").asString();
        names.add(services.sessions().show(USER, id).sandboxName());
        return id;
    }

    private void closeSession(String id) throws Exception {
        HttpResponse<String> r = send("DELETE", "/v1/sessions/" + id, null);
        if (r.statusCode() != 200) {
            throw new IllegalStateException("session close " + id + ": " + r.statusCode() + " " + r.body());
        }
        if (!services.sessions().awaitTeardowns(CMD_TIMEOUT)) {
            throw new IllegalStateException("session teardown did not finish within " + CMD_TIMEOUT);
        }
    }

    private long sessionExec(String id) throws Exception {
        long t0 = System.nanoTime();
        HttpResponse<String> r = send("POST", "/v1/sessions/" + id + "/executions", PYTHON_BODY);
        long t1 = System.nanoTime();
        expectPrinted(r, "session exec " + id);
        return t1 - t0;
    }

    /** A command {@code true} (untimed), then python {@code print(1)} (timed): no spare interpreter waits for it. */
    private long sessionExecAfterCommand(String id) throws Exception {
        HttpResponse<String> r = send("POST", "/v1/sessions/" + id + "/executions", "{\"command\": [\"true\"]}");
        if (r.statusCode() != 200 || !"completed".equals(JSON.readTree(r.body()).path("status").asString())) {
            throw new IllegalStateException("command true in " + id + ": " + r.statusCode() + " " + r.body());
        }
        return sessionExec(id);
    }

    /**
     * A persistent-mode call {@code x += 1; x} in the session's python interpreter (defined before the first
     * round, untimed): its value must have grown by one since the last call.
     */
    private long persistentIncrement(String id) throws Exception {
        String body = "{\"language\": \"python\", \"persistent\": true, \"code\": \"x += 1\\nx\"}";
        long t0 = System.nanoTime();
        HttpResponse<String> r = send("POST", "/v1/sessions/" + id + "/executions", body);
        long t1 = System.nanoTime();
        JsonNode result = r.statusCode() == 200 ? JSON.readTree(r.body()) : null;
        long value = result == null ? -1 : Long.parseLong(result.path("result").asString("-1"));
        Long last = lastValue.put(id, value);
        if (result == null || !"completed".equals(result.path("status").asString()) || last == null
                || value != last + 1) {
            throw new IllegalStateException("persistent x += 1 in " + id + ": " + r.statusCode() + " " + r.body());
        }
        return t1 - t0;
    }

    private final Map<String, Long> lastValue = new ConcurrentHashMap<>();

    /** Defines x = 0 in the session's python interpreter (the first persistent call starts it). */
    private void definePersistentX(String id) throws Exception {
        HttpResponse<String> r = send("POST", "/v1/sessions/" + id + "/executions",
                "{\"language\": \"python\", \"persistent\": true, \"code\": \"x = 0\\nx\"}");
        if (r.statusCode() != 200 || !"0".equals(JSON.readTree(r.body()).path("result").asString())) {
            throw new IllegalStateException("persistent x = 0 in " + id + ": " + r.statusCode() + " " + r.body());
        }
        lastValue.put(id, 0L);
    }

    /** A one-shot execution; its teardown (off the request's path) is awaited, untimed, before the next sample. */
    private long oneShot(String runtime) throws Exception {
        String body = "{\"language\": \"python\", \"code\": \"print(1)\", \"runtime\": \"" + runtime + "\"}";
        long t0 = System.nanoTime();
        HttpResponse<String> r = send("POST", "/v1/executions", body);
        long t1 = System.nanoTime();
        JsonNode result = expectPrinted(r, "one-shot " + runtime);
        names.add(SandboxSpec.nameFor(result.path("executionId").asString()));
        if (!services.executions().awaitTeardowns(CMD_TIMEOUT)) {
            throw new IllegalStateException("teardown did not finish within " + CMD_TIMEOUT);
        }
        return t1 - t0;
    }

    private static JsonNode expectPrinted(HttpResponse<String> r, String what) {
        JsonNode result = r.statusCode() == 200 ? JSON.readTree(r.body()) : null;
        if (result == null || !"completed".equals(result.path("status").asString())
                || result.path("exitCode").asInt(-1) != 0 || !"1\n".equals(result.path("stdout").asString())) {
            throw new IllegalStateException(what + ": " + r.statusCode() + " " + r.body());
        }
        return result;
    }

    private HttpResponse<String> send(String method, String path, String json) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .timeout(HTTP_TIMEOUT).header("Authorization", "Bearer " + apiKey)
                .method(method, json == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(json, StandardCharsets.UTF_8));
        if (json != null) {
            b.header("Content-Type", "application/json");
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    /** The caller's open sessions, by the API and by the service: both must be none once the rounds are over. */
    private void checkNoSessionOpen() throws Exception {
        HttpResponse<String> r = send("GET", "/v1/sessions", null);
        int listed = r.statusCode() == 200 ? JSON.readTree(r.body()).path("sessions").size() : -1;
        if (listed != 0 || services.sessions().openCount() != 0) {
            throw new IllegalStateException("sessions still open: GET /v1/sessions " + r.statusCode() + " "
                    + r.body() + "; service count " + services.sessions().openCount());
        }
        System.out.println("sessions: every one closed (GET /v1/sessions lists none)");
    }

    // ------------------------------------------------------------------------------------------------ runc exec

    /**
     * A plain runc container of the host root, as LatencyBenchmark's raw bundles: config.json written by the
     * project's BundleWriter (mounts, namespaces, uid mapping, cgroup limits, rlimits, seccomp), its process
     * then made {@code sleep} as PID 1 with ours' environment. {@code runc exec} inherits that process's user,
     * capabilities and environment: a program started in a running sandbox without our agent and API.
     */
    private void startExecContainer(SandboxConfig config) throws Exception {
        BundleWriter bundles = new BundleWriter(JSON, SeccompProfile.loadDefault(JSON), config.sandboxAgent(),
                io.mcpsandbox.runtime.oci.HostLsm.detect(Path.of("/")));
        RootFilesystem rootfs = new ImageResolver(new HostImage(Path.of("/"), config.imagesDir()))
                .resolve(HostImage.NAME);
        rawUids = new UidRangeAllocator(config.sandboxUidBase(), config.sandboxUidSlots(),
                config.stateDir().resolve("uid-slots"), io.mcpsandbox.host.HostIdFiles.system());
        rawUidBase = rawUids.acquire();

        String name = BENCH_PREFIX + "exec-" + runId;
        Path bundle = dataDir.resolve("raw").resolve(name);
        Path workspace = bundle.resolve("workspace");
        Files.createDirectories(workspace);
        Files.createDirectories(rawRoot);
        for (Path p = bundle; p.startsWith(dataDir); p = p.getParent()) {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        int sandboxUid = (int) (rawUidBase + BundleWriter.SANDBOX_UID);
        Files.setAttribute(workspace, "unix:uid", sandboxUid, LinkOption.NOFOLLOW_LINKS);
        Files.setAttribute(workspace, "unix:gid", sandboxUid, LinkOption.NOFOLLOW_LINKS);
        bundles.write(bundle, new SandboxSpec(name, rootfs, config.defaultLimits(), Map.of()), OciFlavor.RUNC,
                workspace, rawUidBase);
        RawBundles.runProgramAsInit(bundle.resolve("config.json"), List.of("sleep", "3600"));
        names.add(name);
        execContainer = name;

        // Detached: the container's stdio is runc's, so files, never pipes a reader would wait on forever.
        File log = bundle.resolve("container.log").toFile();
        int rc = HostCommand.builder(List.of("runc", "--root", rawRoot.toString(), "run", "--detach", "--bundle",
                        bundle.toString(), name)).directory(bundle.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(log).redirectError(log).start().waitFor();
        if (rc != 0) {
            throw new IllegalStateException("runc run --detach: exit " + rc + ": " + Files.readString(log.toPath()));
        }
    }

    // ------------------------------------------------------------------------------------------------ report

    private String render(LatencyBenchmark.Machine machine, List<Measurement> measurements,
                          Map<String, List<Long>> samples) {
        StringBuilder md = new StringBuilder();
        String loadEnd = LatencyBenchmark.Machine.loadAverage();
        md.append("Measured ").append(machine.date()).append(" on ").append(machine.nproc()).append(" CPUs (")
                .append(machine.cpu()).append("), Linux ").append(machine.kernel()).append(", cgroup ")
                .append(machine.cgroups()).append("; ").append(machine.runc()).append("; ").append(machine.runsc())
                .append("; ").append(machine.java()).append(". Load average (1/5/15 min) at start: ")
                .append(machine.loadAtStart()).append(", at end: ").append(loadEnd).append(".\n");
        double load = Double.parseDouble(machine.loadAtStart().split(" ")[0].replace("unknown", "NaN"));
        if (!(load < machine.nproc() / 2.0)) {
            md.append("**The machine was busy with other work during this run** (load ").append(machine.loadAtStart())
                    .append(" on ").append(machine.nproc()).append(" CPUs): every figure, p95 most, is higher ")
                    .append("than a quiet machine gives; the ratios measured in the same rounds are the steadier.\n");
        }
        md.append("\n").append(options.iterations()).append(" measured rounds after ").append(options.warmup())
                .append(" warm-up rounds; every measurement once per round, in the table's order, each after a ")
                .append(SETTLE.toMillis()).append(" ms pause (what the one before left in the background ends ")
                .append("first). Milliseconds, ")
                .append("wall clock in the benchmark's JVM; p95 is nearest-rank.\n\n");
        double bare = LatencyBenchmark.Report.median(samples.get("bare python3"));
        double exec = LatencyBenchmark.Report.median(samples.get("runc exec"));
        List<Double> pressure = cpuPressure.stream().sorted().toList();
        md.append(pressure.isEmpty() ? "This kernel does not report CPU pressure: no spare interpreter started.\n\n"
                : String.format(Locale.ROOT, "The host's CPU pressure (`/proc/pressure/cpu` some avg10) at the start "
                        + "of each measured round: p50 %.1f %%, max %.1f %%; %d of %d rounds above %d %%, where a "
                        + "session starts no spare.%n%n", pressure.get(pressure.size() / 2), pressure.getLast(),
                        pressure.stream().filter(p -> p > spareMaxPressure).count(), pressure.size(),
                        spareMaxPressure));
        md.append("| measurement | median | p95 | min | n | median / bare python | median / runc exec | what |\n");
        md.append("|---|---:|---:|---:|---:|---:|---:|---|\n");
        for (Measurement m : measurements) {
            List<Long> s = samples.get(m.name());
            double median = LatencyBenchmark.Report.median(s);
            md.append("| ").append(m.name()).append(" | ").append(LatencyBenchmark.Report.ms(median)).append(" | ")
                    .append(LatencyBenchmark.Report.ms(LatencyBenchmark.Report.percentile(s, 95))).append(" | ")
                    .append(LatencyBenchmark.Report.ms(LatencyBenchmark.Report.percentile(s, 0))).append(" | ")
                    .append(s == null ? 0 : s.size()).append(" | ")
                    .append(LatencyBenchmark.Report.ratio(median, bare)).append(" | ")
                    .append(LatencyBenchmark.Report.ratio(median, exec)).append(" | ").append(m.note()).append(" |\n");
        }
        md.append("\nIssue 11's targets (medians):\n\n");
        for (Map.Entry<String, Double> t : TARGETS.entrySet()) {
            List<Long> s = samples.get(t.getKey());
            if (s == null) {
                md.append("- ").append(t.getKey()).append(" ≤ ").append(t.getValue().intValue())
                        .append(" ms: not measured (runtime not selected)\n");
                continue;
            }
            double median = LatencyBenchmark.Report.median(s);
            md.append(String.format(Locale.ROOT, "- %s ≤ %d ms: %s (median %s ms, p95 %s ms)%n", t.getKey(),
                    t.getValue().intValue(), median <= t.getValue() ? "met" : "**NOT met**",
                    LatencyBenchmark.Report.ms(median),
                    LatencyBenchmark.Report.ms(LatencyBenchmark.Report.percentile(s, 95))));
        }
        md.append("\nWhat the session path adds (difference of medians, ms): ");
        List<String> added = new ArrayList<>();
        for (String runtime : options.runtimes()) {
            double session = LatencyBenchmark.Report.median(samples.get("session exec " + runtime));
            added.add(String.format(Locale.ROOT, "session exec %s %+.1f over bare python, %+.1f over runc exec",
                    runtime, session - bare, session - exec));
        }
        md.append(String.join("; ", added)).append(".\n");
        return md.toString();
    }

    // ------------------------------------------------------------------------------------------------ cleanup

    private synchronized void cleanup() {
        if (cleanedUp) {
            return;
        }
        cleanedUp = true;
        try {
            if (server != null) {
                server.close();
            }
        } catch (Exception e) {
            System.err.println("cleanup: stopping the server: " + e);
        }
        if (api != null) {
            api.close();
        }
        if (services != null) {
            if (services.sessions().openCount() > 0) {
                containersLeft.add(services.sessions().openCount() + " session(s) still open at the end (closed now)");
            }
            try {
                services.close(); // closes open sessions and awaits their teardowns
            } catch (RuntimeException e) {
                System.err.println("cleanup: closing the service: " + e);
            }
            for (String runtime : options.runtimes()) {
                try {
                    OciRuntime oci = (OciRuntime) services.registry().find(runtime).orElseThrow();
                    for (String id : oci.listContainers()) {
                        containersLeft.add(runtime + " container " + id + " (left by the service)");
                        HostCommand.run(oci.command("delete", "--force", id), CMD_TIMEOUT);
                    }
                } catch (IOException | RuntimeException e) {
                    System.err.println("cleanup: " + runtime + " list: " + e.getMessage());
                }
            }
        }
        if (execContainer != null) {
            try {
                HostCommand.run(List.of("runc", "--root", rawRoot.toString(), "delete", "--force", execContainer),
                        CMD_TIMEOUT);
            } catch (IOException e) {
                System.err.println("cleanup: runc delete " + execContainer + ": " + e.getMessage());
            }
            for (Path dir : CgroupReader.host().directories(BundleWriter.cgroupPath(execContainer))) {
                try {
                    Files.deleteIfExists(dir);
                } catch (IOException e) {
                    System.err.println("cleanup: cannot remove cgroup " + dir + ": " + e.getMessage());
                }
            }
        }
        if (rawUids != null && rawUidBase >= 0) {
            rawUids.release(rawUidBase);
        }
        LatencyBenchmark.deleteTree(dataDir);
        LatencyBenchmark.deleteTree(stateDir);
    }

    /** What a run could leave: open sessions, containers, directories, mounts and cgroups named after ours. */
    private List<String> leftovers() {
        List<String> left = new ArrayList<>(containersLeft);
        for (Path dir : List.of(dataDir, stateDir)) {
            if (Files.exists(dir)) {
                left.add(dir.toString());
            }
        }
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mounts"))) {
                String[] f = line.split(" ");
                if (f.length > 1 && (f[1].startsWith(dataDir.toString()) || f[1].startsWith(stateDir.toString()))) {
                    left.add("mount " + f[1]);
                }
            }
            Path root = Path.of("/sys/fs/cgroup");
            List<Path> parents = new ArrayList<>(List.of(root.resolve("mcp-sandbox")));
            try (Stream<Path> controllers = Files.list(root)) {
                controllers.forEach(c -> parents.add(c.resolve("mcp-sandbox")));
            }
            for (Path parent : parents) {
                if (Files.isDirectory(parent)) {
                    try (Stream<Path> children = Files.list(parent)) {
                        children.filter(Files::isDirectory).filter(p -> names.contains(p.getFileName().toString()))
                                .forEach(p -> left.add("cgroup " + p));
                    }
                }
            }
        } catch (IOException e) {
            left.add("(leftover check failed: " + e.getMessage() + ")");
        }
        return left;
    }
}
