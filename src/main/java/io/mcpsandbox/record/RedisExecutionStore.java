package io.mcpsandbox.record;

import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.SessionRecord;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.Predicate;
import redis.clients.jedis.AbstractPipeline;
import redis.clients.jedis.AbstractTransaction;
import redis.clients.jedis.RedisClient;
import redis.clients.jedis.Response;
import redis.clients.jedis.params.ZRangeParams;
import redis.clients.jedis.exceptions.JedisConnectionException;
import redis.clients.jedis.exceptions.JedisException;

/**
 * Execution records in Redis: a hash {@code execution:<executionId>} per execution with a TTL (24 h by
 * default, renewed by every write), sorted sets {@code executions:all} and {@code executions:user:<userId>}
 * scored by start time (epoch milliseconds) to list them, and a set {@code executions:running}. Sessions: a
 * hash {@code session:<sessionId>} (no TTL while open, the same TTL as executions once closed), sorted sets
 * {@code sessions:all} and {@code sessions:user:<userId>} scored by creation time, and a set
 * {@code sessions:open}; a session's executions are in {@code executions:session:<sessionId>}.
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
    /** Ids of ended records that still keep their output, scored by start time; all users' and one user's. */
    public static final String OUTPUTS_INDEX = "executions:outputs";
    public static final String USER_OUTPUTS_PREFIX = "executions:user-outputs:";
    /** Hash: id to the bytes its stored result takes, for every id in {@link #OUTPUTS_INDEX}. */
    public static final String STORED_BYTES = "executions:stored-bytes";
    /** One sorted set per session: the ids of its executions, scored by start time. */
    public static final String SESSION_EXECUTIONS_PREFIX = "executions:session:";
    public static final String SESSION_KEY_PREFIX = "session:";
    public static final String SESSIONS_INDEX = "sessions:all";
    public static final String SESSIONS_USER_PREFIX = "sessions:user:";
    public static final String SESSIONS_OPEN = "sessions:open";
    /** Index entries past TTL + margin checked (and removed when their hash is gone) per session write. */
    private static final int SESSION_TRIM_BATCH = 32;
    static final String OUTPUT_FIELD = "output";
    private static final byte[] OUTPUT_FIELD_BYTES = OUTPUT_FIELD.getBytes(StandardCharsets.UTF_8);
    /** Caps are checked once this share of a cap has been written since the last check (sums read every hash). */
    private static final int CHECK_EVERY_FRACTION = 32;
    /**
     * How much longer than the TTL an index entry is kept: a hash expires TTL after its last write (the end),
     * its index entries are scored by its start.
     */
    static final Duration INDEX_MARGIN = Duration.ofDays(1);
    private static final int LIST_BATCH = 64;
    /**
     * The fields of an execution's hash but its result, output and request: what a listing without results
     * reads.
     */
    static final String[] SUMMARY_FIELDS = {"executionId", "userId", "sessionId", "image", "runtime",
        "securityLevel", "command", "language", "startedAt", "endedAt", "status", "exitCode", "durationMs",
        "outputBytes", "securityEvents", "node"};
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(RedisExecutionStore.class);

    private final String maskedUrl;
    private final Duration ttl;
    private final RedisClient client;
    private final Clock clock = Clock.systemUTC();
    private final OutputCaps caps;
    private final ConcurrentHashMap<String, AtomicLong> unchecked = new ConcurrentHashMap<>();
    private final AtomicLong uncheckedTotal = new AtomicLong(Long.MAX_VALUE / 2); // first write checks

    /**
     * @param url      {@code redis://[[user]:password@]host[:port][/db]} (or {@code rediss://} for TLS)
     * @param ttl      how long a record lives after its last write (at least one second)
     * @param timeout  connect, read and pool-wait timeout
     * @param poolSize most connections at once
     */
    public RedisExecutionStore(String url, Duration ttl, Duration timeout, int poolSize) {
        this(url, ttl, timeout, poolSize, OutputCaps.DEFAULTS);
    }

    /** @param caps how much output records keep: per stream, per user and in all (see {@link OutputCaps}) */
    public RedisExecutionStore(String url, Duration ttl, Duration timeout, int poolSize, OutputCaps caps) {
        this.caps = java.util.Objects.requireNonNull(caps, "caps");
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
        this.client = RedisUrls.connect(uri, timeout, poolSize, "mcp-sandbox-records");
    }

    public static String key(String executionId) {
        return KEY_PREFIX + executionId;
    }

    public static String userIndex(String userId) {
        return USER_INDEX_PREFIX + userId;
    }

    public static String sessionExecutions(String sessionId) {
        return SESSION_EXECUTIONS_PREFIX + sessionId;
    }

    public static String sessionKey(String sessionId) {
        return SESSION_KEY_PREFIX + sessionId;
    }

    public static String userSessions(String userId) {
        return SESSIONS_USER_PREFIX + userId;
    }

    public static String userOutputs(String userId) {
        return USER_OUTPUTS_PREFIX + userId;
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
        StoredResults.Encoded result = StoredResults.encode(record.result(), caps.maxStreamBytes());
        Map<String, String> fields = hash(record, result);
        String key = key(record.executionId());
        double score = record.startedAt().toEpochMilli();
        String cutoff = "(" + (clock.millis() - ttl.toMillis() - INDEX_MARGIN.toMillis());
        long ttlSeconds = ttl.toSeconds();
        try (AbstractTransaction t = client.multi()) {
            t.del(key);
            t.hset(key, fields);
            if (result.output() != null) {
                t.hset(key.getBytes(StandardCharsets.UTF_8), OUTPUT_FIELD_BYTES, result.output());
            }
            t.expire(key, ttlSeconds);
            t.zadd(ALL_INDEX, score, record.executionId());
            t.zremrangeByScore(ALL_INDEX, "-inf", cutoff);
            if (record.userId() != null) {
                String index = userIndex(record.userId());
                t.zadd(index, score, record.executionId());
                t.zremrangeByScore(index, "-inf", cutoff);
                t.expire(index, ttlSeconds + INDEX_MARGIN.toSeconds());
            }
            if (record.sessionId() != null) {
                String index = sessionExecutions(record.sessionId());
                t.zadd(index, score, record.executionId());
                t.zremrangeByScore(index, "-inf", cutoff);
                t.expire(index, ttlSeconds + INDEX_MARGIN.toSeconds());
            }
            if (record.status() == ExecutionStatus.RUNNING) {
                t.sadd(RUNNING_SET, record.executionId());
            } else {
                t.srem(RUNNING_SET, record.executionId());
            }
            if (result.output() != null) {
                t.zadd(OUTPUTS_INDEX, score, record.executionId());
                t.hset(STORED_BYTES, record.executionId(), Long.toString(result.storedBytes()));
                if (record.userId() != null) {
                    String outputs = userOutputs(record.userId());
                    t.zadd(outputs, score, record.executionId());
                    t.expire(outputs, ttlSeconds + INDEX_MARGIN.toSeconds());
                }
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
        if (result.output() != null) {
            enforceCapsAfter(record.userId(), result.storedBytes());
        }
    }

    /**
     * Checks the caps once enough has been written since the last check: a sum reads one size per stored
     * output, too much to do on every write. Between checks a cap can be passed by 1/32 of it per process.
     */
    private void enforceCapsAfter(String userId, long bytes) {
        try {
            if (userId != null) {
                AtomicLong sinceCheck = unchecked.computeIfAbsent(userId, u -> new AtomicLong(Long.MAX_VALUE / 2));
                if (sinceCheck.addAndGet(bytes) >= caps.maxPerUser() / CHECK_EVERY_FRACTION) {
                    sinceCheck.set(0);
                    dropOldest(userOutputs(userId), caps.maxPerUser());
                }
            }
            if (uncheckedTotal.addAndGet(bytes) >= caps.maxTotal() / CHECK_EVERY_FRACTION) {
                uncheckedTotal.set(0);
                forgetExpiredOutputs();
                dropOldest(OUTPUTS_INDEX, caps.maxTotal());
            }
        } catch (RuntimeException e) {
            // The record is written: not a failed write. The next check tries again.
            log.warn("Execution records: cannot enforce the stored-output caps in Redis at {}: {}", maskedUrl,
                    e.toString());
        }
    }

    /** Drops every user's outputs over the per-user cap, then all over the total; returns how many. */
    public int enforceCaps() {
        try {
            forgetExpiredOutputs();
            int dropped = 0;
            for (String index : client.keys(USER_OUTPUTS_PREFIX + "*")) {
                dropped += dropOldest(index, caps.maxPerUser());
            }
            return dropped + dropOldest(OUTPUTS_INDEX, caps.maxTotal());
        } catch (JedisException e) {
            throw failure("cannot enforce the stored-output caps", e);
        }
    }

    /** Outputs whose records are past TTL + margin: their hashes are gone, so are their sizes. */
    private void forgetExpiredOutputs() {
        String cutoff = "(" + (clock.millis() - ttl.toMillis() - INDEX_MARGIN.toMillis());
        List<String> old = client.zrangeByScore(OUTPUTS_INDEX, "-inf", cutoff);
        if (!old.isEmpty()) {
            String[] ids = old.toArray(String[]::new);
            client.hdel(STORED_BYTES, ids);
            client.zrem(OUTPUTS_INDEX, ids);
        }
    }

    /** Stored bytes of the ids in an outputs index; drops outputs, oldest first, while over the cap. */
    private int dropOldest(String index, long cap) {
        List<String> ids = client.zrange(index, 0, -1);
        if (ids.isEmpty()) {
            return 0;
        }
        List<String> sizes = client.hmget(STORED_BYTES, ids.toArray(String[]::new));
        long stored = 0;
        for (String size : sizes) {
            stored += size == null ? 0 : Long.parseLong(size);
        }
        int dropped = 0;
        for (int i = 0; i < ids.size() && stored > cap; i++) {
            String id = ids.get(i);
            long size = sizes.get(i) == null ? 0 : Long.parseLong(sizes.get(i));
            stored -= size;
            Map<byte[], byte[]> hash = client.hgetAll(key(id).getBytes(StandardCharsets.UTF_8));
            String user = hash.isEmpty() ? null : text(hash, "userId");
            try (AbstractTransaction t = client.multi()) {
                if (!hash.isEmpty()) {
                    StoredResults.Encoded smaller =
                            StoredResults.drop(text(hash, "result"), binary(hash, OUTPUT_FIELD));
                    // HSET keeps the hash's TTL.
                    t.hset(key(id), Map.of("result", smaller.json(), "outputState", smaller.state().wireName(),
                            "storedBytes", Long.toString(smaller.storedBytes())));
                    t.hset(key(id).getBytes(StandardCharsets.UTF_8), OUTPUT_FIELD_BYTES, smaller.output());
                    stored += smaller.storedBytes();
                    dropped++;
                }
                t.zrem(OUTPUTS_INDEX, id);
                t.hdel(STORED_BYTES, id);
                if (user != null) {
                    t.zrem(userOutputs(user), id);
                } else if (!index.equals(OUTPUTS_INDEX)) {
                    t.zrem(index, id);
                }
                t.exec();
            }
        }
        return dropped;
    }

    /** Stored results (JSON and compressed output) of the records that still keep their output, in bytes. */
    @Override
    public long sizeBytes() {
        try {
            long sum = 0;
            for (String size : client.hvals(STORED_BYTES)) {
                sum += Long.parseLong(size);
            }
            return sum;
        } catch (JedisException | NumberFormatException e) {
            return -1;
        }
    }

    @Override
    public Optional<ExecutionRecord> find(String executionId) {
        try {
            Map<byte[], byte[]> hash = client.hgetAll(key(executionId).getBytes(StandardCharsets.UTF_8));
            return hash.isEmpty() ? Optional.empty() : Optional.of(record(hash));
        } catch (JedisException e) {
            throw failure("cannot read " + key(executionId), e);
        }
    }

    @Override
    public List<ExecutionRecord> list(String userIdOrNull, int limit) {
        SqliteExecutionStore.checkLimit(limit);
        String index = userIdOrNull == null ? ALL_INDEX : userIndex(userIdOrNull);
        List<ExecutionRecord> out = newestFirst(index, limit, RedisExecutionStore::key, RedisExecutionStore::record);
        out.sort(Comparator.comparing(ExecutionRecord::startedAt).reversed());
        return out;
    }

    /** {@link #list}'s records by HMGET of {@link #SUMMARY_FIELDS}: the result, output and request stay in Redis. */
    @Override
    public List<ExecutionRecord> listSummaries(String userIdOrNull, int limit) {
        SqliteExecutionStore.checkLimit(limit);
        String index = userIdOrNull == null ? ALL_INDEX : userIndex(userIdOrNull);
        List<ExecutionRecord> out = newestFirst(index, limit, this::summaryFields, h -> h.get("executionId") == null,
                RedisExecutionStore::summary);
        out.sort(Comparator.comparing(ExecutionRecord::startedAt).reversed());
        return out;
    }

    /** The summary fields of each id's hash, pipelined; every value null where the hash is gone. */
    private List<Map<String, String>> summaryFields(List<String> ids) {
        List<Response<List<String>>> responses = new ArrayList<>(ids.size());
        try (AbstractPipeline p = client.pipelined()) {
            for (String id : ids) {
                responses.add(p.hmget(key(id), SUMMARY_FIELDS));
            }
            p.sync();
        }
        List<Map<String, String>> out = new ArrayList<>(ids.size());
        for (Response<List<String>> response : responses) {
            List<String> values = response.get();
            Map<String, String> h = new LinkedHashMap<>();
            for (int i = 0; i < SUMMARY_FIELDS.length; i++) {
                if (values.get(i) != null) {
                    h.put(SUMMARY_FIELDS[i], values.get(i));
                }
            }
            out.add(h);
        }
        return out;
    }

    @Override
    public List<ExecutionRecord> listBySession(String sessionId, int limit) {
        SqliteExecutionStore.checkLimit(limit);
        List<ExecutionRecord> out = newestFirst(sessionExecutions(sessionId), limit, RedisExecutionStore::key,
                RedisExecutionStore::record);
        out.sort(Comparator.comparing(ExecutionRecord::startedAt).reversed());
        return out;
    }

    /**
     * The first {@code limit} hashes named by a sorted set, highest score first; entries whose hash has
     * expired are skipped and removed from the set.
     */
    private <T> List<T> newestFirst(String index, int limit, Function<String, String> keyOf,
                                    Function<Map<byte[], byte[]>, T> parse) {
        return newestFirst(index, limit, ids -> hashes(ids, keyOf), Map::isEmpty, parse);
    }

    /**
     * As above, with the hashes (or the fields of them a caller needs) read by {@code fetch}, one per id in
     * order; {@code gone} tells a hash that has expired.
     */
    private <R, T> List<T> newestFirst(String index, int limit, Function<List<String>, List<R>> fetch,
                                       Predicate<R> gone, Function<R, T> parse) {
        List<T> out = new ArrayList<>();
        List<String> expired = new ArrayList<>();
        try {
            long offset = 0;
            while (out.size() < limit) {
                int batch = Math.max(LIST_BATCH, limit - out.size());
                List<String> ids = client.zrange(index, ZRangeParams.zrangeParams(offset, offset + batch - 1).rev());
                if (ids.isEmpty()) {
                    break;
                }
                List<R> hashes = fetch.apply(ids);
                for (int i = 0; i < ids.size(); i++) {
                    if (gone.test(hashes.get(i))) {
                        expired.add(ids.get(i));
                    } else if (out.size() < limit) {
                        out.add(parse.apply(hashes.get(i)));
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
        return out;
    }

    @Override
    public void saveSession(SessionRecord session) {
        RecordJson.valid(session);
        String key = sessionKey(session.sessionId());
        double score = session.createdAt().toEpochMilli();
        try {
            String userIndex = session.userId() == null ? null : userSessions(session.userId());
            long userIndexTtl = userIndex == null ? 0 : userSessionsTtl(userIndex, session);
            try (AbstractTransaction t = client.multi()) {
                t.del(key);
                t.hset(key, sessionHash(session));
                if (session.isOpen()) {
                    t.sadd(SESSIONS_OPEN, session.sessionId());
                } else {
                    t.expire(key, ttl.toSeconds());
                    t.srem(SESSIONS_OPEN, session.sessionId());
                }
                t.zadd(SESSIONS_INDEX, score, session.sessionId());
                if (userIndex != null) {
                    t.zadd(userIndex, score, session.sessionId());
                    if (userIndexTtl > 0) {
                        t.expire(userIndex, userIndexTtl);
                    } else {
                        t.persist(userIndex);
                    }
                }
                List<Object> replies = t.exec();
                if (replies == null) {
                    throw new ExecutionStoreException("Redis at " + maskedUrl + " discarded the write of " + key);
                }
                for (Object reply : replies) {
                    if (reply instanceof Exception e) {
                        throw new ExecutionStoreException("Redis at " + maskedUrl + " refused the write of " + key
                                + ": " + e.getMessage(), e);
                    }
                }
            }
        } catch (JedisException e) {
            throw failure("cannot write " + key, e);
        }
        try {
            forgetExpiredSessions(SESSIONS_INDEX);
            if (session.userId() != null) {
                forgetExpiredSessions(userSessions(session.userId()));
            }
        } catch (JedisException e) {
            // The session is written: not a failed write. The next write tries again.
            log.warn("Execution records: cannot trim the session indexes in Redis at {}: {}", maskedUrl, e.toString());
        }
    }

    /**
     * How long a user's session index lives after this write, in seconds: as long as a closed session's hash
     * plus the margin, and while one is open past its hard lifetime too; never shorter than it already lives.
     * 0: no expiry (an open session without a hard lifetime).
     */
    private long userSessionsTtl(String userIndex, SessionRecord session) {
        if (session.isOpen() && session.expiresAt() == null) {
            return 0;
        }
        long keep = ttl.toSeconds() + INDEX_MARGIN.toSeconds();
        if (session.isOpen()) {
            keep += Math.max(0, Duration.between(clock.instant(), session.expiresAt()).toSeconds());
        }
        long current = client.ttl(userIndex);
        return Math.max(keep, current);
    }

    /**
     * Removes, from a session index, a bounded batch of the entries created longer ago than TTL + margin whose
     * hash has expired: sessions are scored by creation and may stay open for long, so an index cannot be
     * cut by score as the execution indexes are.
     */
    private void forgetExpiredSessions(String index) {
        String cutoff = "(" + (clock.millis() - ttl.toMillis() - INDEX_MARGIN.toMillis());
        List<String> old = client.zrangeByScore(index, "-inf", cutoff, 0, SESSION_TRIM_BATCH);
        if (old.isEmpty()) {
            return;
        }
        List<Response<Boolean>> exists = new ArrayList<>(old.size());
        try (AbstractPipeline p = client.pipelined()) {
            for (String id : old) {
                exists.add(p.exists(sessionKey(id)));
            }
            p.sync();
        }
        List<String> gone = new ArrayList<>();
        for (int i = 0; i < old.size(); i++) {
            if (!exists.get(i).get()) {
                gone.add(old.get(i));
            }
        }
        if (!gone.isEmpty()) {
            client.zrem(index, gone.toArray(String[]::new));
        }
    }

    @Override
    public Optional<SessionRecord> findSession(String sessionId) {
        try {
            Map<byte[], byte[]> hash = client.hgetAll(sessionKey(sessionId).getBytes(StandardCharsets.UTF_8));
            return hash.isEmpty() ? Optional.empty() : Optional.of(session(hash));
        } catch (JedisException e) {
            throw failure("cannot read " + sessionKey(sessionId), e);
        }
    }

    @Override
    public List<SessionRecord> listSessions(String userIdOrNull, boolean openOnly, int limit) {
        SqliteExecutionStore.checkLimit(limit);
        if (openOnly) {
            // Open sessions are few, and all in one set.
            return openSessions().stream().filter(s -> userIdOrNull == null || userIdOrNull.equals(s.userId()))
                    .sorted(Comparator.comparing(SessionRecord::createdAt).reversed()).limit(limit).toList();
        }
        String index = userIdOrNull == null ? SESSIONS_INDEX : userSessions(userIdOrNull);
        List<SessionRecord> out = newestFirst(index, limit, RedisExecutionStore::sessionKey,
                RedisExecutionStore::session);
        out.sort(Comparator.comparing(SessionRecord::createdAt).reversed());
        return out;
    }

    @Override
    public List<SessionRecord> openSessions() {
        List<SessionRecord> out = new ArrayList<>();
        try {
            List<String> ids = new ArrayList<>(client.smembers(SESSIONS_OPEN));
            if (ids.isEmpty()) {
                return List.of();
            }
            List<Map<byte[], byte[]>> hashes = hashes(ids, RedisExecutionStore::sessionKey);
            List<String> stale = new ArrayList<>();
            for (int i = 0; i < ids.size(); i++) {
                SessionRecord s = hashes.get(i).isEmpty() ? null : session(hashes.get(i));
                if (s == null || !s.isOpen()) {
                    stale.add(ids.get(i));
                } else {
                    out.add(s);
                }
            }
            if (!stale.isEmpty()) {
                client.srem(SESSIONS_OPEN, stale.toArray(String[]::new));
            }
        } catch (JedisException e) {
            throw failure("cannot read " + SESSIONS_OPEN, e);
        }
        out.sort(Comparator.comparing(SessionRecord::createdAt));
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
            List<Map<byte[], byte[]>> hashes = hashes(ids, RedisExecutionStore::key);
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

    private List<Map<byte[], byte[]>> hashes(List<String> ids, Function<String, String> keyOf) {
        List<Response<Map<byte[], byte[]>>> responses = new ArrayList<>(ids.size());
        try (AbstractPipeline p = client.pipelined()) {
            for (String id : ids) {
                responses.add(p.hgetAll(keyOf.apply(id).getBytes(StandardCharsets.UTF_8)));
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

    static Map<String, String> hash(ExecutionRecord r, StoredResults.Encoded result) {
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
        put(h, "result", result.json());
        put(h, "outputState", result.state() == null ? null : result.state().wireName());
        put(h, "storedBytes", result.output() == null ? null : Long.toString(result.storedBytes()));
        put(h, "request", RecordJson.write(r.request()));
        put(h, "node", r.node());
        return h;
    }

    static Map<String, String> sessionHash(SessionRecord s) {
        Map<String, String> h = new LinkedHashMap<>();
        put(h, "sessionId", s.sessionId());
        put(h, "userId", s.userId());
        put(h, "image", s.image());
        put(h, "runtime", s.runtime());
        put(h, "securityLevel", RecordJson.level(s.securityLevel()));
        put(h, "rootfs", s.rootfs());
        put(h, "limits", RecordJson.write(s.limits()));
        put(h, "envNames", RecordJson.write(s.envNames()));
        put(h, "createdAt", RecordJson.instant(s.createdAt()));
        put(h, "expiresAt", RecordJson.instant(s.expiresAt()));
        put(h, "idleTimeoutSeconds", Long.toString(s.idleTimeoutSeconds()));
        put(h, "lastActiveAt", RecordJson.instant(s.lastActiveAt()));
        put(h, "status", RecordJson.sessionStatus(s.status()));
        put(h, "closeReason", RecordJson.closeReason(s.closeReason()));
        put(h, "closeDetail", s.closeDetail());
        put(h, "closedAt", RecordJson.instant(s.closedAt()));
        put(h, "sandboxName", s.sandboxName());
        put(h, "serverId", s.serverId());
        put(h, "executions", Long.toString(s.executions()));
        return h;
    }

    /** A session record from its hash as Redis returns it. */
    static SessionRecord session(Map<byte[], byte[]> binary) {
        Map<String, String> h = new LinkedHashMap<>();
        for (Map.Entry<byte[], byte[]> e : binary.entrySet()) {
            h.put(new String(e.getKey(), StandardCharsets.UTF_8), new String(e.getValue(), StandardCharsets.UTF_8));
        }
        try {
            return new SessionRecord(h.get("sessionId"), h.get("userId"), h.get("image"), h.get("runtime"),
                    RecordJson.level(h.get("securityLevel")), h.get("rootfs"), RecordJson.limits(h.get("limits")),
                    RecordJson.strings(h.get("envNames")), RecordJson.instant(h.get("createdAt")),
                    RecordJson.instant(h.get("expiresAt")), parseLong(h.get("idleTimeoutSeconds")),
                    RecordJson.instant(h.get("lastActiveAt")), RecordJson.sessionStatus(h.get("status")),
                    RecordJson.closeReason(h.get("closeReason")), h.get("closeDetail"),
                    RecordJson.instant(h.get("closedAt")), h.get("sandboxName"), h.get("serverId"),
                    parseLong(h.get("executions")));
        } catch (RuntimeException e) {
            if (e instanceof ExecutionStoreException ese) {
                throw ese;
            }
            throw new ExecutionStoreException("the Redis record of session " + h.get("sessionId") + " is malformed: "
                    + e, e);
        }
    }

    private static void put(Map<String, String> h, String field, String value) {
        if (value != null) {
            h.put(field, value);
        }
    }

    /** A record from its hash as Redis returns it (binary: the output is compressed bytes). */
    static ExecutionRecord record(Map<byte[], byte[]> binary) {
        Map<String, String> h = new LinkedHashMap<>();
        byte[] output = null;
        for (Map.Entry<byte[], byte[]> e : binary.entrySet()) {
            String field = new String(e.getKey(), StandardCharsets.UTF_8);
            if (field.equals(OUTPUT_FIELD)) {
                output = e.getValue();
            } else {
                h.put(field, new String(e.getValue(), StandardCharsets.UTF_8));
            }
        }
        return record(h, output);
    }

    private static String text(Map<byte[], byte[]> hash, String field) {
        byte[] value = binary(hash, field);
        return value == null ? null : new String(value, StandardCharsets.UTF_8);
    }

    private static byte[] binary(Map<byte[], byte[]> hash, String field) {
        byte[] name = field.getBytes(StandardCharsets.UTF_8);
        for (Map.Entry<byte[], byte[]> e : hash.entrySet()) {
            if (java.util.Arrays.equals(e.getKey(), name)) {
                return e.getValue();
            }
        }
        return null;
    }

    /** A record without its result and request from the {@link #SUMMARY_FIELDS} of its hash. */
    static ExecutionRecord summary(Map<String, String> h) {
        return record(h, null, false);
    }

    private static ExecutionRecord record(Map<String, String> h, byte[] output) {
        return record(h, output, true);
    }

    private static ExecutionRecord record(Map<String, String> h, byte[] output, boolean withResult) {
        try {
            return new ExecutionRecord(h.get("executionId"), h.get("userId"), h.get("sessionId"), h.get("image"),
                    h.get("runtime"), RecordJson.level(h.get("securityLevel")), RecordJson.command(h.get("command")),
                    h.get("language"), RecordJson.instant(h.get("startedAt")), RecordJson.instant(h.get("endedAt")),
                    RecordJson.status(h.get("status")),
                    h.get("exitCode") == null ? null : Integer.valueOf(h.get("exitCode")),
                    parseLong(h.get("durationMs")), parseLong(h.get("outputBytes")),
                    RecordJson.events(h.get("securityEvents")),
                    withResult ? StoredResults.decode(h.get("result"), output) : null,
                    withResult ? RecordJson.request(h.get("request")) : null, h.get("node"));
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
