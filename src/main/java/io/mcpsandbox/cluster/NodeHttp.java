package io.mcpsandbox.cluster;

import java.net.http.HttpClient;
import java.time.Duration;

/**
 * The one HTTP client for calls from this node to another node of the cluster (REST calls forwarded by
 * api.http's NodeProxy, MCP calls carried by api.mcp's SessionForwarder): HTTP/1.1, no redirect followed, no
 * proxy, connecting bounded by {@link #CONNECT_TIMEOUT}. Made at the first call: a server that never calls another
 * node (outside cluster mode) starts none of its threads.
 */
public final class NodeHttp {
    public static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);

    private NodeHttp() {
    }

    public static HttpClient client() {
        return Holder.CLIENT;
    }

    private static final class Holder {
        static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(CONNECT_TIMEOUT).followRedirects(HttpClient.Redirect.NEVER)
                .proxy(HttpClient.Builder.NO_PROXY).build();
    }
}
