package io.mcpsandbox.record;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.config.ConfigLoader;
import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.config.Settings;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExecutionStoresTest {
    @TempDir
    Path dir;

    private static Settings settings(Map<String, String> env) {
        return new Settings(new Properties(), env);
    }

    @Test
    void sqliteInTheDataDirectoryByDefault() {
        ConfigLoader loader = new ConfigLoader(Map.of(ConfigLoader.ENV_DATA_DIR, dir.toString()));
        SandboxConfig config = loader.load();
        try (ExecutionStore store = ExecutionStores.create(config, loader.settings())) {
            assertThat(store).isInstanceOf(SqliteExecutionStore.class);
            store.recordStart(Records.started("alice", Instant.now()));
            assertThat(store.health().backend()).isEqualTo("sqlite");
            assertThat(store.health().ok()).isTrue();
            assertThat(store.degraded()).isFalse();
            assertThat(store.pendingWrites()).isZero();
        }
        assertThat(Files.exists(dir.resolve("executions.db"))).isTrue();
    }

    @Test
    void redisWithFailoverWhenAUrlIsSet() throws Exception {
        int port = RedisServerProcess.freePort(); // nothing listens: the store starts degraded, and says so
        Map<String, String> env = Map.of("MCP_SANDBOX_REDIS_URL", "redis://:pa55@127.0.0.1:" + port,
                "MCP_SANDBOX_RECORDS_REDIS_TTL", "2h", "MCP_SANDBOX_RECORDS_REDIS_TIMEOUT", "200ms");
        try (ExecutionStore store = ExecutionStores.create(dir, settings(env))) {
            assertThat(store).isInstanceOf(FailoverExecutionStore.class);
            assertThat(store.health().backend()).isEqualTo("redis");
            assertThat(store.health().ok()).isFalse();
            assertThat(store.health().detail()).contains("redis://***@127.0.0.1:" + port).doesNotContain("pa55");
            store.recordStart(Records.started("alice", Instant.now()));
            assertThat(store.pendingWrites()).isEqualTo(1);
            assertThat(store.degraded()).isTrue();
        }
    }

    @Test
    void durationsAcceptDays() {
        assertThat(ExecutionStores.duration(settings(Map.of()), ExecutionStores.SQLITE_RETENTION, "30d"))
                .isEqualTo(Duration.ofDays(30));
        assertThat(ExecutionStores.duration(settings(Map.of("MCP_SANDBOX_RECORDS_SQLITE_RETENTION", "0")),
                ExecutionStores.SQLITE_RETENTION, "30d")).isZero();
        assertThat(ExecutionStores.duration(settings(Map.of("MCP_SANDBOX_RECORDS_REDIS_TTL", "90m")),
                ExecutionStores.REDIS_TTL, "24h")).isEqualTo(Duration.ofMinutes(90));
        assertThatThrownBy(() -> ExecutionStores.duration(settings(Map.of("MCP_SANDBOX_RECORDS_REDIS_TTL", "soon")),
                ExecutionStores.REDIS_TTL, "24h")).hasMessageContaining("records.redis.ttl")
                .hasMessageContaining("30d");
        assertThat(ExecutionStores.human(Duration.ofDays(30))).isEqualTo("30d");
        assertThat(ExecutionStores.human(Duration.ofMinutes(90))).isEqualTo("90m");
    }

    @Test
    void aBadRedisUrlIsAnErrorThatHidesThePassword() {
        Map<String, String> env = Map.of("MCP_SANDBOX_REDIS_URL", "localhost:6379:pa55@x");
        assertThatThrownBy(() -> ExecutionStores.create(dir, settings(env)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("redis://")
                .hasMessageNotContaining("pa55");
    }

    @Test
    void masksCredentialsInUrls() {
        assertThat(RedisUrls.mask("redis://:secret@host:6379/2")).isEqualTo("redis://***@host:6379/2");
        assertThat(RedisUrls.mask("rediss://user:secret@host")).isEqualTo("rediss://***@host");
        assertThat(RedisUrls.mask("redis://host:6379")).isEqualTo("redis://host:6379");
        assertThat(RedisUrls.mask("weird:secret@host")).isEqualTo("***@host");
        assertThat(RedisUrls.mask("redis://:p@ss@host:1")).doesNotContain("p@ss").doesNotContain("ss@");
    }
}
