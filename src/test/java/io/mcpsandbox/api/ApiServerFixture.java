package io.mcpsandbox.api;

import io.mcpsandbox.api.http.ApiKeys;
import io.mcpsandbox.api.http.HttpApiServer;
import io.mcpsandbox.api.mcp.HttpMcpServer;
import io.mcpsandbox.config.ServerConfig;
import io.mcpsandbox.config.ServerConfig.AdmissionLimits;
import io.mcpsandbox.config.ServerConfig.ApiKey;
import io.mcpsandbox.testing.TestSandbox;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;

/** A real sandbox service behind a real HTTP server on a free loopback port, with two users' keys. */
final class ApiServerFixture implements AutoCloseable {
    static final String KEY_ALICE = "alice-key-0123456789abcdef";
    static final String KEY_BOB = "bob-key-0123456789abcdef01";
    /** An admin key (user root): sees every user's queue. */
    static final String KEY_ROOT = "root-key-0123456789abcdef0";
    static final long MAX_BODY = 16L << 20;
    private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    final TestSandbox sandbox;
    final SandboxApi api;
    final HttpApiServer server;

    private ApiServerFixture(TestSandbox sandbox, SandboxApi api, HttpApiServer server) {
        this.sandbox = sandbox;
        this.api = api;
        this.server = server;
    }

    static ApiServerFixture start(AdmissionLimits admission) throws Exception {
        return start(admission, java.util.Map.of(), ServerConfig.DEFAULT_IDLE_TIMEOUT);
    }

    /** @param env the service's configuration as MCP_SANDBOX_* variables */
    static ApiServerFixture start(AdmissionLimits admission, java.util.Map<String, String> env) throws Exception {
        return start(admission, env, ServerConfig.DEFAULT_IDLE_TIMEOUT);
    }

    /** @param idleTimeout how long a silent connection (a stalled body) is kept before it is answered and closed */
    static ApiServerFixture start(AdmissionLimits admission, Duration idleTimeout) throws Exception {
        return start(admission, java.util.Map.of(), idleTimeout);
    }

    private static ApiServerFixture start(AdmissionLimits admission, java.util.Map<String, String> env,
                                          Duration idleTimeout) throws Exception {
        return start(admission, env, idleTimeout, false);
    }

    /**
     * A server that also serves the durable queue (as {@code serve} does): async requests wait in it.
     *
     * @param env the service's configuration as MCP_SANDBOX_* variables
     */
    static ApiServerFixture startQueued(AdmissionLimits admission, java.util.Map<String, String> env)
            throws Exception {
        return start(admission, env, ServerConfig.DEFAULT_IDLE_TIMEOUT, true);
    }

    private static ApiServerFixture start(AdmissionLimits admission, java.util.Map<String, String> env,
                                          Duration idleTimeout, boolean queue) throws Exception {
        TestSandbox sandbox = TestSandbox.start(env);
        ServerConfig config = new ServerConfig(List.of(new ApiKey(KEY_ALICE, "alice"), new ApiKey(KEY_BOB, "bob"),
                new ApiKey(KEY_ROOT, "root", true)), ServerConfig.LOOPBACK_ORIGINS, List.of(), MAX_BODY, admission,
                idleTimeout);
        SandboxApi api = new SandboxApi(sandbox.services(), config);
        if (queue) {
            api.startQueue();
        }
        HttpApiServer server = HttpApiServer.start(api, config, ApiKeys.of(config.apiKeys()), "127.0.0.1", 0,
                HttpMcpServer::create);
        return new ApiServerFixture(sandbox, api, server);
    }

    static ApiServerFixture start() throws Exception {
        return start(new AdmissionLimits(8, 4, 16, Duration.ofSeconds(30)));
    }

    String url(String path) {
        return "http://127.0.0.1:" + server.port() + path;
    }

    /** A request to this server: {@code body} (if any) as JSON, {@code key} (if any) as a Bearer header. */
    HttpRequest request(String method, String path, String key, String body) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url(path))).timeout(Duration.ofSeconds(60))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        return b.build();
    }

    /** Sends {@link #request} and answers the response with its body as text. */
    HttpResponse<String> send(String method, String path, String key, String body) throws Exception {
        return CLIENT.send(request(method, path, key, body), HttpResponse.BodyHandlers.ofString());
    }

    /** Stops the server, then checks that every sandbox is gone, then removes the service's directories. */
    @Override
    public void close() throws Exception {
        try {
            server.close();
            api.close();
            sandbox.assertNothingLeftBehind();
        } finally {
            sandbox.close();
        }
    }
}
