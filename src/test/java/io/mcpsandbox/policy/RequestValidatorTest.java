package io.mcpsandbox.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.config.ConfigLoader;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.SecurityLevel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RequestValidatorTest {
    private final RequestValidator validator = new RequestValidator(new ConfigLoader(Map.of(
            ConfigLoader.ENV_DATA_DIR, "/nonexistent", "MCP_SANDBOX_LIMITS_MAX_TIMEOUT", "2m")).load());

    private static ExecutionRequest.Builder cmd() {
        return ExecutionRequest.builder().command("true");
    }

    private void rejected(ExecutionRequest request, String field, String... fragments) {
        assertThatThrownBy(() -> validator.validate(request))
                .isInstanceOf(PolicyViolation.class)
                .satisfies(e -> assertThat(((PolicyViolation) e).field()).isEqualTo(field))
                .hasMessageStartingWith(field + ": ")
                .satisfies(e -> {
                    for (String fragment : fragments) {
                        assertThat(e.getMessage()).contains(fragment);
                    }
                });
    }

    @Test
    void defaultsFillWhatTheRequestLeavesOut() throws PolicyViolation {
        ExecutionPlan plan = validator.validate(cmd().build());
        assertThat(plan.limits().timeout()).isEqualTo(Duration.ofSeconds(30));
        assertThat(plan.limits().memoryBytes()).isEqualTo(256L << 20);
        assertThat(plan.limits().outputBytes()).isEqualTo(10L << 20);
        assertThat(plan.securityLevel()).isEqualTo(SecurityLevel.MEDIUM);
        assertThat(plan.levelExplicit()).isFalse();
        assertThat(plan.image()).isEqualTo("host");
        assertThat(plan.workDir()).isEqualTo("/workspace");
        assertThat(plan.env()).containsOnlyKeys("PATH", "HOME");
    }

    @Test
    void theImageIsADockerStyleReferenceInItsCanonicalForm() throws PolicyViolation {
        String d = "sha256:" + "ab".repeat(32);
        assertThat(validator.validate(cmd().image("alpine").build()).image()).isEqualTo("alpine:latest");
        assertThat(validator.validate(cmd().image("docker.io/library/alpine:3.19").build()).image())
                .isEqualTo("alpine:3.19");
        assertThat(validator.validate(cmd().image("python:3.11-slim").build()).image()).isEqualTo("python:3.11-slim");
        assertThat(validator.validate(cmd().image("ghcr.io/org/tool:1.2@" + d).build()).image())
                .isEqualTo("ghcr.io/org/tool:1.2@" + d);
        assertThat(validator.validate(ExecutionRequest.builder().language("python").code("1").image("python:3.11-slim")
                .build()).image()).isEqualTo("python:3.11-slim");
        rejected(cmd().image("../../etc").build(), "image", "'../../etc' is not a valid image reference",
                "'..' is not a path component");
        rejected(cmd().image("Alpine:3.19").build(), "image", "the repository must be lower-case");
        rejected(cmd().image("alpine@sha256:123").build(), "image",
                "the digest must be sha256:<64 lower-case hex digits>");
        rejected(cmd().image("a".repeat(300)).build(), "image", "300 characters; the limit is 255");
        rejected(cmd().image("").build(), "image", "an image reference is required");
    }

    @Test
    void aSnippetBecomesAFileInTheWorkspaceAndItsLanguagesCommand() throws PolicyViolation {
        ExecutionPlan plan = validator.validate(ExecutionRequest.builder().language("Python").code("print(1)").build());
        assertThat(plan.command()).containsExactly("python3", "/workspace/main.py");
        assertThat(new String(plan.workspaceFiles().get("main.py"), StandardCharsets.UTF_8)).isEqualTo("print(1)");
    }

    @Test
    void limitsBeyondTheMaximaNameTheFieldAndTheLimit() {
        rejected(cmd().limits(new LimitsRequest(120_001L, null, null, null, null)).build(),
                "timeoutMs", "120000", "limits.max.timeout = 2m");
        rejected(cmd().limits(new LimitsRequest(-5L, null, null, null, null)).build(), "timeoutMs", "-5");
        rejected(cmd().limits(new LimitsRequest(null, 1L << 40, null, null, null)).build(), "memoryBytes",
                "limits.max.memory");
        rejected(cmd().limits(new LimitsRequest(null, 1024L, null, null, null)).build(), "memoryBytes", "16777216");
        rejected(cmd().limits(new LimitsRequest(null, null, Double.NaN, null, null)).build(), "cpus");
        rejected(cmd().limits(new LimitsRequest(null, null, null, 100_000, null)).build(), "pids", "limits.max.pids");
        rejected(cmd().limits(new LimitsRequest(null, null, null, null, 0L)).build(), "outputBytes");
    }

    @Test
    void malformedRequestsAreRefusedWithTheField() {
        rejected(ExecutionRequest.builder().build(), "command", "required");
        rejected(ExecutionRequest.builder().language("cobol").code("x").build(), "language", "cobol", "python");
        rejected(ExecutionRequest.builder().language("python").build(), "code", "required");
        rejected(ExecutionRequest.builder().language("python").code("1").command("true").build(), "command",
                "not both");
        rejected(ExecutionRequest.builder().language("python")
                .code("x".repeat(RequestValidator.MAX_CODE_BYTES + 1)).build(),
                "code", "1048576");
        rejected(cmd().command("a\0b").build(), "command", "NUL");
        rejected(cmd().env("1BAD", "x").build(), "env", "1BAD");
        rejected(cmd().stdin("x".repeat(RequestValidator.MAX_STDIN_BYTES + 1)).build(), "stdin");
    }

    @Test
    void workDirMustLieInTheSandboxTmpfsAndBeWrittenPlainly() throws PolicyViolation {
        for (String ok : new String[] {"/workspace", "/tmp", "/workspace/x/y", "/tmp/a/b", "/tmp/with space/é"}) {
            assertThat(validator.validate(cmd().workDir(ok).build()).workDir()).isEqualTo(ok);
        }
        assertThat(validator.validate(cmd().workDir("").build()).workDir()).isEqualTo("/workspace");
        for (String outside : new String[] {"/var/tmp/x", "/", "/etc", "/proc/self/fd/7", "/proc/self/cwd",
                "/workspacex", "/tmpfoo/a", "/usr/lib", "/dev/shm"}) {
            rejected(cmd().workDir(outside).build(), "workDir", "/workspace", "/tmp", outside);
        }
        for (String unclean : new String[] {"/tmp/../etc", "/workspace/./x", "/workspace//x", "/workspace/",
                "//tmp", "/tmp/a/..", "/tmp/."}) {
            rejected(cmd().workDir(unclean).build(), "workDir", "'.' or '..'");
        }
        rejected(cmd().workDir("relative").build(), "workDir", "absolute");
        rejected(cmd().workDir("workspace/x").build(), "workDir", "absolute");
        rejected(cmd().workDir(" /tmp").build(), "workDir", "absolute");
        for (String control : new String[] {"/tmp/a\0b", "/tmp/a\nb", "/tmp/\u001b[31m", "/tmp/\u0085",
                "/tmp/\u007f"}) {
            rejected(cmd().workDir(control).build(), "workDir", "control characters");
        }
        rejected(cmd().workDir("/tmp/" + "a/".repeat(600)).build(), "workDir", "limit of 1024 bytes");
        rejected(cmd().workDir("/tmp/" + "a".repeat(256)).build(), "workDir", "limit of 255 bytes");
        rejected(cmd().workDir("/workspace/data/x").file("data", "a file").build(), "workDir", "'data'");
        assertThat(validator.validate(cmd().workDir("/workspace/data").file("data/in.txt", "x").build()).workDir())
                .isEqualTo("/workspace/data");
    }

    @Test
    void filePathsCannotEscapeTheWorkspace() {
        for (String path : new String[] {"../x", "/etc/passwd", "a/../../x", "a//b", ".", "", "a/./b", "x\0y"}) {
            rejected(ExecutionRequest.builder().language("sh").code("true").file(path, "x").build(), "files");
        }
        rejected(ExecutionRequest.builder().language("python").code("1").file("main.py", "x").build(), "files",
                "main.py");
    }
}
