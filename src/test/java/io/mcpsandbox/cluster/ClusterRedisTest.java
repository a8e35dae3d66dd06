package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.record.RedisServerExtension;
import io.mcpsandbox.testing.SystemTest;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.exceptions.JedisException;

/** The cluster's keys against a real redis-server of the test's own: join proofs, listing, pruning, drain, outage. */
@SystemTest
class ClusterRedisTest {
    private static final String SECRET = "cluster-redis-test-0123456789abcdef-0123";
    private static final String OTHER = "another-cluster-secret-0123456789abcdef";
    @RegisterExtension
    static final RedisServerExtension redis = new RedisServerExtension();

    @BeforeEach
    void emptyRedis() throws Exception {
        redis.ensureRunning();
        try (Jedis j = redis.client()) {
            j.flushAll();
        }
    }

    private static ClusterRedis open(String secret) {
        return new ClusterRedis(redis.url(), ClusterSecret.of(secret), Duration.ofSeconds(2), Clock.systemUTC());
    }

    private static ClusterSettings settings(String secret) {
        return new ClusterSettings(redis.url(), ClusterSecret.of(secret), null, null, Duration.ofMillis(200),
                Duration.ofMillis(1000));
    }

    private static NodeReport report() {
        return new NodeReport(List.of("runc"), List.of("host", "python:3.11-slim"), 8, 1, 2);
    }

    @Test
    void theFirstJoinFormsTheClusterAndAnotherSecretIsRefused() throws Exception {
        try (ClusterRedis a = open(SECRET); ClusterRedis b = open(SECRET); ClusterRedis c = open(OTHER)) {
            a.checkJoin();
            b.checkJoin();
            assertThatThrownBy(c::checkJoin).isInstanceOf(ClusterJoinException.class)
                    .hasMessageContaining("another cluster.secret").hasMessageNotContaining(OTHER)
                    .hasMessageNotContaining(SECRET);
        }
        try (Jedis j = redis.client()) {
            String meta = j.get(ClusterRedis.META);
            assertThat(meta).isEqualTo("1 " + ClusterSecret.of(SECRET).joinProof()).doesNotContain(SECRET);
        }
    }

    @Test
    void anotherProtocolOrAGarbageMetaKeyIsRefused() {
        try (Jedis j = redis.client(); ClusterRedis a = open(SECRET)) {
            j.set(ClusterRedis.META, "2 " + ClusterSecret.of(SECRET).joinProof());
            assertThatThrownBy(a::checkJoin).isInstanceOf(ClusterJoinException.class)
                    .hasMessageContaining("speaks cluster protocol 2 and this node speaks 1");
            j.set(ClusterRedis.META, "x".repeat(100_000));
            assertThatThrownBy(a::checkJoin).hasMessageContaining("not an mcp-sandbox cluster's");
        }
    }

    @Test
    void nodesAreListedAndGarbageIsNeverTrusted() throws Exception {
        try (ClusterRedis a = open(SECRET); Jedis j = redis.client()) {
            a.checkJoin();
            Instant joined = Instant.now();
            a.heartbeat("node-b", "http://10.0.0.2:8080", "1.0", report(), true, joined, Duration.ofSeconds(30));
            a.heartbeat("node-a", "http://10.0.0.1:8080", "1.0", report(), false, joined, Duration.ofSeconds(30));
            // Shared Redis: someone writes nonsense into an entry and the index.
            j.zadd(ClusterRedis.INDEX, System.currentTimeMillis(), "node-c");
            j.hset(ClusterRedis.nodeKey("node-c"), Map.of("id", "node-c", "url", "javascript:alert(1)",
                    "state", "active", "protocol", "1", "heartbeatAt", "-5", "maxInFlight", "99999999999999",
                    "runtimes", "runc,$(rm -rf /),runsc"));
            j.zadd(ClusterRedis.INDEX, System.currentTimeMillis(), "not a node id\u0000");

            ClusterStatus status = a.status();
            assertThat(status.nodes()).extracting(NodeView::id).containsExactly("node-a", "node-b", "node-c");
            NodeView first = status.nodes().get(0);
            assertThat(first.state()).isEqualTo(NodeView.ACTIVE);
            assertThat(first.url()).isEqualTo("http://10.0.0.1:8080");
            assertThat(first.runtimes()).containsExactly("runc");
            assertThat(first.images()).containsExactly("host", "python:3.11-slim");
            assertThat(first.capacity()).isEqualTo(new NodeView.Capacity(8, 1, 2));
            assertThat(first.joinedAt()).isEqualTo(Instant.ofEpochMilli(joined.toEpochMilli()));
            assertThat(status.nodes().get(1).state()).isEqualTo(NodeView.DRAINING);
            NodeView garbage = status.nodes().get(2);
            assertThat(garbage.state()).isEqualTo(NodeView.INVALID);
            assertThat(garbage.url()).isNull();
            assertThat(garbage.capacity().maxInFlight()).isEqualTo(-1);
            assertThat(garbage.runtimes()).containsExactly("runc", "runsc");
            assertThat(status.counts()).isEqualTo(new ClusterStatus.Counts(1, 1, 0));
            assertThat(j.zscore(ClusterRedis.INDEX, "not a node id\u0000")).as("pruned from the index").isNull();
        }
    }

    @Test
    void anEntryNotSignedWithTheSecretIsInvalid() throws Exception {
        try (ClusterRedis a = open(SECRET); ClusterRedis other = open(OTHER); Jedis j = redis.client()) {
            a.checkJoin();
            a.heartbeat("honest", "http://10.0.0.1:8080", "1.0", report(), false, Instant.now(),
                    Duration.ofSeconds(30));
            a.heartbeat("tampered", "http://10.0.0.2:8080", "1.0", report(), false, Instant.now(),
                    Duration.ofSeconds(30));
            other.heartbeat("forged", "http://10.0.0.3:8080", "1.0", report(), false, Instant.now(),
                    Duration.ofSeconds(30));
            // Someone with Redis access but not the secret points a node elsewhere.
            j.hset(ClusterRedis.nodeKey("tampered"), "url", "http://attacker.example:80");

            Map<String, String> states = new java.util.HashMap<>();
            a.status().nodes().forEach(n -> states.put(n.id(), n.state()));
            assertThat(states).containsEntry("honest", NodeView.ACTIVE).containsEntry("tampered", NodeView.INVALID)
                    .containsEntry("forged", NodeView.INVALID);
            assertThat(a.status().counts()).isEqualTo(new ClusterStatus.Counts(1, 0, 0));
        }
    }

    @Test
    void aNodeWhoseEntryExpiredIsDeadForAnHourThenPruned() throws Exception {
        try (ClusterRedis a = open(SECRET); Jedis j = redis.client()) {
            a.checkJoin();
            a.heartbeat("gone-soon", "http://10.0.0.9:8080", "1.0", report(), false, Instant.now(),
                    Duration.ofMillis(300));
            await().atMost(Duration.ofSeconds(5)).until(() -> a.status().counts().dead() == 1);
            NodeView dead = a.status().nodes().get(0);
            assertThat(dead.state()).isEqualTo(NodeView.DEAD);
            assertThat(dead.url()).as("its last address").isEqualTo("http://10.0.0.9:8080");
            assertThat(dead.heartbeatAt()).isAfter(Instant.now().minusSeconds(10));

            // Last seen over an hour ago: pruned by the next listing, with its drain flag.
            long old = Instant.now().minus(ClusterRedis.KEEP_DEAD).minusSeconds(60).toEpochMilli();
            j.zadd(ClusterRedis.INDEX, old, "gone-soon");
            j.set(ClusterRedis.drainKey("gone-soon"), "x");
            assertThat(a.status().nodes()).isEmpty();
            assertThat(j.zcard(ClusterRedis.INDEX)).isZero();
            assertThat(j.hlen(ClusterRedis.SEEN)).isZero();
            assertThat(j.exists(ClusterRedis.drainKey("gone-soon"))).isFalse();
        }
    }

    @Test
    void aDrainFlagCountsOnlyWithTheSecretsProof() throws Exception {
        try (ClusterRedis a = open(SECRET); Jedis j = redis.client()) {
            a.checkJoin();
            assertThat(a.setDrain("node-x", true)).as("unknown node").isFalse();
            a.heartbeat("node-x", "http://10.0.0.1:8080", "1.0", report(), false, Instant.now(),
                    Duration.ofSeconds(30));
            j.set(ClusterRedis.drainKey("node-x"), "forged");
            assertThat(a.drainFlagged("node-x")).isFalse();
            assertThat(a.drainKeyExists("node-x")).isTrue();
            assertThat(a.setDrain("node-x", true)).isTrue();
            assertThat(a.drainFlagged("node-x")).isTrue();
            assertThat(j.get(ClusterRedis.drainKey("node-x"))).doesNotContain(SECRET);
            try (ClusterRedis other = open(OTHER)) {
                assertThat(other.drainFlagged("node-x")).as("another secret's view").isFalse();
            }
            assertThat(a.setDrain("node-x", false)).isTrue();
            assertThat(a.drainFlagged("node-x")).isFalse();

            // Stopped cleanly while drained: out of the listing, its flag kept, and undrain still clears it.
            a.setDrain("node-x", true);
            a.remove("node-x");
            assertThat(a.drainFlagged("node-x")).isTrue();
            assertThat(a.setDrain("node-x", true)).as("not listed: nothing to drain").isFalse();
            assertThat(a.setDrain("node-x", false)).isTrue();
            assertThat(a.drainKeyExists("node-x")).isFalse();
            assertThat(a.setDrain("node-x", false)).as("nothing left to clear").isFalse();
        }
    }

    @Test
    void aNodeOutlivesARedisOutageAndRegistersAgain() throws Exception {
        try (ClusterNode node = ClusterNode.open(settings(SECRET), "survivor", "1.0", Clock.systemUTC());
                ClusterRedis reader = open(SECRET)) {
            node.start("http://127.0.0.1:9", ClusterRedisTest::report);
            assertThat(reader.status().nodes()).extracting(NodeView::id).containsExactly("survivor");
            await().atMost(Duration.ofSeconds(5)).until(() -> node.counts().active() == 1);

            try (Jedis j = redis.client()) {
                j.shutdown();
            } catch (JedisException expected) {
                // the connection ends with the server
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> !node.redisReachable());
            assertThat(node.accepting()).as("serves on").isTrue();

            redis.ensureRunning(); // empty: no persistence
            await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() -> node.redisReachable()
                    && reader.status().nodes().stream().anyMatch(n -> n.id().equals("survivor")
                    && n.state().equals(NodeView.ACTIVE)));
            try (Jedis j = redis.client()) {
                assertThat(j.get(ClusterRedis.META)).as("the cluster formed again").isNotNull();
            }
            node.close();
            assertThat(reader.status().nodes()).as("a clean stop leaves at once").isEmpty();
        }
    }

    @Test
    void aNodeSeesItsDrainFlagWithinAHeartbeat() throws Exception {
        try (ClusterNode node = ClusterNode.open(settings(SECRET), "drained", "1.0", Clock.systemUTC());
                ClusterRedis admin = open(SECRET)) {
            node.start("http://127.0.0.1:9", ClusterRedisTest::report);
            assertThat(node.accepting()).isTrue();
            assertThat(admin.setDrain("drained", true)).isTrue();
            await().atMost(Duration.ofSeconds(2)).until(() -> !node.accepting());
            await().atMost(Duration.ofSeconds(2)).until(() -> admin.status().nodes().get(0).state()
                    .equals(NodeView.DRAINING));
            assertThat(node.drainReason()).contains("drained").contains("draining");
            admin.setDrain("drained", false);
            await().atMost(Duration.ofSeconds(2)).until(node::accepting);
        }
    }

    @Test
    void aNodeWithAnotherSecretNeverRegisters() throws Exception {
        try (ClusterRedis a = open(SECRET)) {
            a.checkJoin();
            assertThatThrownBy(() -> ClusterNode.open(settings(OTHER), "intruder", "1.0", Clock.systemUTC()))
                    .isInstanceOf(ClusterJoinException.class);
            assertThat(a.status().nodes()).isEmpty();
        }
    }
}
