package io.mcpsandbox.cli;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * A tiny in-memory server that speaks the sessions REST contract (docs/api.md) closely enough to test the CLI
 * without sandboxes: one key, at most two open sessions, files kept as bytes, and executions that echo their
 * request ({@code stdout} is the command joined, then the stdin; exit code 3).
 */
final class SessionsStub implements AutoCloseable {
    static final String KEY = "stub-key-0123456789abcdef";
    private static final JsonMapper JSON = JsonMapper.builder().build();

    final Map<String, ObjectNode> sessions = new ConcurrentHashMap<>();
    final Map<String, byte[]> files = new ConcurrentHashMap<>();
    final List<JsonNode> bodies = new ArrayList<>();
    final List<String> paths = new ArrayList<>();
    private final HttpServer server;

    SessionsStub() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", this::handle);
        server.start();
    }

    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            URI uri = ex.getRequestURI();
            synchronized (this) {
                paths.add(ex.getRequestMethod() + " " + uri.getRawPath());
            }
            if (!("Bearer " + KEY).equals(ex.getRequestHeaders().getFirst("Authorization"))) {
                send(ex, 401, Map.of("error", "missing or unknown API key"));
                return;
            }
            String[] parts = uri.getPath().split("/", 6); // "", v1, sessions, id, what, rest
            String method = ex.getRequestMethod();
            byte[] body = ex.getRequestBody().readAllBytes();
            if (parts.length == 3 && method.equals("POST")) {
                create(ex, body);
            } else if (parts.length == 3 && method.equals("GET")) {
                List<JsonNode> open = sessions.values().stream()
                        .filter(s -> s.path("status").asString().equals("open")).map(s -> (JsonNode) s).toList();
                send(ex, 200, Map.of("sessions", open));
            } else if (parts.length >= 4) {
                ObjectNode session = sessions.get(parts[3]);
                if (session == null) {
                    send(ex, 404, Map.of("error", "no session " + parts[3]));
                } else if (session.path("status").asString().equals("closed")) {
                    send(ex, 410, Map.of("error", "session " + parts[3] + " is closed", "reason", "closed"));
                } else if (parts.length == 4) {
                    if (method.equals("DELETE")) {
                        session.put("status", "closed").put("closeReason", "closed");
                    }
                    send(ex, 200, session);
                } else if (parts[4].equals("executions")) {
                    execute(ex, body);
                } else {
                    file(ex, method, parts[3] + ":/" + parts[5], body);
                }
            } else {
                send(ex, 404, Map.of("error", "no such path"));
            }
        }
    }

    private void create(HttpExchange ex, byte[] body) throws IOException {
        synchronized (this) {
            bodies.add(JSON.readTree(body));
        }
        if (sessions.values().stream().filter(s -> s.path("status").asString().equals("open")).count() >= 2) {
            ex.getResponseHeaders().add("Retry-After", "5");
            send(ex, 429, Map.of("error", "too many open sessions: at most 2 per user"));
            return;
        }
        String id = UUID.randomUUID().toString();
        ObjectNode view = JSON.createObjectNode().put("sessionId", id).put("status", "open").put("image", "host")
                .put("runtime", "runc").put("createdAt", "2030-01-01T10:00:00Z")
                .put("expiresAt", "2030-01-01T11:00:00Z").put("idleExpiresAt", "2030-01-01T10:10:00Z")
                .put("executions", 0);
        sessions.put(id, view);
        send(ex, 201, view);
    }

    private void execute(HttpExchange ex, byte[] body) throws IOException {
        JsonNode request = JSON.readTree(body);
        synchronized (this) {
            bodies.add(request);
        }
        List<String> command = new ArrayList<>();
        request.path("command").forEach(arg -> command.add(arg.asString()));
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("executionId", UUID.randomUUID().toString());
        if (command.contains("reject")) {
            result.put("status", "rejected");
            result.put("exitCode", null);
            result.put("reason", "limits: memory, CPUs and pids are the session's");
            send(ex, 422, result);
            return;
        }
        result.put("status", "completed");
        result.put("exitCode", 3);
        result.put("stdout", String.join(" ", command) + "\n" + request.path("stdin").asString(""));
        result.put("stderr", "to stderr\n");
        send(ex, 200, result);
    }

    private void file(HttpExchange ex, String method, String key, byte[] body) throws IOException {
        if (method.equals("PUT")) {
            files.put(key, body);
            ex.sendResponseHeaders(204, -1);
            return;
        }
        byte[] content = files.get(key);
        if (content == null) {
            send(ex, 404, Map.of("error", "no such file: /" + key.substring(key.indexOf(":/") + 2)));
            return;
        }
        ex.getResponseHeaders().add("Content-Type", "application/octet-stream");
        ex.sendResponseHeaders(200, content.length == 0 ? -1 : content.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(content);
        }
    }

    private static void send(HttpExchange ex, int status, Object body) throws IOException {
        byte[] bytes = JSON.writeValueAsString(body).getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", "application/json");
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
