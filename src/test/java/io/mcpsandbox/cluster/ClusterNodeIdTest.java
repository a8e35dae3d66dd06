package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.record.RedisServerExtension;
import io.mcpsandbox.testing.SystemTest;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.RedisClient;

/**
 * A node id is held by one process at a time ({@link NodeClaim}), against a real redis-server: of many that open
 * the same id at one instant exactly one holds it; a claim left by a process that died is taken over once it
 * expires, one not signed with the secret at once; a live holder's is never; a clean stop gives it up at once.
 */
@SystemTest
class ClusterNodeIdTest {
    private static final String SECRET = "node-id-test-secret-0123456789abcdef-01";
    private static final Duration HEARTBEAT = Duration.ofMillis(150);
    private static final Duration DEAD_AFTER = Duration.ofMillis(2000);
    @RegisterExtension
    static final RedisServerExtension redis = new RedisServerExtension();

    @BeforeEach
    void emptyRedis() {
        try (Jedis j = redis.client()) {
            j.flushAll();
        }
    }

    private static ClusterSettings settings() {
        return new ClusterSettings(redis.url(), ClusterSecret.of(SECRET), null, null, HEARTBEAT, DEAD_AFTER);
    }

    private static ClusterNode open(String id) throws ClusterJoinException {
        return ClusterNode.open(settings(), id, "test", Clock.systemUTC());
    }

    private static long millisSince(long t0) {
        return (System.nanoTime() - t0) / 1_000_000;
    }

    @Test
    void ofEightStartingWithOneIdAtOnceExactlyOneHoldsItAndAStopGivesItUp() throws Exception {
        int n = 8;
        CyclicBarrier together = new CyclicBarrier(n);
        ExecutorService pool = Executors.newFixedThreadPool(n);
        List<CompletableFuture<Object>> opens = new ArrayList<>();
        try {
            for (int i = 0; i < n; i++) {
                opens.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        together.await();
                        return open("twin");
                    } catch (ClusterJoinException e) {
                        return e;
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }, pool));
            }
            List<Object> outcomes = opens.stream().map(CompletableFuture::join).toList();
            List<ClusterNode> joined = outcomes.stream().filter(o -> o instanceof ClusterNode)
                    .map(o -> (ClusterNode) o).toList();
            List<ClusterJoinException> refused = outcomes.stream().filter(o -> o instanceof ClusterJoinException)
                    .map(o -> (ClusterJoinException) o).toList();
            assertThat(joined).hasSize(1);
            assertThat(refused).hasSize(n - 1).allSatisfy(e -> assertThat(e.getMessage())
                    .contains("node id 'twin' is in use by another live server").contains("cluster.node-id"));

            // The holder keeps it while it lives (its claim renewed every heartbeat, also before it serves).
            ClusterNode holder = joined.get(0);
            holder.start("http://127.0.0.1:9", () -> new NodeReport(List.of("runc"), List.of(), 1, 0, 0));
            try {
                open("twin").close();
                throw new AssertionError("a second live process took the id");
            } catch (ClusterJoinException e) {
                assertThat(e.getMessage()).contains("at http://127.0.0.1:9");
            }

            // A clean stop gives the id up at once: the next start does not wait for the TTL.
            holder.close();
            long t0 = System.nanoTime();
            try (ClusterNode again = open("twin")) {
                assertThat(again.id()).isEqualTo("twin");
            }
            assertThat(millisSince(t0)).isLessThan(DEAD_AFTER.toMillis() / 2);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void theClaimOfADeadRunIsTakenOverOnceItExpires() throws Exception {
        // A previous run of the node, killed: it claimed the id once, and never renews it.
        try (RedisClient c = io.mcpsandbox.record.RedisUrls.connect(io.mcpsandbox.record.RedisUrls.parse(
                redis.url()), Duration.ofSeconds(2), 1, "node-id-test")) {
            NodeClaim dead = new NodeClaim(c, ClusterSecret.of(SECRET), "phoenix", DEAD_AFTER, Clock.systemUTC());
            assertThat(dead.refresh("http://127.0.0.1:7")).isNull();
            long t0 = System.nanoTime();
            try (ClusterNode back = open("phoenix")) {
                assertThat(back.id()).isEqualTo("phoenix");
            }
            // It waited for the claim to expire (most of dead-after), not longer than dead-after and a little.
            assertThat(millisSince(t0)).isBetween(DEAD_AFTER.toMillis() / 2, DEAD_AFTER.toMillis() + 1000);

            // A live holder's claim: another process's refresh does not take it, once it stops it does.
            NodeClaim live = new NodeClaim(c, ClusterSecret.of(SECRET), "held", DEAD_AFTER, Clock.systemUTC());
            NodeClaim other = new NodeClaim(c, ClusterSecret.of(SECRET), "held", DEAD_AFTER, Clock.systemUTC());
            assertThat(live.refresh("http://127.0.0.1:8")).isNull();
            NodeClaim.Holder seen = other.refresh(null);
            assertThat(seen).isNotNull();
            assertThat(seen.token()).isEqualTo(live.token());
            assertThat(seen.url()).isEqualTo("http://127.0.0.1:8");
            await().during(Duration.ofMillis(DEAD_AFTER.toMillis() + 300)).atMost(Duration.ofSeconds(5))
                    .pollInterval(HEARTBEAT).until(() -> live.refresh("http://127.0.0.1:8") == null
                            && other.refresh(null) != null);
            await().atMost(DEAD_AFTER.multipliedBy(3)).pollInterval(HEARTBEAT).until(() -> other.refresh(null) == null);
            assertThat(live.refresh("http://127.0.0.1:8")).as("the old holder sees the new one").isNotNull();
        }
    }

    @Test
    void aClaimNotSignedWithTheSecretIsReplacedAtOnce() throws Exception {
        try (Jedis j = redis.client()) {
            j.set(NodeClaim.key("forged"), "0123456789abcdef0123456789abcdef 1 http://10.0.0.1:1 "
                    + "0000000000000000000000000000000000000000000000000000000000000000");
        }
        long t0 = System.nanoTime();
        try (ClusterNode node = open("forged")) {
            assertThat(node.id()).isEqualTo("forged");
            try (Jedis j = redis.client()) {
                assertThat(j.get(NodeClaim.key("forged"))).doesNotContain("http://10.0.0.1:1");
                assertThat(j.pttl(NodeClaim.key("forged"))).isPositive();
            }
        }
        assertThat(millisSince(t0)).isLessThan(DEAD_AFTER.toMillis() / 2);
        try (Jedis j = redis.client()) {
            assertThat(j.exists(NodeClaim.key("forged"))).as("given up on close").isFalse();
        }
    }
}
