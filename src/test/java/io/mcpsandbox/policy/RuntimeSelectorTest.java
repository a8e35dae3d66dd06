package io.mcpsandbox.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.config.ConfigLoader;
import io.mcpsandbox.config.RuntimeSettings;
import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.runtime.PreparedSandbox;
import io.mcpsandbox.runtime.RuntimeRegistry;
import io.mcpsandbox.runtime.SandboxRuntime;
import io.mcpsandbox.runtime.SandboxSpec;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Issue 10 item 3: runtimes.allowed and security.minimum-level bound what a request may pick, an explicit
 * runtime included; a request without a level gets the minimum.
 */
class RuntimeSelectorTest {
    private static final List<SecurityLevel> STANDARD = List.of(SecurityLevel.LOW, SecurityLevel.MEDIUM);
    private static final List<SecurityLevel> GVISOR =
            List.of(SecurityLevel.LOW, SecurityLevel.MEDIUM, SecurityLevel.HIGH);

    /** The runtimes of this build with their levels, all usable; nothing here runs a sandbox. */
    private static final RuntimeRegistry REGISTRY = new RuntimeRegistry(List.of(
            fake("runc", STANDARD), fake("runsc", GVISOR), fake("docker", STANDARD), fake("docker-runsc", GVISOR)));

    private static SandboxRuntime fake(String name, List<SecurityLevel> levels) {
        return new SandboxRuntime() {
            public String name() {
                return name;
            }

            public List<SecurityLevel> levels() {
                return levels;
            }

            public RuntimeInfo probe() {
                return RuntimeInfo.usable(name, "test", levels);
            }

            public PreparedSandbox prepare(SandboxSpec spec) {
                throw new UnsupportedOperationException("no sandbox in a unit test");
            }
        };
    }

    private record Policy(RequestValidator validator, RuntimeSelector selector) {
        String select(ExecutionRequest.Builder request) throws PolicyViolation {
            return selector.select(validator.validate(complete(request))).name();
        }

        SecurityLevel level(ExecutionRequest.Builder request) throws PolicyViolation {
            return validator.validate(complete(request)).securityLevel();
        }

        private static ExecutionRequest complete(ExecutionRequest.Builder request) {
            ExecutionRequest r = request.build();
            return r.isSnippet() || !r.command().isEmpty() ? r : r.toBuilder().command("true").build();
        }

        void rejected(ExecutionRequest.Builder request, String field, String... fragments) {
            assertThatThrownBy(() -> select(request))
                    .isInstanceOf(PolicyViolation.class)
                    .satisfies(e -> assertThat(((PolicyViolation) e).field()).isEqualTo(field))
                    .satisfies(e -> {
                        for (String fragment : fragments) {
                            assertThat(e.getMessage()).contains(fragment);
                        }
                    });
        }
    }

    /** The policy a server builds from these MCP_SANDBOX_* variables (as SandboxServices does). */
    private static Policy policy(String... env) {
        Map<String, String> vars = new HashMap<>();
        vars.put(ConfigLoader.ENV_DATA_DIR, "/nonexistent");
        for (int i = 0; i < env.length; i += 2) {
            vars.put(env[i], env[i + 1]);
        }
        SandboxConfig config = new ConfigLoader(vars).load();
        RuntimeSettings settings = RuntimeSettings.from(config.settings());
        return new Policy(new RequestValidator(config, settings.minimumLevel()),
                new RuntimeSelector(REGISTRY, config.standardRuntime(), settings));
    }

    private static ExecutionRequest.Builder request() {
        return ExecutionRequest.builder();
    }

    @Test
    void withoutSettingsEveryRuntimeAndLevelIsAvailableAsBefore() throws PolicyViolation {
        Policy p = policy();
        assertThat(p.select(request())).isEqualTo("runc");
        assertThat(p.level(request())).isEqualTo(SecurityLevel.MEDIUM);
        assertThat(p.select(request().securityLevel(SecurityLevel.LOW))).isEqualTo("runc");
        assertThat(p.select(request().securityLevel(SecurityLevel.HIGH))).isEqualTo("runsc");
        for (String runtime : List.of("runc", "runsc", "docker", "docker-runsc")) {
            assertThat(p.select(request().runtime(runtime))).isEqualTo(runtime);
        }
        assertThat(RuntimeSettings.from(new ConfigLoader(Map.of(ConfigLoader.ENV_DATA_DIR, "/nonexistent")).settings()))
                .isEqualTo(RuntimeSettings.DEFAULT);
    }

    @Test
    void anExplicitRuntimeOutsideRuntimesAllowedIsRejectedNamingTheSetting() throws PolicyViolation {
        Policy p = policy("MCP_SANDBOX_RUNTIMES_ALLOWED", "runc, runsc");
        p.rejected(request().runtime("docker"), "runtime", "'docker'", "runtimes.allowed", "runc, runsc");
        p.rejected(request().runtime("docker-runsc").securityLevel(SecurityLevel.HIGH), "runtime", "runtimes.allowed");
        assertThat(p.select(request().runtime("runsc"))).isEqualTo("runsc");
        assertThat(p.select(request().runtime("runc"))).isEqualTo("runc");
        // An unknown name stays "unknown", not "not allowed".
        p.rejected(request().runtime("nope"), "runtime", "not a known runtime");
    }

    @Test
    void aLevelOnlyRequestSkipsRuntimesThatAreNotAllowed() throws PolicyViolation {
        Policy p = policy("MCP_SANDBOX_RUNTIMES_ALLOWED", "docker-runsc docker");
        assertThat(p.select(request().securityLevel(SecurityLevel.HIGH))).isEqualTo("docker-runsc");
        // The standard runtime (runc) is not allowed: the refusal says so rather than running elsewhere.
        p.rejected(request(), "securityLevel", "runc: not in runtimes.allowed");
        assertThat(policy("MCP_SANDBOX_RUNTIMES_ALLOWED", "docker", "MCP_SANDBOX_RUNTIME_STANDARD", "docker")
                .select(request())).isEqualTo("docker");
    }

    @Test
    void aLevelBelowTheMinimumIsRejectedAndAMissingLevelGetsTheMinimum() throws PolicyViolation {
        Policy p = policy("MCP_SANDBOX_SECURITY_MINIMUM_LEVEL", "high");
        p.rejected(request().securityLevel(SecurityLevel.LOW), "securityLevel", "'low'", "security.minimum-level",
                "high");
        p.rejected(request().securityLevel(SecurityLevel.MEDIUM), "securityLevel", "security.minimum-level");
        assertThat(p.level(request())).isEqualTo(SecurityLevel.HIGH);
        assertThat(p.select(request())).isEqualTo("runsc");
        assertThat(p.select(request().securityLevel(SecurityLevel.HIGH))).isEqualTo("runsc");
        // A minimum below the default leaves the default alone.
        assertThat(policy("MCP_SANDBOX_SECURITY_MINIMUM_LEVEL", "low").level(request()))
                .isEqualTo(SecurityLevel.MEDIUM);
        assertThat(policy("MCP_SANDBOX_SECURITY_MINIMUM_LEVEL", "medium")
                .level(request().securityLevel(SecurityLevel.HIGH)))
                .isEqualTo(SecurityLevel.HIGH);
        policy("MCP_SANDBOX_SECURITY_MINIMUM_LEVEL", "medium")
                .rejected(request().securityLevel(SecurityLevel.LOW), "securityLevel", "security.minimum-level");
    }

    @Test
    void anExplicitRuntimeWeakerThanTheMinimumIsRejectedEvenWithoutALevel() throws PolicyViolation {
        Policy p = policy("MCP_SANDBOX_SECURITY_MINIMUM_LEVEL", "high");
        for (String weak : List.of("runc", "docker")) {
            p.rejected(request().runtime(weak), "runtime", "'" + weak + "'", "'medium'", "security.minimum-level");
        }
        assertThat(p.select(request().runtime("runsc"))).isEqualTo("runsc");
        assertThat(p.select(request().runtime("docker-runsc"))).isEqualTo("docker-runsc");
        // critical: nothing in this registry provides it (no microvm, no kata), so nothing is picked, explicitly
        // or not: a level is never downgraded.
        Policy critical = policy("MCP_SANDBOX_SECURITY_MINIMUM_LEVEL", "critical");
        critical.rejected(request().runtime("runsc"), "runtime", "security.minimum-level");
        critical.rejected(request(), "securityLevel", "critical");
    }

    @Test
    void theHardenedProfileRunsEverythingOnGvisorOnly() throws PolicyViolation {
        Policy p = policy("MCP_SANDBOX_SECURITY_MINIMUM_LEVEL", "high", "MCP_SANDBOX_RUNTIMES_ALLOWED", "runsc");
        assertThat(p.select(request())).isEqualTo("runsc");
        assertThat(p.select(request().language("python").code("1"))).isEqualTo("runsc");
        p.rejected(request().runtime("docker-runsc"), "runtime", "runtimes.allowed");
        p.rejected(request().runtime("runc"), "runtime", "runtimes.allowed");
        p.rejected(request().runtime("docker"), "runtime");
        p.rejected(request().securityLevel(SecurityLevel.LOW), "securityLevel", "security.minimum-level");
    }

    @Test
    void exclusionsAreReportedPerRuntime() {
        RuntimeSelector selector = policy("MCP_SANDBOX_SECURITY_MINIMUM_LEVEL", "high",
                "MCP_SANDBOX_RUNTIMES_ALLOWED", "runc,runsc").selector();
        Map<String, String> excluded = new HashMap<>();
        for (SandboxRuntime r : REGISTRY.all()) {
            selector.exclusion(r).ifPresent(why -> excluded.put(r.name(), why));
        }
        assertThat(excluded).containsOnlyKeys("runc", "docker", "docker-runsc");
        assertThat(excluded.get("runc")).contains("security.minimum-level");
        assertThat(excluded.get("docker")).contains("runtimes.allowed");
        assertThat(excluded.get("docker-runsc")).contains("runtimes.allowed");
    }

    @Test
    void malformedSettingsStopTheServiceNamingTheKey() {
        assertThatThrownBy(() -> policy("MCP_SANDBOX_SECURITY_MINIMUM_LEVEL", "strong"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("security.minimum-level")
                .hasMessageContaining("strong");
        assertThatThrownBy(() -> policy("MCP_SANDBOX_RUNTIMES_ALLOWED", "runc;rm"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("runtimes.allowed");
    }
}
