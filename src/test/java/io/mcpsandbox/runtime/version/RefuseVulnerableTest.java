package io.mcpsandbox.runtime.version;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.policy.ExecutionPlan;
import io.mcpsandbox.policy.PolicyViolation;
import io.mcpsandbox.policy.RuntimeSelector;
import io.mcpsandbox.runtime.PreparedSandbox;
import io.mcpsandbox.runtime.RuntimeRegistry;
import io.mcpsandbox.runtime.SandboxRuntime;
import io.mcpsandbox.runtime.SandboxSpec;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** runtimes.refuse-vulnerable: a runtime on the table is refused, and a request that chooses it is rejected. */
class RefuseVulnerableTest {
    private static SandboxRuntime fake(String name, String version) {
        return new SandboxRuntime() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public List<SecurityLevel> levels() {
                return List.of(SecurityLevel.LOW, SecurityLevel.MEDIUM);
            }

            @Override
            public RuntimeInfo probe() {
                return RuntimeInfo.usable(name, version, levels());
            }

            @Override
            public PreparedSandbox prepare(SandboxSpec spec) {
                throw new UnsupportedOperationException();
            }
        };
    }

    private static RuntimeRegistry registry(String runcVersion, boolean refuse) {
        RuntimeVersionCheck check = new RuntimeVersionCheck(DebianPackages.NONE, b -> Optional.empty(),
                b -> Optional.empty(), Clock.systemUTC());
        return new RuntimeRegistry(List.of(fake("runc", runcVersion)), check::check, refuse);
    }

    private static ExecutionPlan plan(String runtime) {
        return new ExecutionPlan(List.of("true"), Map.of(), "/workspace", "host", SecurityLevel.LOW, false, runtime,
                null, Map.of(), null);
    }

    @Test
    void offByDefaultAVulnerableRuntimeIsUsableButFlagged() {
        RuntimeRegistry r = registry("runc version 1.1.5", false);
        RuntimeInfo info = r.info(r.find("runc").orElseThrow());
        assertThat(info.usable()).isTrue();
        assertThat(info.knownVulnerable()).isTrue();
        assertThat(RuntimeRegistry.refusedForVersion(info)).isFalse();
    }

    @Test
    void onAVulnerableRuntimeIsRefusedWithTheAdvisories() throws Exception {
        RuntimeRegistry r = registry("runc version 1.1.5", true);
        RuntimeInfo info = r.info(r.find("runc").orElseThrow());
        assertThat(info.usable()).isFalse();
        assertThat(RuntimeRegistry.refusedForVersion(info)).isTrue();
        assertThat(info.reason()).contains("CVE-2024-21626", "runc-1.1-eol", "runtimes.refuse-vulnerable");
        RuntimeSelector selector = new RuntimeSelector(r, "runc");
        assertThatThrownBy(() -> selector.select(plan("runc"))).isInstanceOf(PolicyViolation.class)
                .hasMessageContaining("CVE-2024-21626");
        assertThatThrownBy(() -> selector.select(plan(null))).isInstanceOf(PolicyViolation.class)
                .hasMessageContaining("known to be vulnerable");
    }

    @Test
    void onACurrentRuntimeStaysUsable() throws Exception {
        RuntimeRegistry r = registry("runc version 1.3.3", true);
        assertThat(r.info(r.find("runc").orElseThrow()).usable()).isTrue();
        assertThat(new RuntimeSelector(r, "runc").select(plan("runc")).name()).isEqualTo("runc");
    }
}
