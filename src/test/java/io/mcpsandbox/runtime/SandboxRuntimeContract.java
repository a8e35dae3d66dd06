package io.mcpsandbox.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.image.HostImage;
import io.mcpsandbox.image.ImageResolver;
import io.mcpsandbox.model.RootFilesystem;
import io.mcpsandbox.runtime.agent.AgentChannel;
import io.mcpsandbox.runtime.agent.AgentExit;
import io.mcpsandbox.runtime.agent.AgentLogTail;
import io.mcpsandbox.runtime.agent.ProgramRun;
import io.mcpsandbox.runtime.oci.OciRuntime;
import io.mcpsandbox.testing.DockerDaemon;
import io.mcpsandbox.testing.TestSandbox;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
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
 * What every {@link SandboxRuntime} promises through the SPI alone, below the execution pipeline: a sandbox
 * whose PID 1 is the agent, reachable over its channel (exit codes, death by signal, the exact environment and
 * working directory, stdin, files), that ends when the channel closes; usage, kill and close (both idempotent),
 * and no trace left once closed. A subclass per runtime names it; the service (and its
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

    private static SandboxSpec spec(Map<String, byte[]> files) {
        return new SandboxSpec(SandboxSpec.nameFor(UUID.randomUUID().toString()), hostRoot,
                sandbox.services().config().defaultLimits(), files);
    }

    private static SandboxSpec spec() {
        return spec(Map.of());
    }

    private static final Map<String, String> ENV = Map.of("PATH", PATH, "HOME", SandboxSpec.WORKSPACE);

    /** A program for the agent: a shell script with the usual environment, in /workspace. */
    private record Program(List<String> argv, Map<String, String> env, String cwd, byte[] stdin) {
        static Program sh(String script) {
            return new Program(List.of("sh", "-c", script), ENV, SandboxSpec.WORKSPACE, null);
        }
    }

    /** What one run gave: the program's end as the agent told it, its output, and the sandbox's own end. */
    private record Ran(ProgramRun.End end, String stdout, String stderr, SandboxExit sandbox) {
        int exitCode() {
            assertThat(end).as("the program ran and ended: " + end).isInstanceOf(ProgramRun.End.Exited.class);
            AgentExit exit = ((ProgramRun.End.Exited) end).exit();
            return exit.kind() == AgentExit.Kind.EXITED ? exit.value() : 128 + exit.value();
        }
    }

    /** Collects a program's output (bounded only by the test's own small programs). */
    private static class Output implements ProgramRun.OutputSink {
        final java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        final java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();

        @Override
        public synchronized void stdout(byte[] chunk) {
            out.writeBytes(chunk);
        }

        @Override
        public synchronized void stderr(byte[] chunk) {
            err.writeBytes(chunk);
        }

        synchronized String stdout() {
            return out.toString(StandardCharsets.UTF_8);
        }

        synchronized String stderr() {
            return err.toString(StandardCharsets.UTF_8);
        }
    }

    private static AgentChannel open(RunningSandbox running, String name) throws IOException {
        AgentLogTail.follow(running.agentLog(), name);
        return AgentChannel.open(name, running.fromAgent(), running.toAgent(), Duration.ofSeconds(60));
    }

    private Ran run(SandboxSpec spec, Program program) throws Exception {
        try (PreparedSandbox prepared = runtime().prepare(spec)) {
            RunningSandbox running = prepared.start();
            CompletableFuture<SandboxExit> sandboxEnd = CompletableFuture.supplyAsync(() -> awaitExit(running),
                    THREADS);
            Output output = new Output();
            ProgramRun.End end;
            try (AgentChannel channel = open(running, spec.name())) {
                ProgramRun run = ProgramRun.start(channel, program.argv(), program.env(), program.cwd(),
                        program.stdin(), output);
                end = run.end().get(60, TimeUnit.SECONDS);
                channel.shutdown();
            }
            // The agent's channel closed: the agent kills what is left and exits, and so the sandbox ends.
            SandboxExit exit = sandboxEnd.get(30, TimeUnit.SECONDS);
            return new Ran(end, output.stdout(), output.stderr(), exit);
        } finally {
            assertNoTraceOf(spec.name());
        }
    }

    private Ran run(Program program) throws Exception {
        return run(spec(), program);
    }

    @Test
    void stdoutStderrAndTheExitCode() throws Exception {
        Ran r = run(Program.sh("echo out; echo err >&2; exit 3"));
        assertThat(r.exitCode()).isEqualTo(3);
        assertThat(r.stdout()).isEqualTo("out\n");
        assertThat(r.stderr()).isEqualTo("err\n");
        assertThat(r.sandbox().failure()).as("the sandbox ended by itself after the agent's channel closed").isNull();
        assertThat(run(Program.sh("true")).exitCode()).isZero();
    }

    @Test
    void aProgramThatCannotBeFoundIsAStartFailureNotARuntimeFailure() throws Exception {
        Ran r = run(new Program(List.of("no-such-program"), ENV, SandboxSpec.WORKSPACE, null));
        assertThat(r.end()).isInstanceOf(ProgramRun.End.StartFailed.class);
        assertThat(((ProgramRun.End.StartFailed) r.end()).reason()).startsWith("cannot execute the program: ")
                .contains("No such file");
        assertThat(r.sandbox().failure()).as("the runtime did not fail").isNull();
    }

    @Test
    void deathBySignalNIsReportedAsThatSignal() throws Exception {
        assertThat(run(Program.sh("kill -TERM $$")).exitCode()).isEqualTo(128 + 15);
        assertThat(run(Program.sh("kill -KILL $$")).exitCode()).isEqualTo(128 + 9);
    }

    @Test
    void theEnvironmentWorkingDirectoryStdinAndFilesAreExactlyTheProgramsAndTheSpecs() throws Exception {
        Map<String, String> env = Map.of("PATH", PATH, "HOME", SandboxSpec.WORKSPACE, "GIVEN", "yes");
        Ran r = run(spec(Map.of("data/in.txt", "from a file".getBytes(StandardCharsets.UTF_8))),
                new Program(List.of("/bin/sh", "-c", "pwd; cat; echo; cat /workspace/data/in.txt; echo; "
                        + "cat /proc/self/environ | tr '\\0' '\\n'"), env, "/tmp/made/by/the/agent",
                        "from stdin".getBytes(StandardCharsets.UTF_8)));
        assertThat(r.exitCode()).as(r.stderr()).isZero();
        assertThat(r.stdout().lines().count()).as(r.stdout() + r.stderr()).isGreaterThan(3);
        List<String> lines = r.stdout().lines().toList();
        assertThat(lines.subList(0, 3)).containsExactly("/tmp/made/by/the/agent", "from stdin", "from a file");
        // The environment of a child of sh: the program's variables, plus what sh itself exports (PWD).
        assertThat(lines.subList(3, lines.size())).contains("GIVEN=yes", "PATH=" + PATH, "HOME=/workspace")
                .allMatch(v -> v.startsWith("GIVEN=") || v.startsWith("PATH=") || v.startsWith("HOME=")
                        || v.startsWith("PWD=") || v.startsWith("OLDPWD=") || v.startsWith("SHLVL="), "no other");
    }

    @Test
    void theAgentIsPid1AndTheProgramsRunAsTheSandboxUser() throws Exception {
        Ran r = run(Program.sh("echo $$; cat /proc/1/cmdline | tr '\\0' ' '; echo; id -u"));
        assertThat(r.exitCode()).as(r.stderr()).isZero();
        List<String> lines = r.stdout().lines().toList();
        assertThat(Integer.parseInt(lines.get(0))).as("the program is not PID 1").isGreaterThan(1);
        // A microVM's agent starts as root and is told whom to become ("--user 1000"): only its path counts here.
        assertThat(lines.get(1).strip().split(" ")[0]).isEqualTo(io.mcpsandbox.model.RootFilesystem.INIT_MOUNT_POINT);
        sandbox.assertSandboxUid(runtimeName(), Long.parseLong(lines.get(2)));
    }

    @Test
    void aKillOfARunningProgramEndsEveryProcessPromptlyAndKillAndCloseAreIdempotent() throws Exception {
        SandboxSpec spec = spec();
        PreparedSandbox prepared = runtime().prepare(spec);
        try {
            RunningSandbox running = prepared.start();
            CompletableFuture<SandboxExit> exit = CompletableFuture.supplyAsync(() -> awaitExit(running), THREADS);
            AgentChannel channel = open(running, spec.name());
            CompletableFuture<String> firstLine = new CompletableFuture<>();
            Output output = new Output() {
                @Override
                public synchronized void stdout(byte[] chunk) {
                    super.stdout(chunk);
                    firstLine.complete(stdout());
                }
            };
            ProgramRun run = ProgramRun.start(channel, List.of("sh", "-c", "sleep 1000 & echo up; sleep 1000; "
                    + "echo never"), ENV, SandboxSpec.WORKSPACE, null, output);
            // What the service does at a timeout, once the program runs (seen by its first line, not a delay).
            assertThat(firstLine.get(60, TimeUnit.SECONDS)).isEqualTo("up\n");
            running.kill();
            running.kill();
            assertThat(run.end().get(30, TimeUnit.SECONDS)).isInstanceOf(ProgramRun.End.Lost.class);
            exit.get(30, TimeUnit.SECONDS);
            assertThat(output.stdout()).doesNotContain("never");
            running.kill(); // after the end too
            channel.close();
        } finally {
            prepared.close();
            prepared.close();
        }
        assertNoTraceOf(spec.name());
    }

    @Test
    void aKillAsEarlyAsTheStartRepeatedAsTheServiceDoesEndsTheSandbox() throws Exception {
        SandboxSpec spec = spec();
        try (PreparedSandbox prepared = runtime().prepare(spec)) {
            RunningSandbox running = prepared.start();
            CompletableFuture<SandboxExit> exit = CompletableFuture.supplyAsync(() -> awaitExit(running), THREADS);
            AgentLogTail.follow(running.agentLog(), spec.name());
            CompletableFuture<Long> drained = CompletableFuture.supplyAsync(() -> drain(running.fromAgent()),
                    THREADS);
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
            drained.get(30, TimeUnit.SECONDS);
        }
        assertNoTraceOf(spec.name());
    }

    @Test
    void usageIsReadableWhileTheSandboxRuns() throws Exception {
        SandboxSpec spec = spec();
        try (PreparedSandbox prepared = runtime().prepare(spec)) {
            RunningSandbox running = prepared.start();
            try (AgentChannel channel = open(running, spec.name())) {
                ProgramRun run = ProgramRun.start(channel, List.of("sh", "-c", "i=0; while [ $i -lt 200000 ]; "
                        + "do i=$((i+1)); done"), ENV, SandboxSpec.WORKSPACE, null, new Output());
                assertThat(run.end().get(60, TimeUnit.SECONDS)).isInstanceOf(ProgramRun.End.Exited.class);
                io.mcpsandbox.host.CgroupReader.Usage usage = running.usage();
                assertThat(usage.cpuNanos()).as("the loop's CPU time").isPositive();
                assertThat(usage.peakMemoryBytes()).isPositive();
            }
        }
        assertNoTraceOf(spec.name());
    }

    private static long drain(InputStream in) {
        try (in) {
            return in.transferTo(java.io.OutputStream.nullOutputStream());
        } catch (IOException e) {
            return -1;
        }
    }

    @Test
    void closeWithoutStartRemovesEveryTrace() throws IOException, SandboxException {
        SandboxSpec spec = spec();
        PreparedSandbox prepared = runtime().prepare(spec);
        assertThat(prepared.name()).isEqualTo(spec.name());
        prepared.close();
        prepared.close();
        assertNoTraceOf(spec.name());
    }

    @Test
    void closeWhileRunningKillsAndRemovesEveryTrace() throws Exception {
        SandboxSpec spec = spec();
        PreparedSandbox prepared = runtime().prepare(spec);
        RunningSandbox running = prepared.start();
        AgentChannel channel = open(running, spec.name());
        ProgramRun.start(channel, List.of("sleep", "1000"), ENV, SandboxSpec.WORKSPACE, null, new Output());
        CompletableFuture<SandboxExit> exit = CompletableFuture.supplyAsync(() -> awaitExit(running), THREADS);
        prepared.close();
        exit.get(30, TimeUnit.SECONDS);
        channel.close();
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
        assertThat(dataDir.resolve("vms").resolve(name)).as("microVM directory").doesNotExist();
        assertThat(TestSandbox.hostProcessesWith(name)).as("QEMU or any process naming the sandbox").isEmpty();
        assertThat(Files.readAllLines(Path.of("/proc/self/mounts"))).as("mounts").noneMatch(m -> m.contains(name));
        assertThat(TestSandbox.leftoverCgroups()).as("cgroups")
                .noneMatch(p -> p.getFileName().toString().equals(name));
    }
}
