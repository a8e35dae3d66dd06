package io.mcpsandbox.api.mcp;

import io.mcpsandbox.api.InvalidRequestException;
import io.mcpsandbox.api.RequestForm;
import io.mcpsandbox.api.RequestParser;
import io.mcpsandbox.api.RequestSchemas;
import io.mcpsandbox.api.SandboxApi;
import io.mcpsandbox.api.SessionViews;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.model.SessionRequest;
import io.mcpsandbox.policy.PolicyViolation;
import io.mcpsandbox.runtime.SandboxException;
import io.mcpsandbox.runtime.agent.DirectoryListing;
import io.mcpsandbox.session.SessionFileException;
import io.mcpsandbox.session.SessionFiles;
import io.mcpsandbox.session.SessionLimitException;
import io.mcpsandbox.session.SessionService;
import io.mcpsandbox.session.SessionUnavailableException;
import io.modelcontextprotocol.server.McpAsyncServerExchange;
import io.modelcontextprotocol.server.McpServerFeatures.AsyncToolSpecification;
import io.modelcontextprotocol.spec.McpSchema;
import io.modelcontextprotocol.spec.McpSchema.CallToolRequest;
import io.modelcontextprotocol.spec.McpSchema.CallToolResult;
import io.modelcontextprotocol.spec.McpSchema.Tool;
import io.modelcontextprotocol.spec.McpSchema.ToolAnnotations;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiFunction;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import tools.jackson.core.type.TypeReference;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The session tools of DESIGN.md ("Contract names"): create_session, list_sessions, close_session, write_file,
 * read_file, list_files. execute_code and run_command take a sessionId themselves (SandboxTools). A session's
 * owner is the caller, as for executions; anyone else's session does not exist. The MCP client that opened a
 * session hears, as a log notification, that it is about to be closed for idleness or at its lifetime's end.
 */
public final class SessionTools {
    private static final Logger log = LoggerFactory.getLogger(SessionTools.class);
    private static final String FILES = "/files";
    private static final TypeReference<Map<String, Object>> MAP = new TypeReference<>() {
    };
    /** The most a read_file returns inline (MCP messages are JSON; bigger files go through REST or the CLI). */
    static final long MAX_INLINE_BYTES = 4L << 20;

    private final SessionService sessions;
    private final RequestParser parser;
    private final RequestSchemas schemas;
    private final JsonMapper json;
    private final Function<McpAsyncServerExchange, String> users;
    private final SessionForwarder forwarder;
    private final Scheduler blocking = Schedulers.boundedElastic();
    /** The exchange that opened each session, for its expiry warnings (dropped when the session is gone). */
    private final Map<String, McpAsyncServerExchange> openedBy = new ConcurrentHashMap<>();

    public SessionTools(SandboxApi api, Function<McpAsyncServerExchange, String> users) {
        this(api, users, new SessionForwarder(api.sessions(), api.json()));
    }

    /** @param forwarder carries a call for a session another cluster node holds to that node */
    SessionTools(SandboxApi api, Function<McpAsyncServerExchange, String> users, SessionForwarder forwarder) {
        this.forwarder = forwarder;
        this.sessions = api.sessions();
        this.parser = api.parser();
        this.schemas = api.schemas();
        this.json = api.json();
        this.users = users;
        sessions.onExpiryWarning(this::warn);
    }

    public List<AsyncToolSpecification> specifications() {
        return List.of(
                spec(tool("create_session", "Open a sandbox that lives across calls",
                        "Opens a session: a sandbox of your own that stays between calls (files in /workspace and "
                                + "/tmp, installed files and background processes persist) until you close it, it "
                                + "stays idle for its idle timeout, or its lifetime ends. Pass its sessionId to "
                                + "execute_code, run_command, write_file, read_file and list_files.",
                        schemas.input(RequestForm.SESSION), schemas.session(), false),
                        (ex, req) -> quick(() -> create(ex, req))),
                spec(tool("list_sessions", "List your open sessions", "Your open sessions, newest first.",
                        schemas.empty(), schemas.listOf("sessions", "One object per open session."), true),
                        (ex, req) -> quick(() -> list(users.apply(ex)))),
                spec(tool("close_session", "Close one of your sessions",
                        "Closes the session and removes its sandbox with everything in it.",
                        schemas.sessionIdOnly(), schemas.session(), false),
                        (ex, req) -> quick(() -> close(ex, req))),
                spec(tool("write_file", "Write a file into a session",
                        "Writes content (text, or base64 in contentBase64 for bytes) to an absolute path below "
                                + "/workspace in the session, making missing directories and replacing a file "
                                + "there. Links are never followed.",
                        schemas.writeFile(), schemas.fileResult(), false),
                        (ex, req) -> quick(() -> write(ex, req))),
                spec(tool("read_file", "Read a file from a session",
                        "Reads a regular file below /workspace or /tmp in the session: as text when it is UTF-8, "
                                + "else as base64 (contentBase64); at most " + MAX_INLINE_BYTES + " bytes.",
                        schemas.readFile(), schemas.fileResult(), true),
                        (ex, req) -> quick(() -> read(ex, req))),
                spec(tool("list_files", "List a directory in a session",
                        "The entries of a directory below /workspace or /tmp (default /workspace): name, type, "
                                + "size, modification time.",
                        schemas.listFiles(), schemas.fileListing(), true),
                        (ex, req) -> quick(() -> listFiles(ex, req))));
    }

    private CallToolResult create(McpAsyncServerExchange exchange, CallToolRequest call) {
        try {
            SessionRequest request = parser.parseSession(json.valueToTree(arguments(call)), users.apply(exchange));
            SessionRecord r = sessions.create(request);
            openedBy.put(r.sessionId(), exchange);
            return structured(SessionViews.session(r), "session " + r.sessionId() + " is open (" + r.runtime()
                    + ", image " + r.image() + "); it closes at " + r.expiresAt()
                    + (r.idleExpiresAt() != null ? " or when idle for " + r.idleTimeoutSeconds() + " s" : ""));
        } catch (InvalidRequestException e) {
            return error("invalid arguments: " + e.getMessage());
        } catch (PolicyViolation e) {
            return error("rejected: " + e.getMessage());
        } catch (SessionLimitException e) {
            return error("not opened: " + e.getMessage());
        } catch (SandboxException e) {
            log.warn("session not opened: {}", e.getMessage());
            return error("the session's sandbox could not be started: " + e.getMessage());
        }
    }

    private CallToolResult list(String user) {
        List<SessionRecord> open = sessions.list(user);
        return structured(SessionViews.sessions(open), open.isEmpty() ? "no open sessions" : open.size()
                + " open: " + String.join(", ", open.stream().map(SessionRecord::sessionId).toList()));
    }

    private CallToolResult close(McpAsyncServerExchange exchange, CallToolRequest call) {
        String bad = unknownOrMissing(call, List.of("sessionId"), List.of("sessionId"));
        if (bad != null) {
            return error(bad);
        }
        String id = string(call, "sessionId");
        Optional<SessionForwarder.Owner> owner = forwarder.owner(exchange, id);
        if (owner.isPresent()) {
            return forwarded(owner.get(), "DELETE", "", null, SessionForwarder.MAX_JSON, answer -> {
                openedBy.remove(id);
                return structured(forwarder.object(answer.body()), "session " + id + " is closed");
            });
        }
        try {
            SessionRecord r = sessions.close(users.apply(exchange), id);
            openedBy.remove(id);
            return structured(SessionViews.session(r), "session " + id + " is closed");
        } catch (SessionUnavailableException e) {
            return unavailable(e);
        }
    }

    private CallToolResult write(McpAsyncServerExchange exchange, CallToolRequest call) {
        String bad = unknownOrMissing(call, List.of("sessionId", "path", "content", "contentBase64"),
                List.of("sessionId", "path"));
        if (bad != null) {
            return error(bad);
        }
        String id = string(call, "sessionId");
        String path = string(call, "path");
        String text = string(call, "content");
        String base64 = string(call, "contentBase64");
        if ((text == null) == (base64 == null)) {
            return error("invalid arguments: give exactly one of content and contentBase64");
        }
        byte[] bytes;
        try {
            bytes = text != null ? text.getBytes(StandardCharsets.UTF_8) : Base64.getDecoder().decode(base64);
        } catch (IllegalArgumentException e) {
            return error("invalid arguments: contentBase64: is not base64 (" + e.getMessage() + ")");
        }
        Optional<SessionForwarder.Owner> owner = forwarder.owner(exchange, id);
        if (owner.isPresent()) {
            String refused = checked("path", path, true, false);
            return refused != null ? error(refused)
                    : forwarded(owner.get(), "PUT", FILES + SessionResources.encode(path),
                    bytes, SessionForwarder.MAX_JSON, answer -> wrote(path, bytes.length));
        }
        try {
            sessions.writeFile(users.apply(exchange), id, path, new ByteArrayInputStream(bytes), bytes.length);
            return wrote(path, bytes.length);
        } catch (SessionUnavailableException e) {
            return unavailable(e);
        } catch (SessionFileException e) {
            return error(e.getMessage());
        } catch (IOException e) {
            return error("the file could not be written: " + e.getMessage());
        }
    }

    private CallToolResult read(McpAsyncServerExchange exchange, CallToolRequest call) {
        String bad = unknownOrMissing(call, List.of("sessionId", "path"), List.of("sessionId", "path"));
        if (bad != null) {
            return error(bad);
        }
        String id = string(call, "sessionId");
        String path = string(call, "path");
        Optional<SessionForwarder.Owner> owner = forwarder.owner(exchange, id);
        if (owner.isPresent()) {
            String refused = checked("path", path, false, false);
            return refused != null ? error(refused)
                    : forwarded(owner.get(), "GET", FILES + SessionResources.encode(path),
                    null, (int) MAX_INLINE_BYTES, answer -> fileRead(path, answer.body(), answer.cut()));
        }
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        try {
            boolean truncated = sessions.readFile(users.apply(exchange), id, path, MAX_INLINE_BYTES, sink);
            return fileRead(path, sink.toByteArray(), truncated);
        } catch (SessionUnavailableException e) {
            return unavailable(e);
        } catch (SessionFileException e) {
            return error(e.getMessage());
        } catch (IOException e) {
            return error("the file could not be read: " + e.getMessage());
        }
    }

    /** A file's bytes as read_file answers them: text when UTF-8, else base64. */
    private CallToolResult fileRead(String path, byte[] bytes, boolean truncated) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("path", path);
        out.put("size", bytes.length);
        out.put("truncated", truncated);
        String text = utf8(bytes);
        if (text != null) {
            out.put("content", text);
            return structured(out, text + (truncated ? "\n[truncated at " + bytes.length + " bytes]" : ""));
        }
        out.put("contentBase64", Base64.getEncoder().encodeToString(bytes));
        return structured(out, path + ": " + bytes.length + " bytes of binary content (see contentBase64)"
                + (truncated ? ", truncated" : ""));
    }

    private CallToolResult listFiles(McpAsyncServerExchange exchange, CallToolRequest call) {
        String bad = unknownOrMissing(call, List.of("sessionId", "dir"), List.of("sessionId"));
        if (bad != null) {
            return error(bad);
        }
        String id = string(call, "sessionId");
        String dir = string(call, "dir");
        String listed = dir == null ? "/workspace" : dir;
        Optional<SessionForwarder.Owner> owner = forwarder.owner(exchange, id);
        if (owner.isPresent()) {
            String refused = checked("dir", listed, false, true);
            return refused != null ? error(refused) : forwarded(owner.get(), "GET", FILES + "?dir="
                    + SessionResources.encode(listed), null, SessionForwarder.MAX_JSON, answer -> {
                        JsonNode listing = forwarder.object(answer.body());
                        if (!listing.path("entries").isArray()) {
                            throw new SessionForwarder.Failed("its listing has no entries");
                        }
                        return structured(listing, listing.get("entries").size() + " entries in " + listed
                                + (listing.path("truncated").asBoolean(false) ? " (truncated)" : ""));
                    });
        }
        try {
            DirectoryListing listing = sessions.listFiles(users.apply(exchange), id, listed);
            return structured(SessionViews.listing(listed, listing), listing.entries().size() + " entries in "
                    + listed + (listing.truncated() ? " (truncated)" : ""));
        } catch (SessionUnavailableException e) {
            return unavailable(e);
        } catch (SessionFileException e) {
            return error(e.getMessage());
        } catch (IOException e) {
            return error("the directory could not be listed: " + e.getMessage());
        }
    }

    private CallToolResult wrote(String path, int size) {
        return structured(Map.of("path", path, "size", size), "wrote " + size + " bytes to " + path);
    }

    /** What a forwarded answer becomes (it may find the owner's answer malformed). */
    private interface Answered {
        CallToolResult result(SessionForwarder.Answer answer) throws SessionForwarder.Failed;
    }

    /**
     * The call, carried to the node that holds the session ({@link SessionForwarder}): its success through
     * {@code answered}, anything else as the tool error the local call would give.
     *
     * @param below   the rest of the REST path after {@code /v1/sessions/{id}}, percent-encoded
     * @param maxBody the most of the owner's answer read (a file read: more is truncated; JSON: more is a failure)
     */
    private CallToolResult forwarded(SessionForwarder.Owner owner, String method, String below, byte[] body,
                                     int maxBody, Answered answered) {
        String target = "/v1/sessions/" + owner.sessionId() + below;
        try {
            SessionForwarder.Answer answer = forwarder.call(owner, method, target, body,
                    body == null ? null : "application/octet-stream", maxBody, SessionForwarder.QUICK_DEADLINE);
            if (!answer.ok()) {
                return error(forwarder.problem(owner, answer));
            }
            return answered.result(answer);
        } catch (IOException e) {
            return error(SessionForwarder.unanswered(owner, e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return error("interrupted");
        }
    }

    /** A path's problem as the local call states it (checked before it goes into a URL), or null. */
    private static String checked(String field, String path, boolean writable, boolean allowRoot) {
        try {
            SessionFiles.check(field, path, writable, allowRoot);
            return null;
        } catch (SessionFileException e) {
            return e.getMessage();
        }
    }

    /** Tells the client that opened the session, as a warning log message (never anyone else). */
    private void warn(SessionService.ExpiryWarning warning) {
        McpAsyncServerExchange exchange = openedBy.get(warning.sessionId());
        if (exchange == null || !warning.userId().equals(users.apply(exchange))) {
            return;
        }
        String why = warning.reason().wireName().equals("idle") ? "for idleness" : "at the end of its lifetime";
        exchange.loggingNotification(McpSchema.LoggingMessageNotification.builder()
                        .level(McpSchema.LoggingLevel.WARNING).logger("mcp-sandbox.sessions")
                        .data("session " + warning.sessionId() + " will be closed " + why + " at " + warning.at())
                        .build())
                .subscribe(v -> { }, e -> log.debug("expiry warning not sent: {}", e.toString()));
    }

    /** The arguments against the tool's schema: only known names, the required ones present, all strings. */
    private static String unknownOrMissing(CallToolRequest call, List<String> known, List<String> required) {
        for (Map.Entry<String, Object> arg : arguments(call).entrySet()) {
            String name = arg.getKey();
            if (!known.contains(name)) {
                return "invalid arguments: " + (name.length() <= 40 ? name : name.substring(0, 40) + "...")
                        + ": is not a known argument (known: " + String.join(", ", known) + ")";
            }
            if (!(arg.getValue() instanceof String)) {
                return "invalid arguments: " + name + ": must be a string";
            }
        }
        for (String name : required) {
            if (!arguments(call).containsKey(name)) {
                return "invalid arguments: " + name + ": is required";
            }
        }
        return null;
    }

    /** The bytes as text when they are valid UTF-8, else null (then they travel as base64). */
    static String utf8(byte[] bytes) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    private static CallToolResult unavailable(SessionUnavailableException e) {
        return error("sessionId: " + e.getMessage());
    }

    private static String string(CallToolRequest call, String name) {
        Object v = arguments(call).get(name);
        return v instanceof String s ? s : null;
    }

    private static Map<String, Object> arguments(CallToolRequest call) {
        return call.arguments() == null ? Map.of() : call.arguments();
    }

    private Mono<CallToolResult> quick(Supplier<CallToolResult> handler) {
        return Mono.fromSupplier(handler).subscribeOn(blocking).onErrorResume(e -> {
            log.error("session tool call failed", e);
            return Mono.just(error("internal error: " + e.getMessage()));
        });
    }

    private CallToolResult structured(Object content, String text) {
        return CallToolResult.builder().structuredContent(json.convertValue(content, MAP)).addTextContent(text)
                .isError(false).build();
    }

    private static CallToolResult error(String text) {
        return CallToolResult.builder().addTextContent(text).isError(true).build();
    }

    private Tool tool(String name, String title, String description, JsonNode input, JsonNode output,
                      boolean readOnly) {
        return Tool.builder().name(name).title(title).description(description)
                .inputSchema(json.convertValue(input, MAP)).outputSchema(json.convertValue(output, MAP))
                .annotations(new ToolAnnotations(title, readOnly, name.equals("close_session"), readOnly, false,
                        null))
                .build();
    }

    private static AsyncToolSpecification spec(Tool tool,
                                               BiFunction<McpAsyncServerExchange, CallToolRequest,
                                                       Mono<CallToolResult>> handler) {
        return AsyncToolSpecification.builder().tool(tool).callHandler(handler).build();
    }
}
