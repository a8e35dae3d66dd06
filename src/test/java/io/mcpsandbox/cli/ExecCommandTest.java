package io.mcpsandbox.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.testing.ChildJvm;
import io.mcpsandbox.testing.SystemTest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The CLI as a user runs it: a separate JVM, real sandboxes, exit codes and output as DESIGN.md has them. */
@SystemTest
class ExecCommandTest {
    private static Path dataDir;
    private static Path stateDir;

    record Run(int exitCode, String stdout, String stderr) {
        JsonNode json() {
            return JsonMapper.shared().readTree(stdout);
        }
    }

    @BeforeAll
    static void dirs() throws IOException {
        String id = UUID.randomUUID().toString().substring(0, 8);
        dataDir = Files.createDirectories(Path.of("/tmp", "mcp-sandbox-cli-test-" + id));
        Files.setPosixFilePermissions(dataDir, PosixFilePermissions.fromString("rwxr-xr-x"));
        stateDir = Path.of("/run", "mcp-sandbox-cli-test-" + id);
    }

    @AfterAll
    static void clean() throws IOException {
        for (Path dir : List.of(dataDir, stateDir)) {
            DeleteTree.delete(dir);
        }
    }

    static Run cli(String... args) throws IOException, InterruptedException {
        return cli(java.util.Map.of(), args);
    }

    static Run cli(java.util.Map<String, String> env, String... args) throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>(ChildJvm.cli());
        argv.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(argv);
        pb.environment().put("MCP_SANDBOX_DATA_DIR", dataDir.toString());
        pb.environment().put("MCP_SANDBOX_STATE_DIR", stateDir.toString());
        pb.environment().put("SERVER_SECRET", "must-not-leak");
        pb.environment().putAll(env);
        Process p = pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        var out = p.getInputStream().readAllBytes();
        var err = p.getErrorStream().readAllBytes();
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    @Test
    void withoutJsonTheProgramsOutputAndExitCodePassThrough() throws Exception {
        Run r = cli("exec", "--", "sh", "-c", "echo out; echo err >&2; env; exit 7");
        assertThat(r.exitCode()).isEqualTo(7);
        assertThat(r.stdout()).startsWith("out\n").doesNotContain("SERVER_SECRET").doesNotContain("must-not-leak");
        assertThat(r.stderr()).isEqualTo("err\n");
    }

    /** Without --json the program's output is printed as it comes, not when it ends. */
    @Test
    void outputIsPrintedWhileTheProgramRuns() throws Exception {
        List<String> argv = new ArrayList<>(ChildJvm.cli());
        argv.addAll(List.of("exec", "--", "sh", "-c", "echo first; sleep 2; echo second"));
        ProcessBuilder pb = new ProcessBuilder(argv).redirectError(ProcessBuilder.Redirect.DISCARD)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        pb.environment().put("MCP_SANDBOX_DATA_DIR", dataDir.toString());
        pb.environment().put("MCP_SANDBOX_STATE_DIR", stateDir.toString());
        Process p = pb.start();
        List<String> lines = new ArrayList<>();
        List<Long> at = new ArrayList<>();
        try (var reader = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(),
                StandardCharsets.UTF_8))) {
            String line;
            while ((line = reader.readLine()) != null) {
                lines.add(line);
                at.add(System.nanoTime());
            }
        }
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isZero();
        assertThat(lines).containsExactly("first", "second");
        assertThat(at.get(1) - at.get(0)).as("first came before the sleep ended")
                .isGreaterThan(TimeUnit.MILLISECONDS.toNanos(1500));
    }

    /**
     * The owner watchdog's reap after its owner removed both directories (a test's cleanup, an uninstall) finds
     * nothing there and must not make them again.
     */
    @Test
    void reapOfDirectoriesThatAreGoneMakesNothing() throws Exception {
        String id = UUID.randomUUID().toString().substring(0, 8);
        Path data = Path.of("/tmp", "mcp-sandbox-cli-gone-" + id);
        Path state = Path.of("/run", "mcp-sandbox-cli-gone-" + id);
        Run r = cli(java.util.Map.of("MCP_SANDBOX_DATA_DIR", data.toString(), "MCP_SANDBOX_STATE_DIR",
                state.toString()), "reap");
        assertThat(r.exitCode()).as(r.stderr()).isZero();
        assertThat(data).doesNotExist();
        assertThat(state).doesNotExist();
    }

    @Test
    void withJsonOneLineHoldsTheResultObject() throws Exception {
        Run r = cli("exec", "--json", "--lang", "python", "--code", "import sys; print('hi'); sys.exit(4)");
        assertThat(r.exitCode()).isZero();
        assertThat(r.stdout().strip().lines()).hasSize(1);
        JsonNode result = r.json();
        assertThat(result.path("status").asString()).isEqualTo("completed");
        assertThat(result.path("exitCode").asInt()).isEqualTo(4);
        assertThat(result.path("stdout").asString()).isEqualTo("hi\n");
        assertThat(result.path("runtime").asString()).isEqualTo("runc");
        assertThat(result.path("securityLevel").asString()).isEqualTo("medium");
        assertThat(result.path("image").asString()).isEqualTo("host");
        assertThat(result.path("executionId").asString()).matches("[0-9a-f-]{36}");
        for (String field : List.of("stdoutTruncated", "stderrTruncated", "durationMs", "resourceUsage",
                "securityEvents")) {
            assertThat(result.has(field)).as(field).isTrue();
        }
        assertThat(result.path("resourceUsage").has("networkIO")).isTrue();
    }

    @Test
    void executionsListAndShowReadTheRecords() throws Exception {
        Run ran = cli("exec", "--json", "--user", "cli-user", "--", "echo", "recorded");
        String id = ran.json().path("executionId").asString();
        Run show = cli("executions", "show", id, "--json");
        assertThat(show.exitCode()).as(show.stderr()).isZero();
        assertThat(show.json().path("stdout").asString()).isEqualTo("recorded\n");
        assertThat(show.json().path("executionId").asString()).isEqualTo(id);
        Run list = cli("executions", "list", "--user", "cli-user", "--json");
        assertThat(list.exitCode()).as(list.stderr()).isZero();
        assertThat(list.json().get(0).path("executionId").asString()).isEqualTo(id);
        assertThat(list.json().get(0).path("status").asString()).isEqualTo("completed");
        Run missing = cli("executions", "show", "no-such-id");
        assertThat(missing.exitCode()).isEqualTo(1);
        assertThat(missing.stderr()).contains("no execution");
    }

    @Test
    void rejectedIsExitTwoWithTheReason() throws Exception {
        Run json = cli("exec", "--json", "--timeout", "1h", "--", "true");
        assertThat(json.exitCode()).isEqualTo(2);
        assertThat(json.json().path("status").asString()).isEqualTo("rejected");
        assertThat(json.json().path("exitCode").isNull()).isTrue();
        assertThat(json.json().path("reason").asString()).startsWith("timeoutMs:").contains("limits.max.timeout");

        Run plain = cli("exec", "--runtime", "runc", "--security-level", "high", "--", "true");
        assertThat(plain.exitCode()).isEqualTo(2);
        assertThat(plain.stderr()).contains("rejected").contains("high");
    }

    @Test
    void timeoutWithoutJsonExits124AndSaysSo() throws Exception {
        Run r = cli("exec", "--timeout", "1s", "--", "sleep", "30");
        assertThat(r.exitCode()).isEqualTo(124);
        assertThat(r.stderr()).contains("timeout");
    }

    @Test
    void hostToolsAreNotTakenFromTheServersPath() throws Exception {
        // A root service must not run whatever "runc" or "mkfifo" comes first on its own PATH.
        Path evil = Files.createTempDirectory("evil-path");
        Path marker = evil.resolve("ran");
        try {
            for (String tool : List.of("runc", "mkfifo", "mount", "umount", "sh")) {
                Path fake = evil.resolve(tool);
                Files.writeString(fake, "#!/bin/sh\ntouch " + marker + "\nexit 1\n");
                fake.toFile().setExecutable(true);
            }
            Run r = cli(java.util.Map.of("PATH", evil + ":" + System.getenv("PATH")), "exec", "--", "echo", "fine");
            assertThat(r.exitCode()).as(r.stderr()).isZero();
            assertThat(r.stdout()).isEqualTo("fine\n");
            assertThat(marker).doesNotExist();
        } finally {
            DeleteTree.delete(evil);
        }
    }

    @Test
    void jsonLogsCarryTheExecutionIdOnEveryLine() throws Exception {
        Run r = cli(java.util.Map.of("MCP_SANDBOX_LOG_FORMAT", "json", "MCP_SANDBOX_LOG_LEVEL", "INFO"),
                "exec", "--json", "--", "true");
        String id = r.json().path("executionId").asString();
        List<JsonNode> lines = r.stderr().lines().filter(l -> !l.isBlank())
                .map(l -> JsonMapper.shared().readTree(l)).toList(); // every line is JSON
        List<JsonNode> aboutIt = lines.stream()
                .filter(l -> l.path("formattedMessage").asString().startsWith("execution ")).toList();
        assertThat(aboutIt).as("start and end lines").hasSizeGreaterThanOrEqualTo(2);
        for (JsonNode log : aboutIt) {
            assertThat(log.path("mdc").path("executionId").asString()).as(log.toString()).isEqualTo(id);
        }
    }

    @Test
    void badOptionsAreExplained() throws Exception {
        Run noCommand = cli("exec");
        assertThat(noCommand.exitCode()).isEqualTo(2);
        assertThat(noCommand.stderr()).contains("nothing to run");
        Run badSize = cli("exec", "--memory", "lots", "--", "true");
        assertThat(badSize.exitCode()).isEqualTo(2);
        assertThat(badSize.stderr()).contains("--memory");
    }

    @Test
    void runtimesListsEveryRuntimeWithAReasonWhereUnusable() throws Exception {
        Run r = cli("runtimes", "--json");
        assertThat(r.exitCode()).as(r.stderr()).isZero();
        JsonNode list = r.json();
        List<String> names = new ArrayList<>();
        list.forEach(n -> names.add(n.path("name").asString()));
        assertThat(names).contains("runc", "runsc", "crun", "kata-runtime", "docker");
        list.forEach(n -> {
            if (n.path("usable").asBoolean()) {
                assertThat(n.path("version").asString()).isNotBlank();
            } else {
                assertThat(n.path("reason").asString()).as(n.toString()).isNotBlank();
            }
        });
        assertThat(list.valueStream().filter(n -> n.path("name").asString().equals("runc")).findFirst().orElseThrow()
                .path("usable").asBoolean()).isTrue();
    }

    @Test
    void runtimesSaysWhenTheAllowlistLeavesNoImageForItsTestSandbox() throws Exception {
        Run allowed = cli("runtimes");
        assertThat(allowed.stdout()).as(allowed.stderr()).doesNotContain("test sandboxes: not run");
        // With only a catalog image allowed, the probe decides: runc is still usable, and the output says why.
        Run r = cli(java.util.Map.of("MCP_SANDBOX_ALLOWED_IMAGES", "python-slim"), "runtimes");
        assertThat(r.exitCode()).as(r.stderr()).isZero();
        assertThat(r.stdout()).containsPattern("(?m)^runc\\s+yes\\s")
                .contains("test sandboxes: not run (the allowlist excludes the host image)");
    }

    @Test
    void imagesRmIsRefusedWhileARunningExecutionUsesTheImage() throws Exception {
        Path work = Files.createDirectories(dataDir.resolve("rm-test"));
        Path archive = io.mcpsandbox.image.TestImages.busyboxOciArchive(work, "busy", "in-use");
        assertThat(cli("images", "import", "--name", "busy", archive.toString()).exitCode()).isZero();

        List<String> argv = new ArrayList<>(ChildJvm.cli());
        // Long enough that it still runs while the CLI JVMs below start, seconds each on a loaded machine.
        argv.addAll(List.of("exec", "--image", "busy", "--timeout", "60s", "--", "sleep", "120"));
        ProcessBuilder pb = new ProcessBuilder(argv).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD);
        pb.environment().put("MCP_SANDBOX_DATA_DIR", dataDir.toString());
        pb.environment().put("MCP_SANDBOX_STATE_DIR", stateDir.toString());
        Process exec = pb.start();
        try {
            String id = null;
            for (int i = 0; i < 60 && id == null; i++) {
                for (JsonNode record : cli("executions", "list", "--json").json()) {
                    if (record.path("status").asString().equals("running")
                            && record.path("image").asString().equals("busy:latest")) {
                        id = record.path("executionId").asString();
                    }
                }
                Thread.sleep(250);
            }
            assertThat(id).as("the execution's running record").isNotNull();
            Run refused = cli("images", "rm", "docker.io/library/busy");
            assertThat(refused.exitCode()).as(refused.stdout()).isEqualTo(1);
            assertThat(refused.stderr())
                    .contains("image 'docker.io/library/busy' is in use by running execution(s) " + id)
                    .contains("--force");
            assertThat(cli("images", "list").stdout()).contains("busy");
            // SIGTERM, as Ctrl-C: the exec terminates its execution and ends the record before it exits.
            exec.destroy();
            assertThat(exec.waitFor(60, TimeUnit.SECONDS)).as("the exec ended after SIGTERM").isTrue();
            JsonNode ended = cli("executions", "show", id, "--json").json();
            assertThat(ended.path("status").asString()).as("%s", ended).isEqualTo("terminated");
        } finally {
            exec.destroyForcibly();
            assertThat(exec.waitFor(120, TimeUnit.SECONDS)).as("the exec ended").isTrue();
        }
        Run removed = cli("images", "rm", "busy");
        assertThat(removed.exitCode()).as(removed.stderr()).isZero();
        assertThat(cli("images", "list").stdout()).doesNotContain("busy");
    }

    @Test
    void dockerStyleImageNamesImportRunAndRemoveFromTheCli() throws Exception {
        Path work = Files.createDirectories(dataDir.resolve("tag-test"));
        Path archive = io.mcpsandbox.image.TestImages.busyboxOciArchive(work, "tagged", "alpine-style");
        Run imported = cli("images", "import", "--name", "alpine:3.19", archive.toString());
        assertThat(imported.exitCode()).as(imported.stderr()).isZero();
        assertThat(imported.stdout()).startsWith("alpine:3.19 sha256:");
        Run refused = cli("images", "import", "--name", "../alpine:3.19", archive.toString());
        assertThat(refused.exitCode()).isEqualTo(1);
        assertThat(refused.stderr()).contains("NAME: '../alpine:3.19' is not a valid image reference: '..' is not a "
                + "path component");
        assertThat(cli("images", "list").stdout()).containsPattern("(?m)^alpine:3\\.19\\s+oci\\s+sha256:");

        // The program runs in the image's root (its marker file, busybox's sh), not the host's.
        Run r = cli("exec", "--json", "--runtime", "runc", "--image", "docker.io/library/alpine:3.19", "--",
                "sh", "-c", "cat /etc/marker; test -e /usr/bin/python3 || echo no-host-python");
        assertThat(r.exitCode()).as(r.stderr()).isZero();
        JsonNode result = r.json();
        assertThat(result.path("status").asString()).as(r.stdout()).isEqualTo("completed");
        assertThat(result.path("exitCode").asInt()).isZero();
        assertThat(result.path("stdout").asString()).isEqualTo("alpine-style\nno-host-python\n");
        assertThat(result.path("image").asString()).isEqualTo("alpine:3.19");

        Run badImage = cli("exec", "--json", "--image", "Alpine:3.19", "--", "true");
        assertThat(badImage.exitCode()).isEqualTo(2);
        assertThat(badImage.json().path("status").asString()).isEqualTo("rejected");
        assertThat(badImage.json().path("reason").asString()).startsWith("image: 'Alpine:3.19'")
                .contains("the repository must be lower-case");

        Run removed = cli("images", "rm", "alpine:3.19");
        assertThat(removed.exitCode()).as(removed.stderr()).isZero();
        assertThat(removed.stdout()).contains("removed alpine:3.19");
        assertThat(cli("images", "list").stdout()).doesNotContain("alpine");
    }
}
