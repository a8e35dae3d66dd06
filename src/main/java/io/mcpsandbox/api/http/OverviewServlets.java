package io.mcpsandbox.api.http;

import io.mcpsandbox.api.SandboxApi;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Read-only overviews of the whole server for any key (as {@code /metrics} is): {@code GET /v1/stats} (the
 * meters, summarised) and {@code GET /v1/images} (the catalog and its scans). The console's performance and
 * images pages read them.
 */
final class OverviewServlets {
    private static final Logger log = LoggerFactory.getLogger(OverviewServlets.class);

    private OverviewServlets() {
    }

    /** {@code GET /v1/stats}. */
    static final class Stats extends HttpServlet {
        private final SandboxApi api;
        private final HttpJson http;

        Stats(SandboxApi api, HttpJson http) {
            this.api = api;
            this.http = http;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            if (onlyGet(req, resp, http)) {
                resp.setHeader("Cache-Control", "no-store");
                http.write(resp, 200, api.metrics().summary());
            }
        }
    }

    /** {@code GET /v1/images}. */
    static final class Images extends HttpServlet {
        private final SandboxApi api;
        private final HttpJson http;

        Images(SandboxApi api, HttpJson http) {
            this.api = api;
            this.http = http;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            if (!onlyGet(req, resp, http)) {
                return;
            }
            Object images;
            try {
                images = api.images();
            } catch (IOException e) {
                log.warn("the image catalog cannot be listed: {}", e.getMessage());
                http.error(resp, 503, null, "the image catalog cannot be read right now");
                return;
            }
            http.write(resp, 200, images);
        }
    }

    /** True for GET and HEAD; otherwise answers 405 (Allow: GET) and says false. */
    static boolean onlyGet(HttpServletRequest req, HttpServletResponse resp, HttpJson http)
            throws IOException {
        if (req.getMethod().equals("GET") || req.getMethod().equals("HEAD")) {
            return true;
        }
        resp.setHeader("Allow", "GET");
        http.error(resp, 405, null, "method not allowed; use GET");
        return false;
    }
}
