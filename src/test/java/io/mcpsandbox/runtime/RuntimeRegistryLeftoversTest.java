package io.mcpsandbox.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.model.SecurityLevel;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Crash recovery through the SPI: each backend's reaper once, in the order of the runtimes. */
class RuntimeRegistryLeftoversTest {
    /** One backend's reaper. */
    private static final class Backend implements LeftoverReaper {
        @Override
        public List<String> reapLeftovers() {
            return List.of();
        }

        @Override
        public boolean hasLeftovers() {
            return true;
        }

        @Override
        public boolean ownedByLiveProcess(String sandboxName) {
            return false;
        }
    }

    /** A runtime that leaves nothing on the host: it keeps the SPI's default reaper. */
    private static class Plain implements SandboxRuntime {
        private final String name;

        Plain(String name) {
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public List<SecurityLevel> levels() {
            return List.of(SecurityLevel.LOW);
        }

        @Override
        public RuntimeInfo probe() {
            return RuntimeInfo.usable(name, "1", levels());
        }

        @Override
        public PreparedSandbox prepare(SandboxSpec spec) {
            throw new UnsupportedOperationException("not run here");
        }
    }

    private static SandboxRuntime runtime(String name, LeftoverReaper reaper) {
        return new Plain(name) {
            @Override
            public LeftoverReaper leftovers() {
                return reaper;
            }
        };
    }

    @Test
    void eachBackendsReaperOnceInRuntimeOrder() {
        LeftoverReaper oci = new Backend();
        LeftoverReaper docker = new Backend();
        RuntimeRegistry registry = new RuntimeRegistry(List.of(runtime("runc", oci), runtime("runsc", oci),
                runtime("docker", docker), runtime("docker-runsc", docker)));

        assertThat(registry.leftoverReapers()).containsExactly(oci, docker);
    }

    @Test
    void aRuntimeWithoutHostTracesHasNothingToReap() {
        List<LeftoverReaper> reapers = new RuntimeRegistry(List.of(new Plain("plain"))).leftoverReapers();
        assertThat(reapers).containsExactly(LeftoverReaper.NONE);
        assertThat(reapers.getFirst().hasLeftovers()).isFalse();
        assertThat(reapers.getFirst().reapLeftovers()).isEmpty();
    }
}
