package io.mcpsandbox.runtime.docker;

import static org.assertj.core.api.Assertions.assertThat;

import com.github.dockerjava.api.exception.NotFoundException;
import io.mcpsandbox.image.CatalogImage;
import io.mcpsandbox.image.HostImage;
import io.mcpsandbox.image.ImageCatalog;
import io.mcpsandbox.image.TestImages;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.runtime.HostCommand;
import io.mcpsandbox.testing.TestSandbox;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The Docker backend on a real daemon, through the whole execution pipeline, for both {@code docker} (runc)
 * and {@code docker-runsc} (gVisor). After each test none of its containers, workspace mounts or cgroups
 * remain; after the suite, none of its images, unpacked roots or runsc processes.
 */
@org.junit.jupiter.api.Timeout(value = 3, unit = java.util.concurrent.TimeUnit.MINUTES)
class DockerRuntimeTest {
    private static TestSandbox sandbox;
    private static DockerEngine engine;
    private static Path work;
    private static final Set<String> names = ConcurrentHashMap.newKeySet();

    @BeforeAll
    static void start() throws Exception {
        DockerDaemon.ensureRunning();
        sandbox = TestSandbox.start();
        engine = ((DockerRuntime) sandbox.services().registry().find("docker").orElseThrow()).engine();
        work = Files.createTempDirectory("mcp-docker-test-");
        Files.setPosixFilePermissions(work, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (sandbox != null) {
                Path images = sandbox.services().config().imagesDir();
                sandbox.services().executions().awaitTeardowns(Duration.ofSeconds(60));
                engine.removeAllImages();
                for (Path tagFile : listOrEmpty(sandbox.services().config().dataDir().resolve("docker/images"))) {
                    throw new AssertionError("image not removed: " + tagFile);
                }
                sandbox.close();
                assertThat(images).doesNotExist();
            }
            assertThat(runscProcessesOfDocker()).as("runsc shim/sentry processes left by Docker").isEmpty();
            if (work != null) {
                TestImages.deleteTree(work);
            }
        } finally {
            DockerDaemon.stopIfStarted();
        }
    }

    @AfterEach
    void nothingLeftBehind() throws IOException {
        assertThat(sandbox.services().executions().awaitTeardowns(Duration.ofSeconds(60))).isTrue();
        assertThat(engine.listContainers().stream().filter(names::contains).toList()).as("containers of this test").isEmpty();
        assertThat(listOrEmpty(sandbox.services().config().dataDir().resolve("docker/sandboxes")))
                .as("sandbox directories").isEmpty();
        assertThat(Files.readAllLines(Path.of("/proc/self/mounts")).stream()
                .filter(l -> l.split(" ")[1].startsWith(sandbox.services().config().dataDir().toString())).toList())
                .as("mounts under the data dir").isEmpty();
        assertThat(TestSandbox.leftoverCgroups().stream().filter(p -> names.contains(p.getFileName().toString())).toList())
                .as("cgroups").isEmpty();
    }

    private static List<Path> listOrEmpty(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (var s = Files.list(dir)) {
            return s.toList();
        }
    }

    private static List<Long> runscProcessesOfDocker() throws IOException {
        return TestSandbox.hostProcessesWith("moby").stream().filter(pid -> {
            try {
                return new String(Files.readAllBytes(Path.of("/proc", pid.toString(), "cmdline"))).contains("runsc");
            } catch (IOException gone) {
                return false;
            }
        }).toList();
    }

    private static ExecutionResult run(String runtime, ExecutionRequest.Builder request) {
        ExecutionResult r = sandbox.run(request.runtime(runtime).build());
        names.add("mcp-exec-" + r.executionId());
        return r;
    }

    private static ExecutionRequest.Builder sh(String script) {
        return ExecutionRequest.builder().command("sh", "-c", script);
    }

    private static ExecutionRequest.Builder python(String code) {
        return ExecutionRequest.builder().language("python").code(code);
    }

    @ParameterizedTest
    @ValueSource(strings = {"docker", "docker-runsc"})
    void usableWhenTheDaemonAnswers(String runtime) {
        RuntimeInfo info = sandbox.services().registry().find(runtime).orElseThrow().probe();
        assertThat(info.usable()).as(info.reason()).isTrue();
        assertThat(info.version()).startsWith("Docker ");
    }

    @Test
    void unusableWithAReasonWhenNoDaemonAnswers() throws IOException {
        try (DockerEngine nowhere = new DockerEngine("unix://" + work.resolve("no.sock"), work.resolve("d"),
                Path.of("/usr/bin/tini-static"), null,
                io.mcpsandbox.runtime.oci.SeccompProfile.loadDefault(tools.jackson.databind.json.JsonMapper.builder().build()),
                io.mcpsandbox.runtime.oci.CgroupReader.host())) {
            RuntimeInfo info = new DockerRuntime(nowhere, DockerRuntime.Kind.RUNC).probe();
            assertThat(info.usable()).isFalse();
            assertThat(info.reason()).contains("no Docker daemon answers at unix://");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"docker", "docker-runsc"})
    void helloInShellAndPythonWithStdinAndWorkspaceFiles(String runtime) {
        ExecutionResult py = run(runtime, python("import sys; print('hello from', sys.version_info[0])"));
        assertThat(py.status()).as(py.reason() + py.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(py.stdout()).isEqualTo("hello from 3\n");
        assertThat(py.runtime()).isEqualTo(runtime);

        ExecutionResult cat = run(runtime, sh("cat; echo; cat /workspace/data/in.txt; echo err >&2")
                .stdin("from stdin").file("data/in.txt", "from a file"));
        assertThat(cat.stdout()).as(cat.reason() + cat.stderr()).isEqualTo("from stdin\nfrom a file");
        assertThat(cat.stderr()).isEqualTo("err\n");
    }

    @ParameterizedTest
    @ValueSource(strings = {"docker", "docker-runsc"})
    void exitCodesAndSignals(String runtime) {
        assertThat(run(runtime, sh("exit 3")).exitCode()).isEqualTo(3);
        ExecutionResult term = run(runtime, sh("kill -TERM $$"));
        assertThat(term.status()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(term.exitCode()).isEqualTo(128 + 15);
        ExecutionResult missing = run(runtime, ExecutionRequest.builder().command("no-such-program"));
        assertThat(missing.status()).as(missing.reason()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(missing.exitCode()).isEqualTo(127);
    }

    @ParameterizedTest
    @ValueSource(strings = {"docker", "docker-runsc"})
    void timeoutKillsAndRemovesTheContainer(String runtime) throws IOException {
        String marker = "marker-" + UUID.randomUUID();
        ExecutionResult r = run(runtime, sh("setsid sh -c 'sleep 1000; echo " + marker + "' >/dev/null 2>&1 </dev/null & "
                + "sleep 1000").limits(new LimitsRequest(1500L, null, null, null, null)));
        assertThat(r.status()).isEqualTo(ExecutionStatus.TIMEOUT);
        assertThat(r.exitCode()).isEqualTo(128 + 9);
        assertThat(r.durationMs()).isLessThan(1500 + 8000);
        sandbox.services().executions().awaitTeardowns(Duration.ofSeconds(30));
        String name = "mcp-exec-" + r.executionId();
        try {
            engine.control().inspectContainerCmd(name).exec();
            throw new AssertionError("container " + name + " still exists after the timeout");
        } catch (NotFoundException expected) {
            // removed
        }
        assertThat(TestSandbox.hostProcessesWith(marker)).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"docker", "docker-runsc"})
    void outputFloodStopsAtTheCap(String runtime) {
        ExecutionResult r = run(runtime, sh("yes 0123456789").limits(new LimitsRequest(30_000L, null, null, null, 1L << 20)));
        assertThat(r.status()).isEqualTo(ExecutionStatus.OUTPUT_LIMIT);
        assertThat(r.stdout().getBytes(StandardCharsets.UTF_8)).hasSize(1 << 20);
        assertThat(r.stdout()).startsWith("0123456789\n0123456789\n");
    }

    @ParameterizedTest
    @ValueSource(strings = {"docker", "docker-runsc"})
    void memoryBombIsOomKilledAndUsageIsMeasured(String runtime) {
        ExecutionResult r = run(runtime, python("""
                chunks = []
                while True:
                    chunks.append(bytearray(8 << 20))
                """).limits(new LimitsRequest(30_000L, 128L << 20, null, null, null)));
        assertThat(r.status()).as(r.reason() + " / " + r.stderr()).isEqualTo(ExecutionStatus.OOM_KILLED);
        assertThat(r.exitCode()).isEqualTo(128 + 9);
        assertThat(r.resourceUsage().peakMemoryBytes()).isPositive().isLessThanOrEqualTo(140L << 20);

        ExecutionResult busy = run(runtime, python("x = 0\nfor i in range(3_000_000): x += i\nprint(x > 0)"));
        assertThat(busy.stdout()).isEqualTo("True\n");
        assertThat(busy.resourceUsage().cpuMillis()).isPositive();
    }

    @ParameterizedTest
    @ValueSource(strings = {"docker", "docker-runsc"})
    void forkBombIsHeldByThePidsLimit(String runtime) {
        ExecutionResult r = run(runtime, python("""
                import os
                n = 0
                while True:
                    try:
                        if os.fork() == 0:
                            while True: pass
                        n += 1
                    except OSError:
                        print("fork refused after", n, flush=True)
                        os._exit(0) if n > 0 else None
                """).limits(new LimitsRequest(20_000L, null, 1.0, 32, null)));
        assertThat(r.stdout()).as(r.status() + " " + r.reason() + " " + r.stderr()).contains("fork refused after");
        int forked = Integer.parseInt(r.stdout().replaceAll("(?s).*fork refused after (\\d+).*", "$1"));
        assertThat(forked).isLessThanOrEqualTo(32);
    }

    @ParameterizedTest
    @ValueSource(strings = {"docker", "docker-runsc"})
    void noNetworkEvenToHostLoopback(String runtime) throws IOException {
        try (ServerSocket listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            listener.setSoTimeout(1500);
            ExecutionResult r = run(runtime, python("""
                    import socket
                    s = socket.socket()
                    s.settimeout(3)
                    try:
                        s.connect(("127.0.0.1", %d))
                        print("CONNECTED")
                    except OSError as e:
                        print("refused:", e)
                    print(sorted(n for _, n in socket.if_nameindex()))
                    """.formatted(listener.getLocalPort())));
            assertThat(r.stdout()).as(r.stderr()).contains("refused:").doesNotContain("CONNECTED").doesNotContain("eth");
            try {
                listener.accept().close();
                throw new AssertionError("the sandbox reached the host's loopback");
            } catch (SocketTimeoutException expected) {
                // nothing arrived
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"docker", "docker-runsc"})
    void rootIsReadOnlyTmpAndWorkspaceAreWritableAndCapped(String runtime) {
        ExecutionResult r = run(runtime, sh("""
                for f in /x /usr/x /etc/passwd /bin/x; do (echo x > $f) 2>/dev/null && echo "WROTE $f"; done
                echo data > /tmp/ok && cat /tmp/ok
                echo data > /workspace/ok && cat /workspace/ok
                dd if=/dev/zero of=/tmp/big bs=1M count=100 2>/dev/null; echo "dd exit $?"
                echo "size $(wc -c < /tmp/big)"
                """));
        assertThat(r.stdout()).as(r.stderr()).doesNotContain("WROTE").contains("data\ndata\n").contains("dd exit 1");
        long size = Long.parseLong(r.stdout().replaceAll("(?s).*size (\\d+).*", "$1"));
        assertThat(size).isLessThanOrEqualTo(64L << 20);
    }

    @ParameterizedTest
    @ValueSource(strings = {"docker", "docker-runsc"})
    void nonRootWithoutCapabilitiesAndOnlyTheRequestsEnvironment(String runtime) {
        ExecutionResult r = run(runtime, sh("id -u; id -g; grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb)' /proc/self/status; "
                + "python3 -c 'import ctypes; print(\"NoNewPrivs:\", ctypes.CDLL(None).prctl(39, 0, 0, 0, 0))'"));
        assertThat(r.stdout()).as(r.stderr()).startsWith("1000\n1000\n")
                .containsPattern("CapEff:\\s+0000000000000000").containsPattern("CapBnd:\\s+0000000000000000")
                .containsPattern("NoNewPrivs:\\s+1");
        // The program's own environment, read by the program started first (a shell would add PWD and SHLVL).
        ExecutionResult env = run(runtime, python(
                "print(sorted(v.split('=')[0] for v in open('/proc/self/environ').read().split('\\0') if v))")
                .env("GIVEN", "yes"));
        assertThat(env.stdout()).as(env.stderr()).isEqualTo("['GIVEN', 'HOME', 'PATH']\n");
    }

    @ParameterizedTest
    @ValueSource(strings = {"docker", "docker-runsc"})
    void ourSeccompProfileIsApplied(String runtime) {
        // io_uring_setup (Docker 20.10's own profile allows it), AF_VSOCK sockets, and unshare of a user namespace.
        ExecutionResult r = run(runtime, python("""
                import ctypes, os, socket
                libc = ctypes.CDLL(None, use_errno=True)
                print("io_uring", libc.syscall(425, 8, ctypes.create_string_buffer(120)), ctypes.get_errno())
                try:
                    socket.socket(40, socket.SOCK_STREAM); print("vsock OPEN")
                except OSError as e:
                    print("vsock denied", e.errno)
                print("userns", getattr(libc, "un" + "share")(0x10000000), ctypes.get_errno())
                """));
        assertThat(r.stdout()).as(r.status() + " " + r.reason() + " " + r.stderr()).containsPattern("io_uring -1 (1|38)").contains("vsock denied")
                .containsPattern("userns -1 (1|22)");
    }

    @Test
    void highLevelCanRunOnDockerRunsc() {
        ExecutionResult r = run("docker-runsc", sh("dmesg 2>/dev/null | head -1; echo ok").securityLevel(SecurityLevel.HIGH));
        assertThat(r.status()).as(r.reason()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(r.stdout()).endsWith("ok\n");
        ExecutionResult refused = run("docker", sh("true").securityLevel(SecurityLevel.HIGH));
        assertThat(refused.status()).isEqualTo(ExecutionStatus.REJECTED);
    }

    @Test
    void catalogImagesFromDockerSaveAndOciArchivesRunOnEveryBackend() throws Exception {
        String tag = "mcptest-bb-" + UUID.randomUUID().toString().substring(0, 8);
        Path root = TestImages.busyboxRoot(work.resolve("root-" + tag), "catalog-image");
        Path rootTar = work.resolve(tag + "-root.tar");
        HostCommand.check(List.of("tar", "-C", root.toString(), "-cf", rootTar.toString(), "."), Duration.ofMinutes(1));
        Path saved = work.resolve(tag + "-saved.tar");
        Path oci = work.resolve(tag + "-oci.tar");
        DockerDaemon.docker("import", rootTar.toString(), tag + ":1");
        try {
            DockerDaemon.docker("save", "-o", saved.toString(), tag + ":1");
            HostCommand.check(List.of("skopeo", "copy", "--quiet", "docker-archive:" + saved, "oci-archive:" + oci),
                    Duration.ofMinutes(2));
        } finally {
            DockerDaemon.docker("rmi", tag + ":1");
        }
        ImageCatalog catalog = new ImageCatalog(sandbox.services().config().imagesDir(),
                new HostImage(Path.of("/"), sandbox.services().config().imagesDir()));
        CatalogImage fromSave = catalog.importArchive("bb-saved", saved);
        CatalogImage fromOci = catalog.importArchive("bb-oci", oci);
        assertThat(fromSave.unpacked()).isTrue();
        for (String runtime : List.of("docker", "docker-runsc", "runc", "runsc")) {
            for (CatalogImage image : List.of(fromSave, fromOci)) {
                ExecutionResult r = run(runtime, sh("cat /etc/marker; id -u; ls /usr 2>&1 | head -1; "
                        + "(echo x > /x) 2>/dev/null && echo WROTE; echo ok > /tmp/t && cat /tmp/t").image(image.name()));
                assertThat(r.status()).as(runtime + " " + image.name() + ": " + r.reason() + r.stderr())
                        .isEqualTo(ExecutionStatus.COMPLETED);
                assertThat(r.stdout()).as(runtime).startsWith("catalog-image\n1000\n").doesNotContain("WROTE")
                        .endsWith("ok\n");
            }
        }
        catalog.remove("bb-saved");
        catalog.remove("bb-oci");
        assertThat(engine.pruneImages()).as("images of removed roots pruned").hasSize(1);
    }

    @Test
    void containersOfADeadOwnerAreReapedAndLiveOnesAreKept() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        OwnerId dead = new OwnerId(gone.pid(), 1, OwnerId.currentBootId());
        String id = UUID.randomUUID().toString();
        String name = "mcp-exec-" + id;
        names.add(name);
        String image = engine.ensureImage(HostImageRoot.of(sandbox));
        Path dir = sandbox.services().config().dataDir().resolve("docker/sandboxes").resolve(name);
        Files.createDirectories(dir.resolve("workspace"));
        Files.writeString(dir.resolve("owner"), dead.label());
        HostCommand.check(List.of("mount", "-t", "tmpfs", "-o", "size=1m", "t", dir.resolve("workspace").toString()),
                Duration.ofSeconds(5));
        engine.control().createContainerCmd(image).withName(name).withEntrypoint("/.mcp-init")
                .withLabels(Map.of(DockerEngine.LABEL_EXECUTION, id, DockerEngine.LABEL_OWNER, dead.label(),
                        DockerEngine.LABEL_SANDBOX_DIR, dir.toString()))
                .exec();
        // One of a live owner (this process): must survive.
        String liveName = "mcp-exec-" + UUID.randomUUID();
        names.add(liveName);
        engine.control().createContainerCmd(image).withName(liveName).withEntrypoint("/.mcp-init")
                .withLabels(Map.of(DockerEngine.LABEL_EXECUTION, liveName.substring(9),
                        DockerEngine.LABEL_OWNER, OwnerId.self().label()))
                .exec();
        try {
            List<String> reaped = engine.reapLeftovers();
            assertThat(reaped).contains(name).doesNotContain(liveName);
            assertThat(engine.listContainers()).doesNotContain(name).contains(liveName);
            assertThat(dir).doesNotExist();
        } finally {
            engine.control().removeContainerCmd(liveName).withForce(true).exec();
        }
    }

    /** The host image's skeleton root of this test's data directory. */
    private static final class HostImageRoot {
        static Path of(TestSandbox sandbox) throws IOException {
            return new HostImage(Path.of("/"), sandbox.services().config().imagesDir()).materialize().rootDir();
        }
    }
}
