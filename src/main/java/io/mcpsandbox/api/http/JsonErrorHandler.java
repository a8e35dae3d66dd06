package io.mcpsandbox.api.http;

import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import tools.jackson.databind.json.JsonMapper;

/**
 * Every error Jetty or a library answers on its own (unknown path, wrong method, a body over the limit, a
 * request line or header the parser refuses, {@code sendError} in the MCP transport) as a JSON object, never
 * an HTML page: {@code {"error": "..."}}, and on {@code /mcp} a JSON-RPC error object. No stack traces and no
 * echo of the request.
 */
final class JsonErrorHandler extends org.eclipse.jetty.server.handler.ErrorHandler {
    private final JsonMapper json;
    private final long maxBodyBytes;

    JsonErrorHandler(JsonMapper json, long maxBodyBytes) {
        this.json = json;
        this.maxBodyBytes = maxBodyBytes;
        setShowStacks(false);
        setShowCauses(false);
    }

    /** The same answers for errors raised inside the servlet context ({@code sendError}). */
    org.eclipse.jetty.ee10.servlet.ErrorHandler forServlets() {
        JsonErrorHandler outer = this;
        org.eclipse.jetty.ee10.servlet.ErrorHandler inner = new org.eclipse.jetty.ee10.servlet.ErrorHandler() {
            @Override
            public boolean errorPageForMethod(String method) {
                return true;
            }

            @Override
            protected void generateResponse(Request request, Response response, int code, String message,
                                            Throwable cause, Callback callback) {
                outer.generateResponse(request, response, code, message, cause, callback);
            }
        };
        inner.setShowStacks(false);
        inner.setShowCauses(false);
        return inner;
    }

    /** Every method gets a body: a PUT or OPTIONS answered with an empty 4xx says nothing. */
    @Override
    public boolean errorPageForMethod(String method) {
        return true;
    }

    @Override
    protected void generateResponse(Request request, Response response, int code, String message, Throwable cause,
                                    Callback callback) {
        // Malformed input is the client's fault: an unknown method or HTTP version is not a server error.
        if (code == 501 || code == 505) {
            code = code == 501 ? 405 : 400;
            response.setStatus(code);
        }
        boolean mcp = request.getHttpURI() != null && request.getHttpURI().getPath() != null
                && request.getHttpURI().getPath().startsWith("/mcp");
        byte[] body = body(code, mcp);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, Integer.toString(body.length));
        response.write(true, ByteBuffer.wrap(body), callback);
    }

    /** For a request the HTTP parser refused (bad request line, header, encoding): no context exists yet. */
    @Override
    public ByteBuffer badMessageError(int status, String reason, HttpFields.Mutable fields) {
        fields.put(new HttpField(HttpHeader.CONTENT_TYPE, "application/json"));
        fields.put(new HttpField(HttpHeader.CACHE_CONTROL, "no-store"));
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("error", describe(status) + (reason == null || reason.isBlank() ? "" : ": " + safe(reason)));
        return ByteBuffer.wrap(json.writeValueAsBytes(body));
    }

    byte[] body(int code, boolean jsonRpc) {
        String text = describe(code);
        if (jsonRpc) {
            Map<String, Object> error = new LinkedHashMap<>();
            error.put("code", code == 413 ? -32600 : code >= 500 ? -32603 : -32600);
            error.put("message", text);
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("jsonrpc", "2.0");
            body.put("id", null);
            body.put("error", error);
            return json.writeValueAsBytes(body);
        }
        return json.writeValueAsBytes(Map.of("error", text));
    }

    /** Our own words for the status; Jetty's reason phrases are generic, and messages may echo the request. */
    private String describe(int code) {
        return switch (code) {
            case 400 -> "bad request: the request line, a header or the body encoding is malformed";
            case 404 -> "no such endpoint (see /mcp, /v1/executions, /v1/runtimes, /metrics, /healthz)";
            case 405 -> "method not allowed on this endpoint";
            case 408 -> "the request did not arrive in time (server.idle-timeout)";
            case 413 -> "request body exceeds the limit of " + maxBodyBytes + " bytes (server.max-request-bytes)";
            case 414 -> "request URI too long";
            case 415 -> "unsupported Content-Type: send application/json";
            case 431 -> "request headers too large";
            case 501 -> "method not implemented";
            case 505 -> "HTTP version not supported";
            default -> code + " " + HttpStatus.getMessage(code);
        };
    }

    private static String safe(String reason) {
        String s = reason.replaceAll("[\\p{Cntrl}]", "?");
        return s.length() <= 100 ? s : s.substring(0, 100);
    }
}
