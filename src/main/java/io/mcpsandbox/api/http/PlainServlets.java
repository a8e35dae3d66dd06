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
     * Liveness: answers 200 while the server can serve requests, needs no key, and says "degraded" (with
     * the store's own words) while records cannot reach their primary store.
     */
    static final class Health extends HttpServlet {
        private final HttpJson http;
        private final Supplier<StoreHealth> store;

        Health(HttpJson http, Supplier<StoreHealth> store) {
            this.http = http;
            this.store = store;
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            StoreHealth s = store.get();
            http.write(resp, 200, Map.of("status", s.ok() ? "ok" : "degraded", "store", Map.of("backend", s.backend(),
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
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            byte[] body = metrics.scrape().getBytes(StandardCharsets.UTF_8);
            resp.setContentType(SandboxMetrics.CONTENT_TYPE);
            resp.setHeader("Cache-Control", "no-store");
            resp.setContentLength(body.length);
            resp.getOutputStream().write(body);
        }
    }
}
