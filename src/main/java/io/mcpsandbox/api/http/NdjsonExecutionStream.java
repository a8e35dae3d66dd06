package io.mcpsandbox.api.http;

import io.mcpsandbox.api.OutputRelay;
import io.mcpsandbox.execution.ActiveExecution;
import io.mcpsandbox.model.ExecutionResult;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.json.JsonMapper;

/**
 * One execution as an NDJSON stream ({@code ?stream=true}): {@code started} with its id, then its output as
 * {@code stdout}/{@code stderr} events ({@code data} text, {@code offset} in bytes of that stream) while it
 * runs, then one {@code result} with the whole result object, and the end of the body. The result is the
 * truth (scanned, capped): events are a live view of it. Output the scanner must see whole first (dlpMode
 * redact or block) is not streamed; a {@code notice} event says so. The HTTP status is 200 once the stream has
 * begun; how the execution ended is in the result.
 */
final class NdjsonExecutionStream {
    private static final Logger log = LoggerFactory.getLogger(NdjsonExecutionStream.class);
    static final String CONTENT_TYPE = "application/x-ndjson; charset=utf-8";

    private final JsonMapper json;

    NdjsonExecutionStream(JsonMapper json) {
        this.json = json;
    }

    /**
     * Streams the execution on {@code ac}'s response and completes it.
     *
     * @param running the execution while it runs here (empty: it has ended, or runs elsewhere)
     * @param result  its final result, once known (for a stream that began with the request: the settled one)
     */
    void stream(AsyncContext ac, String executionId, Optional<ActiveExecution> running,
                Supplier<CompletableFuture<ExecutionResult>> result) {
        HttpServletResponse resp = (HttpServletResponse) ac.getResponse();
        OutputStream out;
        try {
            resp.setStatus(200);
            resp.setContentType(CONTENT_TYPE);
            resp.setHeader("Cache-Control", "no-store");
            out = resp.getOutputStream();
            event(out, Map.of("type", "started", "executionId", executionId));
        } catch (IOException e) {
            ac.complete();
            return;
        }
        CompletableFuture<ExecutionResult> output = CompletableFuture.completedFuture(null);
        // Nothing live to follow (it ended, or its output is withheld): the result alone carries the output.
        if (running.isPresent()) {
            ActiveExecution a = running.get();
            if (a.output().withheld()) {
                send(out, Map.of("type", "notice", "message", "live output is withheld: this execution's dlpMode "
                        + "scans the whole output before it is shown; it comes with the result"));
            }
            output = OutputRelay.start(a, (stream, offset, text) -> {
                Map<String, Object> e = new LinkedHashMap<>();
                e.put("type", stream.wireName());
                e.put("data", text);
                e.put("offset", offset);
                event(out, e);
            }).orElse(output);
        }
        output.handle((r, relayFailed) -> relayFailed)
                .thenCompose(relayFailed -> relayFailed != null
                        ? CompletableFuture.failedFuture(relayFailed) : result.get())
                .whenComplete((r, e) -> {
                    try {
                        if (e == null && r != null) {
                            event(out, resultEvent(r));
                        } else if (e != null) {
                            log.debug("stream of {} ended early: {}", executionId, e.toString());
                        }
                    } catch (IOException gone) {
                        log.debug("stream of {} not finished (client gone): {}", executionId, gone.toString());
                    } finally {
                        ac.complete();
                    }
                });
    }

    /**
     * The last event. Images the program wrote are not part of a result's JSON; a result has them only when another
     * cluster node's MCP {@code execute_code} asked for them (a routed call, see RestServlet): they ride along here
     * for that node to turn into image content.
     */
    static Map<String, Object> resultEvent(ExecutionResult r) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("type", "result");
        e.put("result", r);
        if (!r.images().isEmpty()) {
            e.put("images", r.images().stream().map(i -> Map.of("path", i.path(), "mimeType", i.mimeType(),
                    "data", i.base64())).toList());
        }
        if (!r.imageNotes().isEmpty()) {
            e.put("imageNotes", r.imageNotes());
        }
        return e;
    }

    private void send(OutputStream out, Map<String, Object> event) {
        try {
            event(out, event);
        } catch (IOException e) {
            log.debug("stream event not sent (client gone): {}", e.toString());
        }
    }

    /** One event: a JSON object on one line, flushed so the client sees it now. */
    private void event(OutputStream out, Map<String, ?> event) throws IOException {
        byte[] line = json.writeValueAsBytes(event);
        synchronized (out) {
            out.write(line);
            out.write('\n');
            out.flush();
        }
    }
}
