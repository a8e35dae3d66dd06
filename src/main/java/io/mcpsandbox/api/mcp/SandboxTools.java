package io.mcpsandbox.api.mcp;

import io.mcpsandbox.api.ExecutionGateway;
import io.mcpsandbox.api.ExecutionViews;
import io.mcpsandbox.api.InvalidRequestException;
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
import io.modelcontextprotocol.server.McpAsyncServerExchange;
import io.modelcontextprotocol.server.McpServerFeatures.AsyncToolSpecification;
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
 * The six MCP tools of DESIGN.md over the execution gateway. Handlers never block a transport thread: quick
 * ones run on a bounded elastic scheduler, executions complete a future. A program that exits non-zero is a normal
 * result; {@code isError} is only for rejected, error, and requests that could not be served at all.
 */
public final class SandboxTools {
    private static final Logger log = LoggerFactory.getLogger(SandboxTools.class);
    private static final TypeReference<Map<String, Object>> MAP = new TypeReference<>() {
    };

    private final ExecutionGateway gateway;
    private final RequestParser parser;
    private final RequestSchemas schemas;
    private final JsonMapper json;
    private final Function<McpAsyncServerExchange, String> users;
    /** Platform threads: virtual-thread carriers can be pinned by the core's blocking output reads. */
    private final Scheduler blocking = Schedulers.boundedElastic();

    /** @param users who is calling, from the exchange (the API key's user over HTTP, the local user on stdio) */
    public SandboxTools(SandboxApi api, Function<McpAsyncServerExchange, String> users) {
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
                                + "afterwards: no network, read-only root, writable /tmp and /workspace, resource "
                                + "limits. Returns what it printed, how it ended and what it used. A program that "
                                + "exits non-zero is a normal result. Sends progress notifications when the request "
                                + "carries a progress token.",
                        schemas.input(RequestForm.SNIPPET), schemas.result(), false),
                        (ex, req) -> execute(ex, req, RequestForm.SNIPPET)),
                spec(tool("run_command", "Run a command in a fresh, isolated sandbox",
                        "Runs one command line (an argv array, no shell unless you run one) in an image, in a new "
                                + "sandbox that is removed afterwards. Same isolation, limits and result as "
                                + "execute_code.",
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
                        (ex, req) -> quick(() -> getExecution(users.apply(ex), req))),
                spec(tool("list_active_executions", "List your running executions",
                        "Your executions that are running now, with their ids (for terminate_execution).",
                        schemas.empty(), schemas.listOf("executions", "One object per running execution."), true),
                        (ex, req) -> quick(() -> listActive(users.apply(ex)))),
                spec(tool("terminate_execution", "Terminate one of your running executions",
                        "Kills every process of a running execution; its result then has status 'terminated'.",
                        schemas.executionId("The executionId to terminate."), schemas.terminated(), false),
                        (ex, req) -> quick(() -> terminate(users.apply(ex), req))));
    }

    private Mono<CallToolResult> execute(McpAsyncServerExchange exchange, CallToolRequest call,
                                         RequestForm form) {
        ExecutionRequest request;
        try {
            request = parser.parse(json.valueToTree(arguments(call)), form, users.apply(exchange));
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
        AtomicReference<String> executionId = new AtomicReference<>();
        CompletableFuture<ExecutionGateway.Started> started = gateway.start(request, listener);
        CompletableFuture<ExecutionResult> result = started.thenCompose(s -> {
            executionId.set(s.executionId());
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

    private CallToolResult listRuntimes() {
        return structured(Map.of("runtimes", json.convertValue(gateway.runtimes(), List.class)),
                gateway.runtimes().stream().map(r -> r.name() + (r.version() == null ? "" : " (" + r.version() + ")")
                        + ": " + (r.usable() ? "usable" : "not usable (" + r.reason() + ")")
                        + (r.knownVulnerable() ? "; WARNING: known-vulnerable version (" + r.blockingIds() + ")" : ""))
                        .reduce((a, b) -> a + "\n" + b).orElse("no runtimes"), false);
    }

    private CallToolResult getExecution(String user, CallToolRequest call) {
        String id = executionIdOf(call);
        if (id == null) {
            return error("invalid arguments: executionId: is required, a string, and the only argument");
        }
        Optional<ExecutionResult> r = gateway.find(user, id);
        return r.map(this::resultOf).orElseGet(() -> error("executionId: no execution '" + id
                + "' of yours is known (it may be someone else's, or too old)"));
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
            case ALREADY_FINISHED -> structured(Map.of("executionId", id, "outcome", "already_finished"),
                    id + " had already finished; see get_execution", false);
            case NOT_FOUND -> error("executionId: no running execution '" + id + "' of yours");
        };
    }

    private CallToolResult resultOf(ExecutionResult r) {
        boolean isError = r.status() == ExecutionStatus.REJECTED || r.status() == ExecutionStatus.ERROR;
        return structured(json.convertValue(r, MAP), ResultText.of(r), isError);
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
