package io.mcpsandbox.api.http;

import io.modelcontextprotocol.json.McpJsonMapper;
import io.modelcontextprotocol.spec.McpSchema;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.http.HttpFilter;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import jakarta.servlet.http.HttpServletResponse;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Checks what reaches the MCP transport before it does: the SDK answers some malformed messages with an HTTP
 * 500 (a body that is not a JSON-RPC message, initialize params of the wrong shape) and unknown methods with
 * 501. Here the body is read with the hard size cap, must be UTF-8 and one JSON-RPC message the SDK can decode
 * (initialize params included); anything else is a 4xx carrying a JSON-RPC error that says what is wrong. The
 * checked body is then handed on unchanged.
 */
final class McpRequestFilter extends HttpFilter {
    private static final Set<String> METHODS = Set.of("GET", "POST", "DELETE");
    static final int PARSE_ERROR = -32700;
    static final int INVALID_REQUEST = -32600;
    static final int INVALID_PARAMS = -32602;

    private final HttpJson http;
    private final McpJsonMapper mapper;

    private static boolean opensEventStream(HttpServletRequest request) {
        String accept = request.getHeader("Accept");
        return accept != null && accept.contains("text/event-stream") && request.getHeader("mcp-session-id") != null;
    }

    McpRequestFilter(HttpJson http, McpJsonMapper mapper) {
        this.http = http;
        this.mapper = mapper;
    }

    @Override
    protected void doFilter(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws IOException, ServletException {
        String method = request.getMethod();
        if (!METHODS.contains(method)) {
            response.setHeader("Allow", "GET, POST, DELETE");
            error(response, 405, INVALID_REQUEST, "method not allowed on /mcp; use POST (GET for the event stream, "
                    + "DELETE to end a session)");
            return;
        }
        if (method.equals("GET") && !opensEventStream(request)) {
            // The SDK would answer with its exception serialized, stack trace included.
            error(response, 400, INVALID_REQUEST, "GET /mcp opens a session's event stream: it needs "
                    + "Accept: text/event-stream and an mcp-session-id header");
            return;
        }
        if (!method.equals("POST")) {
            chain.doFilter(request, response);
            return;
        }
        String typeProblem = HttpJson.contentTypeProblem(request.getContentType());
        if (typeProblem != null) {
            error(response, 415, INVALID_REQUEST, typeProblem);
            return;
        }
        byte[] body;
        try {
            body = http.readBody(request);
        } catch (HttpJson.TooLarge e) {
            error(response, 413, INVALID_REQUEST, e.getMessage());
            return;
        } catch (HttpJson.BodyFailed e) {
            error(response, 408, INVALID_REQUEST, e.getMessage());
            return;
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(body)).toString();
        } catch (CharacterCodingException e) {
            error(response, 400, PARSE_ERROR, "the body is not valid UTF-8");
            return;
        }
        String problem = check(text);
        if (problem != null) {
            error(response, 400, problem.startsWith("params") ? INVALID_PARAMS : INVALID_REQUEST, problem);
            return;
        }
        if (!isResponseMessage(text)) {
            chain.doFilter(new CachedBody(request, body), response);
            return;
        }
        // A client's answer to a request of ours (ping). One for an id we never sent makes the SDK answer 500
        // with its exception serialized (stack included): buffer what the SDK writes and answer 400 instead.
        java.io.StringWriter buffered = new java.io.StringWriter();
        int[] status = {200};
        HttpServletResponse capture = new jakarta.servlet.http.HttpServletResponseWrapper(response) {
            private final java.io.PrintWriter writer = new java.io.PrintWriter(buffered);

            @Override
            public void setStatus(int sc) {
                status[0] = sc;
            }

            @Override
            public void sendError(int sc, String msg) {
                status[0] = sc;
            }

            @Override
            public void sendError(int sc) {
                status[0] = sc;
            }

            @Override
            public java.io.PrintWriter getWriter() {
                return writer;
            }
        };
        chain.doFilter(new CachedBody(request, body), capture);
        if (status[0] >= 400) {
            error(response, 400, INVALID_REQUEST, "a JSON-RPC response for an id this server is not waiting for");
        } else {
            response.setStatus(status[0]);
            response.getWriter().write(buffered.toString());
        }
    }

    private boolean isResponseMessage(String text) {
        try {
            return McpSchema.deserializeJsonRpcMessage(mapper, text) instanceof McpSchema.JSONRPCResponse;
        } catch (Exception e) {
            return false;
        }
    }

    /** Null when the SDK can take the message; otherwise what is wrong with it, in words. */
    private String check(String text) {
        McpSchema.JSONRPCMessage message;
        try {
            message = McpSchema.deserializeJsonRpcMessage(mapper, text);
        } catch (Exception e) {
            // The SDK's words, never the body (which may hold secrets), cut short.
            return "not a JSON-RPC 2.0 message (" + shorten(e.getMessage()) + ")";
        }
        if (message == null) {
            return "not a JSON-RPC 2.0 message";
        }
        if (message instanceof McpSchema.JSONRPCRequest r) {
            if (r.method() == null || r.id() == null) {
                return "a request needs a string \"method\" and an \"id\"";
            }
            if (!(r.id() instanceof String) && !(r.id() instanceof Number)) {
                return "\"id\" must be a string or a number";
            }
            if (r.method().equals(McpSchema.METHOD_INITIALIZE)) {
                try {
                    McpSchema.InitializeRequest init =
                            mapper.convertValue(r.params(), McpSchema.InitializeRequest.class);
                    if (init == null || init.protocolVersion() == null) {
                        return "params.protocolVersion is required in initialize";
                    }
                } catch (Exception e) {
                    return "params of initialize do not match the MCP schema (" + shorten(e.getMessage()) + ")";
                }
            }
        } else if (message instanceof McpSchema.JSONRPCNotification n && n.method() == null) {
            return "a notification needs a string \"method\"";
        }
        return null;
    }

    private void error(HttpServletResponse response, int status, int code, String message) throws IOException {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("code", code);
        error.put("message", message);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("jsonrpc", "2.0");
        body.put("id", null);
        body.put("error", error);
        http.write(response, status, body);
    }

    private static String shorten(String s) {
        if (s == null) {
            return "unreadable";
        }
        String line = s.lines().findFirst().orElse("").replaceAll("\\p{Cntrl}", "?");
        return line.length() <= 160 ? line : line.substring(0, 157) + "...";
    }

    /** The checked body, served again to the transport. */
    private static final class CachedBody extends HttpServletRequestWrapper {
        private final byte[] body;

        CachedBody(HttpServletRequest request, byte[] body) {
            super(request);
            this.body = body;
        }

        @Override
        public int getContentLength() {
            return body.length;
        }

        @Override
        public long getContentLengthLong() {
            return body.length;
        }

        @Override
        public String getCharacterEncoding() {
            return "UTF-8";
        }

        @Override
        public BufferedReader getReader() {
            return new BufferedReader(new InputStreamReader(new ByteArrayInputStream(body), StandardCharsets.UTF_8));
        }

        @Override
        public ServletInputStream getInputStream() {
            return new BytesInputStream(body);
        }
    }

    /** A servlet input stream over bytes already read (blocking reads only). */
    static final class BytesInputStream extends ServletInputStream {
        private final ByteArrayInputStream in;

        BytesInputStream(byte[] bytes) {
            this.in = new ByteArrayInputStream(bytes);
        }

        @Override
        public int read() {
            return in.read();
        }

        @Override
        public int read(byte[] b, int off, int len) {
            return in.read(b, off, len);
        }

        @Override
        public boolean isFinished() {
            return in.available() == 0;
        }

        @Override
        public boolean isReady() {
            return true;
        }

        @Override
        public void setReadListener(ReadListener listener) {
            throw new IllegalStateException("not supported on bytes already read");
        }
    }
}
