package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.record.RedisServerProcess;
import io.mcpsandbox.testing.SystemTest;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.Jedis;

/**
 * {@code serve --cluster} refuses to start, exit status non-zero and never registered, without the cluster's
 * settings, with another secret than the cluster's, and against a cluster of another protocol version.
 */
@SystemTest
class ClusterJoinRefusalSystemTest {
    private static final String SECRET = "refusal-test-secret-0123456789abcdef-01";
    @TempDir
    static Path dir;
    private static RedisServerProcess redis;

    @BeforeAll
    static void formCluster() throws Exception {
        redis = new RedisServerProcess(dir.resolve("redis"), false, null).start();
        try (ClusterRedis first = new ClusterRedis(redis.url(), ClusterSecret.of(SECRET), Duration.ofSeconds(2),
                Clock.systemUTC())) {
            first.checkJoin(); // the cluster exists, formed with SECRET
        }
    }

    @AfterAll
    static void stopRedis() {
        if (redis != null) {
            redis.close();
        }
    }

    @Test
    void nodesWithAnotherSecretOrProtocolAreRefusedAndNeverListed() throws Exception {
        ClusterServe wrongSecret = new ClusterServe("wrong-secret", redis.url(), "not-the-cluster-secret-0123456789ab",
                true, Map.of("MCP_SANDBOX_CLUSTER_NODE_ID", "intruder"));
        try {
            ClusterServe.Refused r = wrongSecret.startExpectingRefusal();
            assertThat(r.exitCode()).isNotZero();
            assertThat(r.output()).contains("refusing to join the cluster").contains("another cluster.secret")
                    .doesNotContain("not-the-cluster-secret").doesNotContain(SECRET);
            ClusterServe.Run cli = wrongSecret.cli("cluster", "status");
            assertThat(cli.exitCode()).isEqualTo(4);
            assertThat(cli.stderr()).contains("another cluster.secret");
        } finally {
            wrongSecret.discard();
        }

        // Without the cluster's settings at all: refused, naming each.
        ClusterServe unset = new ClusterServe("unset", redis.url(), SECRET, true,
                Map.of("MCP_SANDBOX_REDIS_URL", "", "MCP_SANDBOX_CLUSTER_SECRET", ""));
        try {
            ClusterServe.Refused r = unset.startExpectingRefusal();
            assertThat(r.exitCode()).isEqualTo(2);
            assertThat(r.output()).contains("--cluster needs redis.url (MCP_SANDBOX_REDIS_URL), cluster.secret");
        } finally {
            unset.discard();
        }

        // A cluster of another protocol version, in database 1 of the same Redis.
        try (Jedis j = redis.client()) {
            j.select(1);
            j.set(ClusterRedis.META, "2 " + ClusterSecret.of(SECRET).joinProof());
        }
        ClusterServe otherVersion = new ClusterServe("other-version", redis.url() + "/1", SECRET, true,
                Map.of("MCP_SANDBOX_CLUSTER_NODE_ID", "old-version"));
        try {
            ClusterServe.Refused r = otherVersion.startExpectingRefusal();
            assertThat(r.exitCode()).isNotZero();
            assertThat(r.output()).contains("refusing to join the cluster").contains("speaks cluster protocol 2");
        } finally {
            otherVersion.discard();
        }
        try (Jedis j = redis.client()) {
            j.select(1);
            assertThat(j.exists(ClusterRedis.INDEX)).isFalse();
            assertThat(j.keys(ClusterRedis.PREFIX + "node:*")).isEmpty();
        }
        try (ClusterRedis reader = new ClusterRedis(redis.url(), ClusterSecret.of(SECRET), Duration.ofSeconds(2),
                Clock.systemUTC())) {
            assertThat(reader.status().nodes()).as("no refused node ever registered").isEmpty();
        }
    }
}
