package io.mcpsandbox.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.model.ResourceLimits;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** limits.default.* and limits.max.*: the built-in values, the file, the environment, and malformed values. */
class LimitsConfigTest {
    @TempDir
    Path dataDir;

    private SandboxConfig load(Map<String, String> vars) {
        Map<String, String> env = new HashMap<>(vars);
        env.put(ConfigLoader.ENV_DATA_DIR, dataDir.toString());
        return new ConfigLoader(env).load();
    }

    @Test
    void builtInDefaultsAndMaxima() {
        SandboxConfig config = load(Map.of());
        assertThat(config.defaultLimits()).isEqualTo(new ResourceLimits(Duration.ofSeconds(30), 256L << 20, 1.0, 64,
                10L << 20, 64L << 20, 1024));
        ResourceLimits max = config.maxLimits();
        assertThat(max.timeout()).isEqualTo(Duration.ofMinutes(10));
        assertThat(max.memoryBytes()).isEqualTo(4L << 30);
        assertThat(max.cpus()).isEqualTo(Runtime.getRuntime().availableProcessors());
        assertThat(max.pids()).isEqualTo(1024);
        assertThat(max.outputBytes()).isEqualTo(64L << 20);
        assertThat(max.tmpBytes()).as("not settable by a request: the maximum is the default")
                .isEqualTo(config.defaultLimits().tmpBytes());
        assertThat(max.openFiles()).isEqualTo(config.defaultLimits().openFiles());
    }

    @Test
    void theEnvironmentWinsOverTheFileWhichWinsOverTheBuiltIns() throws Exception {
        Files.writeString(dataDir.resolve("config.properties"), """
                limits.max.memory = 1g
                limits.default.timeout = 90s
                limits.default.tmp = 128m
                limits.max.cpus = 2.5
                """);
        SandboxConfig config = load(Map.of("MCP_SANDBOX_LIMITS_MAX_MEMORY", "2GiB",
                "MCP_SANDBOX_LIMITS_MAX_PIDS", "300"));
        assertThat(config.maxLimits().memoryBytes()).isEqualTo(2L << 30);
        assertThat(config.maxLimits().pids()).isEqualTo(300);
        assertThat(config.maxLimits().cpus()).isEqualTo(2.5);
        assertThat(config.defaultLimits().timeout()).isEqualTo(Duration.ofSeconds(90));
        assertThat(config.defaultLimits().tmpBytes()).isEqualTo(128L << 20);
        assertThat(config.maxLimits().tmpBytes()).isEqualTo(128L << 20);
    }

    @Test
    void aMalformedLimitStopsTheLoadAndNamesItsKey() {
        assertThatThrownBy(() -> load(Map.of("MCP_SANDBOX_LIMITS_DEFAULT_TIMEOUT", "soon")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("limits.default.timeout: expected a duration").hasMessageContaining("'soon'");
        assertThatThrownBy(() -> load(Map.of("MCP_SANDBOX_LIMITS_MAX_MEMORY", "4 gigs")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("limits.max.memory: expected a size");
        assertThatThrownBy(() -> load(Map.of("MCP_SANDBOX_LIMITS_MAX_PIDS", "many")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("limits.max.pids: expected a whole number; got 'many'");
        assertThatThrownBy(() -> load(Map.of("MCP_SANDBOX_LIMITS_DEFAULT_CPUS", "fast")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("limits.default.cpus: expected a number; got 'fast'");
        assertThatThrownBy(() -> load(Map.of("MCP_SANDBOX_LIMITS_MAX_OUTPUT", "99999999t")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("limits.max.output: size too large");
    }
}
