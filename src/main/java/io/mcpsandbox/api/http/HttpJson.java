package io.mcpsandbox.api.http;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.LinkedHashMap;
import java.util.Map;
import tools.jackson.databind.json.JsonMapper;

/** JSON responses and bounded request bodies for the HTTP endpoints. */
final class HttpJson {
    private final JsonMapper json;
    private final long maxBodyBytes;

    HttpJson(JsonMapper json, long maxBodyBytes) {
        this.json = json;
        this.maxBodyBytes = maxBodyBytes;
    }

    /** The body exceeded the configured limit. */
    static final class TooLarge extends Exception {
        TooLarge(String message) {
            super(message, null, false, false);
        }
    }

    /** Null for {@code application/json} in UTF-8 (the default); otherwise what is wrong with the type. */
    static String contentTypeProblem(String type) {
        if (type == null || !type.toLowerCase(java.util.Locale.ROOT).startsWith("application/json")) {
            return "Content-Type must be application/json";
        }
        for (String param : type.split(";")) {
            String p = param.strip().toLowerCase(java.util.Locale.ROOT);
            if (p.startsWith("charset=") && !p.substring(8).replace("\"", "").strip().equals("utf-8")) {
                return "Content-Type charset must be UTF-8";
            }
        }
        return null;
    }

    long maxBodyBytes() {
        return maxBodyBytes;
    }

    /** The body stopped arriving or arrived broken (idle timeout, reset, bad chunked encoding). */
    static final class BodyFailed extends Exception {
        BodyFailed(String message) {
            super(message, null, false, false);
        }
    }

    /**
     * Reads the whole body, refusing one larger than the limit. Memory grows with what actually arrived, never
     * with the declared Content-Length: a client may declare the limit and send one byte.
     */
    byte[] readBody(HttpServletRequest request) throws TooLarge, BodyFailed {
        long declared = request.getContentLengthLong();
        if (declared > maxBodyBytes) {
            throw new TooLarge(tooLarge());
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(1024);
        byte[] buffer = new byte[8192];
        try (InputStream in = request.getInputStream()) {
            int n;
            while ((n = in.read(buffer)) >= 0) {
                if (out.size() + (long) n > maxBodyBytes) {
                    throw new TooLarge(tooLarge());
                }
                out.write(buffer, 0, n);
            }
        } catch (IOException | RuntimeException e) {
            // Jetty reports a timeout or a broken chunk as an IOException (or its own runtime BadMessage).
            throw new BodyFailed("the request body did not arrive completely (" + e.getClass().getSimpleName()
                    + "); a body must keep arriving, with no pause longer than server.idle-timeout");
        }
        return out.toByteArray();
    }

    private String tooLarge() {
        return "request body exceeds the limit of " + maxBodyBytes + " bytes (server.max-request-bytes)";
    }

    void write(HttpServletResponse response, int status, Object body) throws IOException {
        byte[] bytes = json.writeValueAsBytes(body);
        response.setStatus(status);
        response.setContentType("application/json");
        response.setCharacterEncoding("UTF-8");
        response.setHeader("Cache-Control", "no-store");
        response.setContentLength(bytes.length);
        response.getOutputStream().write(bytes);
    }

    /**
     * The {@code limit} query parameter, {@code fallback} when absent; null after answering 400 (field
     * {@code limit}) for anything but a whole number from 1 to {@code max}.
     */
    Integer limit(HttpServletRequest request, HttpServletResponse response, int fallback, int max)
            throws IOException {
        String text = request.getParameter("limit");
        int limit;
        try {
            limit = text == null ? fallback : Integer.parseInt(text);
        } catch (NumberFormatException e) {
            limit = -1;
        }
        if (limit < 1 || limit > max) {
            error(response, 400, "limit", "must be a whole number from 1 to " + max);
            return null;
        }
        return limit;
    }

    /** {@code {"error": message, "field": field}}; the field is left out when no single one is at fault. */
    void error(HttpServletResponse response, int status, String field, String message) throws IOException {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("error", message);
        if (field != null) {
            body.put("field", field);
        }
        write(response, status, body);
    }
}
