package io.mcpsandbox.api.http;

import io.mcpsandbox.api.ExecutionGateway;
import io.mcpsandbox.api.InvalidRequestException;
import io.mcpsandbox.api.RequestForm;
import io.mcpsandbox.api.RequestParser;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.queue.ExecutionQueue;
import io.mcpsandbox.queue.QueueFullException;
import io.mcpsandbox.queue.QueuedView;
import io.mcpsandbox.record.ExecutionStoreException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The queue's REST routes (docs/queue.md): an async submission into the durable queue, {@code POST
 * /v1/executions/batch}, {@code GET /v1/queue} and {@code GET /v1/executions?ids=}.
 */
final class QueueRoutes {
    static final String QUEUE = "/queue";
    /** Most items one queue listing shows. */
    static final int MAX_LIST = 1000;
    /**
     * Most ids one {@code ?ids=} fetch takes: 150 ids of 36 characters keep the request line well inside the
     * 8 KiB a request's line and headers may take (larger headers are refused, 431).
     */
    static final int MAX_IDS = 150;

    private final ExecutionGateway gateway;
    private final RequestParser parser;
    private final JsonMapper json;
    private final HttpJson http;

    QueueRoutes(ExecutionGateway gateway, RequestParser parser, JsonMapper json, HttpJson http) {
        this.gateway = gateway;
        this.parser = parser;
        this.json = json;
        this.http = http;
    }

    /**
     * 202 with the queued execution's place; 422 for what the run would refuse (an unknown language, a limit over
     * its maximum: nothing is queued or recorded); 429 beyond a queue limit; 503 when the queue cannot be written.
     */
    void enqueue(HttpServletRequest req, HttpServletResponse resp, ExecutionRequest request) throws IOException {
        ExecutionQueue.Accepted a;
        try {
            gateway.precheck(request);
        } catch (InvalidRequestException e) {
            http.error(resp, 422, e.field(), "rejected (not queued): " + e.getMessage());
            return;
        }
        try {
            a = gateway.enqueue(request);
        } catch (QueueFullException e) {
            full(resp, e);
            return;
        } catch (ExecutionStoreException e) {
            http.error(resp, 503, null, "the queue cannot take it right now (not accepted): " + e.getMessage());
            return;
        }
        resp.setHeader("Location", req.getContextPath() + "/v1/executions/" + a.executionId());
        http.write(resp, 202, accepted(a));
    }

    private static Map<String, Object> accepted(ExecutionQueue.Accepted a) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("executionId", a.executionId());
        body.put("status", "queued");
        body.put("position", a.position());
        body.put("estimatedStartAt", a.estimatedStartAt().toString());
        return body;
    }

    private void full(HttpServletResponse resp, QueueFullException e) throws IOException {
        resp.setHeader("Retry-After", Long.toString(Math.max(1, e.retryAfter().toSeconds())));
        http.error(resp, 429, null, e.getMessage());
    }

    /**
     * {@code POST /v1/executions/batch}, body {@code {"executions": [request, ...]}}: each request is validated on
     * its own; the valid ones are queued in one write. 202 when any was accepted, 400 when none was valid, 429
     * when the valid ones all met a queue limit.
     */
    void batch(HttpServletRequest req, HttpServletResponse resp, String user) throws IOException {
        // The refusals before the body is read close the connection: the unread body must not be taken for the
        // client's next request on it.
        String typeProblem = HttpJson.contentTypeProblem(req.getContentType());
        if (typeProblem != null) {
            resp.setHeader("Connection", "close");
            http.error(resp, 415, null, typeProblem);
            return;
        }
        java.util.Optional<String> refusal = gateway.newWorkRefusal();
        if (refusal.isPresent()) {
            resp.setHeader("Connection", "close");
            resp.setHeader("Retry-After", Long.toString(io.mcpsandbox.execution.Admission.RETRY_AFTER.toSeconds()));
            http.error(resp, 503, null, refusal.get());
            return;
        }
        if (!gateway.servesQueue()) {
            resp.setHeader("Connection", "close");
            http.error(resp, 503, null, "batches need the queue, and this server process serves none "
                    + "(queue.enabled is false, or another server process on this data directory serves it)");
            return;
        }
        JsonNode body;
        try {
            body = json.readTree(http.readBody(req));
        } catch (HttpJson.TooLarge e) {
            http.error(resp, 413, null, e.getMessage() + " (server.max-request-bytes; split the batch)");
            return;
        } catch (HttpJson.BodyFailed e) {
            http.error(resp, 408, null, e.getMessage());
            return;
        } catch (JacksonException e) {
            http.error(resp, 400, null, RestServlet.malformed(e));
            return;
        }
        JsonNode list = body == null ? null : body.get("executions");
        if (body == null || !body.isObject() || list == null || !list.isArray() || body.size() != 1) {
            http.error(resp, 400, "executions", "the body must be {\"executions\": [request, ...]} and nothing else");
            return;
        }
        int max = gateway.maxBatch();
        if (list.size() > max) {
            http.error(resp, 400, "executions", "at most " + max + " requests in one batch (queue.max-batch); got "
                    + list.size());
            return;
        }
        if (list.isEmpty()) {
            http.error(resp, 400, "executions", "must hold at least one request");
            return;
        }
        List<Map<String, Object>> rejected = new ArrayList<>();
        List<Integer> indexes = new ArrayList<>();
        List<ExecutionRequest> valid = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            try {
                ExecutionRequest r = parser.parse(list.get(i), RequestForm.ANY, user);
                if (r.sessionId() != null) {
                    throw new InvalidRequestException("sessionId", "a batch request cannot run in a session");
                }
                gateway.precheck(r);
                valid.add(r.toBuilder().background(true).build());
                indexes.add(i);
            } catch (InvalidRequestException e) {
                rejected.add(rejection(i, e.field(), e.getMessage()));
            }
        }
        List<ExecutionQueue.Outcome> outcomes;
        try {
            outcomes = valid.isEmpty() ? List.of() : gateway.enqueueAll(valid);
        } catch (ExecutionStoreException e) {
            http.error(resp, 503, null, "the queue cannot take the batch right now (none accepted): "
                    + e.getMessage());
            return;
        }
        List<Map<String, Object>> accepted = new ArrayList<>();
        QueueFullException lastFull = null;
        for (int n = 0; n < outcomes.size(); n++) {
            ExecutionQueue.Outcome o = outcomes.get(n);
            if (o.accepted() != null) {
                Map<String, Object> a = new LinkedHashMap<>();
                a.put("index", indexes.get(n));
                a.putAll(accepted(o.accepted()));
                accepted.add(a);
            } else {
                lastFull = o.refused();
                rejected.add(rejection(indexes.get(n), null, o.refused().getMessage()));
            }
        }
        rejected.sort((x, y) -> Integer.compare((Integer) x.get("index"), (Integer) y.get("index")));
        Map<String, Object> answer = new LinkedHashMap<>();
        answer.put("accepted", accepted);
        answer.put("rejected", rejected);
        if (!accepted.isEmpty()) {
            http.write(resp, 202, answer);
        } else if (lastFull != null) {
            resp.setHeader("Retry-After", Long.toString(Math.max(1, lastFull.retryAfter().toSeconds())));
            http.write(resp, 429, answer);
        } else {
            http.write(resp, 400, answer);
        }
    }

    private static Map<String, Object> rejection(int index, String field, String error) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("index", index);
        r.put("field", field);
        r.put("error", error);
        return r;
    }

    /** {@code GET /v1/queue[?limit=N]}: the caller's waiting executions in run order (an admin's: everyone's). */
    void list(HttpServletRequest req, HttpServletResponse resp, String user, boolean admin) throws IOException {
        Integer limit = http.limit(req, resp, 100, MAX_LIST);
        if (limit == null) {
            return;
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("depth", gateway.queueDepth(user, admin));
        body.put("items", gateway.queue(user, admin, limit));
        http.write(resp, 200, body);
    }

    /**
     * {@code GET /v1/executions?ids=a,b,c}: each one's queued view, running placeholder or result, in the order
     * asked; ids unknown, forgotten or someone else's under {@code unknown}.
     */
    void byIds(HttpServletRequest req, HttpServletResponse resp, String user) throws IOException {
        LinkedHashSet<String> ids = new LinkedHashSet<>();
        for (String id : req.getParameter("ids").split(",")) {
            if (!id.isBlank()) {
                ids.add(id.strip());
            }
        }
        if (ids.isEmpty() || ids.size() > MAX_IDS) {
            http.error(resp, 400, "ids", "must list 1 to " + MAX_IDS + " execution ids, comma-separated; got "
                    + ids.size());
            return;
        }
        List<Object> found = new ArrayList<>();
        List<String> unknown = new ArrayList<>();
        try {
            for (String id : ids) {
                Optional<QueuedView> waiting = gateway.queued(user, id);
                Optional<ExecutionResult> result = waiting.isPresent() ? Optional.empty() : gateway.find(user, id);
                if (waiting.isPresent()) {
                    found.add(waiting.get());
                } else if (result.isPresent()) {
                    found.add(result.get());
                } else {
                    unknown.add(RestServlet.abbreviate(id));
                }
            }
        } catch (ExecutionStoreException e) {
            http.error(resp, 503, null, "the execution store cannot answer right now: " + e.getMessage());
            return;
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("executions", found);
        body.put("unknown", unknown);
        http.write(resp, 200, body);
    }
}
