package io.mcpsandbox.execution;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.testing.DockerDaemon;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue 10 item 2: another host user ({@code nobody}) cannot list or read anything of a running sandbox:
 * its bundle or sandbox directory, config.json, runtime log, the agent's FIFOs (argv, env and stdin pass there),
 * workspace files, the runtimes' state, the uid-range and owner locks, nor the program's /proc environ and root. Root
 * reads the same paths and finds the secret (they exist and hold it), and the program itself used its
 * workspace and /tmp.
 */
@SystemTest
class HostUserExposureTest {
    private static TestSandbox sandbox;

    @BeforeAll
    static void start() throws Exception {
        DockerDaemon.ensureRunning();
        sandbox = TestSandbox.start();
    }

    @AfterAll
    static void stop() throws IOException {
        sandbox.close();
    }

    @AfterEach
    void nothingLeftBehind() throws IOException {
        sandbox.assertNothingLeftBehind();
    }

    @ParameterizedTest
    @ValueSource(strings = {"runc", "runsc", "docker", "docker-runsc"})
    void anotherHostUserCannotReadARunningSandbox(String runtime) throws Exception {
        String secret = "secret-" + UUID.randomUUID();
        // Writes its workspace and /tmp, then says so through a file root waits for, and stays running.
        String script = "echo " + secret + " > /workspace/private.txt && echo tmp-ok > /tmp/t && cat /tmp/t"
                + " && echo ok > /workspace/ready.tmp && mv /workspace/ready.tmp /workspace/ready"
                // The secret stays in a live argv (the agent's own is only /.mcp-init): the sweep finds the program.
                + " && exec sh -c 'sleep 120' " + secret;
        var submission = sandbox.submit(ExecutionRequest.builder().command("sh", "-c", script).runtime(runtime)
                .env("SECRET_ENV", secret).file("input.txt", secret).stdin(secret)
                .limits(new LimitsRequest(120_000L, null, null, null, null)).build());
        String name = SandboxSpec.nameFor(submission.executionId());
        boolean docker = runtime.startsWith("docker");
        Path dataDir = sandbox.services().config().dataDir();
        Path sandboxDir = docker ? dataDir.resolve("docker/sandboxes").resolve(name)
                : sandbox.services().config().bundlesDir().resolve(name);
        Path workspace = sandboxDir.resolve("workspace");
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!Files.exists(workspace.resolve("ready")) && System.nanoTime() < deadline
                    && !submission.result().isDone()) {
                Thread.sleep(100);
            }
            assertThat(workspace.resolve("ready")).as("the program ran and wrote its workspace: "
                    + (submission.result().isDone() ? submission.result().get() : "still running")).exists();

            // Root reads them: the paths exist and hold the request.
            assertThat(Files.readString(workspace.resolve("private.txt"))).contains(secret);
            assertThat(Files.readString(workspace.resolve("input.txt"))).contains(secret);
            assertThat(PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(workspace, LinkOption.NOFOLLOW_LINKS)))
                    .as("workspace mode").isEqualTo("rwx------");
            long owner = Integer.toUnsignedLong(
                    (int) Files.getAttribute(workspace, "unix:uid", LinkOption.NOFOLLOW_LINKS));
            long base = sandbox.services().config().sandboxUidBase();
            // Docker too: no user namespace there, but a host uid of the sandbox's own from the same ranges.
            assertThat(owner).as("workspace owned by the sandbox user's host uid")
                    .isBetween(base + 1000, base + sandbox.services().config().sandboxUidSlots() * 65536L - 1);
            if (!docker) {
                // The request's argv, env and stdin travel over the agent's channel, never through a host file.
                assertThat(Files.readString(sandboxDir.resolve("config.json"))).doesNotContain(secret);
                assertThat(sandboxDir.resolve("runtime.log")).exists();
                assertThat(sandboxDir.resolve("stdio/from-agent.fifo")).exists();
            }

            Set<Path> paths = new LinkedHashSet<>();
            paths.add(dataDir);
            paths.add(sandbox.services().config().bundlesDir());
            paths.add(sandbox.services().config().stateDir());
            walk(sandboxDir, paths);
            walk(sandbox.services().config().stateDir(), paths);
            if (docker) {
                paths.add(dataDir.resolve("docker"));
                paths.add(dataDir.resolve("docker/sandboxes"));
            } else {
                paths.add(sandbox.services().config().bundlesDir().resolve(name + ".lock"));
            }
            List<Long> pids = TestSandbox.hostProcessesWith(secret);
            for (long pid : pids) {
                Path environ = Path.of("/proc", Long.toString(pid), "environ");
                try {
                    if (new String(Files.readAllBytes(environ), StandardCharsets.UTF_8).contains(secret)) {
                        paths.add(environ); // the program itself (not the runtime's host process)
                        paths.add(Path.of("/proc", Long.toString(pid), "root", "workspace", "private.txt"));
                    }
                } catch (IOException gone) {
                    // ended meanwhile
                }
            }
            if (runtime.equals("runc") || runtime.equals("docker")) {
                assertThat(paths).as("the program's host process was found").anyMatch(p -> p.endsWith("environ"));
            }

            Map<Path, String> answers = asNobody(paths);
            answers.forEach((path, answer) -> System.out.println(runtime + ": nobody " + path + " -> " + answer));
            assertThat(answers).hasSize(paths.size());
            answers.forEach((path, answer) -> assertThat(answer).as("nobody opening " + path + " " + describe(path))
                    .startsWith("denied").contains("Permission denied"));
            assertThat(paths).as("positive evidence: the sweep covered the request's files")
                    .contains(workspace.resolve("private.txt"), workspace.resolve("input.txt"));
            if (!docker) {
                assertThat(paths).contains(sandboxDir.resolve("config.json"), sandboxDir.resolve("runtime.log"),
                        sandboxDir.resolve("stdio/to-agent.fifo"), sandboxDir.resolve("stdio/from-agent.fifo"));
            }
        } finally {
            sandbox.services().executions().terminate(submission.executionId());
            submission.result().get(60, TimeUnit.SECONDS);
        }
        ExecutionResult r = submission.result().get();
        assertThat(r.status()).as(r.reason()).isEqualTo(ExecutionStatus.TERMINATED);
        assertThat(r.stdout()).as("the program used its /tmp").contains("tmp-ok");
    }

    private static String describe(Path p) {
        try {
            return PosixFilePermissions.toString(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS))
                    + " uid " + Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS);
        } catch (IOException | RuntimeException e) {
            return e.toString();
        }
    }

    /** Every path under {@code dir} (itself included), without following links. */
    private static void walk(Path dir, Set<Path> into) throws IOException {
        try (Stream<Path> all = Files.walk(dir)) {
            all.filter(p -> !Files.isSymbolicLink(p)).forEach(into::add);
        }
    }

    /**
     * Tries each path as {@code nobody}: a directory is listed, anything else opened and read (a FIFO with a
     * timeout). Returns "read" or "denied: <error>" per path.
     */
    private static Map<Path, String> asNobody(Set<Path> paths) throws Exception {
        Path work = Files.createTempDirectory("exposure-");
        try {
            Files.setPosixFilePermissions(work, PosixFilePermissions.fromString("rwxr-xr-x"));
            Path list = work.resolve("paths");
            StringBuilder lines = new StringBuilder();
            for (Path p : paths) {
                lines.append(Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) ? "d " : "f ").append(p).append('\n');
            }
            Files.writeString(list, lines);
            Files.setPosixFilePermissions(list, PosixFilePermissions.fromString("rw-r--r--"));
            String script = "while read -r kind p; do "
                    + "if [ \"$kind\" = d ]; then err=$(ls -a -- \"$p\" 2>&1 >/dev/null); "
                    + "else err=$(timeout 2 head -c 1 -- \"$p\" 2>&1 >/dev/null); fi; "
                    + "rc=$?; if [ $rc = 0 ]; then echo \"read|$p\"; else echo \"denied: $rc $err|$p\"; fi; "
                    + "done < " + list;
            Process p = new ProcessBuilder("su", "nobody", "-s", "/bin/sh", "-c", script)
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as(out).isZero();
            Map<Path, String> answers = new LinkedHashMap<>();
            for (String line : out.lines().toList()) {
                int bar = line.lastIndexOf('|');
                if (bar > 0) {
                    answers.put(Path.of(line.substring(bar + 1)), line.substring(0, bar));
                }
            }
            return answers;
        } finally {
            DeleteTree.delete(work);
        }
    }
}
