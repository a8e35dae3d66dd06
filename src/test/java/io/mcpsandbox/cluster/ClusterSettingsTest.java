package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.config.Settings;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClusterSettingsTest {
    private static final String SECRET = "s3cret-0123456789abcdef-0123456789abcdef";

    private static Settings settings(Map<String, String> env) {
        return new Settings(new Properties(), env);
    }

    private static Map<String, String> complete() {
        Map<String, String> env = new HashMap<>();
        env.put("MCP_SANDBOX_REDIS_URL", "redis://:pw-in-url@127.0.0.1:6390");
        env.put("MCP_SANDBOX_CLUSTER_SECRET", SECRET);
        return env;
    }

    @Test
    void defaultsAreTwoSecondHeartbeatsAndTenSecondsToDeath() {
        ClusterSettings s = ClusterSettings.forServe(settings(complete()), true);
        assertThat(s.heartbeat()).isEqualTo(Duration.ofSeconds(2));
        assertThat(s.deadAfter()).isEqualTo(Duration.ofSeconds(10));
        assertThat(s.nodeId()).isNull();
        assertThat(s.advertiseUrl()).isNull();
    }

    @Test
    void serveNamesEverythingThatIsMissingAtOnce() {
        assertThatThrownBy(() -> ClusterSettings.forServe(settings(Map.of()), false))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--http HOST:PORT")
                .hasMessageContaining("redis.url (MCP_SANDBOX_REDIS_URL)")
                .hasMessageContaining("cluster.secret (MCP_SANDBOX_CLUSTER_SECRET");
        Map<String, String> noSecret = complete();
        noSecret.remove("MCP_SANDBOX_CLUSTER_SECRET");
        assertThatThrownBy(() -> ClusterSettings.forServe(settings(noSecret), true))
                .hasMessageContaining("cluster.secret").hasMessageNotContaining("--http")
                .hasMessageNotContaining("redis.url");
    }

    @Test
    void aShortSecretIsRefusedWithoutBeingRepeated() {
        Map<String, String> env = complete();
        env.put("MCP_SANDBOX_CLUSTER_SECRET", "tooShortSecretValue-31-chars-xx");
        assertThatThrownBy(() -> ClusterSettings.forServe(settings(env), true))
                .hasMessageContaining("at least 32 characters").hasMessageContaining("got 31")
                .hasMessageNotContaining("tooShortSecretValue");
    }

    @Test
    void deadAfterMustExceedTwoHeartbeats() {
        Map<String, String> env = complete();
        env.put("MCP_SANDBOX_CLUSTER_HEARTBEAT", "2s");
        env.put("MCP_SANDBOX_CLUSTER_DEAD_AFTER", "4s");
        assertThatThrownBy(() -> ClusterSettings.forServe(settings(env), true))
                .hasMessageContaining("cluster.dead-after").hasMessageContaining("twice cluster.heartbeat");
        env.put("MCP_SANDBOX_CLUSTER_DEAD_AFTER", "4001ms");
        assertThat(ClusterSettings.forServe(settings(env), true).deadAfter()).isEqualTo(Duration.ofMillis(4001));
        env.put("MCP_SANDBOX_CLUSTER_HEARTBEAT", "10ms");
        assertThatThrownBy(() -> ClusterSettings.forServe(settings(env), true))
                .hasMessageContaining("cluster.heartbeat");
    }

    @Test
    void nodeIdAndAdvertiseUrlAreChecked() {
        Map<String, String> env = complete();
        env.put("MCP_SANDBOX_CLUSTER_NODE_ID", "bad id\n");
        assertThatThrownBy(() -> ClusterSettings.forServe(settings(env), true)).hasMessageContaining("cluster.node-id");
        env.put("MCP_SANDBOX_CLUSTER_NODE_ID", "node-a.example_1");
        env.put("MCP_SANDBOX_CLUSTER_ADVERTISE_URL", "http://user:pw@10.0.0.5:8080");
        assertThatThrownBy(() -> ClusterSettings.forServe(settings(env), true))
                .hasMessageContaining("cluster.advertise-url");
        env.put("MCP_SANDBOX_CLUSTER_ADVERTISE_URL", "ftp://10.0.0.5:8080");
        assertThatThrownBy(() -> ClusterSettings.forServe(settings(env), true))
                .hasMessageContaining("cluster.advertise-url");
        env.put("MCP_SANDBOX_CLUSTER_ADVERTISE_URL", "http://10.0.0.5:8080/v1?x=1");
        assertThatThrownBy(() -> ClusterSettings.forServe(settings(env), true))
                .hasMessageContaining("cluster.advertise-url");
        env.put("MCP_SANDBOX_CLUSTER_ADVERTISE_URL", "https://node-a.internal:8443");
        ClusterSettings s = ClusterSettings.forServe(settings(env), true);
        assertThat(s.nodeId()).isEqualTo("node-a.example_1");
        assertThat(s.advertiseUrl()).isEqualTo("https://node-a.internal:8443");
    }

    @Test
    void neitherTheSecretNorTheRedisPasswordIsEverShown() {
        ClusterSettings s = ClusterSettings.forServe(settings(complete()), true);
        assertThat(s.toString()).doesNotContain(SECRET).doesNotContain("pw-in-url").contains("***");
        assertThat(s.secret().toString()).doesNotContain(SECRET);
        assertThat(s.secret().joinProof()).matches("[0-9a-f]{64}").doesNotContain(SECRET);
    }

    @Test
    void proofsDependOnTheSecretAndTheDrainProofOnTheNode() {
        ClusterSecret a = ClusterSecret.of(SECRET);
        ClusterSecret b = ClusterSecret.of(SECRET + "x");
        assertThat(a.joinProof()).isEqualTo(ClusterSecret.of(SECRET).joinProof()).isNotEqualTo(b.joinProof());
        assertThat(a.drainProof("n1")).isNotEqualTo(a.drainProof("n2")).isNotEqualTo(b.drainProof("n1"));
        assertThat(ClusterSecret.matches(a.joinProof(), null)).isFalse();
    }

    @Test
    void aGeneratedNodeIdIsKeptInTheStateDirectory(@TempDir Path state) throws Exception {
        ClusterSettings s = ClusterSettings.forServe(settings(complete()), true);
        String first = NodeIds.resolve(s, state);
        assertThat(first).matches(ClusterSettings.NODE_ID_PATTERN.pattern());
        assertThat(NodeIds.resolve(s, state)).isEqualTo(first);
        assertThat(Files.readString(state.resolve(NodeIds.FILE_NAME)).strip()).isEqualTo(first);

        Files.writeString(state.resolve(NodeIds.FILE_NAME), "../../etc/passwd\n");
        assertThatThrownBy(() -> NodeIds.resolve(s, state)).hasMessageContaining("does not hold a node id");

        Map<String, String> env = complete();
        env.put("MCP_SANDBOX_CLUSTER_NODE_ID", "configured-1");
        assertThat(NodeIds.resolve(ClusterSettings.forServe(settings(env), true), state)).isEqualTo("configured-1");
    }
}
