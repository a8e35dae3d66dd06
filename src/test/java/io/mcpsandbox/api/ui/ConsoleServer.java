package io.mcpsandbox.api.ui;

import io.mcpsandbox.api.SandboxApi;
import io.mcpsandbox.api.http.ApiKeys;
import io.mcpsandbox.api.http.HttpApiServer;
import io.mcpsandbox.api.mcp.HttpMcpServer;
import io.mcpsandbox.config.ServerConfig;
import io.mcpsandbox.config.ServerConfig.AdmissionLimits;
import io.mcpsandbox.config.ServerConfig.ApiKey;
import io.mcpsandbox.testing.TestSandbox;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * What {@code serve --http} runs, in this JVM on a free loopback port (as the REST tests start it), with keys
 * for alice, bob and an admin; and a small REST client for setting the stage of a browser test.
 */
final class ConsoleServer implements AutoCloseable {
    static final String KEY_ALICE = "alice-console-key-0123456789";
    static final String KEY_BOB = "bob-console-key-0123456789ab";
    static final String KEY_ADMIN = "admin-console-key-0123456789";
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final TestSandbox sandbox;
    private final SandboxApi api;
    private final HttpApiServer server;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5))
            .followRedirects(HttpClient.Redirect.NEVER).build();

    private ConsoleServer(TestSandbox sandbox, SandboxApi api, HttpApiServer server) {
        this.sandbox = sandbox;
        this.api = api;
        this.server = server;
    }

    static ConsoleServer start() throws Exception {
        TestSandbox sandbox = TestSandbox.start(Map.of());
        ServerConfig config = new ServerConfig(List.of(new ApiKey(KEY_ALICE, "alice"), new ApiKey(KEY_BOB, "bob"),
                new ApiKey(KEY_ADMIN, "admin", true)), ServerConfig.LOOPBACK_ORIGINS, List.of(), 16L << 20,
                new AdmissionLimits(8, 4, 16, Duration.ofSeconds(30)), ServerConfig.DEFAULT_IDLE_TIMEOUT);
        SandboxApi api = new SandboxApi(sandbox.services(), config);
        HttpApiServer server = HttpApiServer.start(api, config, ApiKeys.of(config.apiKeys()), "127.0.0.1", 0,
                HttpMcpServer::create);
        return new ConsoleServer(sandbox, api, server);
    }

    String url(String path) {
        return "http://127.0.0.1:" + server.port() + path;
    }

    private HttpRequest.Builder request(String path, String key) {
        return HttpRequest.newBuilder(URI.create(url(path))).timeout(Duration.ofSeconds(90))
                .header("Authorization", "Bearer " + key);
    }

    /** GET a JSON answer (any status: the body). */
    JsonNode get(String path, String key) throws Exception {
        return JSON.readTree(http.send(request(path, key).GET().build(), HttpResponse.BodyHandlers.ofString())
                .body());
    }

    /** GET a body as text. */
    String text(String path, String key) throws Exception {
        return http.send(request(path, key).GET().build(), HttpResponse.BodyHandlers.ofString()).body();
    }

    int status(String path, String key) throws Exception {
        return http.send(request(path, key).GET().build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    /** POST JSON and wait for the answer's body. */
    JsonNode post(String path, String key, Object body) throws Exception {
        return postAsync(path, key, body).get();
    }

    /** POST JSON; the answer's body when it comes (a synchronous execution answers when it ends). */
    CompletableFuture<JsonNode> postAsync(String path, String key, Object body) throws Exception {
        HttpRequest r = request(path, key).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))).build();
        return http.sendAsync(r, HttpResponse.BodyHandlers.ofString()).thenApply(a -> JSON.readTree(a.body()));
    }

    int delete(String path, String key) throws Exception {
        return http.send(request(path, key).DELETE().build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    /** Writes a session file at an absolute path (each segment URL-encoded). */
    int putFile(String sessionId, String absolutePath, String content, String key) throws Exception {
        StringBuilder p = new StringBuilder("/v1/sessions/").append(sessionId).append("/files");
        for (String segment : absolutePath.substring(1).split("/")) {
            p.append('/').append(URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20"));
        }
        return http.send(request(p.toString(), key).header("Content-Type", "application/octet-stream")
                .PUT(HttpRequest.BodyPublishers.ofString(content)).build(), HttpResponse.BodyHandlers.discarding())
                .statusCode();
    }

    /** The sum of a Prometheus meter over its label sets in GET /metrics (0 when it is not there yet). */
    double meter(String name) throws Exception {
        String text = http.send(request("/metrics", KEY_ADMIN).GET().build(), HttpResponse.BodyHandlers.ofString())
                .body();
        double sum = 0;
        for (String line : text.split("\n")) {
            if (line.startsWith(name + " ") || line.startsWith(name + "{")) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return sum;
    }

    /** Stops the server, then checks that every sandbox is gone, then removes the service's directories. */
    @Override
    public void close() throws Exception {
        try {
            // A failed case may leave a session open: closed here, so the checks below see only real leaks.
            for (String key : List.of(KEY_ALICE, KEY_BOB, KEY_ADMIN)) {
                for (JsonNode s : get("/v1/sessions", key).path("sessions")) {
                    if ("open".equals(s.path("status").asString()) && status("/v1/sessions/"
                            + s.get("sessionId").asString(), key) == 200) {
                        delete("/v1/sessions/" + s.get("sessionId").asString(), key);
                    }
                }
            }
        } finally {
            closeServer();
        }
    }

    private void closeServer() throws Exception {
        try {
            server.close();
            api.close();
            sandbox.assertNothingLeftBehind();
        } finally {
            sandbox.close();
        }
    }
}
