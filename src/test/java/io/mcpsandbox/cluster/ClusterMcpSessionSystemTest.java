package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.record.RedisServerProcess;
import io.mcpsandbox.testing.SystemTest;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 17: MCP session tools on any node. A session opened over MCP on node A is used through node B with the
 * official MCP TypeScript SDK client (src/test/node/mcp-cluster-session.mjs): write_file, execute_code (a persistent
 * interpreter keeps its state on A; an image the snippet writes comes back as image content), run_command with
 * live output notifications and in the background, read_file, list_files, a resource read, close_session; another
 * user's key on B finds no such session. While it is open, A's REST is called with routed headers, forged and
 * genuine: neither stands in for an API key nor chooses a user.
 */
@SystemTest
class ClusterMcpSessionSystemTest {
    private static final String SECRET = "mcp-forward-test-secret-0123456789abcdef";
    private static final String BOB = "bob";
    private static final Path NODE_DIR = Path.of("src/test/node").toAbsolutePath();
    private static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    @TempDir
    static Path dir;
    private static RedisServerProcess redis;
    private static ClusterServe a;
    private static ClusterServe b;

    @BeforeAll
    static void startTwoNodes() throws Exception {
        assertThat(NODE_DIR.resolve("node_modules/@modelcontextprotocol/sdk")).as(
                "the Node test clients are not installed; run: npm ci --prefix src/test/node").isDirectory();
        redis = new RedisServerProcess(dir.resolve("redis"), false, null).start();
        Map<String, String> settings = Map.of("MCP_SANDBOX_API_KEYS", ClusterServe.apiKeys(BOB));
        a = new ClusterServe("ma", redis.url(), SECRET, true, settings);
        b = new ClusterServe("mb", redis.url(), SECRET, true, settings);
        ClusterServe.startAll(a, b);
        await().atMost(Duration.ofSeconds(20)).until(() -> b.send(ClusterServe.ADMIN, "GET", "/v1/cluster", null)
                .body().contains(a.nodeId()));
    }

    @AfterAll
    static void stopAll() throws Exception {
        ClusterServe.closeAll(a, b);
        if (redis != null) {
            redis.close();
        }
    }

    @Test
    void mcpSessionToolsOnBActOnTheSessionAHolds() throws Exception {
        ProcessBuilder pb = new ProcessBuilder("node", "mcp-cluster-session.mjs").directory(NODE_DIR.toFile());
        pb.environment().putAll(Map.of("URL_A", "http://127.0.0.1:" + a.port() + "/mcp",
                "URL_B", "http://127.0.0.1:" + b.port() + "/mcp", "KEY", ClusterServe.token(ClusterServe.USER),
                "KEY_OTHER", ClusterServe.token(BOB), "NODE_A", a.nodeId()));
        Path err = Files.createTempFile("node-stderr", ".txt");
        pb.redirectError(err.toFile());
        Process node = pb.start();
        StringBuilder out = new StringBuilder();
        try {
            BufferedReader lines = new BufferedReader(new InputStreamReader(node.getInputStream(),
                    StandardCharsets.UTF_8));
            String session = null;
            String line;
            while (session == null && (line = lines.readLine()) != null) {
                out.append(line).append('\n');
                if (line.startsWith("SESSION ")) {
                    session = line.substring("SESSION ".length());
                }
            }
            assertThat(session).as("the client got as far as the open session:\n" + out + Files.readString(err))
                    .isNotNull();
            routedHeadersNeverStandInForAKey(session);
            try (OutputStream in = node.getOutputStream()) {
                in.write('\n');
            }
            while ((line = lines.readLine()) != null) {
                out.append(line).append('\n');
            }
            assertThat(node.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(node.exitValue()).as(out + "\nstderr:\n" + Files.readString(err)).isZero();
            assertThat(out.toString()).contains("OK 10 checks");
        } finally {
            node.destroyForcibly();
            Files.deleteIfExists(err);
        }
    }

    /** On A, which holds the session: a routed header, genuine or not, is no API key and names no user. */
    private static void routedHeadersNeverStandInForAKey(String session) throws Exception {
        String path = "/v1/sessions/" + session;
        String genuine = new ClusterSessionSigns(ClusterSecret.of(SECRET)).routed(b.nodeId(), Instant.now(), "GET",
                path);
        String forged = b.nodeId() + ";" + System.currentTimeMillis() + ";" + "0".repeat(64);
        for (String routed : List.of(genuine, forged)) {
            assertThat(get(a, path, null, routed).statusCode()).isEqualTo(401);
            HttpResponse<String> other = get(a, path, BOB, routed);
            assertThat(other.statusCode()).as(other.body()).isEqualTo(404);
            assertThat(other.body()).contains("no session");
        }
        // On B, a forged header is not honoured: the call is forwarded to A, which checks the key.
        assertThat(get(b, path, BOB, forged).statusCode()).isEqualTo(404);
        HttpResponse<String> mine = get(b, path, ClusterServe.USER, forged);
        assertThat(mine.statusCode()).as(mine.body()).isEqualTo(200);
        assertThat(mine.body()).contains(session);
    }

    private static HttpResponse<String> get(ClusterServe node, String path, String user, String routed)
            throws Exception {
        HttpRequest.Builder r = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.port() + path))
                .timeout(Duration.ofSeconds(30)).header(ClusterSessionSigns.ROUTED_HEADER, routed).GET();
        if (user != null) {
            r.header("Authorization", "Bearer " + ClusterServe.token(user));
        }
        return CLIENT.send(r.build(), HttpResponse.BodyHandlers.ofString());
    }
}
