package io.mcpsandbox.record;

import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionStatus;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import redis.clients.jedis.AbstractPipeline;
import redis.clients.jedis.AbstractTransaction;
import redis.clients.jedis.ConnectionPoolConfig;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.RedisClient;
import redis.clients.jedis.Response;
import redis.clients.jedis.params.ZRangeParams;
import redis.clients.jedis.exceptions.JedisConnectionException;
import redis.clients.jedis.exceptions.JedisException;
import redis.clients.jedis.util.JedisURIHelper;

/**
 * Execution records in Redis: a hash {@code execution:<executionId>} per execution with a TTL (24 h by
 * default, renewed by every write), sorted sets {@code executions:all} and {@code executions:user:<userId>}
 * scored by start time (epoch milliseconds) to list them, and a set {@code executions:running}.
 *
 * <p>Short timeouts (500 ms by default for connecting, reading, and waiting for a pooled connection): a down
 * Redis makes a write fail fast with an {@link ExecutionStoreException}, it never stalls an execution.
 * {@link FailoverExecutionStore} turns such a failure into a record kept in the embedded store.
 */
public final class RedisExecutionStore implements ExecutionStore {
    public static final String KEY_PREFIX = "execution:";
    public static final String ALL_INDEX = "executions:all";
    public static final String USER_INDEX_PREFIX = "executions:user:";
    public static final String RUNNING_SET = "executions:running";
    /**
     * How much longer than the TTL an index entry is kept: a hash expires TTL after its last write (the end),
     * its index entries are scored by its start.
     */
    static final Duration INDEX_MARGIN = Duration.ofDays(1);
    private static final int LIST_BATCH = 64;

    private final String maskedUrl;
    private final Duration ttl;
    private final RedisClient client;
    private final Clock clock = Clock.systemUTC();

    /**
     * @param url      {@code redis://[[user]:password@]host[:port][/db]} (or {@code rediss://} for TLS)
     * @param ttl      how long a record lives after its last write (at least one second)
     * @param timeout  connect, read and pool-wait timeout
     * @param poolSize most connections at once
     */
    @SuppressWarnings("deprecation") // ssl(boolean): the SslOptions replacement needs key and trust stores we don't configure
    public RedisExecutionStore(String url, Duration ttl, Duration timeout, int poolSize) {
        URI uri = RedisUrls.parse(url);
        if (ttl == null || ttl.toSeconds() < 1) {
            throw new IllegalArgumentException("records.redis.ttl must be at least 1s; got " + ttl);
        }
        if (timeout == null || timeout.toMillis() < 1 || timeout.toMillis() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("records.redis.timeout must be positive; got " + timeout);
        }
        if (poolSize < 1) {
            throw new IllegalArgumentException("records.redis.pool-size must be at least 1; got " + poolSize);
        }
        this.maskedUrl = RedisUrls.mask(url);
        this.ttl = ttl;
        int millis = (int) timeout.toMillis();
        DefaultJedisClientConfig.Builder config = DefaultJedisClientConfig.builder()
                .connectionTimeoutMillis(millis)
                .socketTimeoutMillis(millis)
                .clientName("mcp-sandbox-records")
                .ssl(JedisURIHelper.isRedisSSLScheme(uri))
                .database(JedisURIHelper.getDBIndex(uri));
        String password = JedisURIHelper.getPassword(uri);
        if (password != null) {
            config.user(JedisURIHelper.getUser(uri)).password(password);
        }
        ConnectionPoolConfig poolConfig = new ConnectionPoolConfig();
        poolConfig.setMaxTotal(poolSize);
        poolConfig.setMaxIdle(poolSize);
        poolConfig.setMinIdle(0);
        poolConfig.setMaxWait(timeout);
        poolConfig.setBlockWhenExhausted(true);
        poolConfig.setJmxEnabled(false);
        this.client = RedisClient.builder().hostAndPort(JedisURIHelper.getHostAndPort(uri)).clientConfig(config.build())
                .poolConfig(poolConfig).build();
    }

    public static String key(String executionId) {
        return KEY_PREFIX + executionId;
    }

    public static String userIndex(String userId) {
        return USER_INDEX_PREFIX + userId;
    }

    public Duration ttl() {
        return ttl;
    }

    /** The configured URL with any password masked. */
    public String maskedUrl() {
        return maskedUrl;
    }

    @Override
    public void recordStart(ExecutionRecord record) {
        write(record);
    }

    @Override
    public void recordEnd(ExecutionRecord record) {
        write(record);
    }

    /** Writes the whole record (hash, TTL, indexes) in one MULTI/EXEC; idempotent. */
    void write(ExecutionRecord record) {
        RecordJson.valid(record);
        Map<String, String> fields = hash(record);
        String key = key(record.executionId());
        double score = record.startedAt().toEpochMilli();
        String cutoff = "(" + (clock.millis() - ttl.toMillis() - INDEX_MARGIN.toMillis());
        long ttlSeconds = ttl.toSeconds();
        try (AbstractTransaction t = client.multi()) {
            t.del(key);
            t.hset(key, fields);
            t.expire(key, ttlSeconds);
            t.zadd(ALL_INDEX, score, record.executionId());
            t.zremrangeByScore(ALL_INDEX, "-inf", cutoff);
            if (record.userId() != null) {
                String index = userIndex(record.userId());
                t.zadd(index, score, record.executionId());
                t.zremrangeByScore(index, "-inf", cutoff);
                t.expire(index, ttlSeconds + INDEX_MARGIN.toSeconds());
            }
            if (record.status() == ExecutionStatus.RUNNING) {
                t.sadd(RUNNING_SET, record.executionId());
            } else {
                t.srem(RUNNING_SET, record.executionId());
            }
            List<Object> replies = t.exec();
            if (replies == null) {
                throw new ExecutionStoreException("Redis at " + maskedUrl + " discarded the write of " + key);
            }
            for (Object reply : replies) {
                if (reply instanceof Exception e) {
                    throw new ExecutionStoreException("Redis at " + maskedUrl + " refused the write of " + key + ": "
                            + e.getMessage(), e);
                }
            }
        } catch (JedisException e) {
            throw failure("cannot write " + key, e);
        }
    }

    @Override
    public Optional<ExecutionRecord> find(String executionId) {
        try {
            Map<String, String> hash = client.hgetAll(key(executionId));
            return hash.isEmpty() ? Optional.empty() : Optional.of(record(hash));
        } catch (JedisException e) {
            throw failure("cannot read " + key(executionId), e);
        }
    }

    @Override
    public List<ExecutionRecord> list(String userIdOrNull, int limit) {
        SqliteExecutionStore.checkLimit(limit);
        String index = userIdOrNull == null ? ALL_INDEX : userIndex(userIdOrNull);
        List<ExecutionRecord> out = new ArrayList<>();
        List<String> expired = new ArrayList<>();
        try {
            long offset = 0;
            while (out.size() < limit) {
                int batch = Math.max(LIST_BATCH, limit - out.size());
                List<String> ids = client.zrange(index, ZRangeParams.zrangeParams(offset, offset + batch - 1).rev());
                if (ids.isEmpty()) {
                    break;
                }
                List<Map<String, String>> hashes = hashes(ids);
                for (int i = 0; i < ids.size(); i++) {
                    if (hashes.get(i).isEmpty()) {
                        expired.add(ids.get(i));
                    } else if (out.size() < limit) {
                        out.add(record(hashes.get(i)));
                    }
                }
                offset += ids.size();
                if (ids.size() < batch) {
                    break;
                }
            }
            if (!expired.isEmpty()) {
                client.zrem(index, expired.toArray(String[]::new));
            }
        } catch (JedisException e) {
            throw failure("cannot list " + index, e);
        }
        out.sort(Comparator.comparing(ExecutionRecord::startedAt).reversed());
        return out;
    }

    @Override
    public List<ExecutionRecord> running() {
        List<ExecutionRecord> out = new ArrayList<>();
        try {
            List<String> ids = new ArrayList<>(client.smembers(RUNNING_SET));
            if (ids.isEmpty()) {
                return List.of();
            }
            List<Map<String, String>> hashes = hashes(ids);
            List<String> stale = new ArrayList<>();
            for (int i = 0; i < ids.size(); i++) {
                ExecutionRecord r = hashes.get(i).isEmpty() ? null : record(hashes.get(i));
                if (r == null || r.status() != ExecutionStatus.RUNNING) {
                    stale.add(ids.get(i));
                } else {
                    out.add(r);
                }
            }
            if (!stale.isEmpty()) {
                client.srem(RUNNING_SET, stale.toArray(String[]::new));
            }
        } catch (JedisException e) {
            throw failure("cannot read " + RUNNING_SET, e);
        }
        out.sort(Comparator.comparing(ExecutionRecord::startedAt));
        return out;
    }

    private List<Map<String, String>> hashes(List<String> ids) {
        List<Response<Map<String, String>>> responses = new ArrayList<>(ids.size());
        try (AbstractPipeline p = client.pipelined()) {
            for (String id : ids) {
                responses.add(p.hgetAll(key(id)));
            }
            p.sync();
        }
        return responses.stream().map(Response::get).toList();
    }

    /** Throws {@link ExecutionStoreException} unless Redis answers PING. */
    void ping() {
        try {
            client.ping();
        } catch (JedisException e) {
            throw failure("no answer", e);
        }
    }

    /** Closes idle pooled connections: after an outage they may point at a server that is gone. */
    void dropIdleConnections() {
        try {
            client.getPool().clear();
        } catch (RuntimeException ignored) {
            // closing dead sockets
        }
    }

    @Override
    public StoreHealth health() {
        try {
            ping();
            return new StoreHealth(true, "redis", "Redis at " + maskedUrl + " answers; records live "
                    + ExecutionStores.human(ttl) + " after their last write", 0);
        } catch (ExecutionStoreException e) {
            return new StoreHealth(false, "redis", e.getMessage(), 0);
        }
    }

    @Override
    public void close() {
        client.close();
    }

    private ExecutionStoreException failure(String what, JedisException e) {
        if (e instanceof JedisConnectionException) {
            // The idle connections died with the server (or the path to it): don't hand them out again.
            dropIdleConnections();
        }
        String cause = e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
        if (e.getCause() != null && e.getCause().getMessage() != null && !cause.contains(e.getCause().getMessage())) {
            cause += " (" + e.getCause().getMessage() + ")";
        }
        return new ExecutionStoreException("Redis at " + maskedUrl + ": " + what + ": " + cause, e);
    }

    static Map<String, String> hash(ExecutionRecord r) {
        Map<String, String> h = new LinkedHashMap<>();
        put(h, "executionId", r.executionId());
        put(h, "userId", r.userId());
        put(h, "sessionId", r.sessionId());
        put(h, "image", r.image());
        put(h, "runtime", r.runtime());
        put(h, "securityLevel", RecordJson.level(r.securityLevel()));
        put(h, "command", RecordJson.write(r.command()));
        put(h, "language", r.language());
        put(h, "startedAt", RecordJson.instant(r.startedAt()));
        put(h, "endedAt", RecordJson.instant(r.endedAt()));
        put(h, "status", RecordJson.status(r.status()));
        put(h, "exitCode", r.exitCode() == null ? null : r.exitCode().toString());
        put(h, "durationMs", Long.toString(r.durationMs()));
        put(h, "outputBytes", Long.toString(r.outputBytes()));
        put(h, "securityEvents", RecordJson.write(r.securityEvents()));
        put(h, "result", RecordJson.write(r.result()));
        return h;
    }

    private static void put(Map<String, String> h, String field, String value) {
        if (value != null) {
            h.put(field, value);
        }
    }

    static ExecutionRecord record(Map<String, String> h) {
        try {
            return new ExecutionRecord(h.get("executionId"), h.get("userId"), h.get("sessionId"), h.get("image"),
                    h.get("runtime"), RecordJson.level(h.get("securityLevel")), RecordJson.command(h.get("command")),
                    h.get("language"), RecordJson.instant(h.get("startedAt")), RecordJson.instant(h.get("endedAt")),
                    RecordJson.status(h.get("status")),
                    h.get("exitCode") == null ? null : Integer.valueOf(h.get("exitCode")),
                    parseLong(h.get("durationMs")), parseLong(h.get("outputBytes")),
                    RecordJson.events(h.get("securityEvents")), RecordJson.result(h.get("result")));
        } catch (RuntimeException e) {
            if (e instanceof ExecutionStoreException ese) {
                throw ese;
            }
            throw new ExecutionStoreException("the Redis record of " + h.get("executionId") + " is malformed: " + e, e);
        }
    }

    private static long parseLong(String text) {
        return text == null ? 0 : Long.parseLong(text);
    }
}
