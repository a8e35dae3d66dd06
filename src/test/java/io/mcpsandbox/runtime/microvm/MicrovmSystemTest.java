package io.mcpsandbox.runtime.microvm;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.execution.ExecutionService;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole pipeline on the real {@code microvm} runtime (issue 14): a QEMU microVM per execution booting the
 * project's guest (TCG here, ~5 s a boot, so one VM per case). Each hostile program prints a marker before its
 * attack, so no check passes on a program that never ran; after every case nothing of any VM is left on the
 * host (no QEMU process, no VM directory, no cgroup).
 */
@SystemTest
class MicrovmSystemTest {
    private static final String RUNTIME = "microvm";
    /** The tmpfs size of /tmp, /workspace and /dev/shm in the guest (limits.default.tmp), and the file-size rlimit. */
    private static final long TMP_BYTES = 32L << 20;
    private static final long MIB = 1L << 20;
    private static final int EPERM = 1;
    private static final int ENOENT = 2;
    private static final int EACCES = 13;
    private static final int EFBIG = 27;
    private static final int ENOSPC = 28;
    private static final int EROFS = 30;

    private static TestSandbox sandbox;
    /** Sandbox names of the executions of the current case: no QEMU may name one after it. */
    private final Set<String> names = ConcurrentHashMap.newKeySet();
    /** The services whose VMs the current case started (the shared one, or a broken guest's). */
    private final List<TestSandbox> used = new ArrayList<>();

    @BeforeAll
    static void start() {
        // The command policy only reports: the programs must meet the VM itself, not the tripwire in front of it.
        sandbox = TestSandbox.start(Map.of("MCP_SANDBOX_POLICY_MODE", "report",
                "MCP_SANDBOX_LIMITS_DEFAULT_TMP", Long.toString(TMP_BYTES)));
        var info = sandbox.services().registry().info(sandbox.services().registry().find(RUNTIME).orElseThrow());
        assertThat(info.usable()).as("microvm usable: " + info.reason()).isTrue();
    }

    @AfterAll
    static void stop() throws IOException {
        if (sandbox != null) {
            sandbox.close();
        }
    }

    @AfterEach
    void nothingLeftBehind() throws IOException {
        used.add(sandbox);
        for (TestSandbox s : used) {
            s.assertNothingLeftBehind();
            assertThat(vmEntries(s)).as("VM directories and locks left").isEmpty();
        }
        for (String name : names) {
            assertThat(TestSandbox.hostProcessesWith(name)).as("host processes naming " + name).isEmpty();
        }
    }

    // --- what runs, and where ------------------------------------------------------------------------------

    @Test
    void criticalRunsInAVmWithTheGuestKernelAndReportsTheProgramsOwnEnd() throws IOException {
        String hostKernel = Files.readString(Path.of("/proc/sys/kernel/osrelease")).trim();
        String guestKernel = new GuestImage(GuestImage.DEFAULT_DIR).kernelRelease();
        ExecutionResult r = run(ExecutionRequest.builder().language("python").code("""
                import os, sys
                print("hello from", sys.version_info[0])
                print("kernel", os.uname().release)
                print("uid", os.getuid(), os.geteuid())
                sys.stderr.write("to stderr\\n")
                sys.exit(3)
                """).securityLevel(SecurityLevel.CRITICAL).limits(timeoutMs(60_000)));
        assertThat(r.runtime()).as("critical maps to microvm").isEqualTo(RUNTIME);
        assertThat(r.securityLevel()).isEqualTo(SecurityLevel.CRITICAL);
        assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(r.exitCode()).isEqualTo(3);
        assertThat(r.stderr()).isEqualTo("to stderr\n");
        assertThat(guestKernel).as("Debian's 6.1 kernel").startsWith("6.1.").endsWith("-amd64");
        assertThat(r.stdout()).isEqualTo("hello from 3\nkernel " + guestKernel + "\nuid 1000 1000\n");
        assertThat(guestKernel).as("not the host's kernel").isNotEqualTo(hostKernel);
        assertThat(r.resourceUsage().cpuMillis()).isPositive();
        assertThat(r.resourceUsage().peakMemoryBytes()).isPositive();
    }

    @Test
    void startingFilesArriveInTheWorkspaceOwnedByTheSandboxUser() throws IOException {
        ExecutionResult r = run(sh("""
                echo files-check
                stat -c '%u:%g %a %n' /workspace /workspace/in.txt /workspace/data /workspace/data/deep/b.txt
                cat /workspace/in.txt; echo; cat /workspace/data/deep/b.txt; echo
                echo new > /workspace/new.txt && echo workspace writable
                cat
                """).file("in.txt", "from a file").file("data/deep/b.txt", "deep").stdin("from stdin")
                .limits(timeoutMs(60_000)));
        assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(r.stdout()).isEqualTo("""
                files-check
                1000:1000 755 /workspace
                1000:1000 644 /workspace/in.txt
                1000:1000 755 /workspace/data
                1000:1000 644 /workspace/data/deep/b.txt
                from a file
                deep
                workspace writable
                from stdin""");

        // A path out of /workspace is refused before anything runs: no VM is even prepared.
        assertThat(sandbox.services().executions().awaitTeardowns(Duration.ofSeconds(30))).isTrue();
        assertThat(vmEntries(sandbox)).as("the first VM is gone").isEmpty();
        for (String escape : List.of("../escape.txt", "data/../../escape.txt", "/etc/escape.txt", "..")) {
            ExecutionResult refused = run(sh("echo RAN").file(escape, "x").limits(timeoutMs(60_000)));
            assertThat(refused.status()).as(escape).isEqualTo(ExecutionStatus.REJECTED);
            assertThat(refused.reason()).as(escape).contains("files").contains("not a safe relative path");
            assertThat(refused.stdout()).doesNotContain("RAN");
            assertThat(vmEntries(sandbox)).isEmpty();
        }
    }

    // --- limits -----------------------------------------------------------------------------------------------

    /**
     * Inside a VM the OOM killer is the guest's: the program dies there, and QEMU on the host never grows past its
     * cgroup (guest RAM + 192 MiB), watched while the bomb runs.
     */
    @Test
    void memoryBombDiesInTheGuestAndQemuStaysWithinItsCgroup() throws Exception {
        long limit = 128 * MIB;
        long guestRam = limit + QemuCommand.GUEST_OVERHEAD_BYTES;
        long cgroupMax = guestRam + QemuCommand.QEMU_OVERHEAD_BYTES;
        ExecutionRequest request = ExecutionRequest.builder().language("python").code("""
                import time
                print("bombing", flush=True)
                time.sleep(1)
                chunks = []
                for i in range(32):  # 256 MiB, twice the limit, every page touched
                    c = bytearray(8 << 20)
                    c[::4096] = b"\\x01" * len(range(0, 8 << 20, 4096))
                    chunks.append(c)
                print("SURVIVED", flush=True)
                """).runtime(RUNTIME).limits(new LimitsRequest(90_000L, limit, null, null, null)).build();
        ExecutionService.Submission submission = submit(request);
        String name = SandboxSpec.nameFor(submission.executionId());
        // The limit as seen while QEMU is in the cgroup (it is written before QEMU joins).
        Set<Long> seenMax = new java.util.TreeSet<>();
        long seenPeak = 0;
        long hostOomKills = 0;
        while (!submission.result().isDone()) {
            Optional<Long> max = memoryFile(name, "memory.max", "memory.limit_in_bytes");
            if (max.isPresent() && occupied(name)) {
                seenMax.add(max.get());
            }
            seenPeak = Math.max(seenPeak, memoryFile(name, "memory.peak", "memory.max_usage_in_bytes").orElse(0L));
            hostOomKills = Math.max(hostOomKills, hostOomKills(name));
            Thread.sleep(50);
        }
        ExecutionResult r = submission.result().get();
        assertThat(r.stdout()).as(r.reason() + " " + r.stderr()).startsWith("bombing\n").doesNotContain("SURVIVED");
        assertThat(r.status()).as(r.reason()).isEqualTo(ExecutionStatus.OOM_KILLED);
        assertThat(r.securityEvents()).anyMatch(e -> e.type().equals("sandbox.oom_kill"));
        assertThat(seenMax).as("the QEMU cgroup's memory limit while QEMU ran").containsExactly(cgroupMax);
        assertThat(seenPeak).as("the QEMU cgroup's peak, watched").isPositive().isLessThanOrEqualTo(cgroupMax);
        assertThat(r.resourceUsage().peakMemoryBytes()).as("the peak the result reports").isPositive()
                .isLessThanOrEqualTo(cgroupMax);
        assertThat(hostOomKills).as("the host's OOM killer never had to act on QEMU").isZero();
    }

    @Test
    void forksAreRefusedAtThePidsLimit() {
        ExecutionResult r = run(ExecutionRequest.builder().language("python").code("""
                import os, time
                print("forking", flush=True)
                kids, err = [], 0
                while len(kids) < 5000:
                    try:
                        pid = os.fork()
                    except OSError as e:
                        err = e.errno
                        break
                    if pid == 0:
                        time.sleep(60)
                        os._exit(0)
                    kids.append(pid)
                print("forks", len(kids), "errno", err, flush=True)
                for k in kids:
                    os.kill(k, 9)
                    os.waitpid(k, 0)
                print("done", flush=True)
                """).limits(new LimitsRequest(60_000L, null, null, 32, null)));
        assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(r.exitCode()).isZero();
        Matcher m = Pattern.compile("(?m)^forks (\\d+) errno (\\d+)$").matcher(r.stdout());
        assertThat(m.find()).as(r.stdout()).isTrue();
        assertThat(Integer.parseInt(m.group(1))).as("processes forked").isPositive().isLessThan(32);
        assertThat(Integer.parseInt(m.group(2))).as("EAGAIN").isEqualTo(11);
        assertThat(r.stdout()).startsWith("forking\n").endsWith("done\n");
    }

    @Test
    void shellForkBombLeftBehindAnExitStillGivesTheProgramsEnd() {
        // Its own clock is forked first: once the bomb holds every pid, only builtins still run.
        ExecutionResult r = run(sh("echo bomb; sleep 2 & s=$!; (f() { f | f & }; f) >/dev/null 2>&1 & "
                + "wait $s; echo done; exit 3").limits(new LimitsRequest(60_000L, null, null, 32, null)));
        assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(r.exitCode()).isEqualTo(3);
        assertThat(r.stdout()).isEqualTo("bomb\ndone\n");
        assertThat(r.durationMs()).as("not the timeout").isLessThan(45_000);
    }

    @Test
    void fillingTheGuestsTmpfsFailsInside() {
        ExecutionResult r = run(ExecutionRequest.builder().language("python").code("""
                import os
                block = b"\\0" * (1 << 20)
                for d in ["/tmp", "/workspace", "/dev/shm"]:
                    print("filling", d, flush=True)
                    path = d + "/fill"
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    err = 0
                    try:
                        while os.fstat(fd).st_size < (200 << 20):
                            os.write(fd, block)
                    except OSError as e:
                        err = e.errno
                    os.close(fd)
                    print(d, "size", os.path.getsize(path), "errno", err, flush=True)
                    os.unlink(path)
                """).limits(timeoutMs(60_000)));
        assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
        for (String dir : List.of("/tmp", "/workspace", "/dev/shm")) {
            assertThat(r.stdout()).contains("filling " + dir + "\n");
            Matcher m = Pattern.compile("(?m)^" + dir + " size (\\d+) errno (\\d+)$").matcher(r.stdout());
            assertThat(m.find()).as(dir + ": " + r.stdout()).isTrue();
            assertThat(Long.parseLong(m.group(1))).as(dir + " size").isGreaterThanOrEqualTo(MIB)
                    .isLessThanOrEqualTo(TMP_BYTES);
            assertThat(Integer.parseInt(m.group(2))).as(dir + " errno").isIn(ENOSPC, EFBIG);
        }
    }

    @Test
    void wallClockTimeoutKillsTheVmAndLeavesNothing() throws IOException {
        // The cold boot (~5 s under TCG) counts in the deadline.
        ExecutionResult r = run(sh("echo started; sleep 600").limits(timeoutMs(20_000)));
        String name = SandboxSpec.nameFor(r.executionId());
        assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.TIMEOUT);
        assertThat(r.stdout()).isEqualTo("started\n");
        assertThat(r.durationMs()).isBetween(19_000L, 35_000L);
        assertThat(sandbox.services().executions().awaitTeardowns(Duration.ofSeconds(30))).isTrue();
        assertThat(TestSandbox.hostProcessesWith(name)).as("QEMU of " + name).isEmpty();
        Path vms = sandbox.services().config().dataDir().resolve("vms");
        assertThat(vms.resolve(name)).doesNotExist();
        assertThat(vms.resolve(name + ".lock")).doesNotExist();
    }

    @Test
    void outputBeyondTheCapEndsTheRun() {
        ExecutionResult r = run(sh("yes flood").limits(new LimitsRequest(60_000L, null, null, null, 65536L)));
        assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.OUTPUT_LIMIT);
        assertThat(r.stdout()).hasSize(65536).startsWith("flood\n");
        assertThat(r.stdoutTruncated()).isTrue();
        assertThat(r.durationMs()).as("ended by the cap, not the timeout").isLessThan(45_000);
    }

    // --- programs aimed at the guest kernel and the VM's devices ------------------------------------------------

    /** A python helper: "trying NAME" first, then "NAME denied errno=N" or "NAME ALLOWED". */
    private static final String ATTEMPT = """
            import ctypes, os, subprocess
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
            def command(name, argv):
                print("trying", name, flush=True)
                try:
                    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
                    print(name, "ALLOWED" if p.returncode == 0 else "failed exit=%d" % p.returncode, flush=True)
                except FileNotFoundError:
                    print(name, "MISSING", flush=True)
            """;

    @Test
    void nothingEntersTheGuestKernel() {
        ExecutionResult r = run(python(ATTEMPT + """
                print("modules_disabled", open("/proc/sys/kernel/modules_disabled").read().strip())
                print("kexec_load_disabled", open("/proc/sys/kernel/kexec_load_disabled").read().strip())
                with open("/tmp/evil.ko", "wb") as f:
                    f.write(b"\\x7fELF" + b"\\0" * 4092)
                fd = os.open("/tmp/evil.ko", os.O_RDONLY)
                image = open("/tmp/evil.ko", "rb").read()
                attempt("finit_module", 313, fd, b"", 0)
                attempt("init_module", 175, image, len(image), b"")
                attempt("delete_module", 176, b"virtio_console", 0)
                attempt("kexec_load", 246, 0, 0, 0, 0)
                attempt("kexec_file_load", 320, fd, fd, 0, b"", 0)
                command("insmod", ["/bin/busybox", "insmod", "/tmp/evil.ko"])
                command("modprobe", ["/bin/busybox", "modprobe", "loop"])
                """));
        assertRefused(r, Map.of("finit_module", Set.of(EPERM), "init_module", Set.of(EPERM),
                "delete_module", Set.of(EPERM), "kexec_load", Set.of(EPERM), "kexec_file_load", Set.of(EPERM)));
        assertThat(r.stdout()).doesNotContain("MISSING").contains("modules_disabled 1\n", "kexec_load_disabled 1\n",
                "insmod failed exit=", "modprobe failed exit=");
    }

    @Test
    void rebootAndPoweroffFromInsideAreRefusedAndTheRunEndsNormally() {
        ExecutionResult r = run(python(ATTEMPT + """
                import time
                attempt("reboot(2) power off", 169, 0xfee1dead, 672274793, 0x4321fedc, 0)
                attempt("reboot(2) restart", 169, 0xfee1dead, 672274793, 0x01234567, 0)
                attempt("reboot(2) halt", 169, 0xfee1dead, 672274793, 0xcdef0123, 0)
                command("reboot -f", ["/bin/busybox", "reboot", "-f"])
                command("poweroff -f", ["/bin/busybox", "poweroff", "-f"])
                command("halt -f", ["/bin/busybox", "halt", "-f"])
                time.sleep(1)
                print("still running", flush=True)
                os._exit(7)
                """));
        assertRefused(r, Map.of("reboot(2) power off", Set.of(EPERM), "reboot(2) restart", Set.of(EPERM),
                "reboot(2) halt", Set.of(EPERM)));
        assertThat(r.exitCode()).as("the program's own exit").isEqualTo(7);
        assertThat(r.stdout()).doesNotContain("MISSING")
                .contains("reboot -f failed exit=", "poweroff -f failed exit=", "halt -f failed exit=")
                .endsWith("still running\n");
    }

    @Test
    void theGuestHasNoDangerousDevicesAndNoNetwork() {
        ExecutionResult r = run(python(ATTEMPT + """
                import glob, stat
                for p in ["/dev/mem", "/dev/kmem", "/dev/port", "/dev/vda", "/dev/vdb", "/dev/hvc0", "/dev/hvc1",
                          "/dev/kmsg", "/dev/console", "/dev/vsock", "/dev/kvm"]:
                    attempt_py("open " + p, lambda: os.close(os.open(p, os.O_RDWR)))
                print("vports", glob.glob("/dev/vport*"))
                print("net", sorted(os.listdir("/sys/class/net")))
                attempt_py("mknod mem", lambda: os.mknod("/tmp/mem", stat.S_IFCHR | 0o600, os.makedev(1, 1)))
                attempt_py("mknod vport", lambda: os.mknod("/tmp/vp", stat.S_IFCHR | 0o600, os.makedev(244, 1)))
                attempt_py("mknod vda", lambda: os.mknod("/tmp/vda", stat.S_IFBLK | 0o600, os.makedev(254, 0)))
                """));
        Map<String, Set<Integer>> expected = new HashMap<>();
        for (String dev : List.of("mem", "kmem", "port", "vda", "vdb", "hvc0", "hvc1", "kmsg", "console", "vsock",
                "kvm")) {
            expected.put("open /dev/" + dev, Set.of(ENOENT));
        }
        for (String node : List.of("mem", "vport", "vda")) {
            expected.put("mknod " + node, Set.of(EPERM));
        }
        assertRefused(r, expected);
        assertThat(r.stdout()).contains("vports []\n").contains("net ['lo']\n");
    }

    @Test
    void mountUserNamespacesSysAndSysrqAreClosed() {
        ExecutionResult r = run(python(ATTEMPT + """
                os.makedirs("/tmp/m", exist_ok=True)
                attempt("mount tmpfs", 165, b"none", b"/tmp/m", b"tmpfs", 0, 0)
                attempt("mount proc", 165, b"proc", b"/tmp/m", b"proc", 0, 0)
                attempt("unshare user", 272, 0x10000000)
                attempt("unshare mount", 272, 0x00020000)
                command("mount command", ["/bin/busybox", "mount", "-t", "tmpfs", "none", "/tmp/m"])
                command("unshare -U", ["/usr/bin/unshare", "-U", "true"])
                command("unshare -Ur", ["/usr/bin/unshare", "-Ur", "true"])
                for p in ["/sys/kernel/mm/transparent_hugepage/enabled", "/sys/power/state",
                          "/sys/kernel/uevent_helper"]:
                    attempt_py("write " + p, lambda: open(p, "w").write("x"))
                attempt_py("write /proc/sysrq-trigger", lambda: open("/proc/sysrq-trigger", "w").write("o"))
                print("sysrq", open("/proc/sys/kernel/sysrq").read().strip())
                print("sys", [l.split()[3].split(",")[0] for l in open("/proc/mounts") if l.split()[1] == "/sys"])
                """));
        Map<String, Set<Integer>> expected = new HashMap<>();
        expected.put("mount tmpfs", Set.of(EPERM));
        expected.put("mount proc", Set.of(EPERM));
        // user.max_user_namespaces=0 answers ENOSPC where a capability check does not come first
        expected.put("unshare user", Set.of(EPERM, ENOSPC));
        expected.put("unshare mount", Set.of(EPERM));
        for (String p : List.of("/sys/kernel/mm/transparent_hugepage/enabled", "/sys/power/state",
                "/sys/kernel/uevent_helper")) {
            expected.put("write " + p, Set.of(EROFS));
        }
        expected.put("write /proc/sysrq-trigger", Set.of(EACCES, EPERM));
        assertRefused(r, expected);
        assertThat(r.stdout()).doesNotContain("MISSING").contains("mount command failed exit=",
                "unshare -U failed exit=",
                "unshare -Ur failed exit=", "sysrq 0\n", "sys ['ro']\n");
    }

    // --- QEMU on the host ------------------------------------------------------------------------------------

    @Test
    void qemuRunsConfinedOnTheHost() throws Exception {
        AtomicLong printed = new AtomicLong();
        ExecutionRequest request = sh("echo up; sleep 600").runtime(RUNTIME).limits(timeoutMs(120_000)).build();
        var submission = sandbox.services().executions().submit(request, (elapsed, bytes) -> printed.set(bytes));
        String name = SandboxSpec.nameFor(submission.executionId());
        names.add(name);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (printed.get() < 3 && !submission.result().isDone() && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        assertThat(submission.result().isDone()).as("the program still sleeps").isFalse();
        assertThat(printed.get()).as("the program printed its marker").isGreaterThanOrEqualTo(3);
        try {
            List<Long> qemus = TestSandbox.hostProcessesWith(name).stream()
                    .filter(pid -> exe(pid).endsWith("/qemu-system-x86_64")).toList();
            assertThat(qemus).as("one QEMU naming " + name).hasSize(1);
            long pid = qemus.getFirst();
            Map<String, String> status = procStatus(pid);
            String[] uids = status.get("Uid").split("\\s+");
            String[] gids = status.get("Gid").split("\\s+");
            assertThat(Set.copyOf(Arrays.asList(uids))).as("real, effective, saved, fs uid").hasSize(1)
                    .doesNotContain("0");
            assertThat(Set.copyOf(Arrays.asList(gids))).as("gids").hasSize(1).doesNotContain("0");
            assertThat(status.getOrDefault("Groups", "")).as("no supplementary groups").isEmpty();
            assertThat(status.get("NoNewPrivs")).isEqualTo("1");
            assertThat(status.get("Seccomp")).as("QEMU's own seccomp filter").isEqualTo("2");
            for (String caps : List.of("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")) {
                assertThat(status.get(caps)).as(caps).isEqualTo("0000000000000000");
            }
            assertThat(Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "ns/net")))
                    .as("its own network namespace").isNotEqualTo(Files.readSymbolicLink(Path.of("/proc/self/ns/net")));
            List<String> cgroups = Files.readAllLines(Path.of("/proc", Long.toString(pid), "cgroup"));
            boolean unified = Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers"));
            String memoryCgroup = cgroups.stream().filter(l -> unified ? l.startsWith("0::")
                    : Arrays.asList(l.split(":")[1].split(",")).contains("memory")).findFirst().orElseThrow();
            assertThat(memoryCgroup).as("its cgroup").endsWith("/mcp-sandbox/" + name);
            assertThat(cgroups.stream().filter(l -> l.split(":")[1].equals("pids")))
                    .allMatch(l -> l.endsWith("/mcp-sandbox/" + name));
            List<String> argv = Arrays.asList(Files.readString(Path.of("/proc", Long.toString(pid), "cmdline"))
                    .split("\0"));
            assertThat(argv).contains("-nodefaults", "-no-reboot",
                    "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny")
                    .doesNotContain("-monitor", "-qmp", "-serial", "-netdev", "-nic", "-net", "-gdb", "-s");

            int uid = Integer.parseInt(uids[0]);
            Path vmDir = sandbox.services().config().dataDir().resolve("vms").resolve(name);
            assertOwnerAndMode(vmDir, uid, "rwx------");
            // The console's FIFOs QEMU opens by name; QEMU's stderr is root's. Nothing in the directory is open to
            // anyone but root and the VM's own uid (the agent's channel may be FIFOs here or QEMU's stdio).
            for (String fifo : List.of("console.in", "console.out")) {
                assertThat(isFifo(vmDir.resolve(fifo))).as(fifo + " is a FIFO").isTrue();
                assertOwnerAndMode(vmDir.resolve(fifo), uid, "rw-------");
            }
            assertOwnerAndMode(vmDir.resolve("qemu.log"), 0, "rw-------");
            try (Stream<Path> entries = Files.walk(vmDir)) {
                for (Path p : entries.toList()) {
                    var attributes = Files.readAttributes(p, java.nio.file.attribute.PosixFileAttributes.class,
                            LinkOption.NOFOLLOW_LINKS);
                    assertThat(attributes.isSymbolicLink()).as(p + " is no link").isFalse();
                    assertThat(Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS)).as(p + " owner")
                            .isIn(0, uid);
                    assertThat(PosixFilePermissions.toString(attributes.permissions())).as(p + " mode")
                            .endsWith("------");
                }
            }
        } finally {
            sandbox.services().executions().terminate(submission.executionId());
        }
        ExecutionResult r = submission.result().get(60, TimeUnit.SECONDS);
        assertThat(r.status()).as(r.reason()).isEqualTo(ExecutionStatus.TERMINATED);
        assertThat(r.stdout()).isEqualTo("up\n");
    }

    // --- guests that fail --------------------------------------------------------------------------------------

    /** The guest kernel panics at once: its init exits (PID 1 ending panics the kernel; QEMU exits, -no-reboot). */
    @Test
    void aGuestWhoseInitExitsEndsInErrorPromptly(@TempDir Path tmp) throws IOException {
        Path guest = brokenGuest(tmp, "exit 1");
        ExecutionResult r = runOn(guest, 60_000);
        assertThat(r.status()).as(r.reason()).isEqualTo(ExecutionStatus.ERROR);
        assertThat(r.reason()).contains("agent");
        assertThat(r.stdout()).isEmpty();
        assertThat(r.exitCode()).as("no made-up exit code").isNull();
        assertThat(r.durationMs()).as("well within its 60 s timeout").isLessThan(30_000);
    }

    /** The guest boots and never answers (its init sleeps): the run ends within its timeout, the VM killed. */
    @Test
    void aGuestWhoseAgentNeverAnswersEndsWithinTheTimeout(@TempDir Path tmp) throws IOException {
        Path guest = brokenGuest(tmp, "/bin/busybox sleep 100000");
        ExecutionResult r = runOn(guest, 10_000);
        // No program ever ran: the sandbox failed (error), it is not the program's timeout.
        assertThat(r.status()).as(r.reason()).isEqualTo(ExecutionStatus.ERROR);
        assertThat(r.reason()).contains("never answered").contains("10000 ms");
        assertThat(r.stdout()).isEmpty();
        assertThat(r.exitCode()).as("no made-up exit code").isNull();
        assertThat(r.durationMs()).as("within the 10 s timeout").isLessThan(15_000);
    }

    /** A kernel QEMU cannot load: QEMU fails before the guest exists, and says why. */
    @Test
    void aGuestThatNeverBootsEndsInErrorWithQemusReason(@TempDir Path tmp) throws IOException {
        Path guest = brokenGuest(tmp, "exit 1");
        Files.write(guest.resolve("vmlinux"), "this is not a kernel\n".repeat(1000).getBytes(StandardCharsets.UTF_8));
        ExecutionResult r = runOn(guest, 60_000);
        assertThat(r.status()).as(r.reason()).isEqualTo(ExecutionStatus.ERROR);
        assertThat(r.reason()).startsWith("QEMU exited with status").contains("kernel");
        assertThat(r.exitCode()).as("no made-up exit code").isNull();
        assertThat(r.durationMs()).as("well within its 60 s timeout").isLessThan(30_000);
    }

    // ---------------------------------------------------------------------------------------------------------

    private ExecutionResult run(ExecutionRequest.Builder request) {
        ExecutionRequest built = request.build();
        if (built.runtime() == null && built.securityLevel() == null) {
            built = request.runtime(RUNTIME).build();
        }
        ExecutionResult r = sandbox.run(built);
        names.add(SandboxSpec.nameFor(r.executionId()));
        return r;
    }

    private ExecutionService.Submission submit(ExecutionRequest request) {
        ExecutionService.Submission s = sandbox.submit(request);
        names.add(SandboxSpec.nameFor(s.executionId()));
        return s;
    }

    /** Runs {@code echo} on a service whose guest is {@code guest}, then checks that service left nothing. */
    private ExecutionResult runOn(Path guest, long timeoutMs) throws IOException {
        TestSandbox broken = TestSandbox.start(Map.of("MCP_SANDBOX_MICROVM_GUEST_DIR", guest.toString()));
        used.add(broken);
        try {
            var info = broken.services().registry().info(broken.services().registry().find(RUNTIME).orElseThrow());
            assertThat(info.usable()).as("the broken guest passes the probe: " + info.reason()).isTrue();
            ExecutionResult r = broken.run(sh("echo RAN").runtime(RUNTIME).limits(timeoutMs(timeoutMs)).build());
            String name = SandboxSpec.nameFor(r.executionId());
            names.add(name);
            assertThat(r.stdout()).doesNotContain("RAN");
            broken.assertNothingLeftBehind();
            assertThat(vmEntries(broken)).as("VM directories and locks left").isEmpty();
            assertThat(TestSandbox.hostProcessesWith(name)).as("QEMU of " + name).isEmpty();
            return r;
        } finally {
            used.remove(broken);
            broken.close();
        }
    }

    /**
     * A copy of the installed guest (its kernel and properties, so the agent's digest still matches) whose
     * initramfs holds only a static busybox and an /init that runs {@code script}.
     */
    private static Path brokenGuest(Path tmp, String script) throws IOException {
        Path guest = tmp.resolve("guest");
        Path root = tmp.resolve("initramfs");
        Files.createDirectories(guest);
        Files.createDirectories(root.resolve("bin"));
        Files.copy(GuestImage.DEFAULT_DIR.resolve("vmlinux"), guest.resolve("vmlinux"));
        Files.copy(GuestImage.DEFAULT_DIR.resolve("guest.properties"), guest.resolve("guest.properties"));
        Files.copy(Path.of("/bin/busybox"), root.resolve("bin/busybox"), StandardCopyOption.COPY_ATTRIBUTES);
        Files.writeString(root.resolve("init"), "#!/bin/busybox sh\n" + script + "\n");
        Files.setPosixFilePermissions(root.resolve("init"), PosixFilePermissions.fromString("rwxr-xr-x"));
        Path cpio = guest.resolve("initramfs.cpio");
        Process p = new ProcessBuilder("sh", "-c", "cd \"$1\" && find . | LC_ALL=C sort | busybox cpio -o -H newc",
                "sh", root.toString()).redirectOutput(cpio.toFile()).redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        try {
            assertThat(p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0).as("cpio of the broken guest").isTrue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        assertThat(Files.size(cpio)).isGreaterThan(Files.size(root.resolve("bin/busybox")));
        // QEMU runs as an unprivileged uid: it must be able to read the guest.
        for (Path dir : List.of(tmp, guest)) {
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        try (Stream<Path> files = Files.list(guest)) {
            for (Path f : files.toList()) {
                Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r--r--"));
            }
        }
        return guest;
    }

    /** Entries in the service's VM directory: the VMs' directories and their owner locks. */
    private static List<String> vmEntries(TestSandbox s) throws IOException {
        Path vms = s.services().config().dataDir().resolve("vms");
        if (!Files.isDirectory(vms)) {
            return List.of();
        }
        try (Stream<Path> entries = Files.list(vms)) {
            return entries.map(p -> p.getFileName().toString()).toList();
        }
    }

    /**
     * Every attempt the program announced was refused with one of the errnos given for it, and it announced
     * every one of them; it completed (exit code unchecked here).
     */
    private static void assertRefused(ExecutionResult r, Map<String, Set<Integer>> errnos) {
        assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(r.stdout()).as(r.stderr()).doesNotContain("ALLOWED");
        List<String> lines = r.stdout().lines().toList();
        for (Map.Entry<String, Set<Integer>> e : errnos.entrySet()) {
            assertThat(lines).as("attempted: " + r.stdout()).contains("trying " + e.getKey());
            String prefix = e.getKey() + " denied errno=";
            String line = lines.stream().filter(l -> l.startsWith(prefix)).findFirst()
                    .orElseThrow(() -> new AssertionError("no refusal of " + e.getKey() + " in " + r.stdout()));
            assertThat(Integer.parseInt(line.substring(prefix.length()).trim())).as("errno of " + e.getKey())
                    .isIn(e.getValue());
        }
    }

    private static ExecutionRequest.Builder sh(String script) {
        return ExecutionRequest.builder().command("sh", "-c", script).limits(timeoutMs(60_000));
    }

    private static ExecutionRequest.Builder python(String code) {
        return ExecutionRequest.builder().language("python").code(code).limits(timeoutMs(60_000));
    }

    private static LimitsRequest timeoutMs(long ms) {
        return new LimitsRequest(ms, null, null, null, null);
    }

    /** A number in the sandbox's memory cgroup: the v2 file, else the v1 one; empty while it does not exist. */
    private static Optional<Long> memoryFile(String name, String v2, String v1) {
        Path root = Path.of("/sys/fs/cgroup");
        Path file = Files.exists(root.resolve("cgroup.controllers"))
                ? root.resolve("mcp-sandbox").resolve(name).resolve(v2)
                : root.resolve("memory/mcp-sandbox").resolve(name).resolve(v1);
        try {
            String text = Files.readString(file).trim();
            return text.equals("max") ? Optional.of(Long.MAX_VALUE) : Optional.of(Long.parseLong(text));
        } catch (IOException | NumberFormatException gone) {
            return Optional.empty();
        }
    }

    /** Whether a process (QEMU) is in the sandbox's memory cgroup. */
    private static boolean occupied(String name) {
        Path root = Path.of("/sys/fs/cgroup");
        Path procs = (Files.exists(root.resolve("cgroup.controllers")) ? root : root.resolve("memory"))
                .resolve("mcp-sandbox").resolve(name).resolve("cgroup.procs");
        try {
            return !Files.readString(procs).isBlank();
        } catch (IOException gone) {
            return false;
        }
    }

    /** OOM kills the host's kernel made in the sandbox's cgroup (memory.events or memory.oom_control). */
    private static long hostOomKills(String name) {
        Path root = Path.of("/sys/fs/cgroup");
        Path file = Files.exists(root.resolve("cgroup.controllers"))
                ? root.resolve("mcp-sandbox").resolve(name).resolve("memory.events")
                : root.resolve("memory/mcp-sandbox").resolve(name).resolve("memory.oom_control");
        try {
            return Files.readAllLines(file).stream().filter(l -> l.startsWith("oom_kill "))
                    .mapToLong(l -> Long.parseLong(l.substring(9).trim())).sum();
        } catch (IOException gone) {
            return 0;
        }
    }

    private static String exe(long pid) {
        try {
            return Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "exe")).toString();
        } catch (IOException gone) {
            return "";
        }
    }

    private static Map<String, String> procStatus(long pid) throws IOException {
        Map<String, String> status = new HashMap<>();
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            int colon = line.indexOf(':');
            if (colon > 0) {
                status.put(line.substring(0, colon), line.substring(colon + 1).trim());
            }
        }
        return status;
    }

    private static boolean isFifo(Path p) throws IOException {
        return Files.readAttributes(p, java.nio.file.attribute.BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
                .isOther();
    }

    private static void assertOwnerAndMode(Path p, int uid, String mode) throws IOException {
        assertThat(Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS)).as(p + " owner").isEqualTo(uid);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS)))
                .as(p + " mode").isEqualTo(mode);
    }
}
