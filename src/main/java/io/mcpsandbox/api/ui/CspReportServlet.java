package io.mcpsandbox.api.ui;

import io.mcpsandbox.metrics.SandboxMetrics;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Takes the Content-Security-Policy violation reports browsers send from the console ({@code POST /ui/csp-report},
 * no key: a browser sends none). The console never inlines script, so a report means something tried to run
 * where it must not (or a page of ours broke the policy): each is counted in
 * {@code mcp_sandbox_console_csp_reports_total} and logged, at most one warning per {@link #WARN_EVERY_MS}.
 * Anyone who can reach the port can post one, so the counter is a signal to look, not evidence.
 */
public final class CspReportServlet extends HttpServlet {
    static final int MAX_BYTES = 16 * 1024;
    static final long WARN_EVERY_MS = 10_000;
    private static final Logger log = LoggerFactory.getLogger(CspReportServlet.class);
    private static final Set<String> TYPES = Set.of("application/csp-report", "application/reports+json",
            "application/json");

    private final SandboxMetrics metrics;
    private final JsonMapper json;
    private final AtomicLong lastWarning = new AtomicLong(Long.MIN_VALUE / 2);

    public CspReportServlet(SandboxMetrics metrics, JsonMapper json) {
        this.metrics = metrics;
        this.json = json;
    }

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        ConsoleServlet.secure(resp);
        if (!req.getMethod().equals("POST")) {
            resp.setHeader("Allow", "POST");
            ConsoleServlet.text(resp, 405, "method not allowed; use POST");
            return;
        }
        String type = req.getContentType() == null ? ""
                : req.getContentType().split(";", 2)[0].trim().toLowerCase(Locale.ROOT);
        if (!TYPES.contains(type)) {
            ConsoleServlet.text(resp, 415, "Content-Type must be application/csp-report or application/reports+json");
            return;
        }
        byte[] body;
        try (InputStream in = req.getInputStream()) {
            body = in.readNBytes(MAX_BYTES + 1);
        }
        if (body.length > MAX_BYTES) {
            ConsoleServlet.text(resp, 413, "a report may hold at most " + MAX_BYTES + " bytes");
            return;
        }
        JsonNode report;
        try {
            report = json.readTree(body);
        } catch (JacksonException e) {
            ConsoleServlet.text(resp, 400, "a report must be JSON");
            return;
        }
        metrics.recordCspReport();
        long now = System.currentTimeMillis();
        long last = lastWarning.get();
        if (now - last >= WARN_EVERY_MS && lastWarning.compareAndSet(last, now)) {
            log.warn("the console's Content-Security-Policy blocked {} ({}) on {}", field(report, "blocked-uri",
                    "blockedURL"), field(report, "effective-directive", "effectiveDirective"),
                    field(report, "document-uri", "documentURL"));
        } else {
            log.debug("another Content-Security-Policy report from the console");
        }
        resp.setStatus(204);
    }

    /** A field of the old (csp-report) or new (Reporting API) form, made safe for one log line. */
    private static String field(JsonNode report, String oldName, String newName) {
        JsonNode body = report.has("csp-report") ? report.get("csp-report")
                : report.isArray() && !report.isEmpty() ? report.get(0).path("body") : report;
        JsonNode value = body.has(oldName) ? body.get(oldName) : body.path(newName);
        String text = value.isString() ? value.asString() : "?";
        text = text.replaceAll("[\\p{Cntrl}\\p{Cf}]", "?");
        return text.length() > 200 ? text.substring(0, 200) + "..." : text;
    }
}
