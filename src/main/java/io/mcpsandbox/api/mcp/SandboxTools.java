package io.mcpsandbox.api.mcp;

import io.mcpsandbox.api.ExecutionGateway;
import io.mcpsandbox.api.ExecutionViews;
import io.mcpsandbox.api.InvalidRequestException;
import io.mcpsandbox.api.OutputRelay;
import io.mcpsandbox.api.RequestForm;
import io.mcpsandbox.api.RequestParser;
import io.mcpsandbox.api.RequestSchemas;
import io.mcpsandbox.api.SandboxApi;
import io.mcpsandbox.execution.ActiveExecution;
import io.mcpsandbox.execution.Admission;
import io.mcpsandbox.execution.ExecutionListener;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.queue.ExecutionQueue;
import io.mcpsandbox.queue.QueueFullException;
import io.mcpsandbox.queue.QueuedView;
import io.modelcontextprotocol.server.McpAsyncServerExchange;
import io.modelcontextprotocol.server.McpServerFeatures.AsyncToolSpecification;
import io.modelcontextprotocol.spec.McpSchema;
import io.modelcontextprotocol.spec.McpSchema.CallToolRequest;
import io.modelcontextprotocol.spec.McpSchema.CallToolResult;
import io.modelcontextprotocol.spec.McpSchema.ProgressNotification;
import io.modelcontextprotocol.spec.McpSchema.Tool;
import io.modelcontextprotocol.spec.McpSchema.ToolAnnotations;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import tools.jackson.core.type.TypeReference;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The execution tools of DESIGN.md over the execution gateway (the session tools are {@link SessionTools}).
 * Handlers never block a transport thread: quick
 * ones run on a bounded elastic scheduler, executions complete a future. A program that exits non-zero is a normal
 * result; {@code isError} is only for rejected, error, and requests that could not be served at all.
 */
public final class SandboxTools {
    private static final Logger log = LoggerFactory.getLogger(SandboxTools.class);
    private static final TypeReference<Map<String, Object>> MAP = new TypeReference<>() {
    };
    private static final int MAX_STDIN_WRITE = ActiveExecution.MAX_STDIN_WRITE;
    private static final java.time.Duration STDIN_WAIT = ActiveExecution.STDIN_WAIT;
    /** The most of a forwarded stdin answer read (a small JSON object). */
    private static final int MAX_STDIN_ANSWER = 16 << 10;
    private static final java.util.regex.Pattern FORWARDABLE_ID = java.util.regex.Pattern.compile(
            "[A-Za-z0-9_-]{1,128}");
    /** How long one output notification may take to send before the relay gives up on the client. */
    private static final java.time.Duration NOTIFICATION_WAIT = java.time.Duration.ofSeconds(30);
    /** Forwarded executions wait on the network only: a virtual thread each (none is held by a sandbox read). */
    private static final Scheduler FORWARDS = Schedulers.fromExecutorService(
            java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor(), "mcp-session-forward");

    private final ExecutionGateway gateway;
    private final RequestParser parser;
    private final RequestSchemas schemas;
    private final JsonMapper json;
    private final Function<McpAsyncServerExchange, String> users;
    private final SessionForwarder forwarder;
    /** Platform threads: virtual-thread carriers can be pinned by the core's blocking output reads. */
    private final Scheduler blocking = Schedulers.boundedElastic();

    /** @param users who is calling, from the exchange (the API key's user over HTTP, the local user on stdio) */
    public SandboxTools(SandboxApi api, Function<McpAsyncServerExchange, String> users) {
        this(api, users, new SessionForwarder(api.sessions(), api.json()));
    }

    /** @param forwarder carries an execution in a session another cluster node holds to that node */
    SandboxTools(SandboxApi api, Function<McpAsyncServerExchange, String> users, SessionForwarder forwarder) {
        this.forwarder = forwarder;
        this.gateway = api.gateway();
        this.parser = api.parser();
        this.schemas = api.schemas();
        this.json = api.json();
        this.users = users;
    }

    public List<AsyncToolSpecification> specifications() {
        return List.of(
                spec(tool("execute_code", "Run a code snippet in a fresh, isolated sandbox",
                        "Runs source code (python, node, sh, bash, java, ...) in a new sandbox that is removed "
                                + "afterwards: no network (unless network is asked for and allowed), read-only "
                                + "root, writable /tmp and /workspace, resource "
                                + "limits. Returns what it printed, how it ended and what it used. A program that "
                                + "exits non-zero is a normal result. With sessionId it runs in that session's "
                                + "sandbox instead. Output is sent while it runs as logging notifications (logger "
                                + "stdout or stderr); progress notifications when the request carries a progress "
                                + "token. background: answer at once with its id.",
                        schemas.input(RequestForm.SNIPPET), schemas.result(), false),
                        (ex, req) -> execute(ex, req, RequestForm.SNIPPET)),
                spec(tool("run_command", "Run a command in a fresh, isolated sandbox",
                        "Runs one command line (an argv array, no shell unless you run one) in an image, in a new "
                                + "sandbox that is removed afterwards (or in a session, with sessionId). Same "
                                + "isolation, limits, result, live output and background as execute_code.",
                        schemas.input(RequestForm.COMMAND), schemas.result(), false),
                        (ex, req) -> execute(ex, req, RequestForm.COMMAND)),
                spec(tool("list_runtimes", "List sandbox runtimes",
                        "Each runtime (runc, runsc, ...), whether it is usable on this server, its version, the "
                                + "security levels it provides, why not where it is not, and the known vulnerabilities "
                                + "of its version (advisories, knownVulnerable).",
                        schemas.empty(), schemas.listOf("runtimes", "One object per runtime."), true),
                        (ex, req) -> quick(() -> listRuntimes())),
                spec(tool("get_execution", "Get an execution's result",
                        "The result object of one of your executions: status 'running' while it runs, then the "
                                + "final result. Results are kept for a limited time.",
                        schemas.executionId("The executionId returned by execute_code, run_command or "
                                + "list_active_executions."), schemas.result(), true),
                        (ex, req) -> quick(() -> getExecution(ex, users.apply(ex), req))),
                spec(tool("list_active_executions", "List your running executions",
                        "Your executions that are running now, with their ids (for terminate_execution).",
                        schemas.empty(), schemas.listOf("executions", "One object per running execution."), true),
                        (ex, req) -> quick(() -> listActive(users.apply(ex)))),
                spec(tool("write_stdin", "Write to a running execution's standard input",
                        "Sends text (data) or bytes (dataBase64) to the standard input of one of your running "
                                + "executions that was started with keepStdinOpen (usually with background); eof "
                                + "closes it after. Waits until the program has taken the input (at most "
                                + STDIN_WAIT.toSeconds() + " s) and says how many bytes reached it.",
                        schemas.writeStdin(), schemas.stdinWritten(), false),
                        (ex, req) -> quick(() -> writeStdin(ex, users.apply(ex), req))),
                spec(tool("terminate_execution", "Terminate one of your running executions, or cancel a queued one",
                        "Kills every process of a running execution; its result then has status 'terminated'. A "
                                + "queued one is cancelled: it never runs, its result has status 'cancelled'.",
                        schemas.executionId("The executionId to terminate."), schemas.terminated(), false),
                        (ex, req) -> quick(() -> terminate(users.apply(ex), req))));
    }

    private Mono<CallToolResult> execute(McpAsyncServerExchange exchange, CallToolRequest call,
                                         RequestForm form) {
        ExecutionRequest request;
        try {
            request = parser.parse(json.valueToTree(arguments(call)), form, users.apply(exchange));
            // execute_code gives back the images its program wrote, as image content.
            request = request.toBuilder().returnImages(form == RequestForm.SNIPPET).build();
            gateway.checkCallback(request);
        } catch (InvalidRequestException e) {
            return Mono.just(error("invalid arguments: " + e.getMessage()));
        }
        Object token = call.meta() == null ? null : call.meta().get("progressToken");
        ExecutionListener listener = token == null ? ExecutionListener.NONE
                : (elapsedMs, outputBytes) -> exchange.progressNotification(new ProgressNotification(token,
                        elapsedMs / 1000.0, null, "running for " + (elapsedMs / 100) / 10.0 + " s; " + outputBytes
                        + " output bytes so far"))
                        .subscribe(v -> { }, e -> log.debug("progress not sent: {}", e.toString()));
        String user = request.userId();
        Optional<SessionForwarder.Owner> owner = request.sessionId() == null ? Optional.empty()
                : forwarder.owner(exchange, request.sessionId());
        if (owner.isPresent()) {
            return forwardedExecution(exchange, call, owner.get(), request.background(), request.returnImages(),
                    token);
        }
        if (request.background() && gateway.queues(request)) {
            ExecutionRequest queued = request;
            return Mono.fromCallable(() -> queue(queued)).subscribeOn(blocking)
                    .onErrorResume(e -> Mono.just(failure(e)));
        }
        AtomicReference<String> executionId = new AtomicReference<>();
        CompletableFuture<ExecutionGateway.Started> started = gateway.start(request, listener);
        if (request.background()) {
            // Answer with the running placeholder at once; it runs on, whatever this call does.
            return Mono.fromFuture(started, true)
                    .map(s -> gateway.find(user, s.executionId()).map(r -> backgroundResult(r))
                            .orElseGet(() -> error("executionId: " + s.executionId() + " is gone already")))
                    .onErrorResume(e -> Mono.just(failure(e)));
        }
        CompletableFuture<ExecutionResult> result = started.thenCompose(s -> {
            executionId.set(s.executionId());
            gateway.running(user, s.executionId()).ifPresent(a -> relayOutput(exchange, a));
            return s.result();
        });
        return Mono.fromFuture(result, true)
                .map(this::resultOf)
                .onErrorResume(e -> Mono.just(failure(e)))
                .doOnCancel(() -> {
                    // The client cancelled the call or went away: give up the queue place, or kill the sandbox.
                    started.cancel(false);
                    String id = executionId.get();
                    if (id != null) {
                        blocking.schedule(() -> gateway.terminate(user, id));
                    }
                });
    }

    /**
     * Sends the execution's output while it runs, as logging notifications: logger {@code stdout} or
     * {@code stderr}, the text as data, {@code executionId} and {@code offset} (bytes) in {@code _meta}. One at a
     * time, in order, from the relay's thread; a client that cannot take them stops them, not the execution.
     */
    private void relayOutput(McpAsyncServerExchange exchange, ActiveExecution execution) {
        if (execution.output().withheld()) {
            return; // the scanner sees the whole output before the client does: it comes with the result
        }
        OutputRelay.start(execution, (stream, offset, text) -> exchange.loggingNotification(
                        McpSchema.LoggingMessageNotification.builder()
                                .level(McpSchema.LoggingLevel.INFO).logger(stream.wireName()).data(text)
                                .meta(Map.of("executionId", execution.executionId(), "offset", offset)).build())
                .block(NOTIFICATION_WAIT));
    }

    /**
     * An execution in a session another cluster node holds, run there through its REST API (the same arguments as
     * the body of {@code POST /v1/sessions/{id}/executions}): a sync one as an NDJSON stream whose output events
     * become the same logging (and, with a progress token, progress) notifications as here, and whose result
     * becomes the same tool result; a background one answers with its running placeholder. The images an
     * {@code execute_code} snippet wrote come back in the result event ({@code images=true}, honoured only with
     * the routed header) and become the same image content. A call the server cancels terminates it there.
     */
    private Mono<CallToolResult> forwardedExecution(McpAsyncServerExchange exchange, CallToolRequest call,
                                                    SessionForwarder.Owner owner, boolean background,
                                                    boolean images, Object token) {
        byte[] body = json.writeValueAsBytes(arguments(call));
        String target = "/v1/sessions/" + owner.sessionId() + "/executions";
        SessionForwarder.Stream handle = new SessionForwarder.Stream();
        AtomicReference<String> executionId = new AtomicReference<>();
        return Mono.fromCallable(() -> {
            try {
                if (background) {
                    return forwardedBackground(owner, target, body);
                }
                long start = System.nanoTime();
                long[] outputBytes = {0};
                boolean[] clientGone = {false};
                SessionForwarder.Answer answer = forwarder.stream(owner, target + "?stream=true"
                                + (images ? "&images=true" : ""), body,
                        forwarder.executionDeadline(), handle, event -> {
                            String type = event.get("type").asString();
                            if (type.equals("started") && event.path("executionId").isString()) {
                                executionId.set(event.get("executionId").asString());
                            } else if ((type.equals("stdout") || type.equals("stderr"))
                                    && event.path("data").isString() && event.path("offset").canConvertToLong()) {
                                String text = event.get("data").asString();
                                outputBytes[0] += text.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
                                if (clientGone[0]) {
                                    return; // as the local relay: a client that cannot take them stops them
                                }
                                try {
                                    exchange.loggingNotification(McpSchema.LoggingMessageNotification.builder()
                                            .level(McpSchema.LoggingLevel.INFO).logger(type).data(text)
                                            .meta(Map.of("executionId", String.valueOf(executionId.get()),
                                                    "offset", event.get("offset").asLong())).build())
                                            .block(NOTIFICATION_WAIT);
                                    if (token != null) {
                                        long ms = (System.nanoTime() - start) / 1_000_000;
                                        exchange.progressNotification(new ProgressNotification(token, ms / 1000.0,
                                                null, "running for " + (ms / 100) / 10.0 + " s; " + outputBytes[0]
                                                + " output bytes so far")).block(NOTIFICATION_WAIT);
                                    }
                                } catch (RuntimeException e) {
                                    clientGone[0] = true;
                                    log.debug("output of a forwarded execution not sent: {}", e.toString());
                                }
                            }
                        });
                if (!answer.ok()) {
                    return forwardedRefusal(owner, answer);
                }
                JsonNode event = forwarder.object(answer.body());
                return resultOf(ForwardedImages.attach(executionResult(event.get("result")), event));
            } catch (java.io.IOException e) {
                return error(SessionForwarder.unanswered(owner, e));
            }
        }).subscribeOn(FORWARDS).onErrorResume(e -> Mono.just(failure(e))).doOnCancel(() -> {
            handle.stop();
            forwarder.terminate(owner, executionId.get());
        });
    }

    /** A background execution started on the owner: its running placeholder, as the owner shows it. */
    private CallToolResult forwardedBackground(SessionForwarder.Owner owner, String target, byte[] body)
            throws java.io.IOException, InterruptedException {
        SessionForwarder.Answer started = forwarder.call(owner, "POST", target + "?async=true", body,
                "application/json", SessionForwarder.MAX_JSON, SessionForwarder.QUICK_DEADLINE);
        if (!started.ok()) {
            return forwardedRefusal(owner, started);
        }
        JsonNode id = forwarder.object(started.body()).path("executionId");
        if (!id.isString() || !id.asString().matches("[A-Za-z0-9_-]{1,128}")) {
            throw new SessionForwarder.Failed("its answer has no execution id");
        }
        SessionForwarder.Answer shown = forwarder.call(owner, "GET", "/v1/executions/" + id.asString(), null, null,
                SessionForwarder.MAX_JSON, SessionForwarder.QUICK_DEADLINE);
        if (!shown.ok()) {
            return forwardedRefusal(owner, shown);
        }
        return backgroundResult(executionResult(forwarder.object(shown.body())));
    }

    /** The owner's refusal as the local one is worded (busy: "not started: ..."). */
    private CallToolResult forwardedRefusal(SessionForwarder.Owner owner, SessionForwarder.Answer answer) {
        String problem = forwarder.problem(owner, answer);
        return error(answer.status() == 429 || answer.status() == 503 ? "not started: " + problem : problem);
    }

    /** A result object from the owner, strictly: anything but one is a failure. */
    private ExecutionResult executionResult(JsonNode node) throws SessionForwarder.Failed {
        try {
            ExecutionResult r = node == null || !node.isObject() ? null : json.treeToValue(node, ExecutionResult.class);
            if (r == null || r.executionId() == null || r.status() == null) {
                throw new SessionForwarder.Failed("its answer holds no result");
            }
            return r;
        } catch (tools.jackson.core.JacksonException e) {
            throw new SessionForwarder.Failed("its result is not well formed (" + e.getOriginalMessage() + ")");
        }
    }

    /** A background request into the durable queue: its place at once; it starts when its turn comes. */
    private CallToolResult queue(ExecutionRequest request) {
        ExecutionQueue.Accepted a;
        try {
            gateway.precheck(request);
        } catch (InvalidRequestException e) {
            return error("rejected (not queued): " + e.getMessage());
        }
        try {
            a = gateway.enqueue(request);
        } catch (QueueFullException e) {
            return error("not queued: " + e.getMessage() + "; retry in " + e.retryAfter().toSeconds() + " s");
        }
        return gateway.queued(request.userId(), a.executionId()).map(this::queuedResult)
                .orElseGet(() -> gateway.find(request.userId(), a.executionId()).map(this::backgroundResult)
                        .orElseGet(() -> error("executionId: " + a.executionId() + " is gone already")));
    }

    private CallToolResult queuedResult(QueuedView v) {
        String text = "queued as " + v.executionId() + " at position " + v.position() + " (estimated start "
                + v.estimatedStartAt() + "): get_execution shows its state, then its output and result; "
                + "terminate_execution cancels it while it waits";
        return structured(json.convertValue(v, MAP), text, false);
    }

    private CallToolResult backgroundResult(ExecutionResult running) {
        String text = "running in the background as " + running.executionId() + ": get_execution shows its output "
                + "so far and then its result; write_stdin feeds it (with keepStdinOpen); terminate_execution ends it";
        return structured(json.convertValue(running, MAP), text, false);
    }

    private CallToolResult writeStdin(McpAsyncServerExchange exchange, String user, CallToolRequest call) {
        Map<String, Object> args = arguments(call);
        Object id = args.get("executionId");
        Object text = args.get("data");
        Object base64 = args.get("dataBase64");
        Object eof = args.getOrDefault("eof", Boolean.FALSE);
        java.util.Set<String> known = java.util.Set.of("executionId", "data", "dataBase64", "eof");
        if (!(id instanceof String executionId) || executionId.isBlank() || !(eof instanceof Boolean close)
                || !known.containsAll(args.keySet()) || (text != null && base64 != null)
                || (text != null && !(text instanceof String)) || (base64 != null && !(base64 instanceof String))) {
            return error("invalid arguments: executionId (a string) is required; data (text) or dataBase64, not "
                    + "both; eof a boolean; nothing else");
        }
        byte[] data;
        try {
            data = base64 != null ? java.util.Base64.getDecoder().decode((String) base64)
                    : text != null ? ((String) text).getBytes(java.nio.charset.StandardCharsets.UTF_8) : new byte[0];
        } catch (IllegalArgumentException e) {
            return error("invalid arguments: dataBase64: not base64 (" + e.getMessage() + ")");
        }
        if (data.length > MAX_STDIN_WRITE) {
            return error("invalid arguments: data: at most " + MAX_STDIN_WRITE + " bytes per call");
        }
        Optional<ActiveExecution> running = gateway.running(user, executionId);
        if (running.isEmpty()) {
            CallToolResult elsewhere = stdinElsewhere(exchange, user, executionId, data, close);
            return elsewhere != null ? elsewhere : error("executionId: no running execution '" + executionId
                    + "' of yours (it may have ended: see get_execution)");
        }
        ActiveExecution.StdinWrite w;
        try {
            w = running.get().writeStdin(data, close, STDIN_WAIT);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return error("interrupted");
        } catch (java.io.IOException e) {
            return error("the execution's sandbox is gone: " + e.getMessage());
        }
        Map<String, Object> out = Map.of("executionId", executionId, "bytesWritten", w.bytesWritten(),
                "stdinClosed", close && w.outcome() == ActiveExecution.StdinOutcome.WRITTEN);
        String problem = w.problem(data.length);
        return problem == null
                ? structured(out, w.bytesWritten() + " bytes written" + (close ? "; stdin closed" : ""), false)
                : structured(out, problem, true);
    }

    /**
     * Cluster mode (docs/cluster.md "Executions on another node"): the caller's execution that does not run here but
     * whose record is running on another node gets its stdin there, through that node's {@code POST
     * /v1/executions/{id}/stdin} with the caller's key and the routed header; its answer (bounded, strictly read)
     * becomes the result a local write would give. Over stdio (no key to forward) the error names that node and its
     * URL. Null when no other node runs it (the caller answers as for an unknown or ended execution).
     */
    private CallToolResult stdinElsewhere(McpAsyncServerExchange exchange, String user, String executionId,
                                          byte[] data, boolean close) {
        if (!FORWARDABLE_ID.matcher(executionId).matches()) {
            return null;
        }
        Optional<ExecutionResult> found;
        try {
            found = gateway.find(user, executionId);
        } catch (io.mcpsandbox.record.ExecutionStoreException e) {
            return error("the execution store cannot answer right now: " + e.getMessage());
        }
        if (found.isEmpty() || found.get().status() != ExecutionStatus.RUNNING || found.get().node() == null) {
            return null;
        }
        String nodeId = found.get().node();
        io.mcpsandbox.session.SessionService.Location where = forwarder.locateNode(nodeId);
        if (where.here()) {
            return null;
        }
        if (!where.remote()) {
            return error("execution " + executionId + " runs on cluster node " + nodeId + ", which cannot be reached "
                    + "now: " + where.unavailable() + "; retry in 1 s");
        }
        Optional<SessionForwarder.Owner> owner = forwarder.runner(exchange, where);
        if (owner.isEmpty()) {
            return error("execution " + executionId + " runs on cluster node " + nodeId + " at " + where.url()
                    + ": write to its stdin there (this connection has no API key to forward)");
        }
        SessionForwarder.Answer answer;
        try {
            answer = forwarder.call(owner.get(), "POST", "/v1/executions/" + executionId + "/stdin"
                    + (close ? "?eof=true" : ""), data, "application/octet-stream", MAX_STDIN_ANSWER,
                    SessionForwarder.QUICK_DEADLINE);
        } catch (java.io.IOException e) {
            return error("execution " + executionId + " runs on cluster node " + nodeId + ", which did not answer ("
                    + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()) + "); if that node "
                    + "is lost, the execution ends as an error (node lost)");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return error("interrupted");
        }
        return stdinAnswer(nodeId, executionId, data.length, close, answer);
    }

    /** What the node that runs the execution answered a forwarded stdin write, as a local write's result. */
    private CallToolResult stdinAnswer(String nodeId, String executionId, int length, boolean close,
                                       SessionForwarder.Answer answer) {
        JsonNode body;
        try {
            if (answer.cut()) {
                throw new SessionForwarder.Failed("its answer is longer than " + MAX_STDIN_ANSWER + " bytes");
            }
            body = forwarder.object(answer.body());
        } catch (SessionForwarder.Failed e) {
            return error("cluster node " + nodeId + ", which runs execution " + executionId + ", answered HTTP "
                    + answer.status() + " that cannot be read: " + e.getMessage());
        }
        JsonNode written = body.get("bytesWritten");
        boolean counted = written != null && written.isIntegralNumber() && written.canConvertToInt()
                && written.asInt() >= 0 && written.asInt() <= length
                && executionId.equals(body.path("executionId").asString(null));
        String message = body.path("error").isString() ? abbreviateError(body.get("error").asString()) : null;
        if (answer.status() == 200 && counted && body.path("stdinClosed").isBoolean()) {
            int n = written.asInt();
            return structured(Map.of("executionId", executionId, "bytesWritten", n, "stdinClosed",
                    body.get("stdinClosed").asBoolean()), n + " bytes written" + (close ? "; stdin closed" : ""),
                    false);
        }
        if ((answer.status() == 409 || answer.status() == 503) && counted && message != null) {
            // The program did not take it all (or its stdin is not open): as a local write words it.
            return structured(Map.of("executionId", executionId, "bytesWritten", written.asInt(), "stdinClosed",
                    false), message + (answer.retryAfter() == null ? "" : "; retry in " + answer.retryAfter()
                    + " s"), true);
        }
        if (answer.status() == 404 || answer.status() == 409) {
            return error("executionId: no running execution '" + executionId + "' of yours (it may have ended: "
                    + "see get_execution)");
        }
        return error("cluster node " + nodeId + ", which runs execution " + executionId + ", answered HTTP "
                + answer.status() + (message == null ? " without an error message" : ": " + message)
                + (answer.retryAfter() == null ? "" : "; retry in " + answer.retryAfter() + " s"));
    }

    private static String abbreviateError(String s) {
        return s.length() <= 2000 ? s : s.substring(0, 2000) + "...";
    }

    private CallToolResult listRuntimes() {
        return structured(Map.of("runtimes", json.convertValue(gateway.runtimes(), List.class)),
                gateway.runtimes().stream().map(r -> r.name() + (r.version() == null ? "" : " (" + r.version() + ")")
                        + ": " + (r.usable() ? "usable" : "not usable (" + r.reason() + ")")
                        + (r.knownVulnerable() ? "; WARNING: known-vulnerable version (" + r.blockingIds() + ")" : ""))
                        .reduce((a, b) -> a + "\n" + b).orElse("no runtimes"), false);
    }

    private CallToolResult getExecution(McpAsyncServerExchange exchange, String user, CallToolRequest call) {
        String id = executionIdOf(call);
        if (id == null) {
            return error("invalid arguments: executionId: is required, a string, and the only argument");
        }
        Optional<QueuedView> waiting = gateway.queued(user, id);
        if (waiting.isPresent()) {
            return queuedResult(waiting.get());
        }
        Optional<ExecutionResult> r = gateway.find(user, id);
        if (r.isPresent() && r.get().status() == ExecutionStatus.RUNNING && gateway.running(user, id).isEmpty()) {
            Optional<ExecutionResult> there = runningElsewhere(exchange, r.get());
            if (there.isPresent()) {
                return resultOf(there.get());
            }
        }
        return r.map(this::resultOf).orElseGet(() -> error("executionId: no execution '" + id
                + "' of yours is known (it may be someone else's, or too old)"));
    }

    /**
     * Cluster mode: a running execution whose record names another node, as that node shows it (with its output so
     * far), through its {@code GET /v1/executions/{id}} with the caller's key and the routed header. Empty when it
     * runs here or nowhere else, over stdio (no key), or when that node does not answer well: then the shared
     * record (running, without output) answers.
     */
    private Optional<ExecutionResult> runningElsewhere(McpAsyncServerExchange exchange, ExecutionResult record) {
        String id = record.executionId();
        if (record.node() == null || !FORWARDABLE_ID.matcher(id).matches()) {
            return Optional.empty();
        }
        Optional<SessionForwarder.Owner> owner = forwarder.runner(exchange, forwarder.locateNode(record.node()));
        if (owner.isEmpty()) {
            return Optional.empty();
        }
        try {
            SessionForwarder.Answer answer = forwarder.call(owner.get(), "GET", "/v1/executions/" + id, null, null,
                    SessionForwarder.MAX_JSON, SessionForwarder.QUICK_DEADLINE);
            if (!answer.ok() || answer.cut()) {
                return Optional.empty();
            }
            ExecutionResult shown = executionResult(forwarder.object(answer.body()));
            return id.equals(shown.executionId()) ? Optional.of(shown) : Optional.empty();
        } catch (java.io.IOException e) {
            log.debug("execution {} on node {}: not shown from there: {}", id, record.node(), e.toString());
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }

    private CallToolResult listActive(String user) {
        List<Map<String, Object>> list = gateway.active(user).stream().map(ExecutionViews::active).toList();
        String text = list.isEmpty() ? "no running executions" : list.size() + " running: "
                + String.join(", ", gateway.active(user).stream().map(ActiveExecution::executionId).toList());
        return structured(Map.of("executions", list), text, false);
    }

    private CallToolResult terminate(String user, CallToolRequest call) {
        String id = executionIdOf(call);
        if (id == null) {
            return error("invalid arguments: executionId: is required, a string, and the only argument");
        }
        return switch (gateway.terminate(user, id)) {
            case TERMINATING -> structured(Map.of("executionId", id, "outcome", "terminating"),
                    "terminating " + id + "; its result will have status 'terminated'", false);
            case CANCELLED -> structured(Map.of("executionId", id, "outcome", "cancelled"),
                    "cancelled " + id + " while it was queued: it never runs", false);
            case ALREADY_FINISHED -> structured(Map.of("executionId", id, "outcome", "already_finished"),
                    id + " had already finished; see get_execution", false);
            case NOT_FOUND -> error("executionId: no running execution '" + id + "' of yours");
        };
    }

    private CallToolResult resultOf(ExecutionResult r) {
        boolean isError = r.status() == ExecutionStatus.REJECTED || r.status() == ExecutionStatus.ERROR;
        CallToolResult.Builder b = CallToolResult.builder().structuredContent(json.convertValue(r, MAP))
                .addTextContent(ResultText.of(r)).isError(isError);
        ImageContents.of(r.images()).forEach(b::addContent);
        ImageContents.skipped(r.imageNotes()).forEach(b::addContent);
        return b.build();
    }

    private CallToolResult failure(Throwable e) {
        Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
        if (cause instanceof Admission.Rejected busy) {
            return error("not started: " + busy.getMessage() + "; retry in " + busy.retryAfter().toSeconds() + " s");
        }
        log.error("tool call failed", cause);
        return error("internal error: " + cause.getMessage());
    }

    private static CallToolResult structured(Object content, String text, boolean isError) {
        return CallToolResult.builder().structuredContent(content).addTextContent(text).isError(isError).build();
    }

    private static CallToolResult error(String text) {
        return CallToolResult.builder().addTextContent(text).isError(true).build();
    }

    private static Map<String, Object> arguments(CallToolRequest call) {
        return call.arguments() == null ? Map.of() : call.arguments();
    }

    /** The one argument of get_execution and terminate_execution; null when missing, mistyped or not alone. */
    private static String executionIdOf(CallToolRequest call) {
        Map<String, Object> args = arguments(call);
        Object id = args.get("executionId");
        return args.size() == 1 && id instanceof String s && !s.isBlank()
                && s.length() <= RequestSchemas.MAX_EXECUTION_ID ? s : null;
    }

    private Mono<CallToolResult> quick(java.util.function.Supplier<CallToolResult> handler) {
        return Mono.fromSupplier(handler).subscribeOn(blocking).onErrorResume(e -> Mono.just(failure(e)));
    }

    private Tool tool(String name, String title, String description, JsonNode input, JsonNode output,
                      boolean readOnly) {
        // The very schemas the parser validates with, as the SDK's maps.
        return Tool.builder().name(name).title(title).description(description)
                .inputSchema(json.convertValue(input, MAP)).outputSchema(json.convertValue(output, MAP))
                .annotations(new ToolAnnotations(title, readOnly, !readOnly && name.startsWith("terminate"), readOnly,
                        false, null))
                .build();
    }

    private static AsyncToolSpecification spec(Tool tool,
                                               java.util.function.BiFunction<McpAsyncServerExchange, CallToolRequest,
                                                       Mono<CallToolResult>> handler) {
        return AsyncToolSpecification.builder().tool(tool).callHandler(handler).build();
    }
}
