package io.mcpsandbox.api.mcp;

import io.mcpsandbox.cluster.ClusterSessionSigns;
import io.mcpsandbox.cluster.NodeHttp;
import io.mcpsandbox.session.SessionService;
import io.modelcontextprotocol.server.McpAsyncServerExchange;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Carries an MCP call for a session another cluster node holds (its owner) to that node, over the owner's REST API
 * (docs/cluster.md "Sessions in a cluster"), as api.http's NodeProxy does for REST calls: the caller's
 * {@code Authorization} header, and a routed header signed with the cluster secret so the owner answers the call
 * itself and never forwards it again.
 *
 * <p>Trust: the owner authenticates the caller's own API key (every node has the same keys) and checks whose the
 * session is, exactly as for a call made to it directly; the routed header only stops a second forward and never
 * names a user, so neither a forged header nor this node can make the owner act for anyone but the key's user.
 * A caller without a key in its transport (stdio) is not forwarded: the local answer names the owner.
 *
 * <p>The owner's answer is untrusted input: every body is read up to a cap, JSON strictly, and every exchange is
 * bounded by a deadline (connecting by {@link NodeHttp#CONNECT_TIMEOUT}).
 */
final class SessionForwarder {
    private static final Logger log = LoggerFactory.getLogger(SessionForwarder.class);
    /** The transport context's key for the caller's Authorization header (filled by the HTTP server). */
    static final String AUTHORIZATION = "Authorization";
    /** A file call or a close: the owner's file operations are bounded by 60 s; the transfer gets the rest. */
    static final Duration QUICK_DEADLINE = Duration.ofMinutes(2);
    /** The most a JSON answer (a session, a listing, an error, a result) may be; an NDJSON line alike. */
    static final int MAX_JSON = 64 << 20;
    private static final int MAX_HEADER = 8192;
    private static final int MAX_ERROR_TEXT = 2000;
    private static final Pattern SECONDS = Pattern.compile("[0-9]{1,6}");

    /**
     * Where the call goes: the owner node, the caller's key for it, and what signs the routed header. For a call
     * about an execution on another node ({@link #runner}), {@code sessionId} is null.
     */
    record Owner(String sessionId, SessionService.Location where, String authorization,
                 SessionService.Directory directory) {
    }

    /**
     * The owner's answer: its status, its body (at most the cap asked for; {@code cut} when there was more), and
     * its Retry-After when it is a number of seconds.
     */
    record Answer(int status, byte[] body, boolean cut, String retryAfter) {
        boolean ok() {
            return status >= 200 && status < 300;
        }
    }

    /** The owner did not answer (unreachable, deadline passed) or its answer was not well formed. */
    static final class Failed extends IOException {
        Failed(String message) {
            super(message);
        }
    }

    private final SessionService sessions;
    private final JsonMapper json;
    private final ScheduledExecutorService watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "mcp-session-forward-deadline");
        t.setDaemon(true);
        return t;
    });

    SessionForwarder(SessionService sessions, JsonMapper json) {
        this.sessions = sessions;
        this.json = json;
    }

    /**
     * The owner to forward the call to, when this node is a cluster node that does not hold the session, another
     * node does, and the caller came with a key. Empty otherwise: the call is answered here (a session held here,
     * unknown, closed, lost with its node, or whose node cannot be found now: the local answer says which).
     */
    Optional<Owner> owner(McpAsyncServerExchange exchange, String sessionId) {
        SessionService.Directory directory = sessions.directory().orElse(null);
        if (directory == null || !ClusterSessionSigns.sessionId(sessionId) || sessions.holds(sessionId)) {
            return Optional.empty();
        }
        Object key = exchange.transportContext() == null ? null : exchange.transportContext().get(AUTHORIZATION);
        if (!(key instanceof String authorization) || authorization.isEmpty() || authorization.length() > MAX_HEADER) {
            return Optional.empty();
        }
        SessionService.Location where = directory.locate(sessionId);
        return where.remote() ? Optional.of(new Owner(sessionId, where, authorization, directory))
                : Optional.empty();
    }

    /**
     * Where cluster node {@code nodeId} serves (the node an execution's record says runs it): {@code HERE} outside
     * cluster mode and for this node.
     */
    SessionService.Location locateNode(String nodeId) {
        return sessions.directory().map(d -> d.locateNode(nodeId)).orElse(SessionService.Location.HERE);
    }

    /**
     * The node that runs an execution ({@code where}, remote), to carry a call about it there with the caller's key;
     * empty when the caller came without a key (stdio).
     */
    Optional<Owner> runner(McpAsyncServerExchange exchange, SessionService.Location where) {
        SessionService.Directory directory = sessions.directory().orElse(null);
        if (directory == null || !where.remote()) {
            return Optional.empty();
        }
        Object key = exchange.transportContext() == null ? null : exchange.transportContext().get(AUTHORIZATION);
        if (!(key instanceof String authorization) || authorization.isEmpty() || authorization.length() > MAX_HEADER) {
            return Optional.empty();
        }
        return Optional.of(new Owner(null, where, authorization, directory));
    }

    /** How long a forwarded execution may take: nothing in a session outlives its longest lifetime. */
    Duration executionDeadline() {
        return sessions.settings().maxLifetime().plus(QUICK_DEADLINE);
    }

    /**
     * One request to the owner; its body read up to {@code maxBody} bytes ({@link Answer#cut} says whether there
     * was more; the rest is not read).
     *
     * @param target the raw path and query, percent-encoded (what the owner sees, and what is signed)
     * @param body   the request body, or null for none
     */
    Answer call(Owner owner, String method, String target, byte[] body, String contentType, int maxBody,
                Duration deadline) throws IOException, InterruptedException {
        HttpResponse<InputStream> response = send(owner, method, target, body, contentType, "application/json",
                deadline);
        try (InputStream in = response.body(); Cut cut = cut(in, deadline)) {
            byte[] bytes = in.readNBytes(maxBody);
            boolean more = in.read() >= 0;
            return answer(response, bytes, more);
        } catch (IOException e) {
            throw new Failed("its answer broke off (" + e.getClass().getSimpleName() + ")");
        }
    }

    /** A way to stop reading a streamed answer from another thread. */
    static final class Stream {
        private volatile InputStream in;
        private volatile boolean stopped;

        /** Stops reading the owner's answer (the caller went away); the read ends with a failure. */
        void stop() {
            stopped = true;
            InputStream i = in;
            if (i != null) {
                closeQuietly(i);
            }
        }
    }

    /**
     * A POST whose answer is an NDJSON stream (an execution with {@code ?stream=true}): each event, a JSON object
     * with a string {@code type}, goes to {@code events} as it arrives, in order; the answer's body is the last
     * event (the result) when the stream began (200), else the owner's error body.
     */
    Answer stream(Owner owner, String target, byte[] body, Duration deadline, Stream handle,
                  Consumer<JsonNode> events) throws IOException, InterruptedException {
        HttpResponse<InputStream> response = send(owner, "POST", target, body, "application/json",
                "application/x-ndjson, application/json", deadline);
        try (InputStream raw = response.body(); Cut cut = cut(raw, deadline)) {
            handle.in = raw;
            InputStream in = new BufferedInputStream(raw, 64 * 1024);
            if (handle.stopped) {
                throw new Failed("the call was cancelled");
            }
            String type = response.headers().firstValue("Content-Type").orElse("");
            if (response.statusCode() != 200 || !type.startsWith("application/x-ndjson")) {
                byte[] bytes = in.readNBytes(MAX_JSON);
                return answer(response, bytes, in.read() >= 0);
            }
            byte[] line;
            while ((line = line(in)) != null) {
                JsonNode event = object(line);
                if (!event.path("type").isString()) {
                    throw new Failed("an event of its stream has no type");
                }
                if (event.get("type").asString().equals("result")) {
                    return answer(response, line, false);
                }
                events.accept(event);
            }
            throw new Failed("its stream ended without a result");
        } catch (Failed e) {
            throw e;
        } catch (IOException e) {
            throw new Failed("its answer broke off (" + e.getClass().getSimpleName() + ")");
        }
    }

    /** A JSON object from the owner (a body, a line): anything else is a failure. */
    JsonNode object(byte[] body) throws Failed {
        try {
            JsonNode node = json.readTree(body);
            if (node == null || !node.isObject()) {
                throw new Failed("its answer is not a JSON object");
            }
            return node;
        } catch (JacksonException e) {
            throw new Failed("its answer is not valid JSON (" + e.getOriginalMessage() + ")");
        }
    }

    /**
     * The tool error's text for an answer that is not a success, as the local call words it: {@code sessionId: }
     * and the owner's message for an unknown or closed session (404, 410), the message alone for a refused path or
     * file (the owner names the field), the message and when to retry for 429 and 503.
     */
    String problem(Owner owner, Answer answer) {
        String message;
        boolean field;
        try {
            JsonNode body = object(answer.body());
            message = body.path("error").isString() ? body.get("error").asString() : null;
            field = body.path("field").isString();
        } catch (Failed e) {
            message = null;
            field = false;
        }
        if (message == null) {
            return "cluster node " + owner.where().nodeId() + ", which holds session " + owner.sessionId()
                    + ", answered HTTP " + answer.status() + " without an error message";
        }
        message = message.length() <= MAX_ERROR_TEXT ? message : message.substring(0, MAX_ERROR_TEXT) + "...";
        return switch (answer.status()) {
            case 404, 410 -> field ? message : "sessionId: " + message;
            case 429, 503 -> message + (answer.retryAfter() == null ? "" : "; retry in " + answer.retryAfter()
                    + " s");
            default -> field ? message : "cluster node " + owner.where().nodeId() + " (which holds the session) "
                    + "answered HTTP " + answer.status() + ": " + message;
        };
    }

    /** The tool error's text when the owner did not answer (as REST's 503 words it). */
    static String unanswered(Owner owner, Exception e) {
        return "session " + owner.sessionId() + " is held by cluster node " + owner.where().nodeId()
                + ", which did not answer (" + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage())
                + "); if that node is lost, the session closes as node_lost";
    }

    /**
     * Asks the owner to end an execution (the MCP caller cancelled its call): best effort, in the background.
     */
    void terminate(Owner owner, String executionId) {
        if (executionId == null || !executionId.matches("[A-Za-z0-9_-]{1,128}")) {
            return;
        }
        Thread.ofVirtual().name("mcp-session-forward-terminate").start(() -> {
            try {
                call(owner, "DELETE", "/v1/executions/" + executionId, null, null, 4096, QUICK_DEADLINE);
            } catch (IOException e) {
                log.info(
                        "execution {} on {} not terminated: {}", executionId, owner.where().nodeId(), e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    private HttpResponse<InputStream> send(Owner owner, String method, String target, byte[] body,
                                           String contentType, String accept, Duration deadline)
            throws IOException, InterruptedException {
        HttpRequest.Builder request;
        try {
            request = HttpRequest.newBuilder(URI.create(owner.where().url() + target)).timeout(deadline)
                    .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                            : HttpRequest.BodyPublishers.ofByteArray(body))
                    .header(ClusterSessionSigns.ROUTED_HEADER, owner.directory().routedHeader(method, target))
                    .header("Authorization", owner.authorization()).header("Accept", accept);
            if (contentType != null) {
                request.header("Content-Type", contentType);
            }
        } catch (IllegalArgumentException e) {
            throw new Failed("the call cannot be sent to it (" + e.getMessage() + ")");
        }
        try {
            return NodeHttp.client().send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (IOException e) {
            throw new Failed(e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()));
        }
    }

    private static Answer answer(HttpResponse<?> response, byte[] body, boolean cut) {
        String retry = response.headers().firstValue("Retry-After").filter(v -> SECONDS.matcher(v).matches())
                .orElse(null);
        return new Answer(response.statusCode(), body, cut, retry);
    }

    /** One NDJSON line without its newline; null at the end. A line over {@link #MAX_JSON} is a failure. */
    private static byte[] line(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) >= 0) {
            if (c == '\n') {
                return out.toByteArray();
            }
            if (out.size() >= MAX_JSON) {
                throw new Failed("a line of its stream is longer than " + MAX_JSON + " bytes");
            }
            out.write(c);
        }
        if (out.size() > 0) {
            throw new Failed("its stream ended in the middle of a line");
        }
        return null;
    }

    /** Closes the answer's body at the deadline (the request's own timeout covers only its headers). */
    private Cut cut(InputStream in, Duration deadline) {
        ScheduledFuture<?> f = watchdog.schedule(() -> closeQuietly(in), deadline.toMillis(), TimeUnit.MILLISECONDS);
        return () -> f.cancel(false);
    }

    private interface Cut extends AutoCloseable {
        @Override
        void close();
    }

    private static void closeQuietly(InputStream in) {
        try {
            in.close();
        } catch (IOException e) {
            // nothing more to do: the reader sees the stream end
        }
    }
}
