package io.mcpsandbox.record;

import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.config.Settings;
import io.mcpsandbox.model.Units;
import java.nio.file.Path;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Builds the execution store the configuration asks for. Keys are described in docs/records.md. */
public final class ExecutionStores {
    /** {@code MCP_SANDBOX_REDIS_URL}: when set, records go to Redis (with the SQLite file as fallback). */
    public static final String REDIS_URL = "redis.url";
    public static final String REDIS_TTL = "records.redis.ttl";
    public static final String REDIS_TIMEOUT = "records.redis.timeout";
    public static final String REDIS_POOL_SIZE = "records.redis.pool-size";
    public static final String SQLITE_RETENTION = "records.sqlite.retention";
    public static final String OUTPUT_MAX_STORED = "records.output.max-stored";
    public static final String OUTPUT_MAX_PER_USER = "records.output.max-per-user";
    public static final String OUTPUT_MAX_TOTAL = "records.output.max-total";

    public static final String DEFAULT_REDIS_TTL = "24h";
    public static final String DEFAULT_REDIS_TIMEOUT = "500ms";
    public static final String DEFAULT_REDIS_POOL_SIZE = "16";
    public static final String DEFAULT_SQLITE_RETENTION = "30d";
    public static final String DEFAULT_OUTPUT_MAX_STORED = "1m";
    public static final String DEFAULT_OUTPUT_MAX_PER_USER = "100m";
    public static final String DEFAULT_OUTPUT_MAX_TOTAL = "1g";

    private static final Logger log = LoggerFactory.getLogger(ExecutionStores.class);

    private ExecutionStores() {
    }

    /** Redis with failover to {@code <dataDir>/executions.db} when a Redis URL is set; that SQLite file otherwise. */
    public static ExecutionStore create(SandboxConfig config, Settings settings) {
        return create(config.dataDir(), settings);
    }

    public static ExecutionStore create(Path dataDir, Settings settings) {
        Duration retention = duration(settings, SQLITE_RETENTION, DEFAULT_SQLITE_RETENTION);
        OutputCaps caps = caps(settings);
        String url = settings.string(REDIS_URL, "").trim();
        SqliteExecutionStore sqlite = new SqliteExecutionStore(dataDir.resolve(SqliteExecutionStore.FILE_NAME),
                retention, caps);
        if (url.isEmpty()) {
            log.info("Execution records: SQLite file {} (retention {}; output kept: {} per stream, {} per user, "
                    + "{} in all)",
                    sqlite.file(), human(retention), Units.formatBytes(caps.maxStreamBytes()),
                    Units.formatBytes(caps.maxPerUser()), Units.formatBytes(caps.maxTotal()));
            return sqlite;
        }
        RedisExecutionStore redis = null;
        try {
            redis = new RedisExecutionStore(url,
                    duration(settings, REDIS_TTL, DEFAULT_REDIS_TTL),
                    duration(settings, REDIS_TIMEOUT, DEFAULT_REDIS_TIMEOUT),
                    settings.integer(REDIS_POOL_SIZE, DEFAULT_REDIS_POOL_SIZE), caps);
            log.info("Execution records: Redis at {} (TTL {}), kept in {} while it is unreachable",
                    redis.maskedUrl(), human(redis.ttl()), sqlite.file());
            return new FailoverExecutionStore(redis, sqlite);
        } catch (RuntimeException e) {
            if (redis != null) {
                redis.close();
            }
            sqlite.close();
            throw e;
        }
    }

    /** The output caps the settings ask for; a malformed or non-positive value is an error naming its key. */
    public static OutputCaps caps(Settings settings) {
        return new OutputCaps(settings.bytes(OUTPUT_MAX_STORED, DEFAULT_OUTPUT_MAX_STORED),
                settings.bytes(OUTPUT_MAX_PER_USER, DEFAULT_OUTPUT_MAX_PER_USER),
                settings.bytes(OUTPUT_MAX_TOTAL, DEFAULT_OUTPUT_MAX_TOTAL));
    }

    static Duration duration(Settings settings, String key, String fallback) {
        return settings.duration(key, fallback);
    }

    static String human(Duration d) {
        return d.isZero() ? "0 (forever)" : Units.formatDuration(d);
    }
}
