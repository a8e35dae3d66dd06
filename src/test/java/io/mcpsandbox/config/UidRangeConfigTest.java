package io.mcpsandbox.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 10 item 6: the default sandbox uid span and the limits on a configured one. */
class UidRangeConfigTest {
    @TempDir
    Path dataDir;

    private SandboxConfig load(Map<String, String> extra) {
        Map<String, String> env = new java.util.HashMap<>(extra);
        env.put(ConfigLoader.ENV_DATA_DIR, dataDir.toString());
        return new ConfigLoader(env).load();
    }

    @Test
    void theDefaultSpanIsAlignedAndAboveEveryUseraddAndSystemdContainerRange() {
        SandboxConfig config = load(Map.of());
        long first = config.sandboxUidBase();
        long last = first + config.sandboxUidSlots() * 65536L - 1;
        assertThat(first).isEqualTo(0x70000000L);
        assertThat(first % 65536).isZero();
        assertThat(first).isGreaterThan(600_100_000L + 65536) // useradd's SUB_UID_MAX + SUB_UID_COUNT
                .isGreaterThan(1_879_048_191L);                // systemd's container ranges end here
        assertThat(last).isLessThan(0x7FFE0000L);              // systemd's foreign range, and 2^31
    }

    @Test
    void aBaseThatWouldMapHostSystemUsersIsRefused() {
        assertThatThrownBy(() -> load(Map.of("MCP_SANDBOX_SANDBOX_UID_BASE", "0")))
                .hasMessage("sandbox.uid-base: must be at least 65536; got 0");
    }

    @Test
    void aSpanPastTheLastUidIsRefused() {
        assertThatThrownBy(() -> load(Map.of("MCP_SANDBOX_SANDBOX_UID_BASE", "4294901760")))
                .hasMessageContaining("sandbox.uid-base: 4294901760 + sandbox.uid-slots 512")
                .hasMessageContaining("4294967294");
        assertThat(load(Map.of("MCP_SANDBOX_SANDBOX_UID_BASE", "3000000000")).sandboxUidBase())
                .isEqualTo(3_000_000_000L);
        assertThatThrownBy(() -> load(Map.of("MCP_SANDBOX_SANDBOX_UID_SLOTS", "0")))
                .hasMessage("sandbox.uid-slots: must be 1 to 65535; got 0");
    }
}
