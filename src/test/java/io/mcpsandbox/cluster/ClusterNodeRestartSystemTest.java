package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.record.RedisServerProcess;
import io.mcpsandbox.testing.SystemTest;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/**
 * A node killed with SIGKILL is dead after {@code cluster.dead-after}; started again on the same state directory
 * it is the same node, active at its new address; a clean stop then removes it at once.
 */
@SystemTest
class ClusterNodeRestartSystemTest {
    private static final String SECRET = "restart-test-secret-0123456789abcdef-01";
    @TempDir
    static Path dir;
    private static RedisServerProcess redis;
    private static ClusterServe node;
    private static ClusterRedis reader;

    @BeforeAll
    static void start() throws Exception {
        redis = new RedisServerProcess(dir.resolve("redis"), false, null).start();
        reader = new ClusterRedis(redis.url(), ClusterSecret.of(SECRET), Duration.ofSeconds(2), Clock.systemUTC());
        node = new ClusterServe("restart", redis.url(), SECRET, true, Map.of());
        node.start();
    }

    @AfterAll
    static void stop() throws Exception {
        if (node != null) {
            node.close();
        }
        if (reader != null) {
            reader.close();
        }
        if (redis != null) {
            redis.close();
        }
    }

    private static Optional<NodeView> listed(String id) {
        return reader.status().nodes().stream().filter(n -> n.id().equals(id)).findFirst();
    }

    @Test
    void aKilledNodeIsDeadThenComesBackAsItself() throws Exception {
        String id = node.nodeId();
        String firstUrl = node.advertised();
        assertThat(listed(id).map(NodeView::state)).contains(NodeView.ACTIVE);

        node.kill();
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(200))
                .until(() -> listed(id).map(NodeView::state).orElse("").equals(NodeView.DEAD));
        assertThat(listed(id).map(NodeView::url)).contains(firstUrl);

        node.start(); // the same state directory
        assertThat(node.nodeId()).isEqualTo(id);
        JsonNode status = node.status(); // the CLI's --json
        assertThat(status.get("nodes")).hasSize(1);
        JsonNode back = status.get("nodes").get(0);
        assertThat(back.get("id").asString()).isEqualTo(id);
        assertThat(back.get("state").asString()).isEqualTo("active");
        assertThat(back.get("url").asString()).isEqualTo("http://127.0.0.1:" + node.port());

        node.stop();
        assertThat(listed(id)).as("a clean stop leaves at once").isEmpty();
    }
}
