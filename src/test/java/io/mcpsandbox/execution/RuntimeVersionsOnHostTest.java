package io.mcpsandbox.execution;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.mcpsandbox.config.Settings;
import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.RuntimeAdvisory;
import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.runtime.RuntimeRegistry;
import io.mcpsandbox.runtime.SandboxRuntime;
import io.mcpsandbox.runtime.version.Component;
import io.mcpsandbox.runtime.version.KnownVulnerabilities;
import io.mcpsandbox.runtime.version.ReleaseVersion;
import io.mcpsandbox.testing.ChildJvm;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** Issue 10 item 10 on this machine's real runtimes: versions, advisories, and refuse-vulnerable. */
@SystemTest
class RuntimeVersionsOnHostTest {
    private static final String REFUSE_ENV = Settings.envName(RuntimeRegistry.REFUSE_VULNERABLE_KEY);
    private static TestSandbox sandbox;

    @BeforeAll
    static void start() {
        sandbox = TestSandbox.start();
    }

    @AfterAll
    static void stop() throws Exception {
        sandbox.close();
    }

    static List<String> runtimes() {
        return TestSandbox.ALL_RUNTIMES;
    }

    private static RuntimeInfo probe(String name) {
        RuntimeRegistry registry = sandbox.services().registry();
        SandboxRuntime runtime = registry.find(name).orElseThrow();
        return registry.probe(runtime);
    }

    @ParameterizedTest
    @MethodSource("runtimes")
    void theReportCarriesTheVersionAndItsAdvisories(String name) {
        RuntimeInfo info = probe(name);
        if (name.startsWith("docker")) {
            assumeTrue(info.version() != null, "no Docker daemon answers here: " + info.reason());
        }
        assertThat(info.version()).as("%s: %s", name, info.reason()).isNotBlank();
        JsonNode json = JsonMapper.builder().build().valueToTree(info);
        assertThat(json.has("version")).isTrue();
        assertThat(json.get("advisories").isArray()).as("the warning field is always there: %s", json).isTrue();
        assertThat(json.get("knownVulnerable").isBoolean()).isTrue();
        assertThat(info.knownVulnerable()).isEqualTo(info.advisories().stream().anyMatch(RuntimeAdvisory::blocking));

        // cross-check with the table: every row that applies to the upstream version is reported
        if (name.equals("runc")) {
            ReleaseVersion v = ReleaseVersion.find(info.version()).orElseThrow();
            List<String> expected = KnownVulnerabilities.about(Component.RUNC).stream().filter(a -> a.affects(v))
                    .map(a -> a.id()).toList();
            assertThat(info.advisories()).extracting(RuntimeAdvisory::id).containsExactlyInAnyOrderElementsOf(expected);
            if (!expected.isEmpty() && isDebianPackage("runc")) {
                assertThat(info.advisories()).allSatisfy(a -> assertThat(a.version()).contains("Debian package runc"));
            }
        }
        if (name.equals("runsc") && info.version().contains("2022")) {
            assertThat(info.advisories()).extracting(RuntimeAdvisory::status).contains("outdated");
        }
        if (name.equals("docker")) {
            assertThat(info.advisories()).as("docker's runc is checked too").extracting(RuntimeAdvisory::component)
                    .contains("runc");
        }
        System.out.printf("%s %s: %s%n", name, info.version(), info.advisories().stream()
                .map(a -> a.id() + "=" + a.status()).toList());
    }

    @Test
    void refuseVulnerableRejectsAnExecutionOnAVulnerableRuntimeWithTheReason() throws Exception {
        RuntimeInfo plain = probe("runc");
        assumeTrue(plain.usable(), "runc is not usable here: " + plain.reason());
        try (TestSandbox strict = TestSandbox.start(Map.of(REFUSE_ENV, "true"))) {
            ExecutionResult r = strict.run(ExecutionRequest.builder().runtime("runc").command("echo", "ran").build());
            if (plain.knownVulnerable()) {
                assertThat(r.status()).isEqualTo(ExecutionStatus.REJECTED);
                assertThat(r.reason()).contains("known to be vulnerable", plain.blockingIds().split(", ")[0],
                        RuntimeRegistry.REFUSE_VULNERABLE_KEY);
            } else {
                assertThat(r.status()).isEqualTo(ExecutionStatus.COMPLETED);
                assertThat(r.stdout()).isEqualTo("ran\n");
            }
        }
    }

    @Test
    void serveRefusesToStartInOneLine() throws Exception {
        boolean anyVulnerable = runtimes().stream().map(RuntimeVersionsOnHostTest::probe)
                .anyMatch(i -> i.knownVulnerable() && i.usable());
        assumeTrue(anyVulnerable, "no usable runtime here is on the table of known vulnerabilities");
        String id = UUID.randomUUID().toString().substring(0, 8);
        Path data = Path.of("/tmp", "mcp-sandbox-versions-" + id);
        Path state = Path.of("/run", "mcp-sandbox-versions-" + id);
        Files.createDirectories(data);
        Files.setPosixFilePermissions(data, PosixFilePermissions.fromString("rwxr-xr-x"));
        try {
            List<String> command = new ArrayList<>(ChildJvm.cli());
            command.addAll(List.of("serve", "--stdio"));
            ProcessBuilder pb = new ProcessBuilder(command);
            pb.environment().keySet().removeIf(k -> k.startsWith("MCP_SANDBOX_"));
            pb.environment().putAll(Map.of("MCP_SANDBOX_DATA_DIR", data.toString(),
                    "MCP_SANDBOX_STATE_DIR", state.toString(), REFUSE_ENV, "true"));
            Process p = pb.redirectInput(ProcessBuilder.Redirect.PIPE).start();
            assertThat(p.waitFor(120, TimeUnit.SECONDS)).as("serve gives up at start").isTrue();
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.exitValue()).as(err).isEqualTo(2);
            List<String> refusal = err.lines().filter(l -> l.contains("refusing to start")).toList();
            assertThat(refusal).hasSize(1);
            assertThat(refusal.getFirst()).contains(RuntimeRegistry.REFUSE_VULNERABLE_KEY, "known-vulnerable");
            assertThat(err).doesNotContain("\tat ");
        } finally {
            DeleteTree.delete(data);
            DeleteTree.delete(state);
        }
    }

    private static boolean isDebianPackage(String binary) {
        try {
            Process p = new ProcessBuilder("dpkg-query", "-S", io.mcpsandbox.host.HostCommand.resolve(binary))
                    .redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor() == 0;
        } catch (Exception e) {
            return false;
        }
    }
}
