package io.mcpsandbox.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * The sessions part of a running server's REST API (docs/api.md), as the CLI uses it. Every answer other than
 * the expected one becomes a {@link Failure} worded for a person, with the exit code the commands document.
 */
final class SessionsClient {
    /** Exit codes of the commands that talk to a server (their --help lists them). */
    static final int FAILED = 1;
    static final int REFUSED = 2;
    static final int UNREACHABLE = 3;
    static final int KEY_REFUSED = 4;
    static final int NOT_FOUND = 5;
    static final int GONE = 6;
    static final int TOO_MANY = 7;

    /** Most bytes of a JSON answer read (a list of many sessions fits; a runaway answer does not). */
    static final int MAX_JSON_BYTES = 16 << 20;
    /** Most bytes of an error answer read: only its message is shown. */
    private static final int MAX_ERROR_BYTES = 64 << 10;
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(120);
    /** The one mapper of the CLI's JSON (each mapper costs a CLI start time to build). */
    private static final JsonMapper JSON = JsonMapper.shared();

    /** What went wrong, worded for the user; {@link #exitCode} is what the command returns. */
    static final class Failure extends Exception {
        final int exitCode;
        /** The request never reached the server, or the server refused it: nothing of it ran. */
        final boolean nothingRan;

        Failure(String message, int exitCode) {
            this(message, exitCode, false);
        }

        Failure(String message, int exitCode, boolean nothingRan) {
            super(message, null, false, false);
            this.exitCode = exitCode;
            this.nothingRan = nothingRan;
        }
    }

    /** An execution's answer: the result object (200, or 422 rejected, or 500 with a result). */
    record ExecutionAnswer(int status, JsonNode result) {
    }

    private final URI base;
    private final String apiKey;
    private final Duration connectTimeout;
    /** Made at its first use: exec's hand-off makes a client only to read an unusual answer (see resultOf). */
    private HttpClient http;

    /**
     * @param url    the server's base URL, http or https (a trailing slash is ignored)
     * @param apiKey the bearer token, or null to send none (a server run with --insecure-no-auth)
     */
    SessionsClient(String url, String apiKey) {
        this(url, apiKey, Duration.ofSeconds(10));
    }

    /** @param connectTimeout how long a connection may take (a server on this machine answers at once) */
    SessionsClient(String url, String apiKey, Duration connectTimeout) {
        this.base = baseUri(url);
        this.apiKey = apiKey == null || apiKey.isBlank() ? null : apiKey.strip();
        this.connectTimeout = connectTimeout;
    }

    /** The java.net.http client, made at its first use. */
    private HttpClient http() {
        if (http != null) {
            return http;
        }
        // HTTP/1.1, as the server serves it: no h2c upgrade attempt on plain http.
        HttpClient.Builder builder = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(connectTimeout).followRedirects(HttpClient.Redirect.NEVER);
        if (base.getScheme().equalsIgnoreCase("http")) {
            // Plain http and no redirects: TLS is never used, so the default TLS context (which loads and parses
            // the JDK's trusted certificates, a large part of a CLI start) is not made.
            builder.sslContext(noTls());
        }
        http = builder.build();
        return http;
    }

    /**
     * A TLS context for a client that never speaks TLS (plain http, no redirects): any use of it fails. The JDK's
     * real one would load its TLS implementation and parse the trusted certificates, which is a large part of a
     * CLI start.
     */
    private static javax.net.ssl.SSLContext noTls() {
        return new javax.net.ssl.SSLContext(new NoTls(), null, "none") {
        };
    }

    private static final class NoTls extends javax.net.ssl.SSLContextSpi {
        private static UnsupportedOperationException refused() {
            return new UnsupportedOperationException("TLS is not used by this client (plain http)");
        }

        @Override
        protected void engineInit(javax.net.ssl.KeyManager[] km, javax.net.ssl.TrustManager[] tm,
                                  java.security.SecureRandom random) {
            throw refused();
        }

        @Override
        protected javax.net.ssl.SSLSocketFactory engineGetSocketFactory() {
            throw refused();
        }

        @Override
        protected javax.net.ssl.SSLServerSocketFactory engineGetServerSocketFactory() {
            throw refused();
        }

        @Override
        protected javax.net.ssl.SSLEngine engineCreateSSLEngine() {
            throw refused();
        }

        @Override
        protected javax.net.ssl.SSLEngine engineCreateSSLEngine(String host, int port) {
            throw refused();
        }

        @Override
        protected javax.net.ssl.SSLSessionContext engineGetServerSessionContext() {
            throw refused();
        }

        @Override
        protected javax.net.ssl.SSLSessionContext engineGetClientSessionContext() {
            throw refused();
        }

        @Override
        protected javax.net.ssl.SSLParameters engineGetDefaultSSLParameters() {
            return new javax.net.ssl.SSLParameters();
        }

        @Override
        protected javax.net.ssl.SSLParameters engineGetSupportedSSLParameters() {
            return new javax.net.ssl.SSLParameters();
        }
    }

    static URI baseUri(String url) {
        URI uri;
        try {
            uri = URI.create(url.strip().replaceAll("/+$", ""));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--url: not a URL: '" + url + "'");
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https") || uri.getHost() == null
                || uri.getQuery() != null || uri.getFragment() != null) {
            throw new IllegalArgumentException("--url: expected the server's base URL such as http://127.0.0.1:8080; "
                    + "got '" + url + "'");
        }
        return uri;
    }

    String url() {
        return base.toString();
    }

    JsonNode create(ObjectNode body) throws Failure {
        return json(send("POST", "/v1/sessions", body, CALL_TIMEOUT), 201, null);
    }

    JsonNode list() throws Failure {
        return json(send("GET", "/v1/sessions", null, CALL_TIMEOUT), 200, null).path("sessions");
    }

    JsonNode show(String id) throws Failure {
        return json(send("GET", sessionPath(id), null, CALL_TIMEOUT), 200, id);
    }

    JsonNode close(String id) throws Failure {
        return json(send("DELETE", sessionPath(id), null, CALL_TIMEOUT), 200, id);
    }

    /** Runs in the session and waits for the result: as long as the program's own timeout, so no call timeout. */
    ExecutionAnswer execute(String id, ObjectNode body) throws Failure {
        Answer response = send("POST", sessionPath(id) + "/executions", body, null);
        return new ExecutionAnswer(response.status(), result(response, id));
    }

    /** The result object of a 200, 422 or 500 answer; any other answer is a failure saying why. */
    private JsonNode result(Answer response, String id) throws Failure {
        int status = response.status();
        if (status == 200 || status == 422 || status == 500) {
            JsonNode result = parse(response, MAX_JSON_BYTES);
            if (result != null && result.has("status") && result.has("executionId")) {
                return result;
            }
            throw failure(status, result, id, response);
        }
        throw failure(status, parse(response, MAX_ERROR_BYTES), id, response);
    }

    /** Where the output of a streamed execution goes while it runs. */
    interface OutputPrinter {
        void print(boolean stderr, String text);
    }

    /**
     * Runs in the session, printing its output as it comes ({@code ?stream=true}, NDJSON events), and returns the
     * result; {@code live} says whether any output was printed on the way (then the result's output was).
     */
    StreamedAnswer executeStreaming(String id, ObjectNode body, OutputPrinter printer) throws Failure {
        return executeStreaming(sessionPath(id) + "/executions?stream=true", id, body, printer, executionId -> {
        });
    }

    /**
     * A fresh execution (in no session) as {@link #executeStreaming(String, ObjectNode, OutputPrinter)} runs one in
     * a session: {@code exec} handing its request to a server on this machine. {@code started} gets the execution's
     * id as soon as the server has started it (to stop it when we are interrupted).
     */
    StreamedAnswer executeStreaming(ObjectNode body, OutputPrinter printer, java.util.function.Consumer<String> started)
            throws Failure {
        return executeStreaming("/v1/executions?stream=true", null, body, printer, started);
    }

    /** Stops a running execution ({@code DELETE /v1/executions/ID}); false when the server did not confirm it. */
    boolean terminate(String executionId) {
        try {
            Answer response = send("DELETE", "/v1/executions/"
                    + URLEncoder.encode(executionId, StandardCharsets.UTF_8), null, Duration.ofSeconds(5));
            drain(response);
            return response.status() / 100 == 2;
        } catch (Failure | IOException e) {
            return false;
        }
    }

    private StreamedAnswer executeStreaming(String path, String id, ObjectNode body, OutputPrinter printer,
                                            java.util.function.Consumer<String> started) throws Failure {
        Answer response = send("POST", path, body, null);
        boolean ndjson = response.header("Content-Type").orElse("").startsWith("application/x-ndjson");
        if (!ndjson) {
            // Not a stream (a server without it, or an answer before the stream began): a result or an error.
            // An error answered before the stream began means the server did not start the execution.
            try {
                return new StreamedAnswer(result(response, id), false);
            } catch (Failure f) {
                throw new Failure(f.getMessage(), f.exitCode, true);
            }
        }
        boolean live = false;
        try (java.io.BufferedReader lines = new java.io.BufferedReader(new java.io.InputStreamReader(
                response.body(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = lines.readLine()) != null) {
                JsonNode event = JSON.readTree(line);
                String type = event.path("type").asString("");
                if (type.equals("started")) {
                    started.accept(event.path("executionId").asString(""));
                } else if (type.equals("stdout") || type.equals("stderr")) {
                    printer.print(type.equals("stderr"), event.path("data").asString(""));
                    live = true;
                } else if (type.equals("result")) {
                    return new StreamedAnswer(event.get("result"), live);
                }
            }
        } catch (IOException | RuntimeException e) {
            throw new Failure("the server's stream broke off: " + e.getMessage(), FAILED);
        }
        throw new Failure("the server's stream ended without a result", FAILED);
    }

    /** A streamed execution's result; whether its output was printed live already. */
    record StreamedAnswer(JsonNode result, boolean live) {
    }

    /** Streams a local file into the session at {@code sandboxPath} (absolute), replacing what is there. */
    void upload(String id, String sandboxPath, Path local) throws Failure, IOException {
        HttpRequest.Builder put = request(filePath(id, sandboxPath))
                .header("Content-Type", "application/octet-stream")
                .PUT(HttpRequest.BodyPublishers.ofFile(local));
        Answer response = call(put, null);
        if (response.status() != 204 && response.status() != 200 && response.status() != 201) {
            throw failure(response.status(), parse(response, MAX_ERROR_BYTES), id, response);
        }
        drain(response);
    }

    /** Streams a file of the session into {@code sink}; returns how many bytes came. */
    long download(String id, String sandboxPath, OutputStream sink) throws Failure, IOException {
        Answer response = call(request(filePath(id, sandboxPath)).GET(), null);
        if (response.status() != 200) {
            throw failure(response.status(), parse(response, MAX_ERROR_BYTES), id, response);
        }
        try (InputStream in = response.body()) {
            return in.transferTo(sink);
        }
    }

    /** An answer as both transports give it: status, headers (by lower-case name), body. */
    private record Answer(int status, java.util.function.Function<String, Optional<String>> headers,
                          InputStream body) {
        Optional<String> header(String name) {
            return headers.apply(name);
        }
    }

    /** One call: {@code body} (JSON) or none; {@code timeout} null for none. */
    private Answer send(String method, String path, ObjectNode body, Duration timeout) throws Failure {
        HttpRequest.Builder request = request(path);
        if (body != null) {
            request.header("Content-Type", "application/json").method(method,
                    HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body), StandardCharsets.UTF_8));
        } else {
            request.method(method, HttpRequest.BodyPublishers.noBody());
        }
        return call(request, timeout);
    }

    /**
     * An execution's answer that is not a stream, as exec's hand-off got it over a plain socket
     * ({@link LocalHandOff}): its result object (200, 422, 500), or a failure saying why, for which nothing ran.
     */
    JsonNode resultOf(int status, java.util.function.Function<String, Optional<String>> headers, InputStream body)
            throws Failure {
        try {
            return result(new Answer(status, headers, body), null);
        } catch (Failure f) {
            throw new Failure(f.getMessage(), f.exitCode, true);
        }
    }

    private HttpRequest.Builder request(String path) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).header("Accept", "application/json");
        if (apiKey != null) {
            b.header("Authorization", "Bearer " + apiKey);
        }
        return b;
    }

    private static String sessionPath(String id) {
        return "/v1/sessions/" + URLEncoder.encode(id, StandardCharsets.UTF_8).replace("+", "%20");
    }

    /** {@code /v1/sessions/ID/files/workspace/x}: each segment of the absolute path encoded on its own. */
    static String filePath(String id, String sandboxPath) {
        if (!sandboxPath.startsWith("/")) {
            throw new IllegalArgumentException("a path in the session must be absolute, such as /workspace/data.csv; "
                    + "got '" + sandboxPath + "'");
        }
        StringBuilder path = new StringBuilder(sessionPath(id)).append("/files");
        for (String segment : sandboxPath.substring(1).split("/", -1)) {
            path.append('/').append(URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20"));
        }
        return path.toString();
    }

    private Answer call(HttpRequest.Builder request, Duration timeout) throws Failure {
        if (timeout != null) {
            request.timeout(timeout);
        }
        try {
            HttpResponse<InputStream> r = http().send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
            return new Answer(r.statusCode(), name -> r.headers().firstValue(name), r.body());
        } catch (HttpConnectTimeoutException e) {
            throw new Failure("cannot reach the server at " + base + ": no connection within "
                    + connectTimeout.toSeconds() + "s", UNREACHABLE, true);
        } catch (HttpTimeoutException e) {
            throw new Failure("the server at " + base + " did not answer within " + timeout.toSeconds() + "s",
                    UNREACHABLE);
        } catch (ConnectException e) {
            throw new Failure("cannot reach the server at " + base + " (connection refused); is `mcp-sandbox serve "
                    + "--http` running there? Set --url or MCP_SANDBOX_URL", UNREACHABLE, true);
        } catch (IOException e) {
            throw new Failure("cannot talk to the server at " + base + ": " + describe(e), UNREACHABLE);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Failure("interrupted", FAILED);
        }
    }

    private static String describe(IOException e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    private JsonNode json(Answer response, int expected, String id) throws Failure {
        int status = response.status();
        JsonNode body = parse(response, status == expected ? MAX_JSON_BYTES : MAX_ERROR_BYTES);
        if (status != expected) {
            throw failure(status, body, id, response);
        }
        if (body == null) {
            throw new Failure("the server at " + base + " answered " + status + " without a JSON body", FAILED);
        }
        return body;
    }

    /** The body as JSON, or null when it is not JSON; at most {@code max} bytes are read. */
    private static JsonNode parse(Answer response, int max) throws Failure {
        byte[] bytes;
        try (InputStream in = response.body()) {
            bytes = in.readNBytes(max + 1);
        } catch (IOException e) {
            throw new Failure("the server's answer broke off: " + describe(e), FAILED);
        }
        if (bytes.length > max) {
            throw new Failure("the server's answer is larger than " + max + " bytes", FAILED);
        }
        try {
            JsonNode node = JSON.readTree(bytes);
            return node == null || node.isMissingNode() ? null : node;
        } catch (JacksonException e) {
            return null;
        }
    }

    private static void drain(Answer response) throws IOException {
        try (InputStream in = response.body()) {
            in.skip(MAX_ERROR_BYTES);
        }
    }

    /** An answer that is not the expected one, worded with the server's own message. */
    private Failure failure(int status, JsonNode body, String id, Answer response) {
        String message = body == null ? null : text(body, "error");
        if (message == null && body != null) {
            message = text(body, "reason");
        }
        String said = message == null ? "" : ": " + oneLine(message);
        String session = id == null ? "" : "session " + id;
        return switch (status) {
            case 401 -> new Failure("the server refused the API key" + said + " (give one with --api-key or "
                    + "MCP_SANDBOX_API_KEY)", KEY_REFUSED);
            case 403 -> new Failure("the server refused the request" + said, KEY_REFUSED);
            case 404 -> new Failure(message == null ? "not found (404)" : oneLine(message), NOT_FOUND);
            case 410 -> {
                String reason = body == null ? null : text(body, "reason");
                String why = reason == null ? "" : " (reason: " + oneLine(reason) + ")";
                yield new Failure(message == null ? (id == null ? "the session" : session) + " is closed" + why
                        : oneLine(message) + (reason == null || said(message, reason) ? "" : why), GONE);
            }
            case 429 -> new Failure("the server refused: too many" + said
                    + response.header("Retry-After").map(s -> " (retry after " + oneLine(s) + "s)")
                            .orElse(""), TOO_MANY);
            case 400, 413, 415, 422 -> new Failure("the server refused the request (" + status + ")" + said,
                    REFUSED);
            default -> new Failure("the server at " + base + " answered " + status + said, FAILED);
        };
    }

    /** Whether the server's message already names the reason ("... (idle)", "reason: idle"). */
    private static boolean said(String message, String reason) {
        return message.contains("(" + reason + ")") || message.contains("(" + reason + ":")
                || message.contains("reason: " + reason);
    }

    private static String text(JsonNode body, String field) {
        JsonNode value = body.get(field);
        return value == null || !value.isString() ? null : value.asString();
    }

    /** One line, bounded: the message came from the network. */
    private static String oneLine(String s) {
        String line = s.replaceAll("[\\p{Cntrl}]+", " ").strip();
        return line.length() <= 500 ? line : line.substring(0, 499) + "…";
    }
}
