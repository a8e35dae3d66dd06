package io.mcpsandbox.api.ui;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * Serves the console's files ({@code /ui/} and {@code /ui/<asset>}) from the jar's {@code console/} directory,
 * which the build fills from {@code src/main/console}. The files hold no data (every page fetches it from
 * {@code /v1} with the key the user typed), so they need no key; the Host and Origin checks of the API still
 * apply, and every answer carries a strict Content-Security-Policy: scripts and styles from this origin only,
 * no inline script, no eval, no framing.
 */
public final class ConsoleServlet extends HttpServlet {
    /** Where browsers report a violation of the policy ({@link CspReportServlet}). */
    public static final String REPORT_PATH = "/ui/csp-report";
    static final String POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
            + "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
            + "report-uri " + REPORT_PATH;
    private static final String ROOT = "console/";
    /** Plain relative names: no dot-segments, no hidden files, no encoded anything. */
    private static final Pattern ASSET =
            Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*");
    private static final Map<String, String> TYPES = Map.of(
            "html", "text/html; charset=utf-8", "js", "text/javascript; charset=utf-8",
            "css", "text/css; charset=utf-8", "svg", "image/svg+xml", "png", "image/png", "ico", "image/x-icon",
            "json", "application/json");

    private record Asset(byte[] bytes, String type) {
    }

    private final Function<HttpServletRequest, Optional<String>> headerProblem;
    private final ClassLoader loader;
    // Found files only: a miss is not kept, so made-up names cannot grow this.
    private final Map<String, Asset> assets = new ConcurrentHashMap<>();

    /** @param headerProblem the API's Host/Origin check: why a request is refused, or empty */
    public ConsoleServlet(Function<HttpServletRequest, Optional<String>> headerProblem) {
        this(headerProblem, ConsoleServlet.class.getClassLoader());
    }

    ConsoleServlet(Function<HttpServletRequest, Optional<String>> headerProblem, ClassLoader loader) {
        this.headerProblem = headerProblem;
        this.loader = loader;
    }

    /** The headers every console answer carries, errors included. */
    static void secure(HttpServletResponse resp) {
        resp.setHeader("Content-Security-Policy", POLICY);
        resp.setHeader("X-Frame-Options", "DENY");
        resp.setHeader("X-Content-Type-Options", "nosniff");
        resp.setHeader("Referrer-Policy", "no-referrer");
        resp.setHeader("Cross-Origin-Opener-Policy", "same-origin");
        resp.setHeader("Cross-Origin-Resource-Policy", "same-origin");
    }

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        secure(resp);
        if (!req.getMethod().equals("GET") && !req.getMethod().equals("HEAD")) {
            resp.setHeader("Allow", "GET");
            text(resp, 405, "method not allowed; use GET");
            return;
        }
        Optional<String> refused = headerProblem.apply(req);
        if (refused.isPresent()) {
            text(resp, 403, refused.get());
            return;
        }
        String path = req.getPathInfo();
        if (path == null) {
            // /ui: relative asset names in the page resolve against /ui/.
            resp.setHeader("Location", "/ui/");
            resp.setStatus(302);
            return;
        }
        String name = path.equals("/") ? "index.html" : path.substring(1);
        Optional<Asset> asset = ASSET.matcher(name).matches() && TYPES.containsKey(extension(name))
                ? find(name) : Optional.empty();
        if (asset.isEmpty()) {
            text(resp, 404, name.equals("index.html") ? "the console is not in this build (src/main/console is "
                    + "built into the jar by mvn package)" : "no such console file");
            return;
        }
        resp.setStatus(200);
        resp.setContentType(asset.get().type());
        // Revalidated on every load: a new jar's console replaces the old one at once.
        resp.setHeader("Cache-Control", "no-cache");
        resp.setContentLength(asset.get().bytes().length);
        if (req.getMethod().equals("GET")) {
            resp.getOutputStream().write(asset.get().bytes());
        }
    }

    private Optional<Asset> find(String name) {
        Asset known = assets.get(name);
        if (known != null) {
            return Optional.of(known);
        }
        Optional<Asset> loaded = load(name);
        loaded.ifPresent(a -> assets.put(name, a));
        return loaded;
    }

    private Optional<Asset> load(String name) {
        try (InputStream in = loader.getResourceAsStream(ROOT + name)) {
            return in == null ? Optional.empty()
                    : Optional.of(new Asset(in.readAllBytes(), TYPES.get(extension(name))));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private static String extension(String name) {
        int dot = name.lastIndexOf('.');
        return dot < 0 ? "" : name.substring(dot + 1);
    }

    static void text(HttpServletResponse resp, int status, String message) throws IOException {
        byte[] body = (message + "\n").getBytes(StandardCharsets.UTF_8);
        resp.setStatus(status);
        resp.setContentType("text/plain; charset=utf-8");
        resp.setContentLength(body.length);
        resp.getOutputStream().write(body);
    }
}
