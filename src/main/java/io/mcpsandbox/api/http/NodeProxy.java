package io.mcpsandbox.api.http;

import io.mcpsandbox.cluster.ClusterSessionSigns;
import io.mcpsandbox.cluster.NodeHttp;
import io.mcpsandbox.session.SessionService;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Forwards a REST call to the cluster node that serves it (docs/cluster.md): a session's call to the node that holds
 * the session ("Sessions in a cluster"), an execution's {@code GET} and {@code stdin} to the node that runs it
 * ("Executions on another node"). It sends the same method, path, query and body (streamed, cut one byte past the
 * local route's bound so the node answers 413 as it would itself), the client's {@code Authorization} (every node
 * has the same keys: the node checks the key and whose the session or execution is again), and a routed header
 * signed with the cluster secret, so that node never forwards it again. Its answer (status, the headers a route
 * sets, body) is streamed back as it arrives: an NDJSON stream stays live.
 *
 * <p>The exchange is async (no request thread waits for the node); its answer is copied by a virtual thread of its
 * own. The whole exchange is bounded by the deadline given (the node's headers and its body alike), connecting by
 * {@link NodeHttp#CONNECT_TIMEOUT}. A node that does not answer: 503 with Retry-After.
 */
final class NodeProxy {
    private static final Logger log = LoggerFactory.getLogger(NodeProxy.class);
    /** What a client waits before asking again when the node did not answer (it may be declared lost soon). */
    private static final String RETRY_AFTER_SECONDS = "1";
    private static final int MAX_HEADER = 8192;
    private static final List<String> REQUEST_HEADERS = List.of("Authorization", "Content-Type", "Accept");
    private static final List<String> RESPONSE_HEADERS = List.of("Content-Type", "Content-Length", "Location",
            "Retry-After", "Cache-Control", "X-Content-Type-Options", "Content-Disposition");

    /**
     * What is forwarded, for the answer when its node does not: {@code subject} ("session X", "execution X"),
     * {@code placed} ("is held by", "runs on"), {@code role} ("holds the session", "runs the execution") and
     * {@code ifLost} (what becomes of it when that node is lost).
     */
    record Subject(String subject, String placed, String role, String ifLost) {
        static Subject session(String id) {
            return new Subject("session " + id, "is held by", "holds the session", "the session closes as node_lost");
        }

        static Subject execution(String id) {
            return new Subject("execution " + id, "runs on", "runs the execution",
                    "the execution ends as an error (node lost)");
        }
    }

    private final HttpJson http;
    private final ScheduledExecutorService watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "node-proxy-deadline");
        t.setDaemon(true);
        return t;
    });

    NodeProxy(HttpJson http) {
        this.http = http;
    }

    /** The raw request target (path and query) as the client sent it: what is forwarded, and signed. */
    static String target(HttpServletRequest req) {
        String query = req.getQueryString();
        return req.getRequestURI() + (query == null ? "" : "?" + query);
    }

    /**
     * Sends the request to {@code owner} and its answer back.
     *
     * @param routed   the routed header's value for this request
     * @param maxBody  the most the local route would read of the body
     * @param deadline the most the whole exchange may take
     */
    void forward(HttpServletRequest req, HttpServletResponse resp, Subject what, SessionService.Location owner,
                 String routed, String target, long maxBody, Duration deadline) throws IOException {
        URI uri;
        try {
            uri = URI.create(owner.url() + target);
        } catch (IllegalArgumentException e) {
            http.error(resp, 400, null, "this request's path cannot be forwarded to the node that " + what.role());
            return;
        }
        long declared = req.getContentLengthLong();
        if (declared > maxBody) {
            resp.setHeader("Connection", "close"); // the body is not read
            http.error(resp, 413, null, "the request body is larger than " + maxBody + " bytes");
            return;
        }
        String method = req.getMethod();
        ClientBody body = method.equals("POST") || method.equals("PUT")
                ? new ClientBody(req.getInputStream(), maxBody + 1) : null; // one byte over: the owner answers 413
        HttpRequest.BodyPublisher publisher;
        if (body == null || declared == 0) {
            // An empty body: fromPublisher takes no length of 0 (an empty stdin write, an empty file).
            publisher = HttpRequest.BodyPublishers.noBody();
        } else {
            HttpRequest.BodyPublisher stream = HttpRequest.BodyPublishers.ofInputStream(() -> body);
            publisher = declared >= 0 ? HttpRequest.BodyPublishers.fromPublisher(stream, declared) : stream;
        }
        HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(deadline).method(method, publisher)
                .header(ClusterSessionSigns.ROUTED_HEADER, routed);
        for (String name : REQUEST_HEADERS) {
            String value = req.getHeader(name);
            if (value != null && value.length() <= MAX_HEADER) {
                request.header(name, value);
            }
        }
        HttpRequest built;
        try {
            built = request.build();
        } catch (IllegalArgumentException | IllegalStateException e) {
            http.error(resp, 400, null, "this request cannot be forwarded to the node that " + what.role());
            return;
        }
        // Async, as the local routes are: no request thread waits for the owner, and the connection's idle timeout
        // does not cut an answer that is silent for a while (a sync execution, a quiet stream).
        AsyncContext ac = req.startAsync();
        ac.setTimeout(0); // bounded by the deadline
        NodeHttp.client().sendAsync(built, HttpResponse.BodyHandlers.ofInputStream())
                .whenComplete((answer, failure) ->
                Thread.ofVirtual().name("node-proxy").start(() -> {
                    HttpServletResponse r = (HttpServletResponse) ac.getResponse();
                    try {
                        if (failure != null) {
                            failed(r, what, owner, body, failure instanceof CompletionException c
                                    && c.getCause() != null ? c.getCause() : failure);
                        } else {
                            relay(answer, r, deadline);
                        }
                    } catch (IOException | RuntimeException e) {
                        // The client went away, or the node's answer broke off: what was sent is all it gets.
                        log.info("{}: a forwarded answer ended early: {}", what.subject(), e.toString());
                    } finally {
                        ac.complete();
                    }
                }));
    }

    private void failed(HttpServletResponse resp, Subject what, SessionService.Location owner, ClientBody body,
                        Throwable e) throws IOException {
        if (body != null && body.failure() != null) {
            resp.setHeader("Connection", "close");
            http.error(resp, 408, null, "the request body did not arrive completely ("
                    + body.failure().getClass().getSimpleName() + ")");
        } else {
            unanswered(resp, what, owner, e.getClass().getSimpleName()
                    + (e.getMessage() == null ? "" : ": " + e.getMessage()));
        }
    }

    private void unanswered(HttpServletResponse resp, Subject what, SessionService.Location owner, String why)
            throws IOException {
        log.warn("{}: its node {} at {} did not answer a forwarded call: {}", what.subject(), owner.nodeId(),
                owner.url(), why);
        resp.setHeader("Retry-After", RETRY_AFTER_SECONDS);
        http.error(resp, 503, null, what.subject() + " " + what.placed() + " cluster node " + owner.nodeId()
                + ", which did not answer (" + why + "); if that node is lost, " + what.ifLost());
    }

    /** The node's status, headers and body, flushed as they arrive; cut at the deadline. */
    private void relay(HttpResponse<InputStream> answer, HttpServletResponse resp, Duration deadline)
            throws IOException {
        InputStream in = answer.body();
        ScheduledFuture<?> cut = watchdog.schedule(() -> closeQuietly(in), deadline.toMillis(), TimeUnit.MILLISECONDS);
        try (in) {
            resp.setStatus(answer.statusCode());
            for (String name : RESPONSE_HEADERS) {
                answer.headers().firstValue(name).filter(v -> v.length() <= MAX_HEADER)
                        .ifPresent(v -> resp.setHeader(name, v));
            }
            if (answer.headers().firstValue("Connection").map(v -> v.toLowerCase(Locale.ROOT).contains("close"))
                    .orElse(false)) {
                resp.setHeader("Connection", "close");
            }
            OutputStream out = resp.getOutputStream();
            byte[] buffer = new byte[16 * 1024];
            int n;
            while ((n = in.read(buffer)) >= 0) {
                out.write(buffer, 0, n);
                if (in.available() == 0) {
                    out.flush(); // what the node sent so far reaches the client now (NDJSON events)
                }
            }
            out.flush();
        } finally {
            cut.cancel(false);
        }
    }

    private static void closeQuietly(InputStream in) {
        try {
            in.close();
        } catch (IOException e) {
            log.debug("closing a forwarded answer failed: {}", e.toString());
        }
    }
}
