package io.mcpsandbox.execution;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.testing.DockerDaemon;
import io.mcpsandbox.testing.TestSandbox;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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
class HostileProgramsTest {
    private static TestSandbox sandbox;
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
    }

    @AfterAll
    static void stop() throws IOException {
        sandbox.close();
        writeTable();
    }

    @AfterEach
    void nothingLeftBehind() throws IOException {
        sandbox.assertNothingLeftBehind();
    }

    static Stream<Arguments> cases() throws Exception {
        DockerDaemon.ensureRunning();
        TestSandbox probe = TestSandbox.start();
        List<String> runtimes;
        try {
            runtimes = probe.services().verifyRuntimes().stream().filter(RuntimeInfo::usable).map(RuntimeInfo::name).toList();
        } finally {
            try {
                probe.close();
            } catch (IOException ignored) {
                // directories of the probe only
            }
        }
        // .ci/run installs these: the suite must fail, not shrink, when one is missing.
        assertThat(runtimes).as("usable runtimes").containsAll(TestSandbox.ALL_RUNTIMES);
        List<Arguments> cases = new ArrayList<>();
        for (Hostile h : programs()) {
            for (String runtime : runtimes) {
                cases.add(Arguments.of(h, runtime));
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("cases")
    void isContained(Hostile hostile, String runtime) throws Exception {
        String marker = "hostile-" + UUID.randomUUID();
        String secret = UUID.randomUUID().toString();
        Path canary = Files.createTempFile("canary-", ".txt");
        Files.writeString(canary, secret);
        try (ServerSocket listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            listener.setSoTimeout(500);
            Context ctx = new Context(runtime, marker, canary, secret, listener.getLocalPort());
            ExecutionRequest request = hostile.request().runtime(runtime)
                    .env("MARKER", marker).env("CANARY", canary.toString())
                    .env("PORT", Integer.toString(listener.getLocalPort())).build();
            ExecutionResult result = sandbox.run(request);
            try {
                hostile.contained().accept(result, ctx);
                assertThat(result.stdout() + result.stderr()).as("the canary's secret").doesNotContain(secret);
                assertNoConnection(listener);
                // After teardown: a planted symlink must not make the cleanup touch host files.
                sandbox.services().executions().awaitTeardowns(java.time.Duration.ofSeconds(30));
                assertThat(Files.readString(canary)).as("the host canary is untouched").isEqualTo(secret);
                assertThat(TestSandbox.hostProcessesWith(marker)).as("processes left on the host").isEmpty();
                results.computeIfAbsent(hostile.name(), k -> new TreeMap<>()).put(runtime, "held: " + outcome(result));
            } catch (AssertionError e) {
                results.computeIfAbsent(hostile.name(), k -> new TreeMap<>()).put(runtime, "**BROKEN**");
                throw new AssertionError(hostile.name() + " on " + runtime + " (" + outcome(result) + ", stdout="
                        + abbreviate(result.stdout()) + ", stderr=" + abbreviate(result.stderr()) + "): " + e.getMessage(), e);
            }
        } finally {
            Files.deleteIfExists(canary);
        }
    }

    private static void assertNoConnection(ServerSocket listener) throws IOException {
        try {
            listener.accept().close();
            throw new AssertionError("a sandbox reached the listener on the host's loopback");
        } catch (SocketTimeoutException expected) {
            // nothing arrived
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

    /** A python helper that tries a raw system call and prints "NAME denied|ALLOWED". */
    private static final String SYSCALL = """
            import ctypes, os
            libc = ctypes.CDLL(None, use_errno=True)
            def attempt(name, nr, *args):
                r = libc.syscall(nr, *args)
                print(name, "ALLOWED" if r >= 0 else "denied errno=%d" % ctypes.get_errno(), flush=True)
            """;

    private static Hostile syscall(String name, String limit, String call) {
        return new Hostile(name, limit, py(SYSCALL + call), (r, c) ->
                assertThat(r.stdout()).as(r.stderr()).contains(" denied").doesNotContain("ALLOWED"));
    }

    private static BiConsumer<ExecutionResult, Context> printsNo(String forbidden) {
        return (r, c) -> {
            assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
            assertThat(r.stdout()).as(r.stderr()).isNotEmpty().doesNotContain(forbidden);
        };
    }

    static List<Hostile> programs() {
        List<Hostile> list = new ArrayList<>();

        // --- processes ---
        list.add(new Hostile("fork bomb (shell)", "pids",
                sh("f() { f | f & }; f; sleep 3; echo survived").limits(limits(8_000, null, null, 32, null)),
                (r, c) -> assertThat(r.status()).isIn(ExecutionStatus.COMPLETED, ExecutionStatus.TIMEOUT)));
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
                (r, c) -> assertThat(Integer.parseInt(r.stdout().replaceAll("\\D", ""))).as(r.stderr()).isLessThan(64)));
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
                    assertThat(r.stdout()).as(r.stderr()).matches("pids [1-9] host-jvm 0\n");
                }));
        list.add(new Hostile("CPU hog above its quota", "cpu quota", py("""
                import time
                end = time.time() + 3
                while time.time() < end:
                    pass
                """).limits(limits(20_000, null, 0.5, null, null)),
                (r, c) -> assertThat(r.resourceUsage().cpuMillis()).as("cpu over 3 s at 0.5 cores").isLessThan(2300)));

        // --- memory and storage ---
        list.add(new Hostile("memory bomb", "memory", py("""
                chunks = []
                while True:
                    chunks.append(bytearray(8 << 20))
                """).limits(limits(20_000, 96L << 20, null, null, null)),
                (r, c) -> assertThat(r.status()).isEqualTo(ExecutionStatus.OOM_KILLED)));
        for (String dir : List.of("/tmp", "/workspace", "/dev/shm")) {
            list.add(new Hostile("disk filling " + dir, "tmpfs size", sh(
                    "dd if=/dev/zero of=" + dir + "/fill bs=1M count=200 2>/dev/null; echo \"size $(wc -c < " + dir + "/fill)\""),
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
                        if (c.runtime().contains("runsc") && r.status() == ExecutionStatus.OOM_KILLED) {
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
                """), printsNo("WROTE")));

        // --- output ---
        list.add(new Hostile("stdout flood", "output cap", sh("yes flood").limits(limits(20_000, null, null, null, 65536L)),
                (r, c) -> {
                    assertThat(r.status()).isEqualTo(ExecutionStatus.OUTPUT_LIMIT);
                    assertThat(r.stdout().length()).isEqualTo(65536);
                }));
        list.add(new Hostile("stderr flood", "output cap", sh("yes flood >&2").limits(limits(20_000, null, null, null, 65536L)),
                (r, c) -> {
                    assertThat(r.status()).isEqualTo(ExecutionStatus.OUTPUT_LIMIT);
                    assertThat(r.stderrTruncated()).isTrue();
                }));
        // A million one-byte lines: a log that costs a record per line falls behind and the cap comes too late.
        list.add(new Hostile("flood of empty lines", "output cap, in time",
                sh("yes ''").limits(limits(15_000, null, null, null, 1L << 20)),
                (r, c) -> {
                    assertThat(r.status()).as("ended by the cap, not the timeout").isEqualTo(ExecutionStatus.OUTPUT_LIMIT);
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
        list.add(new Hostile("sysrq trigger", "read-only /proc", sh("echo b > /proc/sysrq-trigger 2>&1 && echo WROTE; echo done"),
                printsNo("WROTE")));
        list.add(new Hostile("kernel sysctl write", "read-only /proc/sys",
                sh("echo evil > /proc/sys/kernel/hostname 2>/dev/null && echo WROTE; echo done"), printsNo("WROTE")));
        list.add(new Hostile("kernel memory read", "masked /proc/kcore",
                sh("head -c 16 /proc/kcore 2>/dev/null | od -c | head -1; echo done"), printsNo("ELF")));
        list.add(new Hostile("sysfs write", "read-only /sys",
                sh("echo 1 > /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null && echo WROTE; echo done"), printsNo("WROTE")));
        list.add(new Hostile("firmware tables read", "masked /sys/firmware",
                sh("ls /sys/firmware 2>/dev/null | head; cat /sys/firmware/acpi/tables/DSDT 2>/dev/null | head -c 4; echo done"),
                printsNo("DSDT")));
        list.add(new Hostile("device node creation", "seccomp (mknod), no CAP_MKNOD",
                sh("mknod /tmp/mem c 1 1 2>/dev/null && echo MADE; echo done"), printsNo("MADE")));
        list.add(new Hostile("host block device", "minimal /dev",
                sh("for d in /dev/vda /dev/sda /dev/nvme0n1 /dev/mem /dev/kmsg; do "
                        + "if head -c 1 $d >/dev/null 2>&1; then echo \"READ $d\"; fi; done; echo done"), printsNo("READ")));

        // --- privileged system calls ---
        list.add(syscall("mount", "seccomp, no CAP_SYS_ADMIN", "attempt('mount', 165, b'none', b'/tmp', b'tmpfs', 0, None)"));
        list.add(syscall("new user namespace", "seccomp (unshare)", "attempt('unshare', 272, 0x10000000)"));
        list.add(syscall("clone into a new namespace", "seccomp (clone flags)", "attempt('clone', 56, 0x10000000 | 17, 0, 0, 0, 0)"));
        list.add(syscall("keyctl", "seccomp", "attempt('keyctl', 250, 0, -3, 0)"));
        list.add(syscall("io_uring", "seccomp", "attempt('io_uring_setup', 425, 4, ctypes.create_string_buffer(120))"));
        list.add(syscall("bpf", "seccomp", "attempt('bpf', 321, 0, ctypes.create_string_buffer(128), 128)"));
        list.add(syscall("perf_event_open", "seccomp", "attempt('perf_event_open', 298, ctypes.create_string_buffer(128), 0, -1, -1, 0)"));
        list.add(syscall("userfaultfd", "seccomp", "attempt('userfaultfd', 323, 0)"));
        list.add(syscall("kernel module load", "seccomp, no CAP_SYS_MODULE", "attempt('init_module', 175, None, 0, b'')"));
        list.add(syscall("reboot", "seccomp, no CAP_SYS_BOOT", "attempt('reboot', 169, 0xfee1dead, 672274793, 0x1234567, None)"));
        list.add(syscall("set the clock", "seccomp, no CAP_SYS_TIME", "attempt('settimeofday', 164, ctypes.create_string_buffer(16), None)"));
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
        list.add(new Hostile("raw socket", "no CAP_NET_RAW", py("""
                import socket
                try:
                    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); print("RAW")
                except OSError as e:
                    print("refused", e.errno)
                try:
                    socket.socket(socket.AF_PACKET, socket.SOCK_RAW); print("PACKET")
                except OSError as e:
                    print("refused", e.errno)
                """), (r, c) -> assertThat(r.stdout()).doesNotContain("RAW\n").doesNotContain("PACKET")));
        list.add(new Hostile("connection to host loopback", "network namespace", py("""
                import os, socket
                s = socket.socket(); s.settimeout(2)
                try:
                    s.connect(("127.0.0.1", int(os.environ["PORT"]))); print("CONNECTED")
                except OSError as e:
                    print("refused", e)
                """), printsNo("CONNECTED")));
        list.add(new Hostile("name resolution", "no network, no resolver", py("""
                import socket
                try:
                    print("RESOLVED", socket.getaddrinfo("localhost.localdomain.example", 80))
                except OSError as e:
                    print("failed", e)
                print(sorted(n for _, n in socket.if_nameindex()))
                """), (r, c) -> assertThat(r.stdout()).doesNotContain("RESOLVED").doesNotContain("eth")));

        // --- host files, environment, persistence ---
        list.add(new Hostile("read a host canary", "root made of read-only binds", py("""
                import os
                for p in [os.environ["CANARY"], "/proc/1/root" + os.environ["CANARY"], "/etc/shadow", "/root/.ssh/id_rsa"]:
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
                    print(sorted(v.split("=")[0] for v in open(p).read().split("\\0") if v))
                """), (r, c) -> {
                    List<String> lines = r.stdout().lines().toList();
                    assertThat(lines).as(r.stderr()).hasSize(2);
                    assertThat(lines.get(0)).isEqualTo("['CANARY', 'HOME', 'MARKER', 'PATH', 'PORT']");
                    if (c.runtime().startsWith("docker")) {
                        assertThat(lines.get(1)).isIn("['CANARY', 'HOME', 'MARKER', 'PATH', 'PORT']",
                                "['CANARY', 'HOME', 'HOSTNAME', 'MARKER', 'PATH', 'PORT']");
                    } else {
                        assertThat(lines.get(1)).isEqualTo("['CANARY', 'HOME', 'MARKER', 'PATH', 'PORT']");
                    }
                }));
        list.add(new Hostile("write to the read-only root", "read-only root and binds",
                sh("for f in /x /usr/bin/x /etc/passwd /bin/sh /.mcp-init; do (echo x > $f) 2>/dev/null && echo \"WROTE $f\"; done; echo done"),
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
                sh("hostname evil 2>/dev/null && echo CHANGED; hostname"), printsNo("CHANGED")));
        return list;
    }

    /** The results table, per program and runtime, for docs/security.md. */
    private static void writeTable() throws IOException {
        List<String> runtimes = results.values().stream().flatMap(m -> m.keySet().stream()).distinct().sorted().toList();
        StringBuilder md = new StringBuilder("| hostile program | limit it attacks | " + String.join(" | ", runtimes) + " |\n");
        md.append("| --- | --- |").append(" --- |".repeat(runtimes.size())).append('\n');
        for (Hostile h : programs()) {
            Map<String, String> row = results.getOrDefault(h.name(), Map.of());
            md.append("| ").append(h.name()).append(" | ").append(h.limit()).append(" |");
            for (String runtime : runtimes) {
                md.append(' ').append(row.getOrDefault(runtime, "not run")).append(" |");
            }
            md.append('\n');
        }
        Path out = Path.of("target", "hostile-results.md");
        Files.createDirectories(out.getParent());
        Files.writeString(out, md.toString(), StandardCharsets.UTF_8);
    }
}
