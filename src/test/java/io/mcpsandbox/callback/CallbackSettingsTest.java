package io.mcpsandbox.callback;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.config.Settings;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CallbackSettingsTest {
    @TempDir
    Path dataDir;

    private static Settings settings(Map<String, String> env) {
        return new Settings(new Properties(), env);
    }

    @Test
    void defaultsAllowNoHostAndGenerateAnOwnerOnlyKeyOnce() throws Exception {
        CallbackSettings first = CallbackSettings.from(settings(Map.of()), dataDir);
        Path key = dataDir.resolve("callback.key");

        assertThat(first.allowedHosts()).isEmpty();
        assertThat(first.maxAttempts()).isEqualTo(8);
        assertThat(first.timeout()).isEqualTo(Duration.ofSeconds(10));
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(key))).isEqualTo("rw-------");
        assertThat(Files.readString(key)).matches("[0-9a-f]{64}");
        assertThat(first.secret()).isEqualTo(Files.readAllBytes(key));
        assertThat(CallbackSettings.from(settings(Map.of()), dataDir).secret()).isEqualTo(first.secret());
        assertThat(first.toString()).doesNotContain(Files.readString(key)).contains("hidden");
    }

    @Test
    void aConfiguredSecretWinsAndIsNotWrittenAnywhere() {
        CallbackSettings settings = CallbackSettings.from(settings(Map.of(
                "MCP_SANDBOX_CALLBACKS_SECRET", "a-shared-secret-of-some-length",
                "MCP_SANDBOX_CALLBACKS_ALLOWED_HOSTS", "Hooks.Example.Org., *.Example.Net, 2001:DB8::1",
                "MCP_SANDBOX_CALLBACKS_MAX_ATTEMPTS", "3",
                "MCP_SANDBOX_CALLBACKS_TIMEOUT", "2s")), dataDir);

        assertThat(settings.secret()).isEqualTo("a-shared-secret-of-some-length".getBytes(StandardCharsets.UTF_8));
        assertThat(settings.allowedHosts())
                .containsExactly("hooks.example.org", "*.example.net", "2001:db8:0:0:0:0:0:1");
        assertThat(settings.maxAttempts()).isEqualTo(3);
        assertThat(settings.timeout()).isEqualTo(Duration.ofSeconds(2));
        assertThat(dataDir.resolve("callback.key")).doesNotExist();
    }

    @Test
    void refusesWeakSecretsAndOddLimits() {
        assertThatThrownBy(() -> CallbackSettings.from(settings(Map.of("MCP_SANDBOX_CALLBACKS_SECRET", "short")),
                dataDir)).hasMessageContaining("callbacks.secret").hasMessageNotContaining("short");
        assertThatThrownBy(() -> CallbackSettings.from(settings(Map.of("MCP_SANDBOX_CALLBACKS_MAX_ATTEMPTS", "0")),
                dataDir)).hasMessageContaining("callbacks.max-attempts");
        assertThatThrownBy(() -> CallbackSettings.from(settings(Map.of("MCP_SANDBOX_CALLBACKS_TIMEOUT", "1h")),
                dataDir)).hasMessageContaining("callbacks.timeout");
    }

    @Test
    void aLinkPlantedAtTheKeyPathIsNotFollowed() throws Exception {
        Path target = dataDir.resolve("elsewhere");
        Files.writeString(target, "0123456789abcdef0123456789abcdef");
        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-------"));
        Files.createSymbolicLink(dataDir.resolve("callback.key"), target);

        assertThatThrownBy(() -> CallbackSettings.from(settings(Map.of()), dataDir))
                .hasMessageContaining("not a link");
    }

    @Test
    void aKeyFileOthersCanReadIsRefused() throws Exception {
        Path key = dataDir.resolve("callback.key");
        Files.writeString(key, "0123456789abcdef0123456789abcdef");
        Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-r--r--"));

        assertThatThrownBy(() -> CallbackSettings.from(settings(Map.of()), dataDir)).hasMessageContaining("chmod 600");
    }

    @Test
    void anExistingKeyFileIsUsedAsWritten() throws Exception {
        Path key = dataDir.resolve("callback.key");
        Files.writeString(key, "an-operator-chosen-key-0123456789\n");
        Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));

        assertThat(CallbackSettings.from(settings(Map.of()), dataDir).secret())
                .isEqualTo("an-operator-chosen-key-0123456789".getBytes(StandardCharsets.UTF_8));
    }
}
