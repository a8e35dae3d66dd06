package io.mcpsandbox.api;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** A seeded generator of malformed and hostile requests for REST and MCP (see MalformedInputTest). */
final class Malformed {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    /** One request and what counts as a correct answer to it. */
    record Request(String kind, byte[] head, byte[] body, boolean mayRun, boolean toolCall) {
        String describe() {
            String h = new String(head, StandardCharsets.ISO_8859_1);
            String b = body == null ? "" : new String(body, 0, Math.min(body.length, 200), StandardCharsets.ISO_8859_1);
            return (h.lines().findFirst().orElse("") + " | " + b).replaceAll("\\p{Cntrl}", "?");
        }

        /** Null when the answer is acceptable, else what is wrong with it. */
        String accept(RawHttp.Answer a) {
            if (a.status() >= 500 || a.status() == -1) {
                return "status " + a.status() + " " + a.text().substring(0, Math.min(200, a.text().length()));
            }
            if (kind.equals("mcp-bad-envelope") && (a.status() == 202 || a.status() == 200)) {
                // Valid JSON-RPC after all (a response message is acknowledged with 202; an unknown method is a
                // JSON-RPC error in the stream; an initialize the SDK accepts opens a session): a protocol answer.
                return a.status() == 202 || a.text().contains("\"jsonrpc\"") ? null : "no JSON-RPC answer: " + a.text();
            }
            if (toolCall && a.status() == 200) {
                for (String line : a.text().lines().toList()) {
                    if (line.startsWith("data:")) {
                        JsonNode msg = JSON.readTree(line.substring(5).strip());
                        if (msg.has("error")
                                || (msg.has("result") && msg.get("result").path("isError").asBoolean(false))) {
                            return null;
                        }
                        if (mayRun && msg.has("result")) {
                            return null;
                        }
                        return "tool call answered without an error: " + line;
                    }
                }
                return "no JSON-RPC message in the event stream: " + a.text();
            }
            if (mayRun && (a.status() == 200 || a.status() == 202 || a.status() == 422)) {
                return null;
            }
            if (a.status() < 400) {
                return "status " + a.status() + " for a malformed request: " + a.text();
            }
            String type = a.header("content-type");
            if (type == null || !type.startsWith("application/json")) {
                return "content type " + type + ": " + a.text();
            }
            try {
                JsonNode error = JSON.readTree(a.body()).get("error");
                if (error == null || (error.isString() ? error.asString().isBlank()
                        : !error.path("message").isString())) {
                    return "no error message: " + a.text();
                }
            } catch (RuntimeException e) {
                return "not JSON: " + a.text();
            }
            return null;
        }
    }

    private static final List<String> FIELDS = List.of("language", "code", "command", "runtime", "securityLevel",
            "image", "limits", "network", "env", "workDir", "stdin", "sessionId", "files", "dlp", "userId");
    private static final List<String> LIMITS = List.of("timeoutMs", "memoryBytes", "cpus", "pids", "outputBytes");
    private static final List<String> VALUES = List.of("null", "true", "false", "0", "-1", "1.5", "1e400", "-1e400",
            "99999999999999999999999999999999", "\"\"", "\"x\"", "[]", "{}", "[1,2]", "{\"a\":1}", "\"\\u0000\"",
            "\"\\ud800\"", "123456789012345678901234567890.5e-99999", "\"" + "z".repeat(300) + "\"", "NaN", "-0",
            "[[[]]]", "\"../../etc/passwd\"", "\"/proc/self/fd/3\"", "\"\\n\\r\\u001b[2J\"");

    private Malformed() {
    }

    static Request next(Random r, int port, String key, String session) {
        int pick = r.nextInt(100);
        if (pick < 2) {
            return rest("may-run", port, key, "application/json",
                    utf8("{\"command\":[\"true\"],\"limits\":{\"timeoutMs\":" + (1000 + r.nextInt(1000)) + "}}"), true);
        } else if (pick < 27) {
            return rest("rest-bad-json", port, key, "application/json", badJson(r), false);
        } else if (pick < 52) {
            return rest("rest-bad-fields", port, key, "application/json", badFields(r), false);
        } else if (pick < 70) {
            return mcp("mcp-bad-envelope", port, key, session, badEnvelope(r), false);
        } else if (pick < 80) {
            return mcp("mcp-bad-tool-call", port, key, session, badToolCall(r), true);
        } else {
            return badHttp(r, port, key);
        }
    }

    private static Request rest(String kind, int port, String key, String type, byte[] body, boolean mayRun) {
        String head = "POST /v1/executions HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nConnection: close\r\n"
                + "Authorization: Bearer " + key + "\r\nContent-Type: " + type + "\r\nContent-Length: " + body.length
                + "\r\n\r\n";
        return new Request(kind, RawHttp.ascii(head), body, mayRun, false);
    }

    private static Request mcp(String kind, int port, String key, String session, byte[] body, boolean toolCall) {
        String head = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nConnection: close\r\n"
                + "Authorization: Bearer " + key + "\r\nContent-Type: application/json\r\n"
                + "Accept: application/json, text/event-stream\r\nMcp-Session-Id: " + session + "\r\n"
                + "Content-Length: " + body.length + "\r\n\r\n";
        // list_active_executions takes no arguments and ignores extra ones: a normal result is a correct answer.
        boolean harmless = new String(body, StandardCharsets.UTF_8).contains("\"list_active_executions\"");
        return new Request(kind, RawHttp.ascii(head), body, harmless, toolCall);
    }

    private static byte[] badJson(Random r) {
        String valid = "{\"language\":\"python\",\"code\":\"print(1)\",\"limits\":{\"timeoutMs\":1000}}";
        return switch (r.nextInt(9)) {
            case 0 -> utf8(valid.substring(0, r.nextInt(valid.length() - 1))); // truncated
            case 1 -> randomBytes(r, 1 + r.nextInt(200));
            case 2 -> nested(r, 600 + r.nextInt(5000));
            case 3 -> concat(utf8("{\"language\":\"python\",\"code\":\""), new byte[] {(byte) 0xc3, 0x28, (byte) 0xff,
                    (byte) 0xfe, (byte) 0xc0, (byte) 0xaf}, utf8("\"}"));
            case 4 -> utf8("{\"code\":" + "1".repeat(2000 + r.nextInt(5000)) + "}");
            case 5 -> utf8(valid.replace(":", r.nextBoolean() ? "=" : ""));
            case 6 -> utf8("");
            case 7 -> utf8("[" + "1,".repeat(r.nextInt(100)) + "]");
            default -> utf8("{\"language\":\"python\",\"language\":\"node\",\"code\":\"x\"}");
        };
    }

    private static byte[] badFields(Random r) {
        StringBuilder b = new StringBuilder("{");
        boolean snippet = r.nextBoolean();
        b.append(snippet ? "\"language\":\"python\",\"code\":\"print(1)\"" : "\"command\":[\"true\"]");
        int n = 1 + r.nextInt(3);
        for (int i = 0; i < n; i++) {
            String field = r.nextInt(6) == 0 ? "unknown" + r.nextInt(1000) : FIELDS.get(r.nextInt(FIELDS.size()));
            String value = VALUES.get(r.nextInt(VALUES.size()));
            if (field.equals("limits") && r.nextBoolean()) {
                value = "{\"" + (r.nextInt(5) == 0 ? "wall" : LIMITS.get(r.nextInt(LIMITS.size()))) + "\":"
                        + VALUES.get(r.nextInt(VALUES.size())) + "}";
            }
            if (field.equals("command") && r.nextBoolean()) {
                value = "[\"ls\"," + VALUES.get(r.nextInt(VALUES.size())) + "]";
            }
            b.append(",\"").append(field).append("\":").append(value);
        }
        // A field that is certainly wrong, so nothing here runs: a wrong type for a required one.
        b.append(snippet ? ",\"code\":5" : ",\"command\":\"true\"");
        return utf8(b.append('}').toString());
    }

    private static byte[] badEnvelope(Random r) {
        return switch (r.nextInt(12)) {
            case 0 -> randomBytes(r, 1 + r.nextInt(100));
            case 1 -> utf8("{\"jsonrpc\":\"2.0\",\"id\":" + VALUES.get(r.nextInt(VALUES.size())) + ",\"method\":5}");
            case 2 -> utf8("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"tools/list\"}");
            case 3 -> utf8("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
                    + VALUES.get(r.nextInt(VALUES.size())) + "}");
            case 4 -> utf8("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                    + VALUES.get(r.nextInt(VALUES.size())) + ",\"capabilities\":" + VALUES.get(r.nextInt(VALUES.size()))
                    + ",\"clientInfo\":" + VALUES.get(r.nextInt(VALUES.size())) + "}}");
            case 5 -> nested(r, 600 + r.nextInt(3000));
            case 6 -> utf8("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}]");
            case 7 -> utf8("{\"jsonrpc\":\"1.0\"}");
            case 8 -> utf8("{}");
            case 9 -> concat(utf8("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\""), new byte[] {(byte) 0xed, (byte) 0xa0,
                    (byte) 0x80}, utf8("\"}"));
            case 10 -> utf8("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":" + VALUES.get(r.nextInt(VALUES.size()))
                    + ",\"error\":" + VALUES.get(r.nextInt(VALUES.size())) + "}");
            default -> utf8("{\"jsonrpc\":\"2.0\",\"id\":" + r.nextInt() + ",\"method\":\"" + "m".repeat(r.nextInt(50))
                    + "\",\"params\":" + VALUES.get(r.nextInt(VALUES.size())) + "}");
        };
    }

    private static byte[] badToolCall(Random r) {
        String tool = List.of("execute_code", "run_command", "get_execution", "terminate_execution",
                "list_active_executions", "nonexistent").get(r.nextInt(6));
        String args = switch (tool) {
            case "execute_code" -> "{\"language\":" + VALUES.get(r.nextInt(VALUES.size())) + ",\"code\":5}";
            case "run_command" -> "{\"command\":" + (r.nextBoolean() ? "\"true\"" : "[1,2]") + "}";
            case "get_execution", "terminate_execution" ->
                    "{\"executionId\":" + VALUES.get(r.nextInt(VALUES.size())) + "}";
            case "list_active_executions" -> VALUES.get(r.nextInt(VALUES.size()));
            default -> "{}";
        };
        if (tool.equals("list_active_executions") && !args.startsWith("{")) {
            args = "{\"x\":" + args + "}";
        }
        return utf8("{\"jsonrpc\":\"2.0\",\"id\":" + r.nextInt(1_000_000) + ",\"method\":\"tools/call\",\"params\":"
                + "{\"name\":\"" + tool + "\",\"arguments\":" + args + "}}");
    }

    private static Request badHttp(Random r, int port, String key) {
        String auth = "Authorization: Bearer " + key + "\r\n";
        String host = "Host: 127.0.0.1:" + port + "\r\n";
        String path = List.of("/v1/executions", "/mcp", "/healthz", "/metrics", "/v1/runtimes", "/v1/executions/x",
                "/nope", "/v1/executions/%00", "/v1/../etc/passwd", "/v1/executions/" + "a".repeat(3000))
                .get(r.nextInt(10));
        byte[] body = utf8("{\"command\":[\"true\"]}");
        String head = switch (r.nextInt(12)) {
            case 0 -> List.of("PUT", "PATCH", "OPTIONS", "TRACE", "FOO", "PROPFIND", "CONNECT2").get(r.nextInt(7)) + " "
                    + path + " HTTP/1.1\r\n" + host + auth + "Connection: close\r\n\r\n";
            case 1 -> "POST " + path + " HTTP/1.1\r\n" + host + auth
                    + "Connection: close\r\nContent-Length: abc\r\n\r\n";
            case 2 -> "POST " + path + " HTTP/1.1\r\n" + host + auth + "Connection: close\r\nContent-Length: 5\r\n"
                    + "Content-Length: 9\r\n\r\n";
            case 3 -> "POST /v1/executions HTTP/1.1\r\n" + host + auth + "Connection: close\r\nContent-Type: "
                    + List.of("text/plain", "application/xml", "", "application/json; charset=ebcdic",
                    "multipart/form-data").get(r.nextInt(5)) + "\r\nContent-Length: " + body.length + "\r\n\r\n";
            case 4 -> "GET " + path + " HTTP/1.1\r\n" + host + auth + "Bad Header Line\r\nConnection: close\r\n\r\n";
            case 5 -> "GET " + path + " HTTP/1.1\r\n" + host + auth + "X-Big: " + "b".repeat(20_000)
                    + "\r\nConnection: close\r\n\r\n";
            case 6 -> "GET " + path + " HTTP/9.9\r\n" + host + auth + "Connection: close\r\n\r\n";
            case 7 -> "POST " + path + " HTTP/1.1\r\n" + host + auth
                    + "Connection: close\r\nTransfer-Encoding: chunked\r\n"
                    + "Content-Type: application/json\r\n\r\nzz\r\n";
            case 8 -> "GET " + path + "\u0001\u0002 HTTP/1.1\r\n" + host + auth + "Connection: close\r\n\r\n";
            case 9 -> "GET /v1/executions?limit=" + List.of("-5", "99999999999999", "abc", "1e3").get(r.nextInt(4))
                    + "&active=" + List.of("maybe", "false", "").get(r.nextInt(3)) + " HTTP/1.1\r\n" + host + auth
                    + "Connection: close\r\n\r\n";
            case 10 -> "GET /v1/runtimes HTTP/1.1\r\n" + host + "Authorization: " + List.of("Bearer", "Basic abc",
                    "Bearer " + "k".repeat(5000), "Bearer \u00ff\u00fe", "").get(r.nextInt(5))
                    + "\r\nConnection: close\r\n\r\n";
            default -> "POST /v1/executions?async=" + List.of("yes", "1", "TRUE").get(r.nextInt(3)) + " HTTP/1.1\r\n"
                    + host + auth + "Content-Type: application/json\r\nConnection: close\r\nContent-Length: "
                    + body.length + "\r\n\r\n";
        };
        boolean withBody = head.contains("Content-Length: " + body.length);
        return new Request("http-level", RawHttp.ascii(head), withBody ? body : null, false, false);
    }

    private static byte[] nested(Random r, int depth) {
        String open = r.nextBoolean() ? "[" : "{\"a\":";
        String close = open.equals("[") ? "]" : "}";
        return utf8(open.repeat(depth) + "1" + close.repeat(depth));
    }

    private static byte[] randomBytes(Random r, int n) {
        byte[] b = new byte[n];
        r.nextBytes(b);
        return b;
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
