package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.model.SessionCloseReason;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.record.RedisExecutionStore;
import io.mcpsandbox.record.RedisServerExtension;
import io.mcpsandbox.session.SessionService;
import io.mcpsandbox.testing.SystemTest;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import redis.clients.jedis.Jedis;

/**
 * {@link ClusterSessions} against a real redis-server and the Redis record store: owner entries written and removed,
 * a lost owner's session closed as {@code node_lost} when asked for and by the sweep (once, under its lock), and
 * entries or set members written without the secret never followed.
 */
@SystemTest
class ClusterSessionsRedisTest {
    private static final String SECRET = "cluster-sessions-test-0123456789abcdef-01";
    @RegisterExtension
    static final RedisServerExtension redis = new RedisServerExtension();
    private ClusterNode self;
    private ClusterRedis other;
    private RedisExecutionStore store;
    private ClusterSessions sessions;

    @BeforeEach
    void nodes() throws Exception {
        redis.ensureRunning();
        try (Jedis j = redis.client()) {
            j.flushAll();
        }
        ClusterSettings settings = new ClusterSettings(redis.url(), ClusterSecret.of(SECRET), null, null,
                Duration.ofMillis(200), Duration.ofMillis(1000));
        self = ClusterNode.open(settings, "node-self", "test", Clock.systemUTC());
        other = new ClusterRedis(redis.url(), ClusterSecret.of(SECRET), Duration.ofSeconds(2), Clock.systemUTC());
        store = new RedisExecutionStore(redis.url(), Duration.ofHours(1), Duration.ofSeconds(2), 2);
        sessions = new ClusterSessions(self, self.redis().client(), new ClusterSessionSigns(ClusterSecret.of(SECRET)),
                store, Clock.systemUTC());
    }

    @AfterEach
    void close() {
        sessions.close();
        store.close();
        other.close();
        self.close();
    }

    private static SessionRecord record() {
        Instant now = Instant.now();
        return SessionRecord.opened(UUID.randomUUID().toString(), "alice", "host", "runc", SecurityLevel.MEDIUM,
                SessionRecord.READ_ONLY, new ResourceLimits(Duration.ofSeconds(30), 256L << 20, 1.0, 64, 8L << 20,
                        64L << 20, 256), List.of(), now, now.plusSeconds(3600), 600, "box", "1:1");
    }

    /** A node {@code id} listed live (a signed entry), as its heartbeat writes it. */
    private void live(String id) {
        other.heartbeat(id, "http://127.0.0.1:1", "test", new NodeReport(List.of("runc"), List.of(), 1, 0, 0),
                false, Instant.now(), Duration.ofMinutes(1));
    }

    /** A session {@code owner} holds: its record open in the store, its signed owner entry and set member. */
    private SessionRecord heldBy(String owner) {
        SessionRecord r = record();
        store.saveSession(r);
        try (Jedis j = redis.client()) {
            j.set(ClusterSessions.ownerKey(r.sessionId()),
                    new ClusterSessionSigns(ClusterSecret.of(SECRET)).owner(r.sessionId(), owner));
            j.sadd(ClusterSessions.nodeSessionsKey(owner), r.sessionId());
        }
        return r;
    }

    @Test
    void openingAndClosingWriteAndRemoveTheSignedOwnerEntry() {
        SessionRecord r = record();
        sessions.opened(r);
        try (Jedis j = redis.client()) {
            String entry = j.get(ClusterSessions.ownerKey(r.sessionId()));
            assertThat(new ClusterSessionSigns(ClusterSecret.of(SECRET)).ownerOf(r.sessionId(), entry))
                    .contains("node-self");
            assertThat(j.pttl(ClusterSessions.ownerKey(r.sessionId()))).isBetween(3_600_000L, 3_960_000L);
            assertThat(j.sismember(ClusterSessions.nodeSessionsKey("node-self"), r.sessionId())).isTrue();
            // Its own session is answered here (from the records), never routed.
            assertThat(sessions.locate(r.sessionId())).isEqualTo(SessionService.Location.HERE);
            sessions.closed(r);
            assertThat(j.exists(ClusterSessions.ownerKey(r.sessionId()))).isFalse();
            assertThat(j.sismember(ClusterSessions.nodeSessionsKey("node-self"), r.sessionId())).isFalse();
        }
    }

    @Test
    void aLiveOwnerIsRoutedToAndALostOneClosesTheSession() {
        live("node-live");
        SessionRecord atLive = heldBy("node-live");
        SessionService.Location where = sessions.locate(atLive.sessionId());
        assertThat(where.remote()).isTrue();
        assertThat(where.nodeId()).isEqualTo("node-live");
        assertThat(where.url()).isEqualTo("http://127.0.0.1:1");

        SessionRecord atGone = heldBy("node-never-listed");
        assertThat(sessions.locate(atGone.sessionId())).isEqualTo(SessionService.Location.HERE);
        SessionRecord closed = store.findSession(atGone.sessionId()).orElseThrow();
        assertThat(closed.closeReason()).isEqualTo(SessionCloseReason.NODE_LOST);
        assertThat(closed.closeDetail()).contains("node lost").contains("node-never-listed");
        try (Jedis j = redis.client()) {
            assertThat(j.exists(ClusterSessions.ownerKey(atGone.sessionId()))).isFalse();
        }
        assertThat(store.findSession(atLive.sessionId()).orElseThrow().isOpen()).isTrue();
    }

    @Test
    void anOwnerEntryWithoutTheSecretIsNeverFollowed() {
        SessionRecord r = record();
        store.saveSession(r);
        String forged = new ClusterSessionSigns(ClusterSecret.of("someone-elses-secret-0123456789abcdef"))
                .owner(r.sessionId(), "node-gone");
        for (String hostile : new String[] {forged, "node-gone", "node-gone " + "0".repeat(64), "x".repeat(10_000)}) {
            try (Jedis j = redis.client()) {
                j.set(ClusterSessions.ownerKey(r.sessionId()), hostile);
            }
            assertThat(sessions.locate(r.sessionId())).as(hostile).isEqualTo(SessionService.Location.HERE);
            assertThat(store.findSession(r.sessionId()).orElseThrow().isOpen()).as(hostile).isTrue();
        }
        // Ids that are not session ids are not looked up at all.
        assertThat(sessions.locate("../../x")).isEqualTo(SessionService.Location.HERE);
        assertThat(sessions.locate("*")).isEqualTo(SessionService.Location.HERE);
    }

    @Test
    void theSweepClosesADeadNodesSessionsOnceAndOnlyThose() throws Exception {
        live("node-live");
        live("node-dead");
        SessionRecord lost1 = heldBy("node-dead");
        SessionRecord lost2 = heldBy("node-dead");
        SessionRecord elsewhere = heldBy("node-live");
        try (Jedis j = redis.client()) {
            // Someone without the secret adds a live node's session to the dead node's set, and garbage.
            j.sadd(ClusterSessions.nodeSessionsKey("node-dead"), elsewhere.sessionId(), "not-a-session");
            j.del(ClusterRedis.nodeKey("node-dead")); // its entry expired: dead
        }
        // Lost once this node has seen it dead at every heartbeat for cluster.dead-after (1 s here).
        self.start("http://127.0.0.1:2", () -> new NodeReport(List.of(), List.of(), 1, 0, 0));
        await().atMost(Duration.ofSeconds(10)).until(() -> self.isLost("node-dead"));
        assertThat(self.isLost("node-live")).isFalse();
        ClusterStatus status = self.status();
        assertThat(status.counts().dead()).isEqualTo(1);
        assertThat(sessions.sweep(status)).containsExactlyInAnyOrder(lost1.sessionId(), lost2.sessionId());
        for (SessionRecord r : List.of(lost1, lost2)) {
            assertThat(store.findSession(r.sessionId()).orElseThrow().closeReason())
                    .isEqualTo(SessionCloseReason.NODE_LOST);
        }
        assertThat(store.findSession(elsewhere.sessionId()).orElseThrow().isOpen()).isTrue();
        try (Jedis j = redis.client()) {
            assertThat(j.exists(ClusterSessions.nodeSessionsKey("node-dead"))).isFalse();
            assertThat(j.get(ClusterSessions.reapLockKey("node-dead"))).isEqualTo("node-self");
            // Another node, while the lock is held, does nothing.
            SessionRecord late = heldBy("node-dead");
            assertThat(sessions.sweep(status)).isEmpty();
            assertThat(store.findSession(late.sessionId()).orElseThrow().isOpen()).isTrue();
        }
    }
}
