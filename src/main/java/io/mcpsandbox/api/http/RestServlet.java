package io.mcpsandbox.api.http;

import io.mcpsandbox.api.ExecutionGateway;
import io.mcpsandbox.api.InvalidRequestException;
import io.mcpsandbox.api.RequestForm;
import io.mcpsandbox.api.RequestParser;
import io.mcpsandbox.cluster.ClusterSessionSigns;
import io.mcpsandbox.execution.Admission;
import io.mcpsandbox.execution.ExecutionListener;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.record.ExecutionStoreException;
import io.mcpsandbox.session.SessionService;
import io.mcpsandbox.session.SessionUnavailableException;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * The REST API of DESIGN.md under {@code /v1}. A sync execution holds no thread while it runs: the request
 * goes async and is completed by the result's future.
 *
 * <p>Status codes: 200 a result (any way the program ended), 201 a session opened, 202 accepted (async, terminate),
 * 204 a file written or deleted, 400 a request that cannot be read (names the field), 401 no key, 403 a user's key
 * naming another user ({@code user=}), 404 unknown or someone else's (not for an admin key: it sees, follows and
 * terminates anyone's execution, though stdin stays the owner's), 409 already finished, 410 a closed session (with
 * why), 413 body too large, 415 not JSON, 422 rejected by policy (the result object says why), 429 admission or the
 * session caps refused (Retry-After), 500 the service failed (the result object says why), 503 the store cannot
 * answer. The session routes are {@link SessionRoutes}. {@code GET /v1/openapi.json} describes all of it (OpenAPI
 * 3.1); it needs a key like the rest.
 */
final class RestServlet extends HttpServlet {
    private static final Logger log = LoggerFactory.getLogger(RestServlet.class);
    private static final String EXECUTIONS = "/executions";
    private static final String STDIN = "/stdin";
    private static final String RECORD = "/record";
    private static final String BATCH = EXECUTIONS + "/batch";
    static final int MAX_STDIN_WRITE = io.mcpsandbox.execution.ActiveExecution.MAX_STDIN_WRITE;
    static final java.time.Duration STDIN_WAIT = io.mcpsandbox.execution.ActiveExecution.STDIN_WAIT;
    /** Most records one listing returns. */
    static final int MAX_LIST = 1000;

    private final ExecutionGateway gateway;
    private final RequestParser parser;
    private final JsonMapper json;
    private final HttpJson http;
    private final ObjectNode openApi;
    private final SessionService sessions;
    private final SessionRoutes sessionRoutes;
    private final NdjsonExecutionStream streams;
    private final QueueRoutes queueRoutes;
    private final ExecutionQueries queries;
    private final NodeProxy proxy;
    /** The most a forwarded execution call may take: the longest execution (or session), and some slack. */
    private final java.time.Duration forwardDeadline;

    /** @param longestExecution the longest timeout a request may ask for ({@code limits.max.timeout}) */
    RestServlet(ExecutionGateway gateway, SessionService sessions, RequestParser parser, JsonMapper json,
                HttpJson http, java.time.Duration longestExecution) {
        this.gateway = gateway;
        this.sessions = sessions;
        this.parser = parser;
        this.json = json;
        this.http = http;
        this.openApi = OpenApiDocument.build(parser.schemas());
        this.proxy = new NodeProxy(http);
        this.sessionRoutes = new SessionRoutes(sessions, parser, json, http, this::post, proxy);
        java.time.Duration longest = longestExecution.compareTo(sessions.settings().maxLifetime()) > 0
                ? longestExecution : sessions.settings().maxLifetime();
        this.forwardDeadline = longest.plus(SessionRoutes.PROXY_SLACK);
        this.streams = new NdjsonExecutionStream(json);
        this.queueRoutes = new QueueRoutes(gateway, parser, json, http);
        this.queries = new ExecutionQueries(gateway, http, java.time.Clock.systemUTC());
    }

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String path = req.getPathInfo() == null ? "" : req.getPathInfo();
        String user = (String) req.getAttribute(AuthFilter.USER);
        boolean admin = ExecutionQueries.admin(req);
        String method = req.getMethod();
        if (path.equals(EXECUTIONS)) {
            switch (method) {
                case "POST" -> post(req, resp, user, null);
                case "GET" -> listActive(req, resp, user);
                default -> notAllowed(resp, "GET, POST");
            }
        } else if (path.equals(BATCH)) {
            if (method.equals("POST")) {
                queueRoutes.batch(req, resp, user);
            } else {
                notAllowed(resp, "POST");
            }
        } else if (path.equals(QueueRoutes.QUEUE)) {
            if (method.equals("GET")) {
                queueRoutes.list(req, resp, user, admin);
            } else {
                notAllowed(resp, "GET");
            }
        } else if (path.startsWith(EXECUTIONS + "/") && path.indexOf('/', EXECUTIONS.length() + 1) < 0) {
            String id = path.substring(EXECUTIONS.length() + 1);
            switch (method) {
                case "GET" -> get(req, resp, user, admin, id);
                case "DELETE" -> terminate(resp, user, admin, id);
                default -> notAllowed(resp, "GET, DELETE");
            }
        } else if (path.startsWith(EXECUTIONS + "/") && path.endsWith(RECORD)
                && path.indexOf('/', EXECUTIONS.length() + 1) == path.length() - RECORD.length()) {
            String id = path.substring(EXECUTIONS.length() + 1, path.length() - RECORD.length());
            if (method.equals("GET")) {
                record(resp, user, admin, id);
            } else {
                notAllowed(resp, "GET");
            }
        } else if (path.startsWith(EXECUTIONS + "/") && path.endsWith(STDIN)
                && path.indexOf('/', EXECUTIONS.length() + 1) == path.length() - STDIN.length()) {
            String id = path.substring(EXECUTIONS.length() + 1, path.length() - STDIN.length());
            if (method.equals("POST")) {
                writeStdin(req, resp, user, id);
            } else {
                notAllowed(resp, "POST");
            }
        } else if (path.equals(SessionRoutes.PREFIX) || path.startsWith(SessionRoutes.PREFIX + "/")) {
            sessionRoutes.serve(req, resp, user, path);
        } else if (path.equals("/me")) {
            if (method.equals("GET")) {
                queries.me(resp, user, admin);
            } else {
                notAllowed(resp, "GET");
            }
        } else if (path.equals("/security-events")) {
            if (method.equals("GET")) {
                queries.securityEvents(req, resp, user);
            } else {
                notAllowed(resp, "GET");
            }
        } else if (path.equals("/runtimes")) {
            if (method.equals("GET")) {
                http.write(resp, 200, Map.of("runtimes", gateway.runtimes()));
            } else {
                notAllowed(resp, "GET");
            }
        } else if (path.equals("/openapi.json")) {
            if (method.equals("GET")) {
                http.write(resp, 200, openApi);
            } else {
                notAllowed(resp, "GET");
            }
        } else {
            http.error(resp, 404, null, "no such endpoint: " + req.getRequestURI()
                    + " (see /v1/executions, /v1/executions/{id}, /v1/executions/{id}/record, /v1/executions/batch, "
                    + "/v1/queue, /v1/sessions, /v1/me, /v1/security-events, /v1/stats, /v1/images, /v1/cluster, "
                    + "/v1/runtimes, /v1/openapi.json)");
        }
    }

    /**
     * Runs the body's execution request, sync or async; in a session when the body names one or
     * {@code inSession} (from the URL) does: a body naming another session is refused. The session is checked
     * first, so an unknown one is a 404 and a closed one a 410, as on its own routes.
     */
    private void post(HttpServletRequest req, HttpServletResponse resp, String user, String inSession)
            throws IOException {
        // A refusal before the body is read closes the connection: the unread body must not be taken for the
        // client's next request on it.
        String typeProblem = HttpJson.contentTypeProblem(req.getContentType());
        if (typeProblem != null) {
            resp.setHeader("Connection", "close");
            http.error(resp, 415, null, typeProblem);
            return;
        }
        String asyncParam = req.getParameter("async");
        if (asyncParam != null && !asyncParam.equals("true") && !asyncParam.equals("false")) {
            resp.setHeader("Connection", "close");
            http.error(resp, 400, "async", "must be true or false; got '" + abbreviate(asyncParam) + "'");
            return;
        }
        boolean async = "true".equals(asyncParam);
        Boolean stream = flag(req, resp, "stream");
        if (stream == null) {
            return;
        }
        ExecutionRequest request;
        try {
            byte[] body = http.readBody(req);
            JsonNode tree;
            try {
                tree = json.readTree(body);
            } catch (JacksonException e) {
                // The original message only: no echo of the body, which may hold secrets.
                http.error(resp, 400, null, malformed(e));
                return;
            }
            request = parser.parse(tree, RequestForm.ANY, user);
        } catch (HttpJson.TooLarge e) {
            http.error(resp, 413, null, e.getMessage());
            return;
        } catch (HttpJson.BodyFailed e) {
            http.error(resp, 408, null, e.getMessage());
            return;
        } catch (InvalidRequestException e) {
            http.error(resp, 400, e.field(), e.getMessage());
            return;
        }
        try {
            gateway.checkCallback(request);
        } catch (InvalidRequestException e) {
            http.error(resp, 400, e.field(), e.getMessage());
            return;
        }
        async = async || request.background();
        if (stream && async) {
            http.error(resp, 400, "stream", "cannot be combined with async or background: follow a background "
                    + "execution with GET /v1/executions/{id}?stream=true");
            return;
        }
        if (inSession != null) {
            if (request.sessionId() != null && !request.sessionId().equals(inSession)) {
                http.error(resp, 400, "sessionId", "names another session than the URL; leave it out");
                return;
            }
            request = request.toBuilder().sessionId(inSession).build();
            if (stream && "true".equals(req.getParameter("images")) && routedHere(req)) {
                // Another node's MCP execute_code: the images the snippet writes go back with its result event.
                request = request.toBuilder().returnImages(true).build();
            }
        }
        if (request.sessionId() != null) {
            try {
                sessions.show(user, request.sessionId());
            } catch (SessionUnavailableException e) {
                SessionRoutes.unavailable(http, resp, e);
                return;
            }
        }

        if (async && gateway.queues(request)) {
            queueRoutes.enqueue(req, resp, request);
            return;
        }
        AsyncContext ac = req.startAsync();
        ac.setTimeout(0); // bounded by the execution's own timeout and the admission queue's
        // A stream follows the execution's output in this process: it runs here, never spilled to another node.
        CompletableFuture<ExecutionGateway.Started> started = stream
                ? gateway.startHere(request, ExecutionListener.NONE) : gateway.start(request, ExecutionListener.NONE);
        if (stream) {
            started.whenComplete((s, e) -> {
                if (e != null) {
                    complete(ac, r -> failure(r, e));
                } else {
                    streams.stream(ac, s.executionId(), gateway.running(user, s.executionId()), s::result);
                }
            });
        } else if (async) {
            started.whenComplete((s, e) -> complete(ac, r -> {
                if (e != null) {
                    failure(r, e);
                } else {
                    r.setHeader("Location", req.getContextPath() + "/v1/executions/" + s.executionId());
                    http.write(r, 202, Map.of("executionId", s.executionId(), "status", "running"));
                }
            }));
        } else {
            started.thenCompose(ExecutionGateway.Started::result).whenComplete((result, e) -> complete(ac, r -> {
                if (e != null) {
                    failure(r, e);
                } else {
                    http.write(r, statusOf(result), result);
                }
            }));
        }
    }

    /** Whether another cluster node forwarded this call here (its signed routed header verifies). */
    private boolean routedHere(HttpServletRequest req) {
        return sessions.directory().map(d -> d.isRouted(req.getHeader(ClusterSessionSigns.ROUTED_HEADER),
                req.getMethod(), NodeProxy.target(req))).orElse(false);
    }

    /**
     * {@code ?ids=}: those executions; otherwise the running ones ({@code active=true}) or the stored records,
     * filtered (see {@link ExecutionQueries}): the user's own, an admin's everyone's.
     */
    private void listActive(HttpServletRequest req, HttpServletResponse resp, String user) throws IOException {
        if (req.getParameter("ids") != null) {
            queueRoutes.byIds(req, resp, user);
            return;
        }
        queries.list(req, resp, user);
    }

    /** One execution's result (or running placeholder with its output so far); {@code ?stream=true} follows it. */
    private void get(HttpServletRequest req, HttpServletResponse resp, String user, boolean admin, String id)
            throws IOException {
        Boolean stream = flag(req, resp, "stream");
        if (stream == null) {
            return;
        }
        java.util.Optional<io.mcpsandbox.queue.QueuedView> waiting = gateway.queued(user, admin, id);
        if (waiting.isPresent()) {
            if (stream) {
                http.error(resp, 409, "stream", "the execution is still queued (position "
                        + waiting.get().position() + "): follow it once it runs");
            } else {
                http.write(resp, 200, waiting.get());
            }
            return;
        }
        java.util.Optional<ExecutionResult> found;
        try {
            found = gateway.find(user, admin, id);
        } catch (ExecutionStoreException e) {
            http.error(resp, 503, null, "the execution store cannot answer right now: " + e.getMessage());
            return;
        }
        if (found.isPresent() && runsElsewhere(found.get(), user, admin, id)
                && forwarded(req, resp, id, found.get().node(), 0)) {
            return; // the node that runs it answered (its output so far, or live), or it cannot be reached now
        }
        if (found.isEmpty()) {
            http.error(resp, 404, null, "no execution '" + abbreviate(id) + "' of yours is known");
        } else if (!stream) {
            http.write(resp, 200, found.get());
        } else {
            AsyncContext ac = req.startAsync();
            ac.setTimeout(0); // bounded by the execution's own timeout
            java.util.Optional<io.mcpsandbox.execution.ActiveExecution> running = gateway.running(user, admin, id);
            ExecutionResult now = found.get();
            streams.stream(ac, id, running, () -> running.isPresent() ? running.get().ended()
                    : CompletableFuture.completedFuture(now));
        }
    }

    /** {@code GET /v1/executions/{id}/record}: the stored record without its output (who, where, what, when). */
    private void record(HttpServletResponse resp, String user, boolean admin, String id) throws IOException {
        java.util.Optional<ExecutionRecord> found;
        try {
            found = gateway.record(user, admin, id);
        } catch (ExecutionStoreException e) {
            http.error(resp, 503, null, "the execution store cannot answer right now: " + e.getMessage());
            return;
        }
        if (found.isEmpty()) {
            http.error(resp, 404, null, "no record of an execution '" + abbreviate(id) + "' of yours");
        } else {
            http.write(resp, 200, found.get());
        }
    }

    /**
     * {@code POST /v1/executions/{id}/stdin}: the raw body goes to the running program's stdin (kept open by
     * {@code keepStdinOpen}); {@code ?eof=true} closes it after. Answers how many bytes reached it.
     */
    private void writeStdin(HttpServletRequest req, HttpServletResponse resp, String user, String id)
            throws IOException {
        if (req.getContentLengthLong() > MAX_STDIN_WRITE) {
            resp.setHeader("Connection", "close");
            http.error(resp, 413, null, "at most " + MAX_STDIN_WRITE + " bytes of stdin per request");
            return;
        }
        java.util.Optional<io.mcpsandbox.execution.ActiveExecution> running = gateway.running(user, id);
        if (running.isEmpty() && gateway.queued(user, id).isPresent()) {
            http.error(resp, 409, null, "the execution is still queued: its stdin opens when it starts");
            return;
        }
        if (running.isEmpty()) {
            // Stdin stays the owner's (an admin key writes to none but its own): the user's own record only.
            java.util.Optional<ExecutionResult> found = gateway.find(user, id);
            if (found.isPresent() && runsElsewhere(found.get(), user, false, id)
                    && forwarded(req, resp, id, found.get().node(), MAX_STDIN_WRITE)) {
                return; // nothing of the body was read: the node that runs it reads it
            }
            boolean ended = found.isPresent();
            http.error(resp, ended ? 409 : 404, null, ended ? "the execution has ended; its stdin is gone"
                    : "no execution '" + abbreviate(id) + "' of yours is known");
            return;
        }
        byte[] data;
        try (java.io.InputStream in = req.getInputStream()) {
            data = in.readNBytes(MAX_STDIN_WRITE + 1);
        }
        if (data.length > MAX_STDIN_WRITE) {
            resp.setHeader("Connection", "close");
            http.error(resp, 413, null, "at most " + MAX_STDIN_WRITE + " bytes of stdin per request");
            return;
        }
        // Only after the body is read: a form content type would otherwise have it parsed as parameters.
        Boolean eof = flag(req, resp, "eof");
        if (eof == null) {
            return;
        }
        io.mcpsandbox.execution.ActiveExecution.StdinWrite w;
        try {
            w = running.get().writeStdin(data, eof, STDIN_WAIT);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            http.error(resp, 503, null, "interrupted");
            return;
        } catch (IOException e) {
            http.error(resp, 409, null, "the execution's sandbox is gone: " + e.getMessage());
            return;
        }
        Map<String, Object> body = new java.util.LinkedHashMap<>();
        body.put("executionId", id);
        body.put("bytesWritten", w.bytesWritten());
        switch (w.outcome()) {
            case WRITTEN -> {
                body.put("stdinClosed", eof);
                http.write(resp, 200, body);
            }
            case TIMED_OUT -> {
                resp.setHeader("Retry-After", "1");
                body.put("error", w.problem(data.length));
                http.write(resp, 503, body);
            }
            case NOT_OPEN, ENDED -> {
                body.put("error", w.problem(data.length));
                http.write(resp, 409, body);
            }
        }
    }

    /**
     * Whether {@code found} (the caller's execution, or anyone's for an admin) is running by its shared record but
     * not here: in cluster mode, on the node the record names.
     */
    private boolean runsElsewhere(ExecutionResult found, String user, boolean admin, String id) {
        return found.status() == ExecutionStatus.RUNNING && found.node() != null
                && sessions.directory().isPresent() && gateway.running(user, admin, id).isEmpty();
    }

    /**
     * Cluster mode (docs/cluster.md "Executions on another node"): a call for an execution that does not run here
     * but whose shared record is {@code running} on another node goes to that node ({@link NodeProxy}), unless
     * another node forwarded it here (its routed header verifies): then it is answered here, never forwarded again.
     * The caller found it among its own (an admin: anyone's) first, so someone else's answers 404 here as an
     * unknown one and goes nowhere; the node that runs it checks the key and the user again. A node that is lost or
     * cannot be found now: 503 with Retry-After. Nothing of the request's body is read before it is forwarded.
     *
     * @param node    the node its record names
     * @param maxBody the most the local route reads of the body
     * @return whether the call was answered
     */
    private boolean forwarded(HttpServletRequest req, HttpServletResponse resp, String id, String node, long maxBody)
            throws IOException {
        SessionService.Directory directory = sessions.directory().orElse(null);
        if (directory == null) {
            return false;
        }
        String method = req.getMethod();
        String target = NodeProxy.target(req);
        if (directory.isRouted(req.getHeader(ClusterSessionSigns.ROUTED_HEADER), method, target)) {
            return false;
        }
        SessionService.Location where = directory.locateNode(node);
        if (where.here()) {
            return false; // it ran here and is not active any more: the record answers
        }
        if (!where.remote()) {
            resp.setHeader("Retry-After", "1");
            http.error(resp, 503, null, "execution " + abbreviate(id) + " runs on cluster node " + abbreviate(node)
                    + ", which cannot be reached now: " + where.unavailable());
            return true;
        }
        proxy.forward(req, resp, NodeProxy.Subject.execution(abbreviate(id)), where,
                directory.routedHeader(method, target), target, maxBody, forwardDeadline);
        return true;
    }

    /** A true/false query parameter (absent: false); null after answering 400 for anything else. */
    private Boolean flag(HttpServletRequest req, HttpServletResponse resp, String name) throws IOException {
        String value = req.getParameter(name);
        if (value != null && !value.equals("true") && !value.equals("false")) {
            resp.setHeader("Connection", "close"); // a POST's body is left unread
            http.error(resp, 400, name, "must be true or false; got '" + abbreviate(value) + "'");
            return null;
        }
        return "true".equals(value);
    }

    private void terminate(HttpServletResponse resp, String user, boolean admin, String id) throws IOException {
        ExecutionGateway.TerminateOutcome outcome;
        try {
            outcome = gateway.terminate(user, admin, id);
        } catch (ExecutionStoreException e) {
            http.error(resp, 503, null, "the store cannot answer right now (nothing cancelled): " + e.getMessage());
            return;
        }
        switch (outcome) {
            case TERMINATING -> http.write(resp, 202, Map.of("executionId", id, "outcome", "terminating"));
            case CANCELLED -> http.write(resp, 200, Map.of("executionId", id, "outcome", "cancelled"));
            case ALREADY_FINISHED -> http.write(resp, 409, Map.of("executionId", id, "outcome", "already_finished",
                    "error", "the execution has already finished"));
            case NOT_FOUND -> http.error(resp, 404, null, "no execution '" + abbreviate(id) + "' of yours is known");
        }
    }

    private static int statusOf(ExecutionResult result) {
        return switch (result.status()) {
            case REJECTED -> 422;
            case ERROR -> 500;
            default -> 200;
        };
    }

    private void failure(HttpServletResponse resp, Throwable e) throws IOException {
        Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
        if (cause instanceof Admission.Rejected busy) {
            resp.setHeader("Retry-After", Long.toString(Math.max(1, busy.retryAfter().toSeconds())));
            http.error(resp, busy.unavailable() ? 503 : 429, null, busy.getMessage());
        } else {
            log.error("REST execution failed", cause);
            http.error(resp, 500, null, "internal error: " + cause.getMessage());
        }
    }

    private interface Writer {
        void write(HttpServletResponse response) throws IOException;
    }

    private static void complete(AsyncContext ac, Writer writer) {
        try {
            writer.write((HttpServletResponse) ac.getResponse());
        } catch (IOException | RuntimeException e) {
            log.debug("response not written (client gone?): {}", e.toString());
        } finally {
            ac.complete();
        }
    }

    private void notAllowed(HttpServletResponse resp, String allow) throws IOException {
        notAllowed(http, resp, allow);
    }

    static void notAllowed(HttpJson http, HttpServletResponse resp, String allow) throws IOException {
        resp.setHeader("Allow", allow);
        http.error(resp, 405, null, "method not allowed; use " + allow);
    }

    /** The parser's own words and where: never the body, which may hold secrets. */
    static String malformed(JacksonException e) {
        return "malformed JSON: " + e.getOriginalMessage() + (e.getLocation() == null ? ""
                : " at line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr());
    }

    static String abbreviate(String s) {
        return s.length() <= 64 ? s : s.substring(0, 61) + "...";
    }
}
