package io.mcpsandbox.api.http;

import io.mcpsandbox.api.InvalidRequestException;
import io.mcpsandbox.api.RequestParser;
import io.mcpsandbox.api.SessionViews;
import io.mcpsandbox.cluster.ClusterSessionSigns;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.model.SessionRequest;
import io.mcpsandbox.policy.PolicyViolation;
import io.mcpsandbox.runtime.SandboxException;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.agent.DirectoryListing;
import io.mcpsandbox.session.SessionFileException;
import io.mcpsandbox.session.SessionLimitException;
import io.mcpsandbox.session.SessionService;
import io.mcpsandbox.session.SessionUnavailableException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The session endpoints under {@code /v1/sessions} (docs/api.md "Sessions"): open, list, show, close, run in
 * one, and its files as raw bytes. Every route asks the session service with the API key's user, so another
 * user's session answers exactly as an unknown one (404); a closed one answers 410 with why. An admin key
 * ({@code TOKEN:USER:admin}) may list and show every user's sessions, nothing more: running in one, its files
 * and closing it stay the owner's.
 *
 * <p>In a cluster, a call for a session another node holds is forwarded to that node ({@link NodeProxy}), and one
 * whose node was lost answers 410 {@code node_lost} (docs/cluster.md "Sessions in a cluster").
 */
final class SessionRoutes {
    static final String PREFIX = "/sessions";
    private static final Logger log = LoggerFactory.getLogger(SessionRoutes.class);
    private static final String FILES = "/files";
    private static final String EXECUTIONS = "/executions";
    /** What a client waits before asking again when the session caps are reached. */
    private static final String RETRY_AFTER_SECONDS = "5";
    /** A forwarded call may take this much longer than the longest session (queueing, the answer's transfer). */
    static final java.time.Duration PROXY_SLACK = java.time.Duration.ofMinutes(2);

    /** Runs an execution request from the body exactly as {@code POST /v1/executions}, in the given session. */
    interface ExecutionPost {
        void post(HttpServletRequest req, HttpServletResponse resp, String user, String sessionId) throws IOException;
    }

    private final SessionService sessions;
    private final RequestParser parser;
    private final JsonMapper json;
    private final HttpJson http;
    private final ExecutionPost executions;
    private final NodeProxy proxy;

    SessionRoutes(SessionService sessions, RequestParser parser, JsonMapper json, HttpJson http,
                  ExecutionPost executions, NodeProxy proxy) {
        this.proxy = proxy;
        this.sessions = sessions;
        this.parser = parser;
        this.json = json;
        this.http = http;
        this.executions = executions;
    }

    /** @param path below {@code /v1}, starting with {@link #PREFIX} */
    void serve(HttpServletRequest req, HttpServletResponse resp, String user, String path) throws IOException {
        String method = req.getMethod();
        if (path.equals(PREFIX)) {
            switch (method) {
                case "POST" -> create(req, resp, user);
                case "GET" -> list(req, resp, user);
                default -> RestServlet.notAllowed(http, resp, "GET, POST");
            }
            return;
        }
        if (!path.startsWith(PREFIX + "/")) {
            http.error(resp, 404, null, "no such endpoint: " + RestServlet.abbreviate(req.getRequestURI()));
            return;
        }
        String rest = path.substring(PREFIX.length() + 1);
        int slash = rest.indexOf('/');
        String id = slash < 0 ? rest : rest.substring(0, slash);
        String below = slash < 0 ? "" : rest.substring(slash);
        if (id.isEmpty()) {
            http.error(resp, 404, null, "no session ''");
        } else if (forwarded(req, resp, id, below)) {
            return; // another cluster node holds it and answered, or where it is cannot be found now
        } else if (below.isEmpty()) {
            switch (method) {
                case "GET" -> show(req, resp, user, id);
                case "DELETE" -> close(resp, user, id);
                default -> RestServlet.notAllowed(http, resp, "GET, DELETE");
            }
        } else if (below.equals(EXECUTIONS)) {
            if (!method.equals("POST")) {
                RestServlet.notAllowed(http, resp, "POST");
            } else if (available(resp, user, id)) { // before the body is read
                executions.post(req, resp, user, id);
            }
        } else if (below.equals(FILES)) {
            if (method.equals("GET")) {
                list(req, resp, user, id);
            } else {
                RestServlet.notAllowed(http, resp, "GET");
            }
        } else if (below.startsWith(FILES + "/")) {
            // The rest of the decoded path is the file's absolute path; the session service checks it.
            String file = below.substring(FILES.length());
            switch (method) {
                case "PUT" -> put(req, resp, user, id, file);
                case "GET" -> get(resp, user, id, file);
                case "DELETE" -> delete(resp, user, id, file);
                default -> RestServlet.notAllowed(http, resp, "GET, PUT, DELETE");
            }
        } else {
            http.error(resp, 404, null, "no such endpoint: " + RestServlet.abbreviate(req.getRequestURI())
                    + " (see /v1/sessions/{id}, /v1/sessions/{id}/executions, /v1/sessions/{id}/files)");
        }
    }

    /**
     * In a cluster, a call for a session this node does not hold goes to the node that does ({@link NodeProxy}),
     * unless another node forwarded it here (its routed header verifies): then it is answered here, never forwarded
     * again. A session whose node is lost has been closed in the records by {@code locate} ({@code node_lost}):
     * the local routes answer 410 from there (or 404 to anyone but its owner).
     *
     * @return whether the call was answered
     */
    private boolean forwarded(HttpServletRequest req, HttpServletResponse resp, String id, String below)
            throws IOException {
        SessionService.Directory directory = sessions.directory().orElse(null);
        if (directory == null || sessions.holds(id)) {
            return false;
        }
        String method = req.getMethod();
        String target = NodeProxy.target(req);
        if (directory.isRouted(req.getHeader(ClusterSessionSigns.ROUTED_HEADER), method, target)) {
            return false;
        }
        SessionService.Location where = directory.locate(id);
        if (where.here()) {
            return false;
        }
        if (!where.remote()) {
            resp.setHeader("Retry-After", RETRY_AFTER_SECONDS);
            http.error(resp, 503, null, "session " + RestServlet.abbreviate(id) + ": the node that holds it cannot "
                    + "be found now: " + where.unavailable());
            return true;
        }
        long maxBody = method.equals("PUT") && below.startsWith(FILES + "/") ? sessions.settings().maxFileBytes()
                : http.maxBodyBytes();
        // Nothing in a session outlives the session's longest lifetime.
        proxy.forward(req, resp, NodeProxy.Subject.session(id), where, directory.routedHeader(method, target),
                target, maxBody, sessions.settings().maxLifetime().plus(PROXY_SLACK));
        return true;
    }

    private void create(HttpServletRequest req, HttpServletResponse resp, String user) throws IOException {
        String typeProblem = HttpJson.contentTypeProblem(req.getContentType());
        if (typeProblem != null) {
            http.error(resp, 415, null, typeProblem);
            return;
        }
        SessionRequest request;
        try {
            JsonNode tree = readJson(req, resp);
            if (tree == null) {
                return;
            }
            request = parser.parseSession(tree, user);
        } catch (InvalidRequestException e) {
            http.error(resp, 400, e.field(), e.getMessage());
            return;
        }
        SessionRecord opened;
        try {
            opened = sessions.create(request);
        } catch (PolicyViolation e) {
            http.error(resp, 422, e.field(), e.getMessage());
            return;
        } catch (SessionLimitException e) {
            resp.setHeader("Retry-After", RETRY_AFTER_SECONDS);
            http.error(resp, e.unavailable() ? 503 : 429, null, e.getMessage());
            return;
        } catch (SandboxException | RuntimeException e) {
            log.error("session not opened for {}: {}", user, e.getMessage(), e);
            http.error(resp, 500, null, "the session could not be opened: " + e.getMessage());
            return;
        }
        resp.setHeader("Location", req.getContextPath() + "/v1/sessions/" + opened.sessionId());
        http.write(resp, 201, SessionViews.session(opened));
    }

    /** The body as JSON, or null after answering 400, 408 or 413. */
    private JsonNode readJson(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        byte[] body;
        try {
            body = http.readBody(req);
        } catch (HttpJson.TooLarge e) {
            http.error(resp, 413, null, e.getMessage());
            return null;
        } catch (HttpJson.BodyFailed e) {
            http.error(resp, 408, null, e.getMessage());
            return null;
        }
        try {
            return json.readTree(body);
        } catch (JacksonException e) {
            // The original message only: no echo of the body, which may hold secrets.
            http.error(resp, 400, null, RestServlet.malformed(e));
            return null;
        }
    }

    /**
     * The caller's open sessions; an admin key's: every user's (or one user's with {@code user=}), each view with
     * its {@code userId}. A user naming another user is a 403.
     */
    private void list(HttpServletRequest req, HttpServletResponse resp, String user) throws IOException {
        ExecutionQueries.Scope scope;
        try {
            scope = ExecutionQueries.scope(req, user);
        } catch (ExecutionQueries.BadParameter e) {
            e.answer(http, resp);
            return;
        }
        if (!ExecutionQueries.admin(req)) {
            http.write(resp, 200, SessionViews.sessions(sessions.list(user)));
            return;
        }
        http.write(resp, 200, Map.of("sessions",
                sessions.listAll(scope.userIdOrNull()).stream().map(SessionRoutes::owned).toList()));
    }

    /** A session view that says whose it is: only an admin is shown others' sessions. */
    private static Map<String, Object> owned(SessionRecord r) {
        Map<String, Object> view = new LinkedHashMap<>(SessionViews.session(r));
        view.put("userId", r.userId());
        return view;
    }

    /** The caller's session; an admin key may look at anyone's (with its userId), and nothing more. */
    private void show(HttpServletRequest req, HttpServletResponse resp, String user, String id) throws IOException {
        try {
            if (ExecutionQueries.admin(req)) {
                http.write(resp, 200, owned(sessions.inspect(id)));
            } else {
                http.write(resp, 200, SessionViews.session(sessions.show(user, id)));
            }
        } catch (SessionUnavailableException e) {
            unavailable(http, resp, e);
        }
    }

    private void close(HttpServletResponse resp, String user, String id) throws IOException {
        try {
            http.write(resp, 200, SessionViews.session(sessions.close(user, id)));
        } catch (SessionUnavailableException e) {
            unavailable(http, resp, e);
        }
    }

    /** Whether the user's session is open; otherwise answers 404 or 410. */
    private boolean available(HttpServletResponse resp, String user, String id) throws IOException {
        try {
            sessions.show(user, id);
            return true;
        } catch (SessionUnavailableException e) {
            unavailable(http, resp, e);
            return false;
        }
    }

    /** 404 for unknown and foreign alike; 410 with the reason for a closed session. */
    static void unavailable(HttpJson http, HttpServletResponse resp, SessionUnavailableException e)
            throws IOException {
        if (e.kind() == SessionUnavailableException.Kind.GONE) {
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("error", e.getMessage());
            body.put("reason", e.reason().wireName());
            http.write(resp, 410, body);
        } else {
            http.error(resp, 404, null, e.getMessage());
        }
    }

    /** The raw body becomes the file: refused at once when it says it is larger than a session file may be. */
    private void put(HttpServletRequest req, HttpServletResponse resp, String user, String id, String path)
            throws IOException {
        long max = sessions.settings().maxFileBytes();
        if (req.getContentLengthLong() > max) {
            resp.setHeader("Connection", "close"); // the rest of the body is not read
            http.error(resp, 413, "path", "the file is larger than " + max + " bytes (session.max-file-bytes)");
            return;
        }
        if (!available(resp, user, id)) {
            return;
        }
        ClientBody body = new ClientBody(req.getInputStream(), Long.MAX_VALUE);
        try {
            sessions.writeFile(user, id, path, body, max);
            resp.setStatus(204);
        } catch (SessionUnavailableException e) {
            unavailable(http, resp, e);
        } catch (SessionFileException e) {
            if (e.kind() == SessionFileException.Kind.TOO_LARGE) {
                resp.setHeader("Connection", "close");
            }
            fileRefused(resp, e);
        } catch (IOException e) {
            if (body.failure() != null) {
                http.error(resp, 408, null, "the request body did not arrive completely ("
                        + body.failure().getClass().getSimpleName() + "); the file was not written");
            } else {
                fileFailed(resp, "writing", e);
            }
        }
    }

    /**
     * The file is copied to a private host file first: a file over the cap is then a clean 413 (not a cut
     * 200), and a slow client never holds the session's channel (its reader thread writes the copy).
     */
    private void get(HttpServletResponse resp, String user, String id, String path) throws IOException {
        long max = sessions.settings().maxFileBytes();
        Path spool = Files.createTempFile("mcp-sandbox-file-", ".part"); // 0600, a fresh name: nothing to follow
        try {
            boolean truncated;
            try (OutputStream out = Files.newOutputStream(spool)) {
                truncated = sessions.readFile(user, id, path, max, out);
            }
            if (truncated) {
                http.error(resp, 413, "path", "the file is larger than " + max + " bytes (session.max-file-bytes)");
                return;
            }
            resp.setStatus(200);
            resp.setContentType("application/octet-stream");
            resp.setHeader("Cache-Control", "no-store");
            resp.setHeader("X-Content-Type-Options", "nosniff");
            resp.setContentLengthLong(Files.size(spool));
            try (InputStream in = Files.newInputStream(spool)) {
                in.transferTo(resp.getOutputStream());
            }
        } catch (SessionUnavailableException e) {
            unavailable(http, resp, e);
        } catch (SessionFileException e) {
            fileRefused(resp, e);
        } catch (IOException e) {
            if (resp.isCommitted()) {
                throw e; // the client went away while the file was sent
            }
            fileFailed(resp, "reading", e);
        } finally {
            Files.deleteIfExists(spool);
        }
    }

    private void delete(HttpServletResponse resp, String user, String id, String path) throws IOException {
        try {
            sessions.deleteFile(user, id, path);
            resp.setStatus(204);
        } catch (SessionUnavailableException e) {
            unavailable(http, resp, e);
        } catch (SessionFileException e) {
            fileRefused(resp, e);
        } catch (IOException e) {
            fileFailed(resp, "deleting", e);
        }
    }

    /** {@code ?dir=} (default /workspace): the entries as the sandbox's agent gave them. */
    private void list(HttpServletRequest req, HttpServletResponse resp, String user, String id) throws IOException {
        String dir = req.getParameter("dir") == null ? SandboxSpec.WORKSPACE : req.getParameter("dir");
        try {
            DirectoryListing listing = sessions.listFiles(user, id, dir);
            http.write(resp, 200, SessionViews.listing(dir, listing));
        } catch (SessionUnavailableException e) {
            unavailable(http, resp, e);
        } catch (SessionFileException e) {
            fileRefused(resp, e, "dir");
        } catch (IOException e) {
            fileFailed(resp, "listing", e);
        }
    }

    private void fileRefused(HttpServletResponse resp, SessionFileException e) throws IOException {
        fileRefused(resp, e, "path");
    }

    private void fileRefused(HttpServletResponse resp, SessionFileException e, String field) throws IOException {
        int status = switch (e.kind()) {
            case INVALID -> 400;
            case MISSING -> 404;
            case REFUSED -> 422;
            case TOO_LARGE -> 413;
        };
        http.error(resp, status, field, e.getMessage());
    }

    private void fileFailed(HttpServletResponse resp, String what, IOException e) throws IOException {
        log.warn("session file {} failed: {}", what, e.getMessage());
        http.error(resp, 500, null, what + " the file failed: " + e.getMessage());
    }
}
