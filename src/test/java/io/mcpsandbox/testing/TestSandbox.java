package io.mcpsandbox.testing;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.config.ConfigLoader;
import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.execution.SandboxServices;
import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.runtime.docker.DockerEngine;
import io.mcpsandbox.runtime.docker.DockerRuntime;
import io.mcpsandbox.runtime.oci.OciRuntime;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * A real service over real runtimes, with its own data and state directories, and the checks that a
 * test left nothing behind: no container (OCI or Docker), bundle, sandbox directory, workspace mount,
 * cgroup, or (at close) Docker image.
 */
public final class TestSandbox implements AutoCloseable {
    public static final List<String> OCI_RUNTIMES = List.of("runc", "runsc");
    /** The runtimes every limit test runs on: .ci/run installs and starts all of them. */
    public static final List<String> ALL_RUNTIMES = List.of("runc", "runsc", "docker", "docker-runsc");

    /** The agent as agent/Makefile builds it from this checkout (bin/test makes it first). */
    public static final Path BUILT_AGENT = Path.of("agent/build/mcp-agent").toAbsolutePath();

    /** Data and state directories of every instance in this JVM: none may remain after the suite. */
    private static final java.util.Set<Path> everyDirectory = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private final Path dataDir;
    private final Path stateDir;
    private final SandboxServices services;
    /** Sandbox names of every execution run through this instance: a leak is a cgroup named after one. */
    private final java.util.Set<String> sandboxNames = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private TestSandbox(Path dataDir, Path stateDir, Map<String, String> extraEnv) {
        this.dataDir = dataDir;
        this.stateDir = stateDir;
        Map<String, String> env = new HashMap<>(extraEnv);
        env.put(ConfigLoader.ENV_DATA_DIR, dataDir.toString());
        env.put("MCP_SANDBOX_STATE_DIR", stateDir.toString());
        env.putIfAbsent("MCP_SANDBOX_SANDBOX_AGENT", BUILT_AGENT.toString());
        // Spare interpreters (on by default) start whatever the test machine's CPU pressure: every session test
        // meets them the same way on a busy CI host as on an idle one (SpareGateTest covers the pressure check).
        env.putIfAbsent("MCP_SANDBOX_SESSION_SPARE_MAX_CPU_PRESSURE", "100");
        SandboxConfig config = new ConfigLoader(env).load();
        this.services = new SandboxServices(config);
        // Pooled sandboxes are named before any execution exists: their traces are looked for as well.
        services.pool().onSandboxStarted(sandboxNames::add);
    }

    /**
     * The program's uid as seen inside: 1000 in the user namespace of runc and runsc; on Docker (no user
     * namespace) a host uid of the sandbox's own, 1000 above the base of a range the allocator handed out.
     */
    public void assertSandboxUid(String runtime, long uid) {
        if (runtime.startsWith("docker")) {
            long base = services.config().sandboxUidBase();
            long last = base + services.config().sandboxUidSlots() * 65536L - 1;
            assertThat(uid).as(runtime + ": a host uid of the sandbox's own range").isBetween(base + 1000, last);
            assertThat((uid - base) % 65536).as(runtime + ": uid 1000 of its range").isEqualTo(1000);
        } else {
            assertThat(uid).as(runtime).isEqualTo(1000);
        }
    }

    public static TestSandbox start() {
        return start(Map.of());
    }

    /**
     * A service whose command policy only reports: the hostile programs must meet the sandbox itself, not
     * the tripwire in front of it (which would refuse many of them by their text).
     */
    public static TestSandbox boundaryOnly() {
        return start(Map.of("MCP_SANDBOX_POLICY_MODE", "report"));
    }

    /** @param extraEnv configuration as MCP_SANDBOX_* variables, e.g. limits */
    public static TestSandbox start(Map<String, String> extraEnv) {
        String id = UUID.randomUUID().toString().substring(0, 8);
        Path data = Path.of("/tmp", "mcp-sandbox-test-" + id);
        Path state = Path.of("/run", "mcp-sandbox-test-" + id);
        everyDirectory.add(data);
        everyDirectory.add(state);
        try {
            Files.createDirectories(data);
            Files.setPosixFilePermissions(data, PosixFilePermissions.fromString("rwxr-xr-x"));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return new TestSandbox(data, state, extraEnv);
    }

    public SandboxServices services() {
        return services;
    }

    public ExecutionResult run(ExecutionRequest request) {
        ExecutionResult result = services.executions().execute(request);
        sandboxNames.add(io.mcpsandbox.runtime.SandboxSpec.nameFor(result.executionId()));
        return result;
    }

    /** Starts a request in the background, tracked like {@link #run}. */
    public io.mcpsandbox.execution.ExecutionService.Submission submit(ExecutionRequest request) {
        var submission = services.executions().submit(request, io.mcpsandbox.execution.ExecutionListener.NONE);
        sandboxNames.add(io.mcpsandbox.runtime.SandboxSpec.nameFor(submission.executionId()));
        return submission;
    }

    /** Opens a session, tracked like {@link #run}: its sandbox is one whose leftovers are looked for. */
    public io.mcpsandbox.model.SessionRecord openSession(io.mcpsandbox.model.SessionRequest request)
            throws io.mcpsandbox.policy.PolicyViolation, io.mcpsandbox.session.SessionLimitException,
            io.mcpsandbox.runtime.SandboxException {
        io.mcpsandbox.model.SessionRecord session = services.sessions().create(request);
        sandboxNames.add(session.sandboxName());
        return session;
    }

    /**
     * Waits for teardowns, then asserts that no trace of any sandbox remains, apart from the sandboxes its warm
     * pool holds (started ahead, or being started or removed: no execution has touched them).
     */
    public void assertNothingLeftBehind() throws IOException {
        assertThat(services.executions().awaitTeardowns(Duration.ofSeconds(60))).as("teardowns finished").isTrue();
        assertThat(services.sessions().awaitTeardowns(Duration.ofSeconds(60))).as("session teardowns finished")
                .isTrue();
        // Looked at first, then the pool asked: what it held while the traces were listed is still held, and a
        // sandbox it starts after the listing is not in it.
        java.util.Map<String, List<String>> oci = new java.util.LinkedHashMap<>();
        for (String runtime : OCI_RUNTIMES) {
            oci.put(runtime, ((OciRuntime) services.registry().find(runtime).orElseThrow()).listContainers());
        }
        List<String> bundleDirs;
        try (Stream<Path> left = Files.list(services.config().bundlesDir())) {
            bundleDirs = left.map(p -> p.getFileName().toString()).toList();
        }
        var docker = docker();
        List<String> dockerContainers = docker.isPresent() ? docker.get().leftovers().listContainers().stream()
                .filter(sandboxNames::contains).toList() : List.of();
        List<String> dockerDirs = listOrEmpty(services.config().dataDir().resolve("docker/sandboxes")).stream()
                .map(p -> p.getFileName().toString()).toList();
        // A microVM's directory and its owner lock (<name>.lock) both go at close.
        List<String> vmEntries = listOrEmpty(services.config().dataDir().resolve("vms")).stream()
                .map(p -> p.getFileName().toString()).toList();
        List<String> mounts = leftoverMounts();
        // Other processes on this host may be running sandboxes of their own: only ours must be gone.
        List<String> cgroupNames = leftoverCgroups().stream().map(p -> p.getFileName().toString())
                .filter(sandboxNames::contains).toList();
        java.util.Set<String> pooled = services.pool().heldNames();
        java.util.function.Predicate<String> notPooled = name -> pooled.stream().noneMatch(name::contains);
        oci.forEach((runtime, names) -> assertThat(names.stream().filter(notPooled).toList()).as(runtime + " list")
                .isEmpty());
        assertThat(bundleDirs.stream().filter(notPooled).toList()).as("bundle directories").isEmpty();
        assertThat(dockerContainers.stream().filter(notPooled).toList()).as("docker containers").isEmpty();
        assertThat(dockerDirs.stream().filter(notPooled).toList()).as("docker sandbox directories").isEmpty();
        assertThat(vmEntries.stream().filter(notPooled).toList()).as("microVM directories and locks").isEmpty();
        assertThat(mounts.stream().filter(notPooled).toList()).as("mounts under the data dir").isEmpty();
        List<String> cgroups = cgroupNames.stream().filter(notPooled).toList();
        assertThat(cgroups).as("sandbox cgroups").isEmpty();
    }

    /**
     * The Docker engine of this service when its runtime is usable. When it is not, this service could not have
     * created a container (a daemon that stopped answering mid-test fails the tests that used it instead).
     */
    public java.util.Optional<DockerEngine> docker() {
        return services.registry().find("docker").filter(r -> r.probe().usable())
                .map(r -> ((DockerRuntime) r).engine());
    }

    private static List<Path> listOrEmpty(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.toList();
        }
    }

    private List<String> leftoverMounts() throws IOException {
        return Files.readAllLines(Path.of("/proc/self/mounts")).stream()
                .filter(line -> line.split(" ")[1].startsWith(dataDir.toString())).toList();
    }

    /** Every mcp-exec-* cgroup directory under any controller. */
    public static List<Path> leftoverCgroups() throws IOException {
        List<Path> found = new ArrayList<>();
        Path root = Path.of("/sys/fs/cgroup");
        List<Path> parents = new ArrayList<>();
        parents.add(root.resolve("mcp-sandbox"));
        try (Stream<Path> controllers = Files.list(root)) {
            controllers.forEach(c -> parents.add(c.resolve("mcp-sandbox")));
        }
        for (Path parent : parents) {
            if (Files.isDirectory(parent)) {
                try (Stream<Path> children = Files.list(parent)) {
                    children.filter(p -> p.getFileName().toString().startsWith("mcp-exec-")).forEach(found::add);
                }
            }
        }
        return found;
    }

    /** Directories of instances of this JVM that still exist (an instance not closed, or a failed removal). */
    public static List<Path> directoriesLeft() {
        return everyDirectory.stream().filter(Files::exists).sorted().toList();
    }

    /** gVisor's sandbox processes started by Docker's shim: they must end with their containers. */
    public static List<Long> runscProcessesOfDocker() throws IOException {
        return hostProcessesWith("moby").stream().filter(pid -> {
            try {
                return new String(Files.readAllBytes(Path.of("/proc", pid.toString(), "cmdline"))).contains("runsc");
            } catch (IOException gone) {
                return false;
            }
        }).toList();
    }

    /** Host processes whose command line contains {@code marker}. */
    public static List<Long> hostProcessesWith(String marker) throws IOException {
        List<Long> pids = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    String cmdline = new String(Files.readAllBytes(p.resolve("cmdline"))).replace('\0', ' ');
                    if (cmdline.contains(marker)
                            && Long.parseLong(p.getFileName().toString()) != ProcessHandle.current().pid()) {
                        pids.add(Long.parseLong(p.getFileName().toString()));
                    }
                } catch (IOException vanished) {
                    // the process ended while we looked
                }
            }
        }
        return pids;
    }

    /** Stops the service and removes its directories and the Docker images it loaded, failing if one stays. */
    @Override
    public void close() throws IOException {
        List<Path> imagesLeft = List.of();
        try {
            services.executions().awaitTeardowns(Duration.ofSeconds(60));
            var docker = docker();
            if (docker.isPresent()) {
                docker.get().images().removeAll();
                imagesLeft = listOrEmpty(services.config().dataDir().resolve("docker/images")).stream()
                        .filter(Files::isRegularFile).toList();
            }
        } finally {
            services.close();
            DeleteTree.delete(dataDir);
            DeleteTree.delete(stateDir);
        }
        assertThat(imagesLeft).as("docker images not removed").isEmpty();
    }
}
