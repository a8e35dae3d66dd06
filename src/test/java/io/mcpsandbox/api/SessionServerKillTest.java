package io.mcpsandbox.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.SessionCloseReason;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.host.CgroupReader;
import io.mcpsandbox.runtime.oci.BundleWriter;
import io.mcpsandbox.runtime.oci.OciRuntime;
import io.mcpsandbox.testing.ChildJvm;
import io.mcpsandbox.testing.DockerDaemon;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Issue 11's fault: a {@code serve --http} process is killed with SIGKILL while sessions run (ten on runc, two
 * on runsc, one on Docker), each with a long execution running and a background process left in it. A session
 * cannot be taken back (its agent ends with its channel), so after a restart on the same data and state
 * directories every one must answer 410 {@code server_restart}, its record must say so, its running execution
 * must have ended {@code error} with a reason, and nothing of any sandbox may remain: no container, bundle,
 * mount, cgroup, Docker container or process. Issue 12's fault too: the server dies with its warm pools full, and
 * their sandboxes are reaped the same way.
 *
 * <p>The owner watchdog is off in the killed server: this is about what the next server does with what a dead
 * one left, not about the watchdog racing it (ServerCrashRecoveryTest and DeadOwnerTest cover that).
 */
@SystemTest
class SessionServerKillTest {
    private static final String KEY = "session-kill-key-0123456789";
    private static final String USER = "kill-tester";
    /** The first server's warm pools, and how many sandboxes they hold when full. */
    private static final String POOLS = "runc:host:python=1,runc:host=1,runsc:host=1";
    private static final int POOLED = 3;
    private static final int RUNC_SESSIONS = 10;
    private static final int RUNSC_SESSIONS = 2;
    private static final Duration HTTP_TIMEOUT = Duration.ofSeconds(90);
    private static final JsonMapper JSON = JsonMapper.shared();

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private int port;

    /** One session of the killed server and what ran in it. */
    private record Opened(String runtime, String sessionId, String sandboxName, String marker,
                          String backgroundExecutionId, String runningExecutionId) {
    }

    /** A host process seen before the kill: its start time tells it from a later process with its pid. */
    private record HostProcess(long pid, String startTime, String what) {
        boolean alive() {
            return startTime.equals(startTimeOf(pid));
        }
    }

    @Test
    void aKilledServersSessionsAreClosedWithTheirRecordsAndLeaveNothing() throws Exception {
        DockerDaemon.ensureRunning();
        try (TestSandbox sandbox = TestSandbox.start()) {
            boolean docker = sandbox.docker().isPresent();
            try (ServerSocket free = new ServerSocket(0)) {
                port = free.getLocalPort();
            }
            Path log1 = Files.createTempFile("mcp-session-kill-1-", ".log");
            Path log2 = Files.createTempFile("mcp-session-kill-2-", ".log");
            Process first = serve(sandbox, log1, POOLS);
            Process second = null;
            try {
                awaitHealthy(first, log1);
                List<Opened> sessions = new ArrayList<>();
                List<String> runtimes = new ArrayList<>();
                for (int i = 0; i < RUNC_SESSIONS; i++) {
                    runtimes.add("runc");
                }
                for (int i = 0; i < RUNSC_SESSIONS; i++) {
                    runtimes.add("runsc");
                }
                if (docker) {
                    runtimes.add("docker");
                }
                for (String runtime : runtimes) {
                    sessions.add(openAndStart(sandbox, runtime));
                }
                // Every long execution is running, and (on the host kernel) its program and the background one
                // are host processes.
                for (Opened s : sessions) {
                    await().atMost(Duration.ofSeconds(60)).until(() -> "running".equals(
                            get("/v1/executions/" + s.runningExecutionId()).path("status").asString()));
                    if (!s.runtime().equals("runsc")) {
                        await().atMost(Duration.ofSeconds(60)).until(() ->
                                TestSandbox.hostProcessesWith(s.marker() + "-run").size() == 1
                                        && TestSandbox.hostProcessesWith(s.marker() + "-bg").size() == 1);
                    }
                }
                Map<String, List<HostProcess>> processes = new LinkedHashMap<>();
                for (Opened s : sessions) {
                    processes.put(s.sessionId(), sandboxProcesses(s));
                    assertThat(processes.get(s.sessionId())).as(s.runtime() + " " + s.sessionId() + " processes")
                            .isNotEmpty();
                }

                // Its pools full too: sandboxes started ahead die with it and are reaped like the sessions'.
                OciRuntime ociRunc = oci(sandbox, "runc");
                OciRuntime ociRunsc = oci(sandbox, "runsc");
                long ociSessions = sessions.stream().filter(s -> !s.runtime().startsWith("docker")).count();
                await().atMost(Duration.ofSeconds(120)).until(() -> ociRunc.listContainers().size()
                        + ociRunsc.listContainers().size() == ociSessions + POOLED);

                first.destroyForcibly().waitFor(); // SIGKILL: no shutdown hook, no session closed

                // Right after: each agent read the end of its channel, killed its programs and exited, so every
                // process of every sandbox ends on its own; containers, bundles and cgroups wait for a restart.
                OciRuntime runc = oci(sandbox, "runc");
                OciRuntime runsc = oci(sandbox, "runsc");
                List<String> ociLeft = new ArrayList<>(runc.listContainers());
                ociLeft.addAll(runsc.listContainers());
                System.out.printf("right after the kill: %d OCI containers listed, %d sandbox processes alive%n",
                        ociLeft.size(), processes.values().stream().flatMap(List::stream)
                                .filter(HostProcess::alive).count());
                for (Opened s : sessions) {
                    await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(
                            processes.get(s.sessionId()).stream().filter(HostProcess::alive).toList())
                            .as(s.runtime() + " " + s.sessionId() + ": its processes after the server died")
                            .isEmpty());
                }
                // The records still say open and running: nothing closed them.
                for (Opened s : sessions) {
                    assertThat(sandbox.services().store().findSession(s.sessionId()).orElseThrow().isOpen()).isTrue();
                    assertThat(sandbox.services().store().find(s.runningExecutionId()).orElseThrow().status())
                            .isEqualTo(ExecutionStatus.RUNNING);
                }

                second = serve(sandbox, log2, null);
                awaitHealthy(second, log2); // it recovers before it serves

                SoftAssertions soft = new SoftAssertions();
                for (Opened s : sessions) {
                    String what = s.runtime() + " session " + s.sessionId();
                    HttpResponse<String> shown = send("GET", "/v1/sessions/" + s.sessionId(), null);
                    soft.assertThat(shown.statusCode()).as(what + ": " + shown.body()).isEqualTo(410);
                    soft.assertThat(JSON.readTree(shown.body()).path("reason").asString()).as(what)
                            .isEqualTo("server_restart");
                    HttpResponse<String> exec = send("POST", "/v1/sessions/" + s.sessionId() + "/executions",
                            "{\"command\": [\"true\"]}");
                    soft.assertThat(exec.statusCode()).as(what + " execution: " + exec.body()).isEqualTo(410);

                    SessionRecord record = sandbox.services().store().findSession(s.sessionId()).orElseThrow();
                    soft.assertThat(record.isOpen()).as(what + " record open").isFalse();
                    soft.assertThat(record.closeReason()).as(what).isEqualTo(SessionCloseReason.SERVER_RESTART);
                    soft.assertThat(record.closeDetail()).as(what).isNotBlank();
                    soft.assertThat(record.closedAt()).as(what).isNotNull();

                    JsonNode running = get("/v1/executions/" + s.runningExecutionId());
                    soft.assertThat(running.path("status").asString()).as(what + " long execution: " + running)
                            .isEqualTo("error");
                    soft.assertThat(running.path("reason").asString()).as(what + " long execution's reason")
                            .isNotBlank();
                    List<ExecutionRecord> recorded = sandbox.services().store().listBySession(s.sessionId(), 10);
                    soft.assertThat(recorded).extracting(ExecutionRecord::executionId).as(what + " executions")
                            .containsExactlyInAnyOrder(s.backgroundExecutionId(), s.runningExecutionId());
                    soft.assertThat(recorded).extracting(ExecutionRecord::status).as(what + " none running")
                            .doesNotContain(ExecutionStatus.RUNNING);
                }
                soft.assertThat(get("/v1/sessions").path("sessions").size()).as("open sessions listed").isZero();
                soft.assertAll();

                assertNothingLeft(sandbox, sessions, processes);

                // The new server works: a session opens, runs and closes.
                JsonNode fresh = JSON.readTree(expect(send("POST", "/v1/sessions", "{\"runtime\": \"runc\"}"),
                        201).body());
                String freshId = fresh.path("sessionId").asString();
                JsonNode ran = JSON.readTree(expect(send("POST", "/v1/sessions/" + freshId + "/executions",
                        "{\"command\": [\"echo\", \"alive\"]}"), 200).body());
                assertThat(ran.path("stdout").asString()).isEqualTo("alive\n");
                expect(send("DELETE", "/v1/sessions/" + freshId, null), 200);
            } finally {
                first.destroyForcibly().waitFor();
                if (second != null) {
                    second.destroy(); // SIGTERM: it closes its sessions and removes their sandboxes
                    if (!second.waitFor(90, java.util.concurrent.TimeUnit.SECONDS)) {
                        second.destroyForcibly().waitFor();
                    }
                }
                Files.deleteIfExists(log1);
                Files.deleteIfExists(log2);
                // Whatever a failed run left, removed before the directories go (nothing when it passed).
                sandbox.services().recoverFromCrash();
            }
        }
    }

    /** Opens a session on {@code runtime}, leaves a background process in it, then starts a long execution. */
    private Opened openAndStart(TestSandbox sandbox, String runtime) throws Exception {
        JsonNode session = JSON.readTree(expect(send("POST", "/v1/sessions",
                "{\"runtime\": \"" + runtime + "\", \"idleTimeoutSeconds\": 600}"), 201).body());
        String id = session.path("sessionId").asString();
        String name = sandbox.services().store().findSession(id).orElseThrow().sandboxName();
        String marker = "kill-" + UUID.randomUUID();
        // The background process keeps no pipe of the execution's open: the execution ends at once.
        JsonNode bg = JSON.readTree(expect(send("POST", "/v1/sessions/" + id + "/executions",
                command("sh -c 'sleep 1000; echo " + marker + "-bg' >/dev/null 2>&1 </dev/null & echo started")),
                200).body());
        assertThat(bg.path("status").asString()).as(bg.toString()).isEqualTo("completed");
        assertThat(bg.path("stdout").asString()).isEqualTo("started\n");
        JsonNode accepted = JSON.readTree(expect(send("POST", "/v1/sessions/" + id + "/executions?async=true",
                "{\"command\": [\"sh\", \"-c\", \"sleep 30; echo " + marker + "-run\"],"
                        + " \"limits\": {\"timeoutMs\": 120000}}"), 202).body());
        return new Opened(runtime, id, name, marker, bg.path("executionId").asString(),
                accepted.path("executionId").asString());
    }

    private static String command(String shell) {
        return "{\"command\": [\"sh\", \"-c\", " + JSON.writeValueAsString(shell) + "]}";
    }

    /**
     * The host processes of a session's sandbox: its programs (by marker), every process in a cgroup named
     * after it, and every process whose command line names it (a runtime's own: runc, runsc's sandbox, gofer).
     */
    private static List<HostProcess> sandboxProcesses(Opened s) throws IOException {
        List<Long> pids = new ArrayList<>(TestSandbox.hostProcessesWith(s.marker()));
        pids.addAll(TestSandbox.hostProcessesWith(s.sandboxName()));
        for (Path dir : CgroupReader.host().directories(BundleWriter.cgroupPath(s.sandboxName()))) {
            Path procs = dir.resolve("cgroup.procs");
            if (Files.isReadable(procs)) {
                for (String line : Files.readAllLines(procs)) {
                    if (!line.isBlank()) {
                        pids.add(Long.parseLong(line.trim()));
                    }
                }
            }
        }
        List<HostProcess> found = new ArrayList<>();
        for (long pid : pids.stream().distinct().toList()) {
            String start = startTimeOf(pid);
            if (start != null) {
                found.add(new HostProcess(pid, start, cmdline(pid)));
            }
        }
        return found;
    }

    /** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or null when no such process. */
    private static String startTimeOf(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            String[] after = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return after[19];
        } catch (IOException | RuntimeException gone) {
            return null;
        }
    }

    private static String cmdline(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")),
                    StandardCharsets.UTF_8).replace('\0', ' ').strip();
        } catch (IOException gone) {
            return "";
        }
    }

    private static void assertNothingLeft(TestSandbox sandbox, List<Opened> sessions,
                                          Map<String, List<HostProcess>> processes) throws IOException {
        SoftAssertions soft = new SoftAssertions();
        soft.assertThat(oci(sandbox, "runc").listContainers()).as("runc containers").isEmpty();
        soft.assertThat(oci(sandbox, "runsc").listContainers()).as("runsc containers").isEmpty();
        try (var bundles = Files.list(sandbox.services().config().bundlesDir())) {
            soft.assertThat(bundles.toList()).as("bundle directories").isEmpty();
        }
        Path dockerDirs = sandbox.services().config().dataDir().resolve("docker/sandboxes");
        if (Files.isDirectory(dockerDirs)) {
            try (var dirs = Files.list(dockerDirs)) {
                soft.assertThat(dirs.toList()).as("docker sandbox directories").isEmpty();
            }
        }
        String data = sandbox.services().config().dataDir().toString();
        soft.assertThat(Files.readAllLines(Path.of("/proc/self/mounts")).stream()
                .filter(l -> l.split(" ")[1].startsWith(data)).toList()).as("mounts under the data dir").isEmpty();
        List<String> names = sessions.stream().map(Opened::sandboxName).toList();
        soft.assertThat(TestSandbox.leftoverCgroups().stream().filter(p -> names.contains(p.getFileName().toString()))
                .toList()).as("the sessions' cgroups").isEmpty();
        if (sandbox.docker().isPresent()) {
            soft.assertThat(sandbox.docker().get().leftovers().listContainers().stream().filter(names::contains)
                    .toList()).as("docker containers").isEmpty();
        }
        for (Opened s : sessions) {
            soft.assertThat(processes.get(s.sessionId()).stream().filter(HostProcess::alive).toList())
                    .as(s.runtime() + " " + s.sessionId() + " processes").isEmpty();
            soft.assertThat(TestSandbox.hostProcessesWith(s.marker())).as(s.marker()).isEmpty();
            soft.assertThat(TestSandbox.hostProcessesWith(s.sandboxName())).as(s.sandboxName()).isEmpty();
        }
        soft.assertAll();
    }

    private static OciRuntime oci(TestSandbox sandbox, String name) {
        return (OciRuntime) sandbox.services().registry().find(name).orElseThrow();
    }

    /**
     * @param pools the warm pools the server keeps (pool.sandboxes), or null for none: the first server dies with
     *              its pools full, the second keeps none, so that what it leaves is only what it must
     */
    private Process serve(TestSandbox sandbox, Path log, String pools) throws IOException {
        List<String> argv = new ArrayList<>(ChildJvm.cli());
        argv.addAll(List.of("serve", "--http", "127.0.0.1:" + port));
        ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.to(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Map<String, String> env = pb.environment();
        env.put("MCP_SANDBOX_DATA_DIR", sandbox.services().config().dataDir().toString());
        env.put("MCP_SANDBOX_STATE_DIR", sandbox.services().config().stateDir().toString());
        env.put("MCP_SANDBOX_SANDBOX_AGENT", TestSandbox.BUILT_AGENT.toString());
        env.put("MCP_SANDBOX_SANDBOX_WATCHDOG", "false");
        env.put("MCP_SANDBOX_API_KEYS", KEY + ":" + USER);
        env.put("MCP_SANDBOX_POLICY_MODE", "report");
        // One user holds all of them, each with an execution running: the caps are raised for this run.
        env.put("MCP_SANDBOX_SESSION_MAX_PER_USER", "20");
        env.put("MCP_SANDBOX_ADMISSION_MAX_CONCURRENT", "32");
        env.put("MCP_SANDBOX_ADMISSION_MAX_PER_USER", "32");
        if (pools == null) {
            env.put("MCP_SANDBOX_POOL_ENABLED", "false");
        } else {
            env.put("MCP_SANDBOX_POOL_SANDBOXES", pools);
        }
        return pb.start();
    }

    private void awaitHealthy(Process server, Path log) throws IOException {
        try {
            await().atMost(Duration.ofSeconds(120)).ignoreExceptions().until(() -> {
                if (!server.isAlive()) {
                    throw new AssertionError("the server exited: " + Files.readString(log));
                }
                return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/healthz"))
                        .build(), HttpResponse.BodyHandlers.ofString()).statusCode() == 200;
            });
        } catch (RuntimeException | AssertionError e) {
            throw new AssertionError("the server did not become healthy: " + Files.readString(log), e);
        }
    }

    private JsonNode get(String path) throws Exception {
        return JSON.readTree(expect(send("GET", path, null), 200).body());
    }

    private static HttpResponse<String> expect(HttpResponse<String> r, int status) {
        assertThat(r.statusCode()).as(r.request().method() + " " + r.uri() + ": " + r.body()).isEqualTo(status);
        return r;
    }

    private HttpResponse<String> send(String method, String path, String json) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(HTTP_TIMEOUT).header("Authorization", "Bearer " + KEY)
                .method(method, json == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(json, StandardCharsets.UTF_8));
        if (json != null) {
            b.header("Content-Type", "application/json");
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }
}
