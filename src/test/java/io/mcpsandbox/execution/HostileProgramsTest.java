package io.mcpsandbox.execution;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.testing.DockerDaemon;
import io.mcpsandbox.testing.LoopbackPeer;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiConsumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The project's hostile suite: programs that try to break one limit each, run on every runtime usable
 * here. Each check would fail if the limit it names were missing. The results table is written to
 * target/hostile-results.md (docs/security.md holds a copy).
 */
@SystemTest
class HostileProgramsTest {
    /**
     * A runtime written with this suffix ("runc+pool") runs its case in a sandbox a warm pool started ahead (issue
     * 12): the programs must meet the same walls there. Cases that ask for their own memory, CPUs or pids would
     * start cold (the pool's sandboxes have the defaults), so they run cold only.
     */
    private static final String POOLED = "+pool";
    private static final List<String> POOLED_RUNTIMES = List.of("runc", "runsc", "microvm");
    /**
     * Runtimes whose poolable cases run from the pool only: a microVM boots for ~5 s of a core under TCG, and the
     * pool boots the next ones while a case runs (cold microVMs: MicrovmSystemTest, the runtime contract, and the
     * cases here that set their own limits).
     */
    private static final List<String> POOLED_ONLY = List.of("microvm");
    private static final int MICROVM_POOL_SIZE = 2;
    private static TestSandbox sandbox;
    private static TestSandbox pooledSandbox;
    private static final Map<String, Map<String, String>> results = new ConcurrentHashMap<>();

    /** A hostile program, the limit it attacks, and the check that the limit held. */
    record Hostile(String name, String limit, ExecutionRequest.Builder request,
                   BiConsumer<ExecutionResult, Context> contained) {
        @Override
        public String toString() {
            return name;
        }
    }

    /** What a check may need besides the result: host-side fixtures prepared for the program. */
    record Context(String runtime, String marker, Path canary, String canarySecret, int loopbackPort) {
    }

    @BeforeAll
    static void start() {
        sandbox = TestSandbox.boundaryOnly();
        pooledSandbox = TestSandbox.start(Map.of("MCP_SANDBOX_POLICY_MODE", "report",
                "MCP_SANDBOX_POOL_SANDBOXES", String.join(",", POOLED_RUNTIMES.stream().map(r -> r + ":host="
                        + (POOLED_ONLY.contains(r) ? MICROVM_POOL_SIZE : 1))
                        .toList())));
        pooledSandbox.services().startPools();
    }

    @AfterAll
    static void stop() throws IOException {
        try {
            sandbox.close();
            pooledSandbox.services().pool().close();
            pooledSandbox.assertNothingLeftBehind();
        } finally {
            pooledSandbox.close();
        }
        writeTable();
    }

    @AfterEach
    void nothingLeftBehind() throws IOException {
        sandbox.assertNothingLeftBehind();
        pooledSandbox.assertNothingLeftBehind();
    }

    /** Whether a case's sandbox can come from a pool: it sets no sandbox-wide limit of its own. */
    private static boolean poolable(Hostile h) {
        LimitsRequest limits = h.request().build().limits();
        return limits.memoryBytes() == null && limits.cpus() == null && limits.pids() == null;
    }

    static Stream<Arguments> cases() throws Exception {
        DockerDaemon.ensureRunning();
        TestSandbox probe = TestSandbox.start();
        List<String> runtimes;
        try {
            runtimes = probe.services().verifyRuntimes().stream().filter(RuntimeInfo::usable).map(RuntimeInfo::name)
                    .toList();
        } finally {
            try {
                probe.close();
            } catch (IOException ignored) {
                // directories of the probe only
            }
        }
        // .ci/run installs these: the suite must fail, not shrink, when one is missing.
        assertThat(runtimes).as("usable runtimes").containsAll(TestSandbox.ALL_RUNTIMES).contains("microvm");
        List<Arguments> cases = new ArrayList<>();
        // -Dhostile.only=REGEX runs the programs whose name matches (while working on a few of them)
        java.util.regex.Pattern only = java.util.regex.Pattern.compile(System.getProperty("hostile.only", ".*"));
        // -Dhostile.runtimes=REGEX: on the runtimes whose name matches
        java.util.regex.Pattern on = java.util.regex.Pattern.compile(System.getProperty("hostile.runtimes", ".*"));
        runtimes = runtimes.stream().filter(r -> on.matcher(r).matches()).toList();
        for (Hostile h : programs()) {
            if (!only.matcher(h.name()).find()) {
                continue;
            }
            for (String runtime : runtimes) {
                if (!(poolable(h) && POOLED_ONLY.contains(runtime))) {
                    cases.add(Arguments.of(h, runtime));
                }
            }
            if (poolable(h)) {
                POOLED_RUNTIMES.stream().filter(r -> on.matcher(r).matches())
                        .forEach(r -> cases.add(Arguments.of(h, r + POOLED)));
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("cases")
    void isContained(Hostile hostile, String label) throws Exception {
        boolean fromPool = label.endsWith(POOLED);
        String runtime = fromPool ? label.substring(0, label.length() - POOLED.length()) : label;
        TestSandbox target = fromPool ? pooledSandbox : sandbox;
        if (fromPool) {
            io.mcpsandbox.pool.PoolKey key = new io.mcpsandbox.pool.PoolKey(runtime, "host", null);
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(60))
                    .pollInterval(java.time.Duration.ofMillis(50)).until(() ->
                            pooledSandbox.services().pool().status(key).orElseThrow().ready() >= 1);
        }
        String marker = "hostile-" + UUID.randomUUID();
        String secret = UUID.randomUUID().toString();
        Path canary = Files.createTempFile("canary-", ".txt");
        Files.writeString(canary, secret);
        try (ServerSocket listener = listenerOutsideEphemeralPorts()) {
            // Looked at only after the program and everything it left are gone: a connection it made is then
            // already in the backlog, so a short wait sees it (a 500 ms wait cost 4 minutes over the suite).
            listener.setSoTimeout(5);
            Context ctx = new Context(runtime, marker, canary, secret, listener.getLocalPort());
            ExecutionRequest request = hostile.request().runtime(runtime)
                    .env("MARKER", marker).env("CANARY", canary.toString())
                    .env("PORT", Integer.toString(listener.getLocalPort())).build();
            ExecutionResult result = target.run(request);
            try {
                assertThat(result.pooled()).as("from the pool").isEqualTo(fromPool);
                hostile.contained().accept(result, ctx);
                assertThat(result.stdout() + result.stderr()).as("the canary's secret").doesNotContain(secret);
                // After teardown: a planted symlink must not make the cleanup touch host files.
                target.services().executions().awaitTeardowns(java.time.Duration.ofSeconds(30));
                assertThat(Files.readString(canary)).as("the host canary is untouched").isEqualTo(secret);
                assertThat(TestSandbox.hostProcessesWith(marker)).as("processes left on the host").isEmpty();
                assertNoConnection(listener);
                results.computeIfAbsent(hostile.name(), k -> new TreeMap<>()).put(label, "held: " + outcome(result));
            } catch (AssertionError e) {
                results.computeIfAbsent(hostile.name(), k -> new TreeMap<>()).put(label, "**BROKEN**");
                throw new AssertionError(hostile.name() + " on " + label + " (" + outcome(result) + ", stdout="
                        + abbreviate(result.stdout()) + ", stderr=" + abbreviate(result.stderr()) + "): "
                        + e.getMessage(), e);
            }
        } finally {
            Files.deleteIfExists(canary);
        }
    }

    static Stream<String> runtimes() {
        return TestSandbox.ALL_RUNTIMES.stream();
    }

    /**
     * The kernel charges a runc sandbox's inotify instances to host root as well: while a sandbox holds all
     * it can get, root (this JVM) must still be able to create one.
     */
    @ParameterizedTest(name = "the host keeps inotify while a sandbox holds its max, on {0}")
    @MethodSource("runtimes")
    void hostKeepsInotifyWhileASandboxHoldsItsMax(String runtime) throws Exception {
        java.util.concurrent.atomic.AtomicLong printed = new java.util.concurrent.atomic.AtomicLong();
        ExecutionRequest request = py(INOTIFY_LOOP).runtime(runtime).env("HOLD", "20")
                .limits(limits(60_000, null, null, null, null)).build();
        var submission = sandbox.services().executions().submit(request, (elapsed, bytes) -> printed.set(bytes));
        // "trying inotify", "instances N errno E" and "holding": the instances are held from here on
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(40);
        while (printed.get() < 44 && !submission.result().isDone() && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        assertThat(submission.result().isDone()).as("the program still holds its instances").isFalse();
        assertThat(printed.get()).as("the program reported holding its instances").isGreaterThanOrEqualTo(44);
        String host;
        try (java.nio.file.WatchService w = java.nio.file.FileSystems.getDefault().newWatchService()) {
            host = "host root got an inotify instance";
        }
        sandbox.services().executions().terminate(submission.executionId());
        ExecutionResult result = submission.result().get(60, java.util.concurrent.TimeUnit.SECONDS);
        int[] instances = counted(result, "instances");
        assertThat(result.stdout()).contains("holding\n");
        assertThat(instances[1]).as("EMFILE").isEqualTo(24);
        if (runtime.equals("runc")) {
            assertThat(instances[0]).isEqualTo(io.mcpsandbox.runtime.oci.BundleWriter.MAX_INOTIFY_INSTANCES);
        }
        results.computeIfAbsent("host inotify while a sandbox holds its max", k -> new TreeMap<>())
                .put(runtime, "held: sandbox " + instances[0] + ", " + host);
    }

    /**
     * A listener on the host's loopback at a port below the kernel's ephemeral range: every server of the suite takes
     * an ephemeral port, so a client of an earlier test that reconnects to one (a store probing a Redis that is gone)
     * never lands here. The hostile program is told the port.
     */
    private static ServerSocket listenerOutsideEphemeralPorts() throws IOException {
        String[] range = Files.readString(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).trim().split("\\s+");
        int first = Integer.parseInt(range[0]);
        java.util.Random random = new java.util.Random();
        for (int tries = 0; first > 10_001 && tries < 50; tries++) {
            try {
                return new ServerSocket(10_000 + random.nextInt(first - 10_000), 50, InetAddress.getLoopbackAddress());
            } catch (java.net.BindException taken) {
                // another try
            }
        }
        return new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    }

    /**
     * Nothing reached the listener, this JVM's own connections apart: a client of an earlier test that reconnects to
     * a port the kernel handed out again to this listener is no sandbox (no sandbox process holds a socket of this
     * JVM). Any other connection fails the case, naming the process that made it.
     */
    private static void assertNoConnection(ServerSocket listener) throws IOException {
        while (true) {
            Optional<LoopbackPeer.Owner> owner;
            try (Socket accepted = listener.accept()) {
                owner = LoopbackPeer.of(accepted);
            } catch (SocketTimeoutException expected) {
                return; // nothing arrived
            }
            if (owner.isEmpty() || !owner.get().thisProcess()) {
                throw new AssertionError("a sandbox reached the listener on the host's loopback (from "
                        + owner.map(LoopbackPeer.Owner::toString).orElse("a process no longer found") + ")");
            }
        }
    }

    private static String outcome(ExecutionResult r) {
        return r.status().wireName() + (r.exitCode() == null ? "" : " " + r.exitCode());
    }

    private static String abbreviate(String s) {
        return s.length() <= 300 ? s : s.substring(0, 300) + "...";
    }

    // ---------------------------------------------------------------------------------------------------

    private static ExecutionRequest.Builder py(String code) {
        return ExecutionRequest.builder().language("python").code(code)
                .limits(new LimitsRequest(20_000L, null, null, null, null));
    }

    private static ExecutionRequest.Builder sh(String script) {
        return ExecutionRequest.builder().command("sh", "-c", script)
                .limits(new LimitsRequest(20_000L, null, null, null, null));
    }

    private static LimitsRequest limits(long timeoutMs, Long memory, Double cpus, Integer pids, Long output) {
        return new LimitsRequest(timeoutMs, memory, cpus, pids, output);
    }

    /**
     * A python helper: each attempt prints "trying NAME" first, then "NAME denied errno=N" or "NAME ALLOWED",
     * so a check sees that the program ran, made the attempt and how it was refused.
     */
    private static final String SYSCALL = """
            import ctypes, os
            libc = ctypes.CDLL(None, use_errno=True)
            def attempt(name, nr, *args):
                print("trying", name, flush=True)
                r = libc.syscall(nr, *args)
                print(name, "ALLOWED" if r >= 0 else "denied errno=%d" % ctypes.get_errno(), flush=True)
            def attempt_py(name, fn):
                print("trying", name, flush=True)
                try:
                    fn()
                    print(name, "ALLOWED", flush=True)
                except OSError as e:
                    print(name, "denied errno=%d" % e.errno, flush=True)
            """;

    static final int EPERM = 1;
    static final int ENOENT = 2;
    static final int EACCES = 13;

    private static Hostile syscall(String name, String limit, String call) {
        return new Hostile(name, limit, py(SYSCALL + call), refused(EPERM));
    }

    /**
     * Positive evidence: the program completed, made at least one attempt, and every attempt it announced was
     * refused with one of {@code errnos} (none is empty: any errno).
     */
    static BiConsumer<ExecutionResult, Context> refused(int... errnos) {
        return (r, c) -> {
            assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
            List<String> lines = r.stdout().lines().toList();
            List<String> tried = lines.stream().filter(l -> l.startsWith("trying ")).map(l -> l.substring(7)).toList();
            assertThat(tried).as("attempts the program announced").isNotEmpty();
            if (c.runtime().equals("microvm")) {
                guestKernelOnly(r, tried);
                return;
            }
            assertThat(r.stdout()).doesNotContain("ALLOWED");
            for (String name : tried) {
                String prefix = name + " denied errno=";
                String line = lines.stream().filter(l -> l.startsWith(prefix)).findFirst()
                        .orElseThrow(() -> new AssertionError("no refusal reported for " + name));
                int errno = Integer.parseInt(line.substring(prefix.length()).trim());
                if (errnos.length > 0) {
                    assertThat(errnos).as("errno of " + name).contains(errno);
                }
            }
        };
    }

    /**
     * System calls a microVM's guest kernel answers: its program has no seccomp filter (the VM is the boundary; the
     * host kernel is not behind these calls), so the guest's own settings refuse what they cover (no capability,
     * user namespaces off, BPF and perf closed, no vsock) with their own errno, and these few reach the guest kernel:
     * keyrings, io_uring, AIO, ptrace or pidfd_getfd of the program's own child, UDP-Lite and netlink sockets
     * (whose changes need a capability the program lacks). Every attempt must still have been made and answered,
     * and the suite's host checks (canary, loopback, host processes) hold after it.
     */
    private static final java.util.Set<String> GUEST_KERNEL_ONLY = java.util.Set.of("keyctl", "io_uring_setup",
            "io_setup", "ptrace", "pidfd_getfd", "socket(UDPLITE)", "socket(NETLINK_NETFILTER)",
            "socket(NETLINK_XFRM)");

    private static void guestKernelOnly(ExecutionResult r, List<String> tried) {
        List<String> lines = r.stdout().lines().toList();
        for (String name : tried) {
            boolean allowed = lines.contains(name + " ALLOWED");
            boolean denied = lines.stream().anyMatch(l -> l.startsWith(name + " denied errno="));
            assertThat(allowed || denied).as("the guest answered " + name).isTrue();
            if (allowed) {
                assertThat(GUEST_KERNEL_ONLY).as(name + " allowed in the guest").contains(name);
            }
        }
    }

    /** The program completed, printed {@code evidence} (it got to the end) and never {@code forbidden}. */
    private static BiConsumer<ExecutionResult, Context> printsNo(String forbidden) {
        return printsNo(forbidden, "done");
    }

    private static BiConsumer<ExecutionResult, Context> printsNo(String forbidden, String evidence) {
        return (r, c) -> {
            assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
            assertThat(r.stdout()).as(r.stderr()).contains(evidence).doesNotContain(forbidden);
        };
    }

    /** "NAME N errno E" printed by a program that counts what it got before the kernel said no. */
    static int[] counted(ExecutionResult r, String name) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)^" + java.util.regex.Pattern.quote(name)
                + " (\\d+) errno (\\d+)$").matcher(r.stdout());
        assertThat(m.find()).as(name + " count in stdout=" + r.stdout() + " stderr=" + r.stderr()).isTrue();
        return new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))};
    }

    /** Takes inotify instances until refused, then watches on one of them, then holds them for HOLD seconds. */
    static final String INOTIFY_LOOP = """
            import ctypes, os, time
            libc = ctypes.CDLL(None, use_errno=True)
            print("trying inotify", flush=True)
            fds, err = [], 0
            while len(fds) < 5000:
                fd = libc.inotify_init1(0)
                if fd < 0:
                    err = ctypes.get_errno(); break
                fds.append(fd)
            print("instances", len(fds), "errno", err, flush=True)
            if os.environ.get("HOLD"):
                print("holding", flush=True)
                time.sleep(float(os.environ["HOLD"]))
            else:
                w, werr = 0, 0
                if fds:
                    for fd in fds[1:]:
                        os.close(fd)
                    os.mkdir("/tmp/w")
                    for i in range(8300):
                        p = "/tmp/w/%d" % i
                        open(p, "w").close()
                        if libc.inotify_add_watch(fds[0], p.encode(), 2) < 0:
                            werr = ctypes.get_errno(); break
                        w += 1
                print("watches", w, "errno", werr, flush=True)
            """;

    static int hostInotifyInstances() {
        try {
            return Integer.parseInt(
                    Files.readAllLines(Path.of("/proc/sys/fs/inotify/max_user_instances")).getFirst().trim());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * Seen on gVisor 2022-12 only, now and then: a fork bomb takes the agent (PID 1) down with it. The run then
     * says so, before its deadline, and never makes a result up (an open finding, security.md and the issue 11
     * notes). True when that is what happened here.
     */
    private static boolean agentLostToABombOnGvisor(ExecutionResult r, Context c, long deadlineMs) {
        if (!c.runtime().endsWith("runsc") || r.status() != ExecutionStatus.ERROR) {
            return false;
        }
        assertThat(r.reason()).contains("agent ended before the program did");
        assertThat(r.exitCode()).isNull();
        assertThat(r.durationMs()).isLessThan(deadlineMs);
        return true;
    }

    static List<Hostile> programs() {
        List<Hostile> list = new ArrayList<>();

        // --- processes ---
        list.add(new Hostile("fork bomb (shell)", "pids",
                sh("f() { f | f & }; f; sleep 3; echo survived").limits(limits(8_000, null, null, 32, null)),
                (r, c) -> {
                    if (agentLostToABombOnGvisor(r, c, 8_000)) {
                        return;
                    }
                    assertThat(r.status()).as(r.reason()).isIn(ExecutionStatus.COMPLETED, ExecutionStatus.TIMEOUT);
                }));
        list.add(new Hostile("thread bomb", "pids", py("""
                import threading, time
                n = 0
                try:
                    while n < 10000:
                        threading.Thread(target=time.sleep, args=(30,), daemon=True).start(); n += 1
                except RuntimeError:
                    pass
                print("threads", n)
                """).limits(limits(20_000, null, null, 64, null)),
                (r, c) -> assertThat(Integer.parseInt(r.stdout().replaceAll("\\D", ""))).as(r.stderr())
                        .isLessThan(64)));
        list.add(new Hostile("setsid daemon outliving the program", "pid namespace, teardown",
                sh("setsid sh -c 'sleep 1000; echo $MARKER' >/dev/null 2>&1 </dev/null & echo started"),
                (r, c) -> assertThat(r.stdout()).isEqualTo("started\n")));
        list.add(new Hostile("look for host processes", "pid namespace", py("""
                import os
                pids = [p for p in os.listdir("/proc") if p.isdigit()]
                seen = 0
                for p in pids:
                    try:
                        seen += "sure" + "fire" in open("/proc/%s/cmdline" % p).read()
                    except OSError:
                        pass
                print("pids", len(pids), "host-jvm", seen)
                """), (r, c) -> {
                    // A microVM's program sees the guest kernel's threads, and nothing of the host.
                    assertThat(r.stdout()).as(r.stderr()).matches(c.runtime().equals("microvm")
                            ? "pids [0-9]+ host-jvm 0\n" : "pids [1-9] host-jvm 0\n");
                }));
        list.add(new Hostile("CPU hog above its quota", "cpu quota", py("""
                import time
                end = time.time() + 3
                while time.time() < end:
                    pass
                """).limits(limits(20_000, null, 0.5, null, null)),
                (r, c) -> {
                    if (c.runtime().equals("microvm")) {
                        // QEMU's cgroup counts the guest's boot too: half a core over the whole run, at most.
                        assertThat(r.resourceUsage().cpuMillis()).as("cpu at 0.5 cores over " + r.durationMs() + " ms")
                                .isLessThan((long) (r.durationMs() * 0.5 * 1.15) + 300);
                    } else {
                        assertThat(r.resourceUsage().cpuMillis()).as("cpu over 3 s at 0.5 cores").isLessThan(2300);
                    }
                }));

        // --- memory and storage ---
        list.add(new Hostile("memory bomb", "memory", py("""
                chunks = []
                while True:
                    chunks.append(bytearray(8 << 20))
                """).limits(limits(20_000, 96L << 20, null, null, null)),
                (r, c) -> assertThat(r.status()).isEqualTo(ExecutionStatus.OOM_KILLED)));
        for (String dir : List.of("/tmp", "/workspace", "/dev/shm")) {
            list.add(new Hostile("disk filling " + dir, "tmpfs size", sh(
                    "dd if=/dev/zero of=" + dir + "/fill bs=1M count=200 2>/dev/null; echo \"size $(wc -c < " + dir
                            + "/fill)\""),
                    (r, c) -> {
                        if (r.status() == ExecutionStatus.COMPLETED) {
                            assertThat(Long.parseLong(r.stdout().replaceAll("\\D", ""))).isLessThanOrEqualTo(64L << 20);
                        } else {
                            assertThat(r.status()).isEqualTo(ExecutionStatus.OOM_KILLED);
                        }
                    }));
        }
        // The default 64 MiB tmpfs gets 16384 inodes. gVisor keeps its tmpfs in the sentry's memory and has no
        // inode cap: there the memory limit is the bound.
        for (String dir : List.of("/tmp", "/workspace", "/dev/shm")) {
            list.add(new Hostile("inode exhaustion in " + dir, "tmpfs inodes (gVisor: memory)", py("""
                    n = 0
                    try:
                        while n < 200000:
                            open("%s/f%%d" %% n, "w").close(); n += 1
                    except OSError:
                        pass
                    print("files", n)
                    """.formatted(dir)).limits(limits(30_000, 128L << 20, null, null, null)),
                    (r, c) -> {
                        // gVisor's tmpfs has no inode count: its files are the sandbox's memory, and the program
                        // ends at the memory limit or, where creating 200,000 files under ptrace is slower than
                        // that, at its deadline. Either is a host-enforced limit holding.
                        if (c.runtime().contains("runsc") && (r.status() == ExecutionStatus.OOM_KILLED
                                || r.status() == ExecutionStatus.TIMEOUT)) {
                            return;
                        }
                        assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
                        assertThat(Integer.parseInt(r.stdout().replaceAll("\\D", ""))).isLessThanOrEqualTo(16384);
                    }));
        }
        list.add(new Hostile("file larger than the size rlimit", "RLIMIT_FSIZE", py("""
                import signal
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                f = open("/tmp/big", "wb")
                try:
                    f.seek((64 << 20) + 1); f.write(b"x"); f.flush()
                    print("WROTE")
                except OSError as e:
                    print("refused", e.errno)
                """), printsNo("WROTE", "refused 27")));

        // --- output ---
        list.add(new Hostile("stdout flood", "output cap",
                sh("yes flood").limits(limits(20_000, null, null, null, 65536L)),
                (r, c) -> {
                    assertThat(r.status()).isEqualTo(ExecutionStatus.OUTPUT_LIMIT);
                    assertThat(r.stdout().length()).isEqualTo(65536);
                }));
        list.add(new Hostile("stderr flood", "output cap",
                sh("yes flood >&2").limits(limits(20_000, null, null, null, 65536L)),
                (r, c) -> {
                    assertThat(r.status()).isEqualTo(ExecutionStatus.OUTPUT_LIMIT);
                    assertThat(r.stderrTruncated()).isTrue();
                }));
        // A million one-byte lines: a log that costs a record per line falls behind and the cap comes too late.
        list.add(new Hostile("flood of empty lines", "output cap, in time",
                sh("yes ''").limits(limits(15_000, null, null, null, 1L << 20)),
                (r, c) -> {
                    assertThat(r.status()).as("ended by the cap, not the timeout")
                            .isEqualTo(ExecutionStatus.OUTPUT_LIMIT);
                    assertThat(r.stdout()).hasSize(1 << 20).matches("\n+");
                }));
        // On Docker stdout is a file: grown with a hole, it reads as megabytes of zeros that cost no memory.
        list.add(new Hostile("stdout grown with a hole", "output cap, in time", py("""
                import os
                try:
                    os.ftruncate(1, 60 << 20)
                except OSError as e:
                    print("ftruncate refused", e.errno, flush=True)
                """).limits(limits(15_000, null, null, null, 1L << 20)),
                (r, c) -> {
                    assertThat(r.status()).as(r.reason()).isIn(ExecutionStatus.OUTPUT_LIMIT, ExecutionStatus.COMPLETED);
                    if (r.status() == ExecutionStatus.OUTPUT_LIMIT) {
                        assertThat(r.stdout()).hasSize(1 << 20);
                    } else {
                        assertThat(r.stdout()).startsWith("ftruncate refused");
                    }
                    assertThat(r.durationMs()).isLessThan(10_000);
                }));
        list.add(new Hostile("one endless line", "output cap",
                sh("tr -d '\\n' < /dev/zero").limits(limits(20_000, null, null, null, 65536L)),
                (r, c) -> assertThat(r.status()).isEqualTo(ExecutionStatus.OUTPUT_LIMIT)));

        // --- /proc, /sys, devices ---
        list.add(new Hostile("sysrq trigger", "read-only /proc",
                sh("echo b > /proc/sysrq-trigger 2>&1 && echo WROTE; echo done"),
                printsNo("WROTE")));
        list.add(new Hostile("kernel sysctl write", "read-only /proc/sys",
                sh("echo evil > /proc/sys/kernel/hostname 2>/dev/null && echo WROTE; echo done"), printsNo("WROTE")));
        list.add(new Hostile("kernel memory read", "masked /proc/kcore",
                sh("head -c 16 /proc/kcore 2>/dev/null | od -c | head -1; echo done"), printsNo("ELF")));
        list.add(new Hostile("sysfs write", "read-only /sys",
                sh("echo 1 > /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null && echo WROTE; echo done"),
                printsNo("WROTE")));
        list.add(new Hostile("firmware tables read", "masked /sys/firmware",
                sh("ls /sys/firmware 2>/dev/null | head; cat /sys/firmware/acpi/tables/DSDT 2>/dev/null | head -c 4; "
                        + "echo done"),
                printsNo("DSDT")));
        list.add(new Hostile("device node creation", "seccomp (mknod), no CAP_MKNOD",
                sh("mknod /tmp/mem c 1 1 2>/dev/null && echo MADE; echo done"), printsNo("MADE")));
        list.add(new Hostile("host block device", "minimal /dev",
                sh("for d in /dev/vda /dev/sda /dev/nvme0n1 /dev/mem /dev/kmsg; do "
                        + "if head -c 1 $d >/dev/null 2>&1; then echo \"READ $d\"; fi; done; echo done"),
                printsNo("READ")));

        // --- privileged system calls ---
        list.add(syscall("mount", "seccomp, no CAP_SYS_ADMIN",
                "attempt('mount', 165, b'none', b'/tmp', b'tmpfs', 0, None)"));
        list.add(syscall("new user namespace", "seccomp (unshare)", "attempt('unshare', 272, 0x10000000)"));
        list.add(syscall("clone into a new namespace", "seccomp (clone flags)",
                "attempt('clone', 56, 0x10000000 | 17, 0, 0, 0, 0)"));
        list.add(syscall("keyctl", "seccomp", "attempt('keyctl', 250, 0, -3, 0)"));
        list.add(syscall("io_uring", "seccomp", "attempt('io_uring_setup', 425, 4, ctypes.create_string_buffer(120))"));
        list.add(syscall("bpf", "seccomp", "attempt('bpf', 321, 0, ctypes.create_string_buffer(128), 128)"));
        list.add(syscall("perf_event_open", "seccomp",
                "attempt('perf_event_open', 298, ctypes.create_string_buffer(128), 0, -1, -1, 0)"));
        list.add(syscall("userfaultfd", "seccomp", "attempt('userfaultfd', 323, 0)"));
        list.add(syscall("kernel module load", "seccomp, no CAP_SYS_MODULE",
                "attempt('init_module', 175, None, 0, b'')"));
        list.add(syscall("reboot", "seccomp, no CAP_SYS_BOOT",
                "attempt('reboot', 169, 0xfee1dead, 672274793, 0x1234567, None)"));
        list.add(syscall("set the clock", "seccomp, no CAP_SYS_TIME",
                "attempt('settimeofday', 164, ctypes.create_string_buffer(16), None)"));
        list.add(syscall("chroot", "seccomp, no CAP_SYS_CHROOT", "attempt('chroot', 161, b'/tmp')"));
        list.add(syscall("ptrace a sibling", "seccomp (ptrace)", """
                import signal
                child = os.fork()
                if child == 0:
                    signal.pause()
                attempt('ptrace', 101, 16, child, 0, 0)
                os.kill(child, signal.SIGKILL)
                """));
        list.add(syscall("vsock to the hypervisor", "seccomp (AF_VSOCK)", "attempt('socket(AF_VSOCK)', 41, 40, 1, 0)"));

        // --- network ---
        list.add(new Hostile("raw socket", "no CAP_NET_RAW, seccomp (socket families)", py(SYSCALL + """
                import socket
                attempt_py("raw ICMP", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
                attempt_py("AF_PACKET", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW))
                """), refused(EPERM)));
        list.add(new Hostile("connection to host loopback", "network namespace", py("""
                import os, socket
                s = socket.socket(); s.settimeout(2)
                try:
                    s.connect(("127.0.0.1", int(os.environ["PORT"]))); print("CONNECTED")
                except OSError as e:
                    print("refused", e)
                """), printsNo("CONNECTED", "refused")));
        list.add(new Hostile("name resolution", "no network, no resolver", py("""
                import socket
                print("trying resolve", flush=True)
                try:
                    print("RESOLVED", socket.getaddrinfo("localhost.localdomain.example", 80))
                except OSError as e:
                    print("resolve denied errno=%d" % e.errno)
                print("interfaces", sorted(n for _, n in socket.if_nameindex()))
                """), (r, c) -> {
                    refused().accept(r, c);
                    assertThat(r.stdout()).doesNotContain("RESOLVED").containsPattern("(?m)^interfaces \\[('lo')?\\]$");
                }));

        // --- host files, environment, persistence ---
        list.add(new Hostile("read a host canary", "root made of read-only binds", py("""
                import os
                for p in [os.environ["CANARY"], "/proc/1/root" + os.environ["CANARY"], "/etc/shadow",
                          "/root/.ssh/id_rsa"]:
                    try:
                        print(p, open(p).read()[:64])
                    except OSError as e:
                        print(p, "denied", e.errno)
                """), (r, c) -> assertThat(r.stdout()).contains("denied")));
        // Docker's daemon always adds HOSTNAME (the container's own host name) to PID 1's environment; the
        // program itself starts with the request's variables only.
        list.add(new Hostile("read the server's environment", "environment from the request only", py("""
                import os
                for p in ["/proc/self/environ", "/proc/1/environ"]:
                    try:
                        print(sorted(v.split("=")[0] for v in open(p).read().split("\\0") if v))
                    except PermissionError:
                        print("denied")
                """), (r, c) -> {
                    List<String> lines = r.stdout().lines().toList();
                    assertThat(lines).as(r.stderr()).hasSize(2);
                    assertThat(lines.get(0)).isEqualTo("['CANARY', 'HOME', 'MARKER', 'PATH', 'PORT']");
                    // PID 1 is the agent: nothing of the request's or the server's; unreadable where the host
                    // kernel honours "not dumpable", else at most what the runtime itself gives an init.
                    assertThat(lines.get(1)).isIn("denied", "[]", "['HOME']", "['HOME', 'HOSTNAME', 'PATH']",
                            "['HOSTNAME', 'PATH']");
                }));
        list.add(new Hostile("write to the read-only root", "read-only root and binds",
                sh("for f in /x /usr/bin/x /etc/passwd /bin/sh /.mcp-init; do "
                        + "(echo x > $f) 2>/dev/null && echo \"WROTE $f\"; done; echo done"),
                printsNo("WROTE")));
        list.add(new Hostile("symlink planted for teardown", "teardown does not follow links",
                sh("ln -s \"$CANARY\" /workspace/link; ln -s / /workspace/root; mkdir -p /workspace/d; "
                        + "ln -s \"$CANARY\" /workspace/d/deep; echo planted"),
                (r, c) -> assertThat(r.stdout()).isEqualTo("planted\n")));
        list.add(new Hostile("persistence across executions", "a fresh sandbox each time", sh(
                "if [ -e /tmp/persist ] || [ -e /dev/shm/persist ] || [ -e /workspace/persist ]; then echo FOUND; fi; "
                        + "echo x > /tmp/persist; echo x > /dev/shm/persist; echo x > /workspace/persist; echo done"),
                printsNo("FOUND")));
        list.add(new Hostile("change the hostname", "uts namespace, no CAP_SYS_ADMIN",
                sh("hostname evil 2>/dev/null && echo CHANGED; hostname"), printsNo("CHANGED", "sandbox\n")));
        // --- host-wide kernel resources (issue 10 item 4) ---
        list.add(new Hostile("inotify instances and watches", "inotify limits in the user namespace (gVisor: sentry)",
                py(INOTIFY_LOOP).limits(limits(30_000, 256L << 20, null, null, null)), (r, c) -> {
                    assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
                    assertThat(r.exitCode()).as(r.stderr()).isZero();
                    int[] instances = counted(r, "instances");
                    assertThat(instances[1]).as("errno when refused: EMFILE").isEqualTo(24);
                    counted(r, "watches");
                    if (c.runtime().equals("runc")) {
                        assertThat(instances[0]).as("instances")
                                .isEqualTo(io.mcpsandbox.runtime.oci.BundleWriter.MAX_INOTIFY_INSTANCES);
                        int[] watches = counted(r, "watches");
                        assertThat(watches).as("watches, ENOSPC").containsExactly(
                                io.mcpsandbox.runtime.oci.BundleWriter.MAX_INOTIFY_WATCHES, 28);
                    } else if (c.runtime().equals("docker")) {
                        // a host uid of the sandbox's own (no user namespace): the host's per-user limit
                        assertThat(instances[0]).isLessThanOrEqualTo(hostInotifyInstances());
                    } else {
                        // the sentry's own inotify: RLIMIT_NOFILE is the bound, nothing is taken from the host
                        assertThat(instances[0]).isLessThan(1024);
                    }
                }));
        list.add(new Hostile("pty exhaustion", "devpts max= (docker: no devpts; gVisor: sentry ptys, RLIMIT_NOFILE)",
                py("""
                import os
                print("trying ptmx", flush=True)
                fds, err = [], 0
                try:
                    while len(fds) < 5000:
                        fds.append(os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY))
                except OSError as e:
                    err = e.errno
                print("ptys", len(fds), "errno", err)
                """), (r, c) -> {
                    int[] ptys = counted(r, "ptys");
                    switch (c.runtime()) {
                        case "runc", "microvm" -> // the guest mounts its devpts with the same max=
                                assertThat(ptys).containsExactly(io.mcpsandbox.runtime.oci.BundleWriter.MAX_PTYS, 28);
                        case "docker" -> assertThat(ptys).containsExactly(0, ENOENT);
                        default -> assertThat(ptys[1]).as("EMFILE").isEqualTo(24);
                    }
                }));
        list.add(syscall("AIO context", "seccomp (io_setup: host-wide aio-max-nr)", """
                ctx = ctypes.c_ulong(0)
                attempt('io_setup', 206, 1024, ctypes.byref(ctx))
                attempt('io_submit', 209, 0, 0, None)
                """));
        list.add(new Hostile("socket families", "seccomp (AF_UNIX, AF_INET, AF_INET6, AF_NETLINK route only)",
                py(SYSCALL + """
                import socket
                for name, fam, typ, proto in [("AF_PACKET", 17, 3, 0), ("AF_KEY", 15, 3, 2), ("AF_ALG", 38, 5, 0),
                        ("AF_CAN", 29, 3, 1), ("AF_TIPC", 30, 4, 0), ("AF_RDS", 21, 5, 0), ("AF_BLUETOOTH", 31, 3, 0),
                        ("AF_XDP", 44, 3, 0), ("AF_VSOCK", 40, 1, 0), ("SCTP", 2, 5, 132), ("SCTP6", 10, 1, 132),
                        ("DCCP", 2, 6, 33), ("UDPLITE", 2, 2, 136), ("NETLINK_NETFILTER", 16, 3, 12),
                        ("NETLINK_XFRM", 16, 3, 6)]:
                    attempt('socket(%s)' % name, 41, fam, typ, proto)
                attempt('socketpair(AF_TIPC)', 53, 30, 5, 0, ctypes.create_string_buffer(8))
                # what programs need still works
                socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
                socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()
                socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
                socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close()
                a, b = socket.socketpair(); a.close(); b.close()
                print("allowed families work")
                """), (r, c) -> {
                    refused(EPERM).accept(r, c);
                    assertThat(r.stdout()).contains("allowed families work");
                }));
        list.add(new Hostile("rlimits raised", "rlimits set in the spec", py(SYSCALL + """
                import resource
                class rlimit(ctypes.Structure):
                    _fields_ = [("cur", ctypes.c_ulong), ("max", ctypes.c_ulong)]
                names = ["RLIMIT_RTPRIO", "RLIMIT_NICE", "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_CORE",
                         "RLIMIT_SIGPENDING"]
                for n in names:
                    print(n, *resource.getrlimit(getattr(resource, n)))
                for n in names:
                    soft, hard = resource.getrlimit(getattr(resource, n))
                    attempt("raise " + n, 160, getattr(resource, n), ctypes.byref(rlimit(hard + 1, hard + 1)))
                try:
                    os.setpriority(os.PRIO_PROCESS, 0, -5); print("nice -5 result set")
                except OSError as e:
                    print("nice -5 result errno=%d" % e.errno)
                """), (r, c) -> {
                    refused(EPERM).accept(r, c);
                    // gVisor keeps nice values inside its sentry (they never reach the host scheduler)
                    assertThat(r.stdout())
                            .contains(c.runtime().contains("runsc") ? "nice -5 result " : "nice -5 result errno=13\n");
                    assertThat(r.stdout()).contains("RLIMIT_RTPRIO 0 0\n", "RLIMIT_NICE 0 0\n",
                            "RLIMIT_MEMLOCK 65536 65536\n",
                            "RLIMIT_MSGQUEUE 65536 65536\n", "RLIMIT_CORE 0 0\n", "RLIMIT_SIGPENDING 1024 1024\n");
                }));
        list.add(new Hostile("real-time scheduling", "no CAP_SYS_NICE, RLIMIT_RTPRIO 0 (gVisor: not implemented)",
                py(SYSCALL + """
                param = ctypes.c_int(1)
                attempt('sched_setscheduler(SCHED_FIFO)', 144, 0, 1, ctypes.byref(param))
                attempt('sched_setscheduler(SCHED_RR)', 144, 0, 2, ctypes.byref(param))
                """), (r, c) -> refused(c.runtime().contains("runsc") ? 22 /* EINVAL */ : EPERM).accept(r, c)));

        // --- gVisor devices (item 5) and the devices every runtime must keep closed ---
        list.add(new Hostile("open /dev/fuse and /dev/net/tun", "no such devices (gVisor: covered by tmpfs)",
                py(SYSCALL + """
                for p in ["/dev/fuse", "/dev/net/tun"]:
                    for mode in [os.O_RDWR, os.O_RDONLY]:
                        attempt_py("open %s %d" % (p, mode), lambda: os.close(os.open(p, mode)))
                """), refused(ENOENT, EACCES, EPERM)));

        // --- escapes through /proc, ttys and newer system calls (item 13) ---
        list.add(new Hostile("open /proc/self/exe and /proc/1/exe for writing", "read-only binds, no ptrace access",
                py(SYSCALL + """
                for p in ["/proc/self/exe", "/proc/1/exe"]:
                    for mode in [os.O_WRONLY, os.O_RDWR]:
                        attempt_py("open %s %d" % (p, mode), lambda: os.close(os.open(p, mode)))
                """), refused(EACCES, 26 /* ETXTBSY */, 30 /* EROFS */, EPERM)));
        list.add(new Hostile("TIOCSTI on fds 0-2", "no terminal (stdio are pipes or files)", py(SYSCALL + """
                import fcntl, termios
                for fd in [0, 1, 2]:
                    attempt_py("TIOCSTI fd %d" % fd, lambda: fcntl.ioctl(fd, termios.TIOCSTI, b"x"))
                attempt_py("open /dev/tty", lambda: os.close(os.open("/dev/tty", os.O_RDWR)))
                """), refused(25 /* ENOTTY */, 6 /* ENXIO */, 5 /* EIO */, EPERM, ENOENT)));
        list.add(new Hostile("unshare through the x32 ABI", "seccomp (x86_64 only: x32 is a bad arch)", py("""
                import ctypes, os
                libc = ctypes.CDLL(None, use_errno=True)
                print("trying x32 unshare", flush=True)
                child = os.fork()
                if child == 0:
                    r = libc.syscall(272 | 0x40000000, 0x10000000)
                    os._exit(100 if r >= 0 else ctypes.get_errno())
                _, status = os.waitpid(child, 0)
                if os.WIFSIGNALED(status):
                    print("x32 unshare killed by signal", os.WTERMSIG(status))
                elif os.WEXITSTATUS(status) == 100:
                    print("x32 unshare ALLOWED")
                else:
                    print("x32 unshare denied errno=%d" % os.WEXITSTATUS(status))
                """), (r, c) -> {
                    assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
                    assertThat(r.stdout()).startsWith("trying x32 unshare\n")
                            // runc: libseccomp's bad-arch action kills with SIGSYS; gVisor's filter answers EPERM;
                            // Debian's guest kernel has no x32 ABI (ENOSYS)
                            .containsAnyOf("x32 unshare killed by signal 31\n", "x32 unshare denied errno=1\n",
                                    c.runtime().equals("microvm") ? "x32 unshare denied errno=38\n" : "\0");
                }));
        list.add(syscall("open_by_handle_at", "seccomp (shocker)", """
                attempt('name_to_handle_at', 303, -100, b'/etc/passwd', ctypes.create_string_buffer(136),
                        ctypes.byref(ctypes.c_int()), 0)
                handle = ctypes.create_string_buffer(b'\\x08\\x00\\x00\\x00\\x01\\x00\\x00\\x00'
                                                     + b'\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x00')
                attempt('open_by_handle_at', 304, -100, handle, 0)
                """));
        list.add(syscall("new mount API", "seccomp (fsopen, open_tree)", """
                attempt('fsopen', 430, b'tmpfs', 0)
                attempt('open_tree', 428, -100, b'/tmp', 1)
                attempt('fspick', 433, -100, b'/tmp', 0)
                """));
        list.add(syscall("take a sibling's file descriptor", "seccomp (pidfd_getfd)", """
                import signal
                child = os.fork()
                if child == 0:
                    signal.pause()
                pidfd = libc.syscall(434, child, 0)
                print("pidfd", pidfd, flush=True)
                attempt('pidfd_getfd', 438, pidfd, 0, 0)
                os.kill(child, signal.SIGKILL)
                """));
        list.add(syscall("read a sibling's memory", "seccomp (process_vm_readv)", """
                import signal
                buf = ctypes.create_string_buffer(64)
                secret = ctypes.create_string_buffer(b"secret" * 8)
                child = os.fork()
                if child == 0:
                    signal.pause()
                class iovec(ctypes.Structure):
                    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
                local = iovec(ctypes.cast(buf, ctypes.c_void_p), 64)
                remote = iovec(ctypes.cast(secret, ctypes.c_void_p), 64)
                attempt('process_vm_readv', 310, child, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
                attempt('process_vm_writev', 311, child, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
                os.kill(child, signal.SIGKILL)
                """));
        list.addAll(againstTheAgent());
        return list;
    }

    /**
     * Programs aimed at the sandbox's agent (its PID 1, which runs as their own user): whatever they do to it,
     * the result stays truthful (their own exit code and output, or a limit's status) and the host unharmed.
     */
    private static List<Hostile> againstTheAgent() {
        List<Hostile> list = new ArrayList<>();
        // On the host kernel the agent, as its pid namespace's init, gets no signal it did not ask for from
        // inside, and not being dumpable keeps its /proc/1/fd closed to its own user. gVisor (2022-12) does
        // neither: there a program can kill the agent or write into its channel, and the run must then end as an
        // error that says so, promptly, never as a made-up result.
        list.add(new Hostile("signals aimed at the agent", "init's signal protection; gVisor: an error, never a "
                + "made-up result", py("""
                import os, signal, time
                signal.signal(signal.SIGUSR1, signal.SIG_IGN)
                for s in [signal.SIGKILL, signal.SIGSTOP, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS]:
                    try:
                        os.kill(1, s)
                    except OSError as e:
                        print("kill", s, "errno", e.errno, flush=True)
                for i in range(20000):
                    os.kill(1, signal.SIGUSR1)
                time.sleep(0.3)
                print("still here", flush=True)
                os._exit(7)
                """), (r, c) -> {
                    if (c.runtime().endsWith("runsc")) {
                        assertThat(r.status()).as(r.reason()).isIn(ExecutionStatus.COMPLETED, ExecutionStatus.ERROR);
                    }
                    if (r.status() == ExecutionStatus.ERROR) {
                        assertThat(r.reason()).contains("agent ended before the program did");
                        assertThat(r.exitCode()).as("no made-up exit code").isNull();
                        assertThat(r.durationMs()).as("not the 20 s timeout").isLessThan(10_000);
                        return;
                    }
                    assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
                    assertThat(r.exitCode()).as("the program's own exit code").isEqualTo(7);
                    assertThat(r.stdout()).endsWith("still here\n");
                }));
        list.add(new Hostile("ptrace the agent", "the agent is not dumpable; seccomp", py(SYSCALL + """
                attempt('ptrace attach 1', 101, 16, 1, 0, 0)
                attempt('ptrace seize 1', 101, 0x4206, 1, 0, 0)
                """), refused(EPERM, EACCES)));
        list.add(new Hostile("write into the agent's channel through /proc/1/fd",
                "the agent is not dumpable; gVisor: a broken channel is an error", py("""
                import os, time
                for fd in ["0", "1"]:
                    try:
                        w = os.open("/proc/1/fd/" + fd, os.O_WRONLY)
                    except OSError as e:
                        print("open /proc/1/fd/%s denied errno=%d" % (fd, e.errno), flush=True)
                        continue
                    try:
                        os.write(w, b"\\xff\\xff\\xff\\xff\\x85\\x00\\x00\\x00\\x01garbage")
                        print("write /proc/1/fd/%s ALLOWED" % fd, flush=True)
                    except OSError as e:
                        print("write /proc/1/fd/%s denied errno=%d" % (fd, e.errno), flush=True)
                time.sleep(3)
                print("done", flush=True)
                """), (r, c) -> {
                    if (r.stdout().contains("ALLOWED") || r.status() == ExecutionStatus.ERROR) {
                        // What it wrote broke the channel (its own output after that is lost with it).
                        assertThat(c.runtime()).as("only gVisor lets a program write there").endsWith("runsc");
                        assertThat(r.status()).as(r.reason()).isEqualTo(ExecutionStatus.ERROR);
                        assertThat(r.reason()).contains("agent broke the protocol");
                        assertThat(r.exitCode()).as("no made-up exit code").isNull();
                        assertThat(r.durationMs()).as("not the 20 s timeout").isLessThan(10_000);
                        return;
                    }
                    assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
                    assertThat(r.stdout()).containsPattern("(open|write) /proc/1/fd/0 denied")
                            .containsPattern("(open|write) /proc/1/fd/1 denied")
                            .endsWith("done\n");
                }));
        list.add(new Hostile("replace the agent's binary", "read-only bind of the agent", py(SYSCALL + """
                for mode in [os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC]:
                    attempt_py("open /.mcp-init %d" % mode, lambda: os.close(os.open("/.mcp-init", mode)))
                attempt_py("rename /.mcp-init", lambda: os.rename("/.mcp-init", "/tmp/x"))
                attempt_py("unlink /.mcp-init", lambda: os.unlink("/.mcp-init"))
                """), refused(EACCES, EPERM, 26 /* ETXTBSY */, 30 /* EROFS */, 16 /* EBUSY */, 18 /* EXDEV */)));
        list.add(new Hostile("fake agent frames on its own stdout", "stdout is data, framed by the agent",
                py("""
                import os, struct
                def frame(t, stream, payload):
                    return struct.pack(">IBI", 5 + len(payload), t, stream) + payload
                fake = frame(0x81, 0, b"\\x00\\x01fake") + frame(0x85, 1, b"\\x00\\x00")
                fake += frame(0x86, 0, b"protocol violation: fake")
                os.write(1, b"before|" + fake + b"|after")
                os.write(2, fake)
                os._exit(5)
                """), (r, c) -> {
                    assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
                    assertThat(r.exitCode()).isEqualTo(5);
                    assertThat(r.stdout()).startsWith("before|").endsWith("|after").contains("fake");
                    assertThat(r.stderr()).contains("protocol violation: fake");
                }));
        list.add(new Hostile("close every descriptor, then write", "the channel is not the program's", py("""
                import os
                os.closerange(0, 65536)
                for fd in range(0, 16):
                    try:
                        os.write(fd, b"\\x00\\x00\\x00\\x07\\x85\\x00\\x00\\x00\\x01\\x00\\x00")
                    except OSError:
                        pass
                os._exit(9)
                """), (r, c) -> {
                    assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
                    assertThat(r.exitCode()).isEqualTo(9);
                    assertThat(r.stdout() + r.stderr()).isEmpty();
                }));
        list.add(new Hostile("fork bomb left running behind an exit", "pids; the agent reports the exit",
                // Its own clock is forked first: once the bomb holds every pid, only builtins still run.
                sh("sleep 2 & s=$!; (f() { f | f & }; f) >/dev/null 2>&1 & wait $s; echo done; exit 3")
                        .limits(limits(15_000, null, null, 32, null)),
                (r, c) -> {
                    if (agentLostToABombOnGvisor(r, c, 15_000)) {
                        return;
                    }
                    assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
                    assertThat(r.exitCode()).isEqualTo(3);
                    assertThat(r.stdout()).isEqualTo("done\n");
                }));
        list.add(new Hostile("a descendant holding stdout open", "the agent drains for 100 ms, then reports",
                sh("(sleep 1000; echo late) & echo early; exit 4"),
                (r, c) -> {
                    assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
                    assertThat(r.exitCode()).isEqualTo(4);
                    assertThat(r.stdout()).isEqualTo("early\n");
                    assertThat(r.durationMs()).as("not the 20 s timeout").isLessThan(10_000);
                }));
        return list;
    }

    /** The results table, per program and runtime, for docs/security.md. */
    private static void writeTable() throws IOException {
        List<String> runtimes = results.values().stream().flatMap(m -> m.keySet().stream()).distinct().sorted()
                .toList();
        StringBuilder md = new StringBuilder(
                "| hostile program | limit it attacks | " + String.join(" | ", runtimes) + " |\n");
        md.append("| --- | --- |").append(" --- |".repeat(runtimes.size())).append('\n');
        for (Hostile h : programs()) {
            Map<String, String> row = results.getOrDefault(h.name(), Map.of());
            md.append("| ").append(h.name()).append(" | ").append(h.limit()).append(" |");
            for (String runtime : runtimes) {
                md.append(' ').append(row.getOrDefault(runtime, "not run")).append(" |");
            }
            md.append('\n');
        }
        Map<String, String> row = results.getOrDefault("host inotify while a sandbox holds its max", Map.of());
        md.append("| host inotify while a sandbox holds its max | inotify limits, seen from the host |");
        for (String runtime : runtimes) {
            md.append(' ').append(row.getOrDefault(runtime, "not run")).append(" |");
        }
        md.append('\n');
        Path out = Path.of("target", "hostile-results.md");
        Files.createDirectories(out.getParent());
        Files.writeString(out, md.toString(), StandardCharsets.UTF_8);
    }
}
