package io.mcpsandbox.api.http;

import io.mcpsandbox.metrics.SandboxMetrics;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/** The two endpoints with no logic of their own: {@code /healthz} and {@code /metrics}. */
final class PlainServlets {
    private PlainServlets() {
    }

    /** Liveness: answers while the server can serve requests; needs no key. */
    static final class Health extends HttpServlet {
        private final HttpJson http;

        Health(HttpJson http) {
            this.http = http;
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            http.write(resp, 200, Map.of("status", "ok"));
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
