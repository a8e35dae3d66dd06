package io.mcpsandbox.api.mcp;

import io.mcpsandbox.api.SandboxApi;
import io.mcpsandbox.execution.ImageSniffer;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.agent.DirectoryListing;
import io.mcpsandbox.runtime.agent.FileEntry;
import io.mcpsandbox.session.SessionFileException;
import io.mcpsandbox.session.SessionFiles;
import io.mcpsandbox.session.SessionService;
import io.mcpsandbox.session.SessionUnavailableException;
import io.modelcontextprotocol.server.McpAsyncServerExchange;
import io.modelcontextprotocol.server.McpServerFeatures.AsyncResourceSpecification;
import io.modelcontextprotocol.server.McpServerFeatures.AsyncResourceTemplateSpecification;
import io.modelcontextprotocol.spec.McpError;
import io.modelcontextprotocol.spec.McpSchema;
import io.modelcontextprotocol.spec.McpSchema.ReadResourceResult;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A session's files as MCP resources: the template {@value #TEMPLATE} reads a file below /workspace or /tmp of
 * one of the caller's sessions (through {@link SessionService#readFile}: its path checks, caps and no link
 * followed); anyone else's session is not found. The SDK's resources/list is one fixed list for every client,
 * so the caller's files cannot appear there without showing them to everyone: it lists one resource,
 * {@value #INDEX}, whose read lists the caller's open sessions and their /workspace files, each with its URI.
 */
public final class SessionResources {
    private static final Logger log = LoggerFactory.getLogger(SessionResources.class);
    static final String TEMPLATE = "sandbox://sessions/{sessionId}/files/{+path}";
    static final String INDEX = "sandbox://sessions";
    private static final String PREFIX = "sandbox://sessions/";
    private static final String FILES = "/files/";
    /** The most files the index names per session: regular files at the top of /workspace, by name. */
    static final int MAX_INDEX_FILES = 100;
    /** The largest file a read returns (MCP messages are JSON; bigger files go through REST or the CLI). */
    static final long MAX_READ_BYTES = SessionTools.MAX_INLINE_BYTES;

    private final SessionService sessions;
    private final JsonMapper json;
    private final Function<McpAsyncServerExchange, String> users;
    private final SessionForwarder forwarder;
    private final Scheduler blocking = Schedulers.boundedElastic();

    public SessionResources(SandboxApi api, Function<McpAsyncServerExchange, String> users) {
        this(api, users, new SessionForwarder(api.sessions(), api.json()));
    }

    /** @param forwarder carries a read of a file in a session another cluster node holds to that node */
    SessionResources(SandboxApi api, Function<McpAsyncServerExchange, String> users, SessionForwarder forwarder) {
        this.forwarder = forwarder;
        this.sessions = api.sessions();
        this.json = api.json();
        this.users = users;
    }

    /** The URI templates (resources/templates/list). */
    public List<AsyncResourceTemplateSpecification> templates() {
        McpSchema.ResourceTemplate template = McpSchema.ResourceTemplate.builder().uriTemplate(TEMPLATE)
                .name("session-file").title("A file in one of your sessions")
                .description("A file below /workspace or /tmp of an open session of yours, e.g. "
                        + "sandbox://sessions/<sessionId>/files/workspace/chart.png: UTF-8 text as text, anything "
                        + "else as base64 with its MIME type; at most " + MAX_READ_BYTES + " bytes.")
                .build();
        return List.of(new AsyncResourceTemplateSpecification(template,
                (exchange, request) -> blocking(() -> readFile(exchange, request.uri()))));
    }

    /** The fixed resources (resources/list): the index of the caller's session files. */
    public List<AsyncResourceSpecification> resources() {
        McpSchema.Resource index = McpSchema.Resource.builder().uri(INDEX).name("sessions")
                .title("Your open sessions and their files")
                .description("JSON: your open sessions, each with up to " + MAX_INDEX_FILES + " regular files at "
                        + "the top of /workspace (by name) and the resource URI of each.")
                .mimeType("application/json").build();
        return List.of(new AsyncResourceSpecification(index,
                (exchange, request) -> blocking(() -> readIndex(exchange))));
    }

    /** The resource URI of {@code path} (absolute, in the sandbox) in session {@code sessionId}. */
    public static String uri(String sessionId, String path) {
        return PREFIX + sessionId + FILES + encode(path.substring(1));
    }

    /** A session id and an absolute sandbox path from a resource URI, or empty when it is not one. */
    static Optional<Map.Entry<String, String>> parse(String uri) {
        if (uri == null || !uri.startsWith(PREFIX) || uri.indexOf('?') >= 0 || uri.indexOf('#') >= 0) {
            return Optional.empty();
        }
        String rest = uri.substring(PREFIX.length());
        int files = rest.indexOf(FILES);
        if (files <= 0) {
            return Optional.empty();
        }
        String id = rest.substring(0, files);
        if (!id.matches("[A-Za-z0-9_-]{1,64}")) {
            return Optional.empty();
        }
        return decode(rest.substring(files + FILES.length())).map(path -> Map.entry(id, "/" + path));
    }

    private ReadResourceResult readFile(McpAsyncServerExchange exchange, String uri) {
        Map.Entry<String, String> target = parse(uri).orElseThrow(() -> error(McpSchema.ErrorCodes.INVALID_PARAMS,
                "not a session file URI (" + TEMPLATE + ", the path percent-encoded as UTF-8)"));
        Optional<SessionForwarder.Owner> owner = forwarder.owner(exchange, target.getKey());
        if (owner.isPresent()) {
            return contents(uri, target.getValue(), forwardedRead(owner.get(), target.getValue()));
        }
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        try {
            if (sessions.readFile(users.apply(exchange), target.getKey(), target.getValue(), MAX_READ_BYTES, sink)) {
                throw tooLarge(target.getValue(), sink.size());
            }
        } catch (SessionUnavailableException e) {
            throw error(McpSchema.ErrorCodes.RESOURCE_NOT_FOUND, e.getMessage());
        } catch (SessionFileException e) {
            throw e.kind() == SessionFileException.Kind.MISSING
                    ? error(McpSchema.ErrorCodes.RESOURCE_NOT_FOUND, e.getMessage())
                    : error(McpSchema.ErrorCodes.INVALID_PARAMS, e.getMessage());
        } catch (IOException e) {
            log.warn("resource {} not read: {}", target.getValue(), e.getMessage());
            throw error(McpSchema.ErrorCodes.INTERNAL_ERROR, "the file could not be read: " + e.getMessage());
        }
        return contents(uri, target.getValue(), sink.toByteArray());
    }

    private static McpError tooLarge(String path, int read) {
        return error(McpSchema.ErrorCodes.INVALID_PARAMS, path + " is larger than " + read + " bytes, the most a "
                + "resource read returns: read it through REST or the CLI");
    }

    /**
     * The file's bytes from the node that holds the session ({@link SessionForwarder}); its refusals as the local
     * read's (an unknown or closed session, a missing file: not found; a bad path: invalid).
     */
    private byte[] forwardedRead(SessionForwarder.Owner owner, String path) {
        try {
            SessionFiles.check("path", path, false, false); // before the path goes into a URL
        } catch (SessionFileException e) {
            throw error(McpSchema.ErrorCodes.INVALID_PARAMS, e.getMessage());
        }
        SessionForwarder.Answer answer;
        try {
            answer = forwarder.call(owner, "GET", "/v1/sessions/" + owner.sessionId() + "/files" + encode(path),
                    null, null, (int) MAX_READ_BYTES, SessionForwarder.QUICK_DEADLINE);
        } catch (IOException e) {
            throw error(McpSchema.ErrorCodes.INTERNAL_ERROR, SessionForwarder.unanswered(owner, e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw error(McpSchema.ErrorCodes.INTERNAL_ERROR, "interrupted");
        }
        if (answer.ok()) {
            if (answer.cut()) {
                throw tooLarge(path, answer.body().length);
            }
            return answer.body();
        }
        String problem = forwarder.problem(owner, answer);
        throw switch (answer.status()) {
            case 404, 410 -> error(McpSchema.ErrorCodes.RESOURCE_NOT_FOUND, problem.startsWith("sessionId: ")
                    ? problem.substring("sessionId: ".length()) : problem);
            case 400, 413, 422 -> error(McpSchema.ErrorCodes.INVALID_PARAMS, problem);
            default -> error(McpSchema.ErrorCodes.INTERNAL_ERROR, problem);
        };
    }

    /** The bytes as the resource's contents: UTF-8 text as text, anything else as base64, with a MIME type. */
    private static ReadResourceResult contents(String uri, String path, byte[] bytes) {
        Optional<String> image = ImageSniffer.mimeType(bytes);
        String text = SessionTools.utf8(bytes);
        McpSchema.ResourceContents contents = text != null
                ? new McpSchema.TextResourceContents(uri, image.orElse(textType(path)), text)
                : new McpSchema.BlobResourceContents(uri, image.orElse("application/octet-stream"),
                        Base64.getEncoder().encodeToString(bytes));
        return new ReadResourceResult(List.of(contents));
    }

    private ReadResourceResult readIndex(McpAsyncServerExchange exchange) {
        String user = users.apply(exchange);
        List<Map<String, Object>> out = new ArrayList<>();
        for (SessionRecord session : sessions.list(user)) {
            Map<String, Object> one = new LinkedHashMap<>();
            one.put("sessionId", session.sessionId());
            try {
                Optional<SessionForwarder.Owner> owner = forwarder.owner(exchange, session.sessionId());
                DirectoryListing listing = owner.isPresent() ? forwardedListing(owner.get())
                        : sessions.listFiles(user, session.sessionId(), SandboxSpec.WORKSPACE);
                List<FileEntry> regular = listing.entries().stream()
                        .filter(e -> e.kind() == FileEntry.Kind.FILE && e.exactName())
                        .sorted(Comparator.comparing(FileEntry::name)).toList();
                List<Map<String, Object>> files = new ArrayList<>();
                for (FileEntry e : regular.subList(0, Math.min(MAX_INDEX_FILES, regular.size()))) {
                    String path = SandboxSpec.WORKSPACE + "/" + e.name();
                    Map<String, Object> file = new LinkedHashMap<>();
                    file.put("uri", uri(session.sessionId(), path));
                    file.put("path", path);
                    file.put("size", e.size());
                    files.add(file);
                }
                one.put("files", files);
                one.put("truncated", listing.truncated() || regular.size() > MAX_INDEX_FILES);
            } catch (SessionUnavailableException | SessionFileException | IOException e) {
                one.put("error", e.getMessage());
            }
            out.add(one);
        }
        String text = json.writeValueAsString(Map.of("sessions", out));
        return new ReadResourceResult(List.of(new McpSchema.TextResourceContents(INDEX, "application/json", text)));
    }

    /**
     * /workspace of a session another cluster node holds, from that node's REST listing: each entry checked as the
     * agent's are (a name of 1 to 255 bytes, no '/' or NUL, not '.' or '..'), a name with U+FFFD taken as one that
     * does not name its file (the REST view has no exactName).
     */
    private DirectoryListing forwardedListing(SessionForwarder.Owner owner) throws IOException {
        SessionForwarder.Answer answer;
        try {
            answer = forwarder.call(owner, "GET", "/v1/sessions/" + owner.sessionId() + "/files?dir="
                    + encode(SandboxSpec.WORKSPACE), null, null, SessionForwarder.MAX_JSON,
                    SessionForwarder.QUICK_DEADLINE);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        if (!answer.ok()) {
            throw new IOException(forwarder.problem(owner, answer));
        }
        JsonNode listing = forwarder.object(answer.body());
        if (!listing.path("entries").isArray()) {
            throw new SessionForwarder.Failed("its listing has no entries");
        }
        List<FileEntry> entries = new ArrayList<>();
        for (JsonNode e : listing.get("entries")) {
            String name = e.path("name").isString() ? e.get("name").asString() : "";
            int bytes = name.getBytes(StandardCharsets.UTF_8).length;
            if (bytes < 1 || bytes > 255 || name.indexOf('/') >= 0 || name.indexOf('\0') >= 0 || name.equals(".")
                    || name.equals("..") || !e.path("size").canConvertToLong()) {
                throw new SessionForwarder.Failed("its listing has an entry that is not well formed");
            }
            FileEntry.Kind kind = switch (e.path("type").asString("")) {
                case "file" -> FileEntry.Kind.FILE;
                case "dir" -> FileEntry.Kind.DIRECTORY;
                case "link" -> FileEntry.Kind.LINK;
                default -> FileEntry.Kind.OTHER;
            };
            entries.add(new FileEntry(name, name.indexOf('\uFFFD') < 0, kind, e.get("size").asLong(), 0));
        }
        return new DirectoryListing(entries, listing.path("truncated").asBoolean(false));
    }

    /** RFC 3986: unreserved characters and "/" stay, every other byte of the UTF-8 form is %XX. */
    static String encode(String path) {
        StringBuilder out = new StringBuilder();
        for (byte b : path.getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xff;
            if (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || "-._~/".indexOf(c) >= 0) {
                out.append((char) c);
            } else {
                out.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 0xf, 16)));
            }
        }
        return out.toString();
    }

    /** Percent-decoding into UTF-8, strictly: a bad escape or bytes that are not UTF-8 are no path. */
    static Optional<String> decode(String encoded) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (int i = 0; i < encoded.length(); i++) {
            int c = encoded.codePointAt(i);
            if (c == '%') {
                int hi = i + 2 < encoded.length() ? Character.digit(encoded.charAt(i + 1), 16) : -1;
                int lo = hi >= 0 ? Character.digit(encoded.charAt(i + 2), 16) : -1;
                if (lo < 0) {
                    return Optional.empty();
                }
                bytes.write(hi << 4 | lo);
                i += 2;
            } else if (c < 0x80) {
                bytes.write(c);
            } else {
                byte[] raw = Character.toString(c).getBytes(StandardCharsets.UTF_8);
                bytes.write(raw, 0, raw.length);
                i += Character.charCount(c) - 1;
            }
        }
        return Optional.ofNullable(SessionTools.utf8(bytes.toByteArray()));
    }

    private static String textType(String path) {
        String lower = path.toLowerCase(Locale.ROOT);
        int dot = lower.lastIndexOf('.');
        return switch (dot < 0 ? "" : lower.substring(dot + 1)) {
            case "json" -> "application/json";
            case "csv" -> "text/csv";
            case "md" -> "text/markdown";
            case "html", "htm" -> "text/html";
            default -> "text/plain";
        };
    }


    private static McpError error(int code, String message) {
        return McpError.builder(code).message(message).build();
    }

    private <T> Mono<T> blocking(java.util.function.Supplier<T> work) {
        return Mono.fromSupplier(work).subscribeOn(blocking);
    }
}
