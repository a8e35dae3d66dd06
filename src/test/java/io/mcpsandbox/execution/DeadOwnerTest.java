package io.mcpsandbox.execution;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.docker.DockerEngine;
import io.mcpsandbox.runtime.oci.OciRuntime;
import io.mcpsandbox.testing.ChildJvm;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue 10 item 7: `mcp-sandbox exec` is SIGKILLed while its sandbox runs. Its owner watchdog removes the
 * sandbox at once (long before the 30 s deadline), and when the watchdog is off, the next `exec` does it at
 * start. Nothing else in these tests reaps: the test's own services never call the reaper.
 */
@SystemTest
class DeadOwnerTest {
    private TestSandbox sandbox;

    @BeforeEach
    void start() {
        sandbox = TestSandbox.start();
    }

    @AfterEach
    void stop() throws Exception {
        sandbox.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"runc", "runsc", "docker", "docker-runsc", "microvm"})
    void theWatchdogOfAKilledExecRemovesItsSandboxWellBeforeItsDeadline(String runtime) throws Exception {
        String marker = "dead-owner-" + UUID.randomUUID();
        Process cli = cliExec(Map.of(), "--runtime", runtime, "--timeout", "30s", "--",
                "sh", "-c", "sleep 60; echo " + marker);
        try {
            ExecutionRecord running = awaitRunning(marker, runtime);
            String name = SandboxSpec.nameFor(running.executionId());
            String containerId = containerId(runtime, name);
            await().atMost(Duration.ofSeconds(60)).until(() -> !sandboxProcesses(marker, name, containerId).isEmpty());
            List<Long> watchdogs = watchdogsOf(cli.pid());
            assertThat(watchdogs).as("the CLI's watchdog").hasSize(1);
            assertThat(sessionOf(watchdogs.getFirst())).as("the watchdog's session").isEqualTo(watchdogs.getFirst());

            cli.destroyForcibly().waitFor(); // SIGKILL: no shutdown hook, no finally
            Instant killed = Instant.now();
            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).until(() ->
                    sandboxProcesses(marker, name, containerId).isEmpty() && !containers(runtime).contains(name)
                            && sandbox.services().store().find(running.executionId()).map(ExecutionRecord::status)
                            .orElse(ExecutionStatus.RUNNING) != ExecutionStatus.RUNNING);
            Duration took = Duration.between(killed, Instant.now());
            System.out.println(runtime + ": the watchdog reaped the dead exec's sandbox " + took.toMillis()
                    + " ms after the kill");
            // Nothing but the watchdog could end it (its owner is dead, and this test reaps nothing); on an idle
            // host it takes a second or two (a reaper JVM's start), on a host loaded 10x over still well under 30 s.
            assertThat(took).as("from the kill to nothing left").isLessThan(Duration.ofSeconds(30));

            ExecutionRecord closed = sandbox.services().store().find(running.executionId()).orElseThrow();
            assertThat(closed.status()).isEqualTo(ExecutionStatus.ERROR);
            assertThat(closed.result().reason()).isEqualTo(SandboxServices.OWNER_DIED);
            assertThat(closed.endedAt()).isNotNull();
            assertNothingOf(name);
            await().atMost(Duration.ofSeconds(20)).until(() -> watchdogsOf(cli.pid()).isEmpty()
                    && TestSandbox.hostProcessesWith("--owner-pid " + cli.pid()).isEmpty());
            assertThat(Files.readString(sandbox.services().config().dataDir().resolve("watchdog.log")))
                    .contains("mcp-sandbox reap: closed 1 execution(s) whose process died (pid " + cli.pid() + "): "
                            + running.executionId());
        } finally {
            cli.destroyForcibly().waitFor();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"runc", "docker", "microvm"})
    void execAtStartReapsWhatADeadOwnerLeft(String runtime) throws Exception {
        String marker = "dead-owner-" + UUID.randomUUID();
        Map<String, String> noWatchdog = Map.of("MCP_SANDBOX_SANDBOX_WATCHDOG", "false");
        Process owner = cliExec(noWatchdog, "--runtime", runtime, "--timeout", "5m", "--",
                "sh", "-c", "sleep 1000; echo " + marker);
        ExecutionRecord running;
        String name;
        String containerId;
        try {
            running = awaitRunning(marker, runtime);
            name = SandboxSpec.nameFor(running.executionId());
            containerId = containerId(runtime, name);
            await().atMost(Duration.ofSeconds(60)).until(() -> !sandboxProcesses(marker, name, containerId).isEmpty());
            assertThat(watchdogsOf(owner.pid())).as("no watchdog when it is off").isEmpty();
        } finally {
            owner.destroyForcibly().waitFor();
        }
        // The owner's end closed the agent's channel: the agent killed the program and exited, so nothing of the
        // sandbox runs on. Its container, mounts, cgroup and running record stay until somebody reaps them.
        String leftName = name;
        String leftContainer = containerId;
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
                assertThat(sandboxProcesses(marker, leftName, leftContainer))
                        .as("the program ended with its owner's channel").isEmpty());
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(containers(runtime)).as("the leftover container: nobody reaped it").contains(leftName));
        assertThat(sandbox.services().store().find(running.executionId()).orElseThrow().status())
                .as("the record until a reap").isEqualTo(ExecutionStatus.RUNNING);

        Process next = cliExec(noWatchdog, "--runtime", "runc", "--", "echo", "next-ran");
        assertThat(next.waitFor(120, TimeUnit.SECONDS)).as("the next exec ends").isTrue();
        assertThat(new String(next.getInputStream().readAllBytes())).contains("next-ran");
        assertThat(next.exitValue()).isZero();

        assertThat(sandboxProcesses(marker, name, containerId)).as("the dead owner's sandbox processes").isEmpty();
        assertThat(containers(runtime)).doesNotContain(name);
        ExecutionRecord closed = sandbox.services().store().find(running.executionId()).orElseThrow();
        assertThat(closed.status()).isEqualTo(ExecutionStatus.ERROR);
        assertThat(closed.result().reason()).isEqualTo(SandboxServices.OWNER_DIED);
        assertNothingOf(name);
    }

    /** Waits for the execution's running record and its container. */
    private ExecutionRecord awaitRunning(String marker, String runtime) throws IOException {
        await().atMost(Duration.ofSeconds(120)).until(() -> {
            List<String> names = containers(runtime);
            return sandbox.services().store().running().stream().anyMatch(r ->
                    String.join(" ", r.command()).contains(marker)
                            && names.contains(SandboxSpec.nameFor(r.executionId())));
        });
        List<ExecutionRecord> records = sandbox.services().store().running().stream()
                .filter(r -> String.join(" ", r.command()).contains(marker)).toList();
        assertThat(records).as("the running record").hasSize(1);
        return records.getFirst();
    }

    /**
     * Host processes of one sandbox: the program where the host sees it (runc, docker: a non-root process whose
     * argv holds the marker; the CLI's argv holds it too, but the CLI runs as root), and the runtime's own
     * processes (argv naming the sandbox, or for Docker its container id: runc, runsc's gofer and sentry, shims).
     */
    private static List<Long> sandboxProcesses(String marker, String name, String containerId) throws IOException {
        List<Long> pids = new ArrayList<>();
        for (long pid : TestSandbox.hostProcessesWith(marker)) {
            try {
                if (Files.readAllLines(Path.of("/proc", Long.toString(pid), "status")).stream()
                        .filter(l -> l.startsWith("Uid:")).anyMatch(l -> !l.split("\\s+")[1].equals("0"))) {
                    pids.add(pid);
                }
            } catch (IOException gone) {
                // ended while we looked
            }
        }
        pids.addAll(TestSandbox.hostProcessesWith(name));
        if (containerId != null) {
            pids.addAll(TestSandbox.hostProcessesWith(containerId));
        }
        return pids;
    }

    /** The Docker container id of a sandbox (its runtime processes name it), or null for OCI runtimes. */
    private static String containerId(String runtime, String name) throws Exception {
        if (!runtime.startsWith("docker")) {
            return null;
        }
        Process p = new ProcessBuilder("docker", "inspect", "-f", "{{.Id}}", name).redirectErrorStream(true).start();
        String id = new String(p.getInputStream().readAllBytes()).strip();
        assertThat(p.waitFor()).as("docker inspect: " + id).isZero();
        assertThat(id).matches("[0-9a-f]{64}");
        return id;
    }

    private void assertNothingOf(String name) throws IOException {
        Path bundles = sandbox.services().config().bundlesDir();
        try (Stream<Path> left = Files.list(bundles)) {
            assertThat(left.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(name)).toList())
                    .as("bundle and owner lock").isEmpty();
        }
        assertThat(sandbox.services().config().dataDir().resolve("docker/sandboxes").resolve(name))
                .as("docker sandbox directory").doesNotExist();
        assertThat(sandbox.services().config().dataDir().resolve("vms").resolve(name)).as("microVM directory")
                .doesNotExist();
        assertThat(sandbox.services().config().dataDir().resolve("vms").resolve(name + ".lock"))
                .as("microVM owner lock").doesNotExist();
        assertThat(Files.readAllLines(Path.of("/proc/self/mounts")).stream()
                .filter(l -> l.contains(name)).toList()).as("mounts").isEmpty();
        assertThat(TestSandbox.leftoverCgroups().stream()
                .filter(p -> p.getFileName().toString().equals(name)).toList()).as("cgroups").isEmpty();
        for (String oci : TestSandbox.OCI_RUNTIMES) {
            assertThat(((OciRuntime) sandbox.services().registry().find(oci).orElseThrow()).listContainers())
                    .as(oci + " list").doesNotContain(name);
        }
    }

    private List<String> containers(String runtime) throws IOException {
        if (runtime.equals("microvm")) {
            Path vms = sandbox.services().config().dataDir().resolve("vms");
            if (!Files.isDirectory(vms)) {
                return List.of();
            }
            try (Stream<Path> dirs = Files.list(vms)) {
                return dirs.filter(Files::isDirectory).map(d -> d.getFileName().toString()).toList();
            }
        }
        if (runtime.startsWith("docker")) {
            Optional<DockerEngine> docker = sandbox.docker();
            assertThat(docker).as("Docker is usable here").isPresent();
            return docker.get().leftovers().listContainers();
        }
        return ((OciRuntime) sandbox.services().registry().find(runtime).orElseThrow()).listContainers();
    }

    /** Watchdog shells whose owner is {@code pid}. */
    private static List<Long> watchdogsOf(long pid) throws IOException {
        return TestSandbox.hostProcessesWith("mcp-sandbox-watchdog").stream().filter(p -> {
            try {
                return new String(Files.readAllBytes(Path.of("/proc", p.toString(), "cmdline")))
                        .replace('\0', ' ').contains("--owner-pid " + pid);
            } catch (IOException gone) {
                return false;
            }
        }).toList();
    }

    private static long sessionOf(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        return Long.parseLong(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[3]);
    }

    /** `mcp-sandbox exec ARGS` in its own JVM, sharing this test's data and state directories. */
    private Process cliExec(Map<String, String> env, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(ChildJvm.cli());
        cmd.add("exec");
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("MCP_SANDBOX_DATA_DIR", sandbox.services().config().dataDir().toString());
        pb.environment().put("MCP_SANDBOX_STATE_DIR", sandbox.services().config().stateDir().toString());
        pb.environment().putAll(env);
        return pb.start();
    }
}
