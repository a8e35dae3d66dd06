package io.mcpsandbox.api.http;

import io.mcpsandbox.metrics.SandboxMetrics;
import io.mcpsandbox.record.StoreHealth;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.function.Supplier;

/** The two endpoints with no logic of their own: {@code /healthz} and {@code /metrics}. */
final class PlainServlets {
    private PlainServlets() {
    }

    /**
     * Liveness: answers 200 while the server can serve requests. Without a key it says only {@code ok} or
     * {@code degraded} (while records cannot reach their primary store): paths, hosts and counts are for
     * operators, so {@code ?detail=true} needs a valid API key and adds the store's own words.
     */
    static final class Health extends HttpServlet {
        private final HttpJson http;
        private final ApiKeys keys;
        private final Supplier<StoreHealth> store;

        Health(HttpJson http, ApiKeys keys, Supplier<StoreHealth> store) {
            this.http = http;
            this.keys = keys;
            this.store = store;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            if (!req.getMethod().equals("GET") && !req.getMethod().equals("HEAD")) {
                resp.setHeader("Allow", "GET");
                http.error(resp, 405, null, "method not allowed; use GET");
                return;
            }
            String detail = req.getParameter("detail");
            if (detail != null && !detail.equals("true") && !detail.equals("false")) {
                http.error(resp, 400, "detail", "must be true or false");
                return;
            }
            StoreHealth s = store.get();
            String status = s.ok() ? "ok" : "degraded";
            if (!"true".equals(detail)) {
                http.write(resp, 200, Map.of("status", status));
                return;
            }
            if (keys.authenticate(req.getHeader("Authorization")).isEmpty()) {
                resp.setHeader("WWW-Authenticate", "Bearer realm=\"mcp-sandbox\"");
                http.error(resp, 401, null, "detail=true needs an API key: send Authorization: Bearer <key>");
                return;
            }
            http.write(resp, 200, Map.of("status", status, "store", Map.of("backend", s.backend(),
                    "ok", s.ok(), "detail", s.detail(), "pendingWrites", s.pendingWrites())));
        }
    }

    /** The Prometheus text exposition. */
    static final class Metrics extends HttpServlet {
        private final SandboxMetrics metrics;

        Metrics(SandboxMetrics metrics) {
            this.metrics = metrics;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            if (!req.getMethod().equals("GET") && !req.getMethod().equals("HEAD")) {
                resp.setHeader("Allow", "GET");
                resp.sendError(405); // answered as JSON by JsonErrorHandler
                return;
            }
            byte[] body = metrics.scrape().getBytes(StandardCharsets.UTF_8);
            resp.setContentType(SandboxMetrics.CONTENT_TYPE);
            resp.setHeader("Cache-Control", "no-store");
            resp.setContentLength(body.length);
            resp.getOutputStream().write(body);
        }
    }
}
