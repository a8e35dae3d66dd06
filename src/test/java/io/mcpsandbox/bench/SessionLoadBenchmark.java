package io.mcpsandbox.bench;

import io.mcpsandbox.config.ServerConfig;
import io.mcpsandbox.host.CpuPressure;
import io.mcpsandbox.record.SqliteExecutionStore;
import io.mcpsandbox.runtime.oci.BundleWriter;
import io.mcpsandbox.session.SessionSettings;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Issue 11's load figure: many sessions open at once (default 50, on runc), each running a short execution
 * (python {@code print(1)}) once a second for a while (default 120 s), through REST on a real
 * {@code mcp-sandbox serve --http} in a JVM of its own (the launcher's flags), with {@code java.net.http} as the
 * client. Prints executions done, errors (with why), latency percentiles, memory (the server JVM's Pss/RSS, each
 * sandbox's cgroup and processes, the runtime process that supervises it, MemAvailable) with every session idle
 * before and after the load, and what is left once every session is closed and the server stopped. A program,
 * not a test: run it with {@code bench/session-load.sh}. Needs root, runc and the agent ({@code make -C agent}).
 *
 * <p>The server keeps its default caps and admission limits: sessions are spread over several API keys
 * (users) so that no user holds more than {@code session.max-per-user} (10) sessions, nor more than
 * {@code admission.max-per-user} (16 on 2 cores: a user's executions running or queued beyond it answer 429;
 * {@code --users} overrides, to show exactly that). Each session's executions are
 * ticks of a fixed 1 s clock, started at an offset of its own so that they are spread over the second; a tick
 * missed because the previous execution was still running is counted as late, not run twice.
 */
public final class SessionLoadBenchmark {
    private static final String PREFIX = "mcp-bench-load-";
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final int MAX_PER_USER = 10;
    private static final boolean UNIFIED = ProcFs.UNIFIED;

    record Options(int sessions, int durationSeconds, int intervalMs, String runtime, String program, int users) {
        static Options parse(String[] args) {
            int sessions = 50;
            int duration = 120;
            int interval = 1000;
            String runtime = "runc";
            String program = "python";
            int users = 0;
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--sessions" -> sessions = Integer.parseInt(args[++i]);
                    case "--duration" -> duration = Integer.parseInt(args[++i]);
                    case "--interval-ms" -> interval = Integer.parseInt(args[++i]);
                    case "--runtime" -> runtime = args[++i];
                    case "--program" -> program = args[++i];
                    case "--users" -> users = Integer.parseInt(args[++i]);
                    case "-h", "--help" -> {
                        System.out.println("usage: SessionLoadBenchmark [--sessions N] [--duration SECONDS]"
                                + " [--interval-ms MS] [--runtime runc|runsc] [--program python|true] [--users N]");
                        System.exit(0);
                    }
                    default -> throw new IllegalArgumentException("unknown option " + args[i] + " (try --help)");
                }
            }
            if (sessions < 1 || sessions > 64 || duration < 1 || duration > 1800 || interval < 10 || users < 0
                    || (users > 0 && sessions > users * MAX_PER_USER)) {
                throw new IllegalArgumentException("--sessions 1..64 (session.max-open), --duration 1..1800 s,"
                        + " --interval-ms >= 10, --users N with at most " + MAX_PER_USER + " sessions each");
            }
            if (!program.equals("python") && !program.equals("true")) {
                throw new IllegalArgumentException("--program python|true");
            }
            LatencyBenchmark.flavorOf(runtime); // only the OCI runtimes: a clear error before anything starts
            return new Options(sessions, duration, interval, runtime, program, users);
        }

        String body() {
            return program.equals("python") ? "{\"language\": \"python\", \"code\": \"print(1)\"}"
                    : "{\"command\": [\"true\"]}";
        }

        String expectedStdout() {
            return program.equals("python") ? "1\n" : "";
        }

        /**
         * How many users (API keys) hold the sessions: as given, else as few as the server's defaults allow
         * without refusing anything: at most {@code session.max-per-user} sessions each, and no more than
         * {@code admission.max-per-user} (a user's executions running or queued beyond it answer 429).
         */
        int users(ServerConfig.AdmissionLimits admission) {
            int perUser = Math.min(MAX_PER_USER, admission.maxPerUser());
            return users > 0 ? users : (sessions + perUser - 1) / perUser;
        }
    }

    /** One open session: the key of its owner and its sandbox's name. */
    record Session(String id, String key, String sandboxName) {
    }

    /** Memory with every session idle, in KiB. */
    record Snapshot(String label, long serverPssKb, long serverRssKb, long memAvailableKb, List<Long> cgroupKb,
                    List<Long> cgroupRssKb, List<Long> sandboxPssKb, List<Long> supervisorPssKb) {
    }

    private final Options options;
    private final List<String> keys = new ArrayList<>();
    private final List<Session> sessions = new CopyOnWriteArrayList<>();
    /** Every host process ever seen in or supervising a sandbox: pid -> start time (to tell a reused pid). */
    private final Map<Long, String> seenProcesses = new ConcurrentHashMap<>();
    private ChildServer server;

    private SessionLoadBenchmark(Options options) {
        this.options = options;
    }

    public static void main(String[] args) throws Exception {
        Options options = Options.parse(args);
        if (!"0".equals(String.valueOf(Files.getAttribute(Path.of("/proc/self"), "unix:uid")))) {
            System.err.println("the benchmark needs root (the server mounts, creates cgroups and runs runc)");
            System.exit(2);
        }
        SessionLoadBenchmark bench = new SessionLoadBenchmark(options);
        Thread hook = new Thread(bench::stopServerHard, "bench-cleanup");
        Runtime.getRuntime().addShutdownHook(hook);
        int rc;
        List<String> left = List.of();
        try {
            rc = bench.run();
        } catch (Exception | Error e) {
            System.err.println("benchmark failed: " + e);
            e.printStackTrace();
            System.err.println("server log (tail):\n"
                    + (bench.server == null ? "(not started)" : bench.server.logTail()));
            rc = 1;
        } finally {
            bench.stopServerHard();
            left = bench.leftovers();
            bench.reapAndDelete(!left.isEmpty());
            Runtime.getRuntime().removeShutdownHook(hook);
        }
        if (left.isEmpty()) {
            System.out.println("leftovers: none (no open session, container, bundle, mount, cgroup, sandbox process"
                    + " or directory)");
        } else {
            System.out.println("leftovers: LEFT BEHIND (removed now by a reap): " + left);
            rc = rc == 0 ? 3 : rc;
        }
        System.exit(rc);
    }

    // ------------------------------------------------------------------------------------------------ run

    private int run() throws Exception {
        LatencyBenchmark.Machine machine = LatencyBenchmark.Machine.describe();
        System.out.println("machine: " + machine.oneLine());
        long availBefore = memAvailableKb();
        startServer();
        long serverPid = server.pid();
        Thread.sleep(2000); // the server's start-up work (its runtime checks) settles
        long[] serverIdle = ProcFs.smaps(serverPid);
        long availServer = memAvailableKb();

        List<Long> creates = new ArrayList<>();
        for (int i = 0; i < options.sessions(); i++) {
            String key = keys.get(i % keys.size());
            long t0 = System.nanoTime();
            HttpResponse<String> r = send(key, "POST", "/v1/sessions", "{\"runtime\": \"" + options.runtime()
                    + "\", \"idleTimeoutSeconds\": " + (options.durationSeconds() + 600) + "}");
            creates.add(System.nanoTime() - t0);
            if (r.statusCode() != 201) {
                throw new IllegalStateException("session create " + (i + 1) + ": " + r.statusCode() + " " + r.body());
            }
            String id = JSON.readTree(r.body()).path("sessionId").asString();
            sessions.add(new Session(id, key, sandboxOf(id)));
        }
        System.out.printf(Locale.ROOT, "%d sessions open on %s over %d users (create p50 %s ms)%n",
                sessions.size(), options.runtime(), keys.size(),
                LatencyBenchmark.Report.ms(LatencyBenchmark.Report.median(creates)));
        Thread.sleep(3000);
        Snapshot before = snapshot("idle, before the load", serverPid);

        LoadResult load = runLoad(serverPid);

        Thread.sleep(3000);
        Snapshot after = snapshot("idle, after the load", serverPid);

        for (Session s : sessions) {
            HttpResponse<String> r = send(s.key(), "DELETE", "/v1/sessions/" + s.id(), null);
            if (r.statusCode() != 200) {
                throw new IllegalStateException("session close " + s.id() + ": " + r.statusCode() + " " + r.body());
            }
        }
        int listed = 0;
        for (String key : keys) {
            listed += JSON.readTree(send(key, "GET", "/v1/sessions", null).body()).path("sessions").size();
        }
        boolean stopped = server.stop(); // SIGTERM: the server stops as an operator would stop it
        Thread.sleep(1000);
        long availEnd = memAvailableKb();

        System.out.println();
        System.out.println(render(machine, creates, load, before, after, availBefore, availServer, serverIdle,
                availEnd, listed, stopped));
        return load.errors.get() == 0 && listed == 0 && stopped ? 0 : 1;
    }

    // ------------------------------------------------------------------------------------------------ server

    private void startServer() throws Exception {
        server = new ChildServer(PREFIX, Map.of());
        ServerConfig.AdmissionLimits admission = ServerConfig.machineDefaults(Runtime.getRuntime()
                .availableProcessors(), totalMemoryBytes(), server.config().defaultLimits().memoryBytes());
        System.out.printf(Locale.ROOT, "server: default caps (session.max-open 64, session.max-per-user %d) and "
                        + "admission (max-concurrent %d, max-per-user %d, queue %d, queue-timeout %d s); %d users%n",
                MAX_PER_USER, admission.maxConcurrent(), admission.maxPerUser(), admission.queueSize(),
                admission.queueTimeout().toSeconds(), options.users(admission));
        List<String> apiKeys = new ArrayList<>();
        for (int u = 0; u < options.users(admission); u++) {
            String key = "load-" + UUID.randomUUID().toString().replace("-", "");
            keys.add(key);
            apiKeys.add(key + ":load-user-" + u);
        }
        server.start(apiKeys);
    }

    private HttpResponse<String> send(String key, String method, String path, String json) throws Exception {
        return server.send(key, method, path, json);
    }

    // ------------------------------------------------------------------------------------------------ load

    /** What the load phase measured. */
    static final class LoadResult {
        final List<Long> latencies = Collections.synchronizedList(new ArrayList<>());
        /** The latencies of each session's executions from {@link #SETTLED} after its first on. */
        final List<Long> settledLatencies = Collections.synchronizedList(new ArrayList<>());
        final AtomicLong errors = new AtomicLong();
        final AtomicLong late = new AtomicLong();
        final Map<String, AtomicLong> errorKinds = new ConcurrentHashMap<>();
        final List<String> firstErrors = new CopyOnWriteArrayList<>();
        long maxServerRssKb;
        /** CPU used during the load, ns: the server JVM, all sandboxes' cgroups, this client JVM. */
        long serverCpuNanos;
        long sandboxCpuNanos;
        long clientCpuNanos;
        /** The share of the host's CPU time that was busy during the load (anyone's work). */
        double hostBusy;
        long maxServerPssKb;
        long minAvailableKb = Long.MAX_VALUE;
        String loadAtStart;
        String loadAtEnd;
        /** The host's CPU pressure (some avg10, %) sampled each second of the load: what spare interpreters see. */
        final List<Double> cpuPressure = new ArrayList<>();
        double seconds;

        void error(String kind, String detail) {
            errors.incrementAndGet();
            errorKinds.computeIfAbsent(kind, k -> new AtomicLong()).incrementAndGet();
            if (firstErrors.size() < 5) {
                firstErrors.add(kind + ": " + detail);
            }
        }
    }

    private LoadResult runLoad(long serverPid) throws Exception {
        LoadResult result = new LoadResult();
        result.loadAtStart = LatencyBenchmark.Machine.loadAverage();
        long server0 = processCpuNanos(serverPid);
        long client0 = processCpuNanos(ProcessHandle.current().pid());
        long sandboxes0 = sandboxCpuNanos();
        long[] host0 = hostCpuTicks();
        long interval = TimeUnit.MILLISECONDS.toNanos(options.intervalMs());
        long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(500);
        long end = start + TimeUnit.SECONDS.toNanos(options.durationSeconds());
        System.out.printf(Locale.ROOT, "load: every session runs %s every %d ms for %d s...%n",
                options.program().equals("python") ? "python print(1)" : "true", options.intervalMs(),
                options.durationSeconds());
        List<Thread> workers = new ArrayList<>();
        for (int i = 0; i < sessions.size(); i++) {
            Session s = sessions.get(i);
            long offset = interval * i / sessions.size();
            workers.add(Thread.ofVirtual().name("load-" + i).start(() -> drive(s, start + offset, end, interval,
                    result)));
        }
        long nextReport = start + TimeUnit.SECONDS.toNanos(10);
        while (workers.stream().anyMatch(Thread::isAlive)) {
            long[] mem = ProcFs.smaps(serverPid);
            result.maxServerPssKb = Math.max(result.maxServerPssKb, mem[0]);
            result.maxServerRssKb = Math.max(result.maxServerRssKb, mem[1]);
            result.minAvailableKb = Math.min(result.minAvailableKb, memAvailableKb());
            OptionalDouble pressure = CpuPressure.host().someAvg10();
            pressure.ifPresent(result.cpuPressure::add);
            if (System.nanoTime() > nextReport) {
                System.out.printf(Locale.ROOT, "  %3.0f s: %d executions, %d errors, %d late ticks, server RSS %d MiB,"
                                + " load %s, CPU pressure %s%n", (System.nanoTime() - start) / 1e9,
                        result.latencies.size(), result.errors.get(), result.late.get(), mem[1] / 1024,
                        LatencyBenchmark.Machine.loadAverage(), pressure.isEmpty() ? "unknown"
                                : String.format(Locale.ROOT, "%.1f%%", pressure.getAsDouble()));
                nextReport += TimeUnit.SECONDS.toNanos(10);
            }
            Thread.sleep(1000);
        }
        for (Thread t : workers) {
            t.join();
        }
        result.seconds = (System.nanoTime() - start) / 1e9;
        result.loadAtEnd = LatencyBenchmark.Machine.loadAverage();
        result.serverCpuNanos = processCpuNanos(serverPid) - server0;
        result.clientCpuNanos = processCpuNanos(ProcessHandle.current().pid()) - client0;
        result.sandboxCpuNanos = sandboxCpuNanos() - sandboxes0;
        long[] host1 = hostCpuTicks();
        result.hostBusy = host1[1] == host0[1] ? Double.NaN
                : 1 - (double) (host1[0] - host0[0]) / (host1[1] - host0[1]);
        return result;
    }

    /**
     * How long after a session's first execution {@link LoadResult#settledLatencies} count: the sessions' first
     * executions all come within the load's first second, with what each session starts after its first (a
     * spare interpreter), and that burst is not the steady state.
     */
    static final Duration SETTLED = Duration.ofSeconds(5);

    /** One session's executions: one per tick until {@code end}; ticks passed while one ran are late. */
    private void drive(Session s, long first, long end, long interval, LoadResult result) {
        long settledFrom = first + SETTLED.toNanos();
        long tick = first;
        while (tick < end) {
            long wait = tick - System.nanoTime();
            if (wait > 0) {
                try {
                    Thread.sleep(Duration.ofNanos(wait));
                } catch (InterruptedException e) {
                    return;
                }
            }
            long t0 = System.nanoTime();
            try {
                HttpResponse<String> r = send(s.key(), "POST", "/v1/sessions/" + s.id() + "/executions",
                        options.body());
                long took = System.nanoTime() - t0;
                JsonNode body = r.statusCode() == 200 ? JSON.readTree(r.body()) : null;
                if (body == null) {
                    result.error("HTTP " + r.statusCode(), s.id() + " " + r.body());
                } else if (!"completed".equals(body.path("status").asString()) || body.path("exitCode").asInt(-1) != 0
                        || !options.expectedStdout().equals(body.path("stdout").asString())) {
                    result.error("status " + body.path("status").asString(), s.id() + " " + r.body());
                } else {
                    result.latencies.add(took);
                    if (t0 >= settledFrom) {
                        result.settledLatencies.add(took);
                    }
                }
            } catch (Exception e) {
                result.error(e.getClass().getSimpleName(), s.id() + " " + e.getMessage());
            }
            long next = tick + interval;
            long now = System.nanoTime();
            while (next < now && next < end) {
                result.late.incrementAndGet();
                next += interval;
            }
            tick = next;
        }
    }

    // ------------------------------------------------------------------------------------------------ memory

    private Snapshot snapshot(String label, long serverPid) throws IOException {
        long[] server = ProcFs.smaps(serverPid);
        List<Long> cgroup = new ArrayList<>();
        List<Long> cgroupRss = new ArrayList<>();
        List<Long> inside = new ArrayList<>();
        List<Long> supervisors = new ArrayList<>();
        for (Session s : sessions) {
            Path dir = ProcFs.memoryCgroup(s.sandboxName());
            cgroup.add(number(dir.resolve(UNIFIED ? "memory.current" : "memory.usage_in_bytes")) / 1024);
            cgroupRss.add(ProcFs.keyed(dir.resolve("memory.stat"), UNIFIED ? "anon" : "total_rss") / 1024);
            List<Long> in = ProcFs.pidsIn(dir);
            inside.add(in.stream().mapToLong(pid -> ProcFs.smaps(pid)[0]).sum());
            List<Long> sup = ProcFs.processesNaming(s.sandboxName()).stream().filter(p -> !in.contains(p)).toList();
            supervisors.add(sup.stream().mapToLong(pid -> ProcFs.smaps(pid)[0]).sum());
            in.forEach(this::remember);
            sup.forEach(this::remember);
        }
        return new Snapshot(label, server[0], server[1], memAvailableKb(), cgroup, cgroupRss, inside, supervisors);
    }

    /** utime + stime of a process (its threads; not its children), ns; USER_HZ is 100 on Linux. */
    private static long processCpuNanos(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10_000_000L;
        } catch (IOException | RuntimeException gone) {
            return 0;
        }
    }

    /**
     * The sandbox a session runs in, as its record says (read-only from the server's SQLite file): its own
     * ({@code mcp-exec-<session id>}) or one a warm pool started ahead under a name of the pool's.
     */
    private String sandboxOf(String sessionId) throws java.sql.SQLException {
        String url = "jdbc:sqlite:file:" + server.dataDir().resolve(SqliteExecutionStore.FILE_NAME) + "?mode=ro";
        try (java.sql.Connection c = java.sql.DriverManager.getConnection(url);
             java.sql.PreparedStatement q = c.prepareStatement(
                     "SELECT sandbox_name FROM sessions WHERE session_id = ?")) {
            q.setString(1, sessionId);
            try (java.sql.ResultSet r = q.executeQuery()) {
                if (!r.next() || r.getString(1) == null) {
                    throw new IllegalStateException("no record says which sandbox session " + sessionId + " runs in");
                }
                return r.getString(1);
            }
        }
    }

    /** CPU time used so far by every session's sandbox cgroup, ns. */
    private long sandboxCpuNanos() {
        long sum = 0;
        for (Session s : sessions) {
            String rel = BundleWriter.cgroupPath(s.sandboxName()).substring(1);
            sum += UNIFIED
                    ? ProcFs.keyed(Path.of("/sys/fs/cgroup").resolve(rel).resolve("cpu.stat"), "usage_usec") * 1000
                    : number(Path.of("/sys/fs/cgroup/cpuacct").resolve(rel).resolve("cpuacct.usage"));
        }
        return sum;
    }

    /** The host's idle (idle + iowait) and total CPU ticks from /proc/stat. */
    private static long[] hostCpuTicks() {
        try (Stream<String> lines = Files.lines(Path.of("/proc/stat"))) {
            String[] f = lines.filter(l -> l.startsWith("cpu ")).findFirst().orElseThrow().trim().split("\\s+");
            long total = 0;
            for (int i = 1; i < f.length && i <= 8; i++) {
                total += Long.parseLong(f[i]);
            }
            return new long[] {Long.parseLong(f[4]) + Long.parseLong(f[5]), total};
        } catch (IOException | RuntimeException e) {
            return new long[] {0, 0};
        }
    }

    private void remember(long pid) {
        String start = ProcFs.startTimeOf(pid);
        if (start != null) {
            seenProcesses.put(pid, start);
        }
    }

    private static long memAvailableKb() {
        return ProcFs.keyed(Path.of("/proc/meminfo"), "MemAvailable:");
    }

    private static long totalMemoryBytes() {
        return ProcFs.keyed(Path.of("/proc/meminfo"), "MemTotal:") * 1024;
    }

    private static long number(Path file) {
        try {
            return Long.parseLong(Files.readString(file).trim());
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
    }

    // ------------------------------------------------------------------------------------------------ report

    private String render(LatencyBenchmark.Machine machine, List<Long> creates, LoadResult load, Snapshot before,
                          Snapshot after, long availBefore, long availServer, long[] serverIdle, long availEnd,
                          int listed, boolean stopped) {
        StringBuilder md = new StringBuilder();
        int n = sessions.size();
        md.append("Measured ").append(machine.date()).append(" on ").append(machine.nproc()).append(" CPUs (")
                .append(machine.cpu()).append("), Linux ").append(machine.kernel()).append(", cgroup ")
                .append(machine.cgroups()).append(", ").append(machine.runc()).append(", ").append(machine.java())
                .append(". Load average (1/5/15 min) at the load's start ").append(load.loadAtStart)
                .append(", at its end ").append(load.loadAtEnd).append(".\n\n");
        long done = load.latencies.size();
        md.append(String.format(Locale.ROOT, "%d sessions on %s (%d users), each %s every %d ms for %d s: "
                        + "**%d executions in %.0f s (%.1f/s), %d errors**, %d late ticks (a tick that came while the "
                        + "session's previous execution still ran, skipped).%n%n", n, options.runtime(), keys.size(),
                options.program().equals("python") ? "python `print(1)`" : "`true`", options.intervalMs(),
                options.durationSeconds(), done, load.seconds, done / load.seconds, load.errors.get(),
                load.late.get()));
        if (load.errors.get() > 0) {
            md.append("Errors by kind: ").append(load.errorKinds).append("; the first: ").append(load.firstErrors)
                    .append("\n\n");
        }
        long all = done + load.errors.get();
        if (all > 0) {
            double cores = Runtime.getRuntime().availableProcessors();
            double perExec = (load.serverCpuNanos + load.sandboxCpuNanos) / 1e6 / all;
            md.append(String.format(Locale.ROOT, "CPU during the load, per execution answered: server JVM %.1f ms, "
                            + "sandboxes (their cgroups) %.1f ms, this client %.1f ms; server and sandboxes together "
                            + "%.1f ms, so %d CPUs give at most about %.0f executions/s. The host's CPUs were %.0f%% "
                            + "busy during the load (everyone's work; ours is %.0f%% of its CPU time).%n%n",
                    load.serverCpuNanos / 1e6 / all, load.sandboxCpuNanos / 1e6 / all, load.clientCpuNanos / 1e6 / all,
                    perExec, (int) cores, cores * 1000 / perExec, load.hostBusy * 100,
                    (load.serverCpuNanos + load.sandboxCpuNanos + load.clientCpuNanos) / 1e9
                            / (cores * load.seconds) * 100));
        }
        SessionSettings spares = SessionSettings.from(server.config().settings());
        List<Double> pressure = load.cpuPressure.stream().sorted().toList();
        md.append(String.format(Locale.ROOT, "Spare interpreters %s. The host's CPU pressure (`/proc/pressure/cpu` "
                        + "some avg10) sampled each second of the load: %s.%n%n",
                !spares.spareInterpreters() ? "off"
                        : spares.spareMaxCpuPressure() >= 100 ? "on whatever the host's CPU pressure"
                        : "on while the host's CPU pressure is at most " + spares.spareMaxCpuPressure() + " %",
                pressure.isEmpty() ? "not reported by this kernel" : String.format(Locale.ROOT,
                        "p50 %.1f %%, max %.1f %%", pressure.get(pressure.size() / 2), pressure.getLast())));
        md.append("| latency (ms) | p50 | p95 | p99 | max | n |\n|---|---:|---:|---:|---:|---:|\n");
        row(md, "execution in a session (`POST /v1/sessions/{id}/executions`)", load.latencies);
        row(md, "the same, each session's from " + SETTLED.toSeconds() + " s after its first on (the first second's "
                + "burst left out)", load.settledLatencies);
        row(md, "session create, one at a time before the load", creates);
        md.append("\nMemory (KiB unless said; per session: mean, min–max over the ").append(n)
                .append(" sessions):\n\n");
        md.append("| | ").append(before.label()).append(" | ").append(after.label()).append(" |\n|---|---:|---:|\n");
        md.append("| sandbox cgroup, ").append(UNIFIED ? "memory.current" : "memory.usage_in_bytes")
                .append(" (includes its tmpfs and page cache) | ").append(stats(before.cgroupKb())).append(" | ")
                .append(stats(after.cgroupKb())).append(" |\n");
        md.append("| sandbox cgroup, ").append(UNIFIED ? "anon" : "total_rss").append(" | ")
                .append(stats(before.cgroupRssKb())).append(" | ").append(stats(after.cgroupRssKb())).append(" |\n");
        md.append("| processes in the sandbox (the agent), Pss | ").append(stats(before.sandboxPssKb())).append(" | ")
                .append(stats(after.sandboxPssKb())).append(" |\n");
        md.append("| its `").append(options.runtime()).append(" run` process on the host, Pss | ")
                .append(stats(before.supervisorPssKb())).append(" | ").append(stats(after.supervisorPssKb()))
                .append(" |\n");
        md.append(String.format(Locale.ROOT, "| server JVM Pss / RSS, MiB (%d / %d with no session) | %d / %d | "
                        + "%d / %d |%n", serverIdle[0] / 1024, serverIdle[1] / 1024, before.serverPssKb() / 1024,
                before.serverRssKb() / 1024, after.serverPssKb() / 1024, after.serverRssKb() / 1024));
        md.append(String.format(Locale.ROOT, "| server JVM per session: (Pss with sessions − without) / %d | %d | "
                        + "%d |%n", n, (before.serverPssKb() - serverIdle[0]) / n,
                (after.serverPssKb() - serverIdle[0]) / n));
        md.append(String.format(Locale.ROOT, "| host MemAvailable, MiB (%d before the server, %d with it and no "
                        + "session) | %d | %d |%n", availBefore / 1024, availServer / 1024,
                before.memAvailableKb() / 1024, after.memAvailableKb() / 1024));
        md.append(String.format(Locale.ROOT, "| host per session: (MemAvailable with no session − with them) / %d"
                        + " | %d | %d |%n", n, (availServer - before.memAvailableKb()) / n,
                (availServer - after.memAvailableKb()) / n));
        md.append(String.format(Locale.ROOT, "%nDuring the load: server RSS at most %d MiB (Pss %d MiB), MemAvailable "
                        + "at least %d MiB. After every session was closed (`GET /v1/sessions` of every user lists %d) "
                        + "and the server stopped by SIGTERM (%s): MemAvailable %d MiB (%+d MiB against before the "
                        + "server; other people's work on this machine moves it too).%n",
                load.maxServerRssKb / 1024, load.maxServerPssKb / 1024, load.minAvailableKb / 1024, listed,
                stopped ? "it exited" : "**it did not exit in 120 s**", availEnd / 1024,
                (availEnd - availBefore) / 1024));
        return md.toString();
    }

    private static void row(StringBuilder md, String what, List<Long> nanos) {
        List<Long> s = new ArrayList<>(nanos);
        md.append("| ").append(what).append(" | ").append(LatencyBenchmark.Report.ms(LatencyBenchmark.Report.median(s)))
                .append(" | ").append(LatencyBenchmark.Report.ms(LatencyBenchmark.Report.percentile(s, 95)))
                .append(" | ").append(LatencyBenchmark.Report.ms(LatencyBenchmark.Report.percentile(s, 99)))
                .append(" | ").append(LatencyBenchmark.Report.ms(LatencyBenchmark.Report.percentile(s, 100)))
                .append(" | ").append(s.size()).append(" |\n");
    }

    private static String stats(List<Long> kb) {
        if (kb.isEmpty()) {
            return "–";
        }
        long min = kb.stream().mapToLong(Long::longValue).min().orElse(0);
        long max = kb.stream().mapToLong(Long::longValue).max().orElse(0);
        double mean = kb.stream().mapToLong(Long::longValue).average().orElse(0);
        return String.format(Locale.ROOT, "%.0f (%d–%d)", mean, min, max);
    }

    // ------------------------------------------------------------------------------------------------ cleanup

    private void stopServerHard() {
        if (server != null) {
            server.stopHard();
        }
    }

    /** What the run left: containers, bundles, mounts, cgroups named after its sessions, their processes. */
    private List<String> leftovers() {
        List<String> left = new ArrayList<>();
        try {
            if (server != null) {
                left.addAll(server.leftovers());
            }
            for (Session s : sessions) {
                for (Path dir : io.mcpsandbox.host.CgroupReader.host().directories(BundleWriter.cgroupPath(
                        s.sandboxName()))) {
                    if (Files.isDirectory(dir)) {
                        left.add("cgroup " + dir);
                    }
                }
                ProcFs.processesNaming(s.sandboxName()).forEach(pid -> left.add("process " + pid + " naming "
                        + s.sandboxName()));
            }
            seenProcesses.forEach((pid, start) -> {
                if (start.equals(ProcFs.startTimeOf(pid))) {
                    left.add("sandbox process " + pid);
                }
            });
        } catch (IOException | RuntimeException e) {
            left.add("(leftover check failed: " + e + ")");
        }
        return left;
    }

    /** Reaps what a failed run left (the project's own reaper, same directories), then removes the directories. */
    private void reapAndDelete(boolean reap) {
        if (server != null) {
            server.reapAndDelete(reap);
        }
    }
}
