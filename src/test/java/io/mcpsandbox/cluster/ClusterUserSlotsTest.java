package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.execution.Admission;
import io.mcpsandbox.record.RedisServerExtension;
import io.mcpsandbox.record.RedisUrls;
import io.mcpsandbox.testing.SystemTest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.RedisClient;

/**
 * {@code admission.max-per-user} held across nodes: two admissions (two nodes) share one real redis-server; a dead
 * node's slots end with their lease; an outage falls back to the node's own count.
 */
@SystemTest
class ClusterUserSlotsTest {
    private static final Duration LEASE = Duration.ofMillis(800);
    @RegisterExtension
    static final RedisServerExtension redis = new RedisServerExtension();
    private final List<AutoCloseable> open = new ArrayList<>();

    @BeforeEach
    void emptyRedis() throws Exception {
        redis.ensureRunning();
        try (Jedis j = redis.client()) {
            j.flushAll();
        }
    }

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
    }

    /** A node's admission: 8 slots, 2 per user, the per-user limit shared through Redis. */
    private Admission node(String id) {
        RedisClient client = RedisUrls.connect(RedisUrls.parse(redis.url()), Duration.ofSeconds(1), 2, id);
        open.add(client);
        ClusterUserSlots slots = new ClusterUserSlots(client, id, LEASE);
        Admission admission = new Admission(8, 2, 4, Duration.ofSeconds(5));
        admission.shareUserLimit(slots);
        open.add(admission);
        return admission;
    }

    private static Admission.Permit permit(CompletableFuture<Admission.Permit> f) throws Exception {
        return f.get(5, TimeUnit.SECONDS);
    }

    @Test
    void aUsersLimitHoldsAcrossNodesAndAReleaseFreesTheSlotEverywhere() throws Exception {
        Admission a = node("node-a");
        Admission b = node("node-b");
        Admission.Permit first = permit(a.acquire("alice"));
        Admission.Permit second = b.tryAcquire("alice").permit();
        assertThat(second).as("b's own count is 0: only the shared count can refuse").isNotNull();

        // Each node holds one of alice's two: a third anywhere is refused, naming where the limit is counted.
        assertThatThrownBy(() -> permit(a.acquire("alice"))).isInstanceOf(ExecutionException.class)
                .cause().isInstanceOf(Admission.Rejected.class)
                .hasMessageContaining("too many executions for user 'alice' across the cluster's nodes")
                .hasMessageContaining("admission.max-per-user");
        assertThat(b.tryAcquire("alice").refusal()).isEqualTo(Admission.Refusal.USER_LIMIT);
        // Another user is not affected, and a refusal held no slot (a's running count is still 1).
        permit(b.acquire("bob")).close();
        assertThat(a.running()).isEqualTo(1);

        first.close();
        Admission.Permit third = permit(b.acquire("alice"));
        assertThat(b.running()).isEqualTo(2);
        second.close();
        third.close();
        try (Jedis j = redis.client()) {
            assertThat(j.zcard(ClusterUserSlots.key("alice"))).isZero();
        }
    }

    @Test
    void aWaitingExecutionHoldsItsSlotAndGivesItBackWhenItGivesUp() throws Exception {
        RedisClient client = RedisUrls.connect(RedisUrls.parse(redis.url()), Duration.ofSeconds(1), 2, "small");
        open.add(client);
        Admission small = new Admission(1, 2, 4, Duration.ofMillis(300));
        small.shareUserLimit(new ClusterUserSlots(client, "small", LEASE));
        open.add(small);
        Admission other = node("node-b");
        Admission.Permit running = permit(small.acquire("carol"));
        CompletableFuture<Admission.Permit> waiting = small.acquire("carol"); // no free slot: it waits
        assertThat(waiting).isNotDone();
        // carol holds two cluster-wide (one running, one waiting): node b refuses her.
        assertThat(other.tryAcquire("carol").refusal()).isEqualTo(Admission.Refusal.USER_LIMIT);
        // The wait times out: its slot is given back, and b takes one.
        await().atMost(Duration.ofSeconds(5)).until(waiting::isDone);
        assertThat(waiting).isCompletedExceptionally();
        Admission.Permit onB = other.tryAcquire("carol").permit();
        assertThat(onB).isNotNull();
        onB.close();
        running.close();
    }

    @Test
    void aDeadNodesSlotsEndWithTheirLeaseWhileALiveNodesAreRenewed() throws Exception {
        Admission dead = node("node-dead");
        RedisClient client = RedisUrls.connect(RedisUrls.parse(redis.url()), Duration.ofSeconds(1), 2, "live");
        open.add(client);
        ClusterUserSlots liveSlots = new ClusterUserSlots(client, "node-live", LEASE);
        Admission live = new Admission(8, 2, 4, Duration.ofSeconds(5));
        live.shareUserLimit(liveSlots);
        open.add(live);

        permit(dead.acquire("dave")); // never released, never renewed: its node "died"
        Admission.Permit kept = permit(live.acquire("dave"));
        assertThat(live.tryAcquire("dave").refusal()).isEqualTo(Admission.Refusal.USER_LIMIT);
        // The live node renews (its heartbeat's job) past several leases; the dead one's slot runs out.
        long until = System.nanoTime() + LEASE.multipliedBy(3).toNanos();
        while (System.nanoTime() < until) {
            liveSlots.renew();
            Thread.sleep(LEASE.toMillis() / 4);
        }
        Admission.Permit again = live.tryAcquire("dave").permit();
        assertThat(again).as("the dead node's slot was freed by its lease").isNotNull();
        try (Jedis j = redis.client()) {
            assertThat(j.zrange(ClusterUserSlots.key("dave"), 0, -1)).hasSize(2)
                    .allSatisfy(member -> assertThat(member).startsWith("node-live:"));
        }
        again.close();
        kept.close();
        assertThat(liveSlots.held()).isZero();
    }

    @Test
    void withRedisDownTheLimitIsCountedOnTheNodeAlone() throws Exception {
        Admission a = node("node-a");
        redis.close();
        Admission.Permit one = permit(a.acquire("erin"));
        Admission.Permit two = permit(a.acquire("erin"));
        assertThatThrownBy(() -> permit(a.acquire("erin"))).cause().isInstanceOf(Admission.Rejected.class)
                .hasMessageContaining("2 running or queued");
        one.close();
        two.close();
        redis.ensureRunning();
        Admission.Permit back = permit(a.acquire("erin"));
        try (Jedis j = redis.client()) {
            assertThat(j.zcard(ClusterUserSlots.key("erin"))).as("counted in Redis again").isEqualTo(1);
        }
        back.close();
    }

    @Test
    void aUserIdThatIsNotPlainNeverShapesAKey() {
        assertThat(ClusterUserSlots.key("alice")).isEqualTo("mcp-sandbox:cluster:user:alice");
        assertThat(ClusterUserSlots.key("a:b*{x}\n")).matches("mcp-sandbox:cluster:user:sha256-[0-9a-f]{64}");
        assertThat(ClusterUserSlots.key("x".repeat(65))).startsWith("mcp-sandbox:cluster:user:sha256-");
    }
}
