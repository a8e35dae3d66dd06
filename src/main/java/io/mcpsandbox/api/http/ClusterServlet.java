package io.mcpsandbox.api.http;

import io.mcpsandbox.cluster.ClusterNode;
import io.mcpsandbox.cluster.ClusterStatus;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import redis.clients.jedis.exceptions.JedisException;

/**
 * {@code GET /v1/cluster}: the cluster's nodes as {@code mcp-sandbox cluster status --json} lists them, plus which
 * node answered. Admin keys only (403 for others: it shows every node's address and load); 404 when this server
 * is not in cluster mode; 503 while Redis cannot be reached.
 */
final class ClusterServlet extends HttpServlet {
    private static final Logger log = LoggerFactory.getLogger(ClusterServlet.class);

    private final Supplier<Optional<ClusterNode>> cluster;
    private final HttpJson http;

    ClusterServlet(Supplier<Optional<ClusterNode>> cluster, HttpJson http) {
        this.cluster = cluster;
        this.http = http;
    }

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        if (!OverviewServlets.onlyGet(req, resp, http)) {
            return;
        }
        if (!ExecutionQueries.admin(req)) {
            http.error(resp, 403, null, "the cluster's status needs an admin key (TOKEN:USER:admin)");
            return;
        }
        Optional<ClusterNode> node = cluster.get();
        if (node.isEmpty()) {
            http.error(resp, 404, null, "this server is not in cluster mode (serve --cluster, docs/cluster.md)");
            return;
        }
        ClusterStatus status;
        try {
            status = node.get().status();
        } catch (JedisException e) {
            log.warn("cluster status not read: {}", e.getMessage());
            resp.setHeader("Retry-After", "2");
            http.error(resp, 503, null, "the cluster's Redis cannot be reached right now; this node keeps serving "
                    + "locally");
            return;
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("self", node.get().id());
        body.put("protocol", status.protocol());
        body.put("readAt", status.readAt().toString());
        body.put("counts", status.counts());
        body.put("nodes", status.nodes());
        resp.setHeader("Cache-Control", "no-store");
        http.write(resp, 200, body);
    }
}
