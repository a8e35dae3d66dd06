package io.mcpsandbox.record;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.SessionCloseReason;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.testing.SystemTest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;
import redis.clients.jedis.Jedis;

/**
 * The contract on Redis with the embedded SQLite file as fallback (the store the service uses when a Redis
 * URL is set): during an outage no record is lost, and every one is written to Redis when it answers again.
 * Then the test and its neighbours: Redis killed during a batch, hung, never started, read while down.
 * One redis-server for the class (password, append-only file); each test gets its own SQLite file.
 */
@SystemTest
class FailoverExecutionStoreTest extends ExecutionStoreContract {
    private static final Duration TTL = Duration.ofHours(24);
    private static final String PASSWORD = "s3cret-pw";
    private static Path serverDir;
    private static RedisServerProcess redis;

    @TempDir
    Path dir;
    private final ListAppender<ILoggingEvent> logs = new ListAppender<>();
    private final Logger logger = (Logger) LoggerFactory.getLogger(FailoverExecutionStore.class);

    @BeforeAll
    static void startRedis() throws Exception {
        serverDir = Files.createTempDirectory("redis-failover-test");
        redis = new RedisServerProcess(serverDir, true, PASSWORD).start();
    }

    @AfterAll
    static void stopRedis() throws Exception {
        if (redis != null) {
            redis.close();
        }
        DeleteTree.delete(serverDir);
    }

    @BeforeEach
    void runningAndEmpty() throws Exception {
        redis.ensureRunning();
        try (Jedis jedis = redis.client()) {
            jedis.flushAll();
        }
        logs.start();
        logger.addAppender(logs);
    }

    @AfterEach
    void releaseLogs() {
        logger.detachAppender(logs);
    }

    @Override
    protected ExecutionStore open(OutputCaps caps) {
        return new FailoverExecutionStore(new RedisExecutionStore(redis.url(), TTL, Duration.ofSeconds(2), 8, caps),
                new SqliteExecutionStore(dir.resolve(SqliteExecutionStore.FILE_NAME), Duration.ofDays(30), caps));
    }

    @Override
    protected ExecutionStore pastRetention(ExecutionStore store, ExecutionRecord record) {
        return RedisExecutionStoreTest.expire(redis, store, record);
    }

    /** redis-server killed (as a crash would), started again on the same port and files. */
    @Override
    protected Outage outage() throws Exception {
        redis.kill();
        return redis::start;
    }

    @Override
    protected boolean keepsWritesDuringAnOutage() {
        return true;
    }

    @Override
    protected boolean healthSeesAnOutage() {
        return true;
    }

    @Override
    protected Stored stored(ExecutionStore store, ExecutionRecord record) {
        return RedisExecutionStoreTest.stored(redis, record);
    }

    /** Garbage in the hash's result and output fields. */
    @Override
    protected void corruptResult(ExecutionStore store, ExecutionRecord record) {
        RedisExecutionStoreTest.corruptResult(redis, record);
    }

    @Override
    protected void corruptRequest(ExecutionStore store, ExecutionRecord record) {
        RedisExecutionStoreTest.corruptRequest(redis, record);
    }

    /** The record's hash in Redis, and the embedded file (its spool) byte for byte. */
    @Override
    protected String rawBackend(ExecutionStore store, ExecutionRecord record) throws Exception {
        return RedisExecutionStoreTest.raw(redis, record)
                + SqliteExecutionStoreTest.raw(dir.resolve(SqliteExecutionStore.FILE_NAME));
    }

    @Override
    protected long storedOutputBytes(ExecutionStore store) {
        try (RedisExecutionStore direct = new RedisExecutionStore(redis.url(), TTL, Duration.ofSeconds(2), 1)) {
            return direct.sizeBytes();
        }
    }

    @Override
    protected String secret() {
        return PASSWORD;
    }

    private FailoverExecutionStore store(Duration timeout) {
        return new FailoverExecutionStore(new RedisExecutionStore(redis.url(), TTL, timeout, 8),
                new SqliteExecutionStore(dir.resolve(SqliteExecutionStore.FILE_NAME), Duration.ofDays(30)));
    }

    private long logged(String fragment) {
        return logs.list.stream().filter(e -> e.getFormattedMessage().contains(fragment)).count();
    }

    private static ExecutionRecord inRedis(Jedis jedis, String executionId) {
        return RedisExecutionStore.record(jedis.hgetAll(
                RedisExecutionStore.key(executionId).getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void noRecordIsLostWhenRedisIsKilledDuringABatch() throws Exception {
        try (FailoverExecutionStore store = store(Duration.ofMillis(500));
             ExecutorService pool = Executors.newFixedThreadPool(5)) {
            AtomicInteger ended = new AtomicInteger();
            AtomicLong slowestWriteNanos = new AtomicLong();
            List<ExecutionRecord> finals = Collections.synchronizedList(new ArrayList<>());
            List<Future<?>> batch = new ArrayList<>();
            for (int t = 0; t < 5; t++) {
                String user = "user-" + (t % 3);
                batch.add(pool.submit(() -> {
                    for (int i = 0; i < 10; i++) {
                        ExecutionRecord start = Records.started(user, Instant.now());
                        timed(() -> store.recordStart(start), slowestWriteNanos);
                        Thread.sleep(50); // the execution runs
                        ExecutionRecord end = Records.ended(start);
                        timed(() -> store.recordEnd(end), slowestWriteNanos);
                        finals.add(end);
                        ended.incrementAndGet();
                        Thread.sleep(20);
                    }
                    return null;
                }));
            }

            await().atMost(Duration.ofSeconds(20)).until(() -> ended.get() >= 10);
            redis.kill();
            StoreHealth during = await().atMost(Duration.ofSeconds(10)).until(store::health, h -> !h.ok());
            assertThat(during.detail()).contains("degraded").contains("unreachable").doesNotContain(PASSWORD);
            assertThat(store.degraded()).isTrue();
            await().atMost(Duration.ofSeconds(20))
                    .until(() -> ended.get() >= 30 || batch.stream().allMatch(Future::isDone));
            assertThat(store.health().ok()).isFalse();
            assertThat(store.pendingWrites()).as("records kept in the embedded store during the outage").isPositive();

            redis.start(); // same port, same data directory
            for (Future<?> f : batch) {
                f.get(60, TimeUnit.SECONDS);
            }
            assertThat(finals).hasSize(50);

            await().atMost(Duration.ofSeconds(30)).until(() -> store.health().ok());
            assertThat(store.health().pendingWrites()).isZero();
            assertThat(store.health().detail()).doesNotContain(PASSWORD);
            try (Jedis jedis = redis.client()) {
                for (ExecutionRecord end : finals) {
                    String key = RedisExecutionStore.key(end.executionId());
                    assertThat(inRedis(jedis, end.executionId())).as(key).isEqualTo(end);
                    assertThat(jedis.ttl(key)).isPositive().isLessThanOrEqualTo(TTL.toSeconds());
                    assertThat(jedis.zscore(RedisExecutionStore.ALL_INDEX, end.executionId())).isNotNull();
                    assertThat(jedis.zscore(RedisExecutionStore.userIndex(end.userId()), end.executionId()))
                            .isNotNull();
                }
                assertThat(jedis.scard(RedisExecutionStore.RUNNING_SET)).isZero();
            }
            assertThat(Duration.ofNanos(slowestWriteNanos.get())).as("slowest record write")
                    .isLessThan(Duration.ofSeconds(2));
            assertThat(store.outages()).isEqualTo(1);
            assertThat(store.replayedWrites()).isPositive();
            assertThat(store.redisWriteFailures()).isPositive();
            assertThat(logged("Redis is unreachable (")).as("outage logged once").isEqualTo(1);
            assertThat(logged("answers again after")).as("recovery logged once").isEqualTo(1);
            assertThat(logged("every record kept while Redis was unreachable is now in Redis")).isEqualTo(1);
            assertThat(logs.list).noneMatch(e -> e.getFormattedMessage().contains(PASSWORD));
        }
    }

    @Test
    void aHungRedisDoesNotStallExecutions() throws Exception {
        try (FailoverExecutionStore store = store(Duration.ofMillis(300))) {
            store.recordStart(Records.started("alice", Instant.now()));
            redis.pause();
            List<ExecutionRecord> written = new ArrayList<>();
            long t = System.nanoTime();
            for (int i = 0; i < 10; i++) {
                ExecutionRecord start = Records.started("alice", Instant.now());
                store.recordStart(start);
                ExecutionRecord end = Records.ended(start);
                store.recordEnd(end);
                written.add(end);
            }
            assertThat(Duration.ofNanos(System.nanoTime() - t)).as("20 writes while Redis hangs")
                    .isLessThan(Duration.ofSeconds(3));
            assertThat(store.find(written.get(3).executionId())).contains(written.get(3));
            // The replayer's pings time out too: it never takes the hung server for a working one.
            await().during(Duration.ofMillis(1_500)).atMost(Duration.ofSeconds(5)).until(() -> !store.health().ok());
            assertThat(store.health().pendingWrites()).as("one pending record per execution").isEqualTo(10);
            redis.resume();
            await().atMost(Duration.ofSeconds(30)).until(() -> store.health().ok());
            try (Jedis jedis = redis.client()) {
                for (ExecutionRecord end : written) {
                    assertThat(inRedis(jedis, end.executionId())).isEqualTo(end);
                }
            }
        }
    }

    @Test
    void recordsKeptByAStoppedProcessAreWrittenByTheNext() throws Exception {
        redis.kill();
        List<ExecutionRecord> written = new ArrayList<>();
        try (FailoverExecutionStore store = store(Duration.ofMillis(500))) { // Redis not running
            assertThat(store.health().ok()).isFalse();
            for (int i = 0; i < 5; i++) {
                ExecutionRecord start = Records.started("bob", Instant.now());
                store.recordStart(start);
                written.add(Records.ended(start));
                store.recordEnd(written.get(i));
            }
            assertThat(store.pendingWrites()).isEqualTo(5);
            assertThat(store.health().pendingWrites()).isEqualTo(5);
            assertThat(store.find(written.get(0).executionId())).contains(written.get(0));
        }
        redis.start();
        try (FailoverExecutionStore store = store(Duration.ofMillis(500))) {
            await().atMost(Duration.ofSeconds(30)).until(() -> store.health().ok());
            assertThat(store.list("bob", 10)).containsExactlyInAnyOrderElementsOf(written);
            try (Jedis jedis = redis.client()) {
                for (ExecutionRecord end : written) {
                    assertThat(jedis.exists(RedisExecutionStore.key(end.executionId()))).isTrue();
                }
            }
        }
    }

    @Test
    void readsDuringAnOutageSayWhatTheyCannotKnow() throws Exception {
        try (FailoverExecutionStore store = store(Duration.ofMillis(500))) {
            ExecutionRecord a = Records.started("alice", Instant.now());
            store.recordStart(a);
            store.recordEnd(Records.ended(a));
            assertThat(store.pendingWrites()).isZero();
            redis.kill();

            ExecutionRecord b = Records.started("alice", Instant.now().plusMillis(1));
            store.recordStart(b);
            assertThat(store.find(b.executionId())).contains(b);
            assertThatThrownBy(() -> store.find(a.executionId())).isInstanceOf(ExecutionStoreException.class)
                    .hasMessageContaining(a.executionId()).hasMessageNotContaining(PASSWORD);
            assertThatThrownBy(() -> store.list("alice", 10)).isInstanceOf(ExecutionStoreException.class);
            assertThatThrownBy(store::running).isInstanceOf(ExecutionStoreException.class);

            redis.start();
            await().atMost(Duration.ofSeconds(30)).until(() -> store.health().ok());
            assertThat(store.find(a.executionId())).contains(Records.ended(a));
            assertThat(store.list("alice", 10)).containsExactly(b, Records.ended(a));
            assertThat(store.running()).containsExactly(b);
            store.recordEnd(Records.ended(b));
            assertThat(store.running()).isEmpty();
            assertThat(store.find(b.executionId())).contains(Records.ended(b));
        }
    }

    @Test
    void anEndWhoseStartIsStillPendingFollowsItThroughTheEmbeddedStore() {
        RedisExecutionStore direct = new RedisExecutionStore(redis.url(), TTL, Duration.ofMillis(500), 2);
        SqliteExecutionStore spool = new SqliteExecutionStore(dir.resolve("spool.db"), Duration.ofDays(30));
        // A start kept during an outage; the replayer is slow here, so it is still pending when the end
        // arrives with Redis up.
        ExecutionRecord start = Records.started("carol", Instant.now());
        spool.recordPending(start);
        try (FailoverExecutionStore store = new FailoverExecutionStore(direct, spool, Duration.ofHours(1),
                Duration.ofHours(1))) {
            assertThat(store.redisReachable()).isTrue();
            store.recordEnd(Records.ended(start));
            assertThat(direct.find(start.executionId())).as("not written to Redis ahead of its start").isEmpty();
            assertThat(store.find(start.executionId())).contains(Records.ended(start));
            assertThat(store.pendingWrites()).isEqualTo(1);
            assertThat(store.health().detail()).contains("1 records");
        }
    }

    @Test
    void sessionsSavedWhileRedisIsDownAreFoundAfterItReturns() throws Exception {
        SessionRecord before = Records.session("alice", Instant.now().minusSeconds(10));
        SessionRecord during = Records.session("alice", Instant.now());
        try (FailoverExecutionStore store = store(Duration.ofMillis(500))) {
            store.saveSession(before);
            redis.kill();
            SessionRecord beforeClosed = before.closed(SessionCloseReason.FAILED, "sandbox died", Instant.now());
            store.saveSession(beforeClosed);
            store.saveSession(during);
            SessionRecord used = during.executed(Instant.now());
            store.saveSession(used);
            ExecutionRecord run = Records.inSession(during.sessionId(), "alice", Instant.now());
            store.recordEnd(run);
            assertThat(store.pendingWrites()).as("two sessions and one execution").isEqualTo(3);
            assertThat(store.findSession(during.sessionId())).as("readable meanwhile").contains(used);
            assertThat(store.findSession(before.sessionId())).contains(beforeClosed);
            assertThatThrownBy(store::openSessions).isInstanceOf(ExecutionStoreException.class);

            redis.start();
            await().atMost(Duration.ofSeconds(30)).until(() -> store.health().ok());
            assertThat(store.pendingWrites()).isZero();
            assertThat(store.findSession(during.sessionId())).contains(used);
            assertThat(store.openSessions()).containsExactly(used);
            assertThat(store.listSessions("alice", false, 10)).containsExactly(used, beforeClosed);
            assertThat(store.listBySession(during.sessionId(), 10)).containsExactly(run);
            try (Jedis jedis = redis.client()) {
                assertThat(RedisExecutionStore.session(jedis.hgetAll(RedisExecutionStore.sessionKey(
                        before.sessionId()).getBytes(StandardCharsets.UTF_8)))).isEqualTo(beforeClosed);
            }
        }
    }

    @Test
    void summariesMergeTheEmbeddedStoreAsTheListDoes() {
        RedisExecutionStore direct = new RedisExecutionStore(redis.url(), TTL, Duration.ofMillis(500), 2);
        SqliteExecutionStore spool = new SqliteExecutionStore(dir.resolve("spool.db"), Duration.ofDays(30));
        Instant t0 = Instant.now().minusSeconds(60);
        ExecutionRecord endedInRedis = Records.ended(Records.started("dana", t0));
        direct.recordEnd(endedInRedis);
        ExecutionRecord start = Records.started("dana", t0.plusSeconds(1));
        direct.recordStart(start);
        // Its end and another start, kept during an outage; the replayer is slow here, so they stay pending.
        ExecutionRecord end = Records.ended(start);
        spool.recordPending(end);
        ExecutionRecord startedDuring = Records.started("dana", t0.plusSeconds(2));
        spool.recordPending(startedDuring);
        // A record only the embedded file has, not pending (kept before Redis was configured).
        ExecutionRecord local = Records.ended(Records.started("dana", t0.minusSeconds(1)));
        spool.recordEnd(local);
        try (FailoverExecutionStore store = new FailoverExecutionStore(direct, spool, Duration.ofHours(1),
                Duration.ofHours(1))) {
            List<ExecutionRecord> expected = List.of(startedDuring.withoutResult(), end.withoutResult(),
                    endedInRedis.withoutResult(), local.withoutResult());
            assertThat(store.listSummaries("dana", 10)).containsExactlyElementsOf(expected);
            assertThat(store.listSummaries(null, 10)).containsExactlyElementsOf(expected);
            assertThat(store.listSummaries("dana", 2)).containsExactlyElementsOf(expected.subList(0, 2));
            assertThat(store.list("dana", 10)).extracting(ExecutionRecord::withoutResult)
                    .containsExactlyElementsOf(expected);
            assertThat(direct.listSummaries("dana", 10)).as("Redis still has the start")
                    .containsExactly(start, endedInRedis.withoutResult());
            assertThat(store.pendingWrites()).isEqualTo(2);
        }
    }

    @Test
    void aPendingCloseHidesTheOpenVersionRedisStillHas() {
        RedisExecutionStore direct = new RedisExecutionStore(redis.url(), TTL, Duration.ofMillis(500), 2);
        SqliteExecutionStore spool = new SqliteExecutionStore(dir.resolve("spool.db"), Duration.ofDays(30));
        SessionRecord open = Records.session("carol", Instant.now());
        direct.saveSession(open);
        SessionRecord closed = open.closed(SessionCloseReason.CLOSED, null, Instant.now());
        spool.saveSessionPending(closed); // the close, kept during an outage; the replayer is slow here
        try (FailoverExecutionStore store = new FailoverExecutionStore(direct, spool, Duration.ofHours(1),
                Duration.ofHours(1))) {
            assertThat(store.openSessions()).isEmpty();
            assertThat(store.listSessions("carol", true, 10)).isEmpty();
            assertThat(store.listSessions("carol", false, 10)).containsExactly(closed);
            assertThat(store.findSession(open.sessionId())).contains(closed);
            SessionRecord again = closed.closed(SessionCloseReason.IDLE, null, Instant.now());
            store.saveSession(again);
            assertThat(direct.findSession(open.sessionId())).as("follows its pending version").contains(open);
            assertThat(store.pendingWrites()).isEqualTo(1);
        }
    }

    private interface Write {
        void run();
    }

    private static void timed(Write write, AtomicLong slowest) {
        long t = System.nanoTime();
        write.run();
        slowest.accumulateAndGet(System.nanoTime() - t, Math::max);
    }
}
