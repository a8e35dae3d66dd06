package io.mcpsandbox.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.image.HostImage;
import io.mcpsandbox.image.ImageResolver;
import io.mcpsandbox.model.RootFilesystem;
import io.mcpsandbox.runtime.oci.OciRuntime;
import io.mcpsandbox.testing.DockerDaemon;
import io.mcpsandbox.testing.TestSandbox;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What every {@link SandboxRuntime} promises through the SPI alone, below the execution pipeline: pipes,
 * exit codes, death by signal, the exact environment and working directory, kill and close (both
 * idempotent), and no trace left once closed. A subclass per runtime names it; the service (and its
 * runtimes) starts once per class. The limits themselves are SandboxContainmentTest's and
 * HostileProgramsTest's.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
abstract class SandboxRuntimeContract {
    private static final String PATH = "/usr/local/bin:/usr/bin:/bin";
    /** A thread per task: readers and waiters block, and the common pool may have a single thread. */
    private static final Executor THREADS = task -> Thread.ofPlatform().daemon().start(task);
    private static TestSandbox sandbox;
    private static RootFilesystem hostRoot;

    /** runc, runsc, docker or docker-runsc. */
    protected abstract String runtimeName();

    @BeforeAll
    static void startService() throws Exception {
        DockerDaemon.ensureRunning();
        sandbox = TestSandbox.start();
        hostRoot = new ImageResolver(new HostImage(Path.of("/"), sandbox.services().config().imagesDir()))
                .resolve(HostImage.NAME);
    }

    @AfterAll
    static void stopService() throws IOException {
        if (sandbox != null) {
            sandbox.close();
        }
    }

    @AfterEach
    void nothingOfTheServiceLeftBehind() throws IOException {
        sandbox.assertNothingLeftBehind();
    }

    private SandboxRuntime runtime() {
        return sandbox.services().registry().find(runtimeName()).orElseThrow();
    }

    private static SandboxSpec spec(String script, Map<String, String> env, String workDir,
                                    Map<String, byte[]> files, byte[] stdin) {
        return new SandboxSpec(SandboxSpec.nameFor(UUID.randomUUID().toString()), List.of("sh", "-c", script), env,
                workDir, hostRoot, sandbox.services().config().defaultLimits(), false, files, stdin);
    }

    private static SandboxSpec spec(String script) {
        return spec(script, Map.of("PATH", PATH, "HOME", SandboxSpec.WORKSPACE), SandboxSpec.WORKSPACE, Map.of(),
                null);
    }

    /** What one run gave: both pipes read at once (a program filling one must not block on the other). */
    private record Ran(SandboxExit exit, String stdout, String stderr) {
    }

    private Ran run(SandboxSpec spec) throws Exception {
        try (PreparedSandbox prepared = runtime().prepare(spec)) {
            RunningSandbox running = prepared.start();
            CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> readAll(running.stdout()), THREADS);
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> readAll(running.stderr()), THREADS);
            SandboxExit exit = running.awaitExit();
            String stderr = running.withoutRuntimeNoise(err.get(60, TimeUnit.SECONDS));
            return new Ran(exit, out.get(60, TimeUnit.SECONDS), stderr);
        } finally {
            assertNoTraceOf(spec.name());
        }
    }

    private static String readAll(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void stdoutStderrAndTheExitCode() throws Exception {
        Ran r = run(spec("echo out; echo err >&2; exit 3"));
        assertThat(r.exit().failure()).isNull();
        assertThat(r.exit().exitCode()).isEqualTo(3);
        assertThat(r.stdout()).isEqualTo("out\n");
        assertThat(r.stderr()).isEqualTo("err\n");
        assertThat(run(spec("true")).exit().exitCode()).isZero();
    }

    @Test
    void aProgramThatCannotBeFoundExits127LikeInAShell() throws Exception {
        SandboxSpec spec = spec("unused");
        Ran r = run(new SandboxSpec(spec.name(), List.of("no-such-program"), spec.env(), spec.workDir(), spec.rootfs(),
                spec.limits(), false, Map.of(), null));
        assertThat(r.exit().failure()).as("the program's failure, not the runtime's").isNull();
        assertThat(r.exit().exitCode()).isEqualTo(127);
    }

    @Test
    void deathBySignalNIsExit128PlusN() throws Exception {
        assertThat(run(spec("kill -TERM $$")).exit().exitCode()).isEqualTo(128 + 15);
        assertThat(run(spec("kill -KILL $$")).exit().exitCode()).isEqualTo(128 + 9);
    }

    @Test
    void theEnvironmentWorkingDirectoryStdinAndFilesAreExactlyTheSpecs() throws Exception {
        Map<String, String> env = Map.of("PATH", PATH, "HOME", SandboxSpec.WORKSPACE, "GIVEN", "yes");
        Ran r = run(spec("pwd; cat; echo; cat /workspace/data/in.txt; echo; cat /proc/self/environ | tr '\\0' '\\n'",
                env, "/workspace/sub/dir", Map.of("data/in.txt", "from a file".getBytes(StandardCharsets.UTF_8)),
                "from stdin".getBytes(StandardCharsets.UTF_8)));
        assertThat(r.exit().exitCode()).as(r.stderr()).isZero();
        assertThat(r.stdout().lines().count()).as(r.stdout() + r.stderr()).isGreaterThan(3);
        List<String> lines = r.stdout().lines().toList();
        assertThat(lines.subList(0, 3)).containsExactly("/workspace/sub/dir", "from stdin", "from a file");
        // The environment of a child of sh: the spec's variables, plus what sh itself exports (PWD).
        assertThat(lines.subList(3, lines.size())).contains("GIVEN=yes", "PATH=" + PATH, "HOME=/workspace")
                .allMatch(v -> v.startsWith("GIVEN=") || v.startsWith("PATH=") || v.startsWith("HOME=")
                        || v.startsWith("PWD=") || v.startsWith("OLDPWD=") || v.startsWith("SHLVL="), "no other");
    }

    @Test
    void aKillOfARunningProgramEndsEveryProcessPromptlyAndKillAndCloseAreIdempotent() throws Exception {
        SandboxSpec spec = spec("sleep 1000 & echo up; sleep 1000; echo never");
        PreparedSandbox prepared = runtime().prepare(spec);
        try {
            RunningSandbox running = prepared.start();
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> readAll(running.stderr()), THREADS);
            CompletableFuture<SandboxExit> exit = CompletableFuture.supplyAsync(() -> awaitExit(running), THREADS);
            BufferedReader out = new BufferedReader(new InputStreamReader(running.stdout(), StandardCharsets.UTF_8));
            // What the service does at a timeout, once the program runs (seen by its first line, not a delay).
            assertThat(out.readLine()).isEqualTo("up");
            running.kill();
            running.kill();
            SandboxExit ended = exit.get(30, TimeUnit.SECONDS);
            assertThat(ended.exitCode()).as(String.valueOf(ended.failure())).isEqualTo(128 + 9);
            assertThat(out.lines().toList()).doesNotContain("never");
            err.get(30, TimeUnit.SECONDS);
            running.kill(); // after the end too
        } finally {
            prepared.close();
            prepared.close();
        }
        assertNoTraceOf(spec.name());
    }

    @Test
    void aKillAsEarlyAsTheStartRepeatedAsTheServiceDoesEndsTheProgram() throws Exception {
        SandboxSpec spec = spec("sleep 1000");
        try (PreparedSandbox prepared = runtime().prepare(spec)) {
            RunningSandbox running = prepared.start();
            CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> readAll(running.stdout()), THREADS);
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> readAll(running.stderr()), THREADS);
            CompletableFuture<SandboxExit> exit = CompletableFuture.supplyAsync(() -> awaitExit(running), THREADS);
            // A kill may reach the runtime before its container exists: the service repeats it until the end.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!exit.isDone() && System.nanoTime() < deadline) {
                running.kill();
                try {
                    exit.get(200, TimeUnit.MILLISECONDS);
                } catch (java.util.concurrent.TimeoutException stillRunning) {
                    // kill again
                }
            }
            assertThat(exit).as("ended within 30 s of kills").isDone();
            assertThat(exit.get().exitCode()).isEqualTo(128 + 9);
            out.get(30, TimeUnit.SECONDS);
            err.get(30, TimeUnit.SECONDS);
        }
        assertNoTraceOf(spec.name());
    }

    @Test
    void closeWithoutStartRemovesEveryTrace() throws IOException, SandboxException {
        SandboxSpec spec = spec("echo never");
        PreparedSandbox prepared = runtime().prepare(spec);
        assertThat(prepared.name()).isEqualTo(spec.name());
        prepared.close();
        prepared.close();
        assertNoTraceOf(spec.name());
    }

    @Test
    void closeWhileRunningKillsAndRemovesEveryTrace() throws Exception {
        SandboxSpec spec = spec("sleep 1000");
        PreparedSandbox prepared = runtime().prepare(spec);
        RunningSandbox running = prepared.start();
        CompletableFuture<SandboxExit> exit = CompletableFuture.supplyAsync(() -> awaitExit(running), THREADS);
        prepared.close();
        exit.get(30, TimeUnit.SECONDS);
        assertNoTraceOf(spec.name());
    }

    private static SandboxExit awaitExit(RunningSandbox running) {
        try {
            return running.awaitExit();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** No container, bundle, sandbox directory, mount or cgroup of this sandbox on any runtime. */
    private static void assertNoTraceOf(String name) throws IOException {
        for (String oci : TestSandbox.OCI_RUNTIMES) {
            OciRuntime runtime = (OciRuntime) sandbox.services().registry().find(oci).orElseThrow();
            assertThat(runtime.listContainers()).as(oci + " containers").doesNotContain(name);
        }
        if (sandbox.docker().isPresent()) {
            assertThat(sandbox.docker().get().leftovers().listContainers()).as("docker containers")
                    .doesNotContain(name);
        }
        Path dataDir = sandbox.services().config().dataDir();
        assertThat(sandbox.services().config().bundlesDir().resolve(name)).as("bundle").doesNotExist();
        assertThat(dataDir.resolve("docker/sandboxes").resolve(name)).as("docker sandbox directory").doesNotExist();
        assertThat(Files.readAllLines(Path.of("/proc/self/mounts"))).as("mounts").noneMatch(m -> m.contains(name));
        assertThat(TestSandbox.leftoverCgroups()).as("cgroups")
                .noneMatch(p -> p.getFileName().toString().equals(name));
    }
}
