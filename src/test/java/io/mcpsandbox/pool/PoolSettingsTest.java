package io.mcpsandbox.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.config.Settings;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;

class PoolSettingsTest {
    private static PoolSettings from(Map<String, String> env) {
        return PoolSettings.from(new Settings(new Properties(), env));
    }

    @Test
    void theDefaultsKeepPythonNodeAndCommandsOnRuncAndRunscInTheirOrder() {
        PoolSettings s = from(Map.of());

        assertThat(s.enabled()).isTrue();
        assertThat(s.sizes()).containsExactly(
                Map.entry(new PoolKey("runc", "host", "python"), 2), Map.entry(new PoolKey("runc", "host", null), 2),
                Map.entry(new PoolKey("runc", "host", "node"), 1), Map.entry(new PoolKey("runsc", "host", "python"), 1),
                Map.entry(new PoolKey("runsc", "host", null), 1));
        assertThat(s.memoryBudgetBytes()).isEqualTo(1L << 30);
        assertThat(s.refillConcurrency()).isEqualTo(2);
    }

    @Test
    void anImageWithATagIsWrittenWithAnAt() {
        PoolSettings s = from(Map.of("MCP_SANDBOX_POOL_SANDBOXES", " runsc:alpine@3.19=3 , runc:host:python=1,"));

        assertThat(s.sizes()).containsExactly(Map.entry(new PoolKey("runsc", "alpine:3.19", null), 3),
                Map.entry(new PoolKey("runc", "host", "python"), 1));
        assertThat(new PoolKey("runsc", "alpine:3.19", null)).hasToString("runsc:alpine@3.19");
        assertThat(from(Map.of("MCP_SANDBOX_POOL_SANDBOXES", "")).sizes()).isEmpty();
    }

    @Test
    void badEntriesAreRefusedNamingTheKeyAndTheLimit() {
        assertThatThrownBy(() -> from(Map.of("MCP_SANDBOX_POOL_SANDBOXES", "runc:host")))
                .hasMessageContaining("pool.sandboxes").hasMessageContaining("runtime:image[:language]=size");
        assertThatThrownBy(() -> from(Map.of("MCP_SANDBOX_POOL_SANDBOXES", "runc:host=0")))
                .hasMessageContaining("pool.sandboxes: the size of runc:host must be 1 to 64; got 0");
        assertThatThrownBy(() -> from(Map.of("MCP_SANDBOX_POOL_SANDBOXES", "runc:host=65")))
                .hasMessageContaining("1 to 64");
        assertThatThrownBy(() -> from(Map.of("MCP_SANDBOX_POOL_SANDBOXES", "runc:host=two")))
                .hasMessageContaining("is not a number");
        assertThatThrownBy(() -> from(Map.of("MCP_SANDBOX_POOL_SANDBOXES", "runc:host=1,runc:host=2")))
                .hasMessageContaining("runc:host appears twice");
        assertThatThrownBy(() -> from(Map.of("MCP_SANDBOX_POOL_SANDBOXES", "RUNC;x:host=1")))
                .hasMessageContaining("pool.sandboxes");
        assertThatThrownBy(() -> from(Map.of("MCP_SANDBOX_POOL_SANDBOXES", "a:b:c:d=1")))
                .hasMessageContaining("pool.sandboxes");
        assertThatThrownBy(() -> from(Map.of("MCP_SANDBOX_POOL_REFILL_CONCURRENCY", "0")))
                .hasMessageContaining("pool.refill-concurrency: must be 1 to 16; got 0");
    }

    @Test
    void limitsOtherThanTimeoutAndOutputMakeAnotherSandbox() {
        var base = new io.mcpsandbox.model.ResourceLimits(java.time.Duration.ofSeconds(30), 256L << 20, 1, 128,
                1 << 20, 64L << 20, 1024);
        assertThat(SandboxPool.sameSandbox(base, new io.mcpsandbox.model.ResourceLimits(
                java.time.Duration.ofSeconds(5), 256L << 20, 1, 128, 10, 64L << 20, 1024))).isTrue();
        assertThat(SandboxPool.sameSandbox(base, new io.mcpsandbox.model.ResourceLimits(
                java.time.Duration.ofSeconds(30), 128L << 20, 1, 128, 1 << 20, 64L << 20, 1024))).isFalse();
        assertThat(SandboxPool.sameSandbox(base, new io.mcpsandbox.model.ResourceLimits(
                java.time.Duration.ofSeconds(30), 256L << 20, 1, 128, 1 << 20, 64L << 20, 512))).isFalse();
    }
}
