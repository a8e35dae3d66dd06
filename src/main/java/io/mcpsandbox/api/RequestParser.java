package io.mcpsandbox.api;

import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.DlpMode;
import io.mcpsandbox.model.SecurityLevel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import tools.jackson.databind.JsonNode;

/**
 * Reads the JSON arguments of {@code execute_code}, {@code run_command} and {@code POST /v1/executions} into an
 * {@link ExecutionRequest}. It checks shape only (types, required and unknown fields); limits and values are
 * policy's job, so MCP, REST and the CLI refuse the same things with the same words.
 */
public final class RequestParser {
    /** Which fields a caller may send. */
    public enum Form {
        /** execute_code: a snippet. */
        SNIPPET(Set.of("language", "code", "files", "stdin", "limits", "network", "securityLevel", "runtime",
                "sessionId", "dlpMode")),
        /** run_command: a command line in an image. */
        COMMAND(Set.of("image", "command", "env", "workDir", "stdin", "limits", "network", "securityLevel",
                "runtime", "sessionId", "dlpMode")),
        /** REST: either of the two. */
        ANY(Set.of("language", "code", "files", "image", "command", "env", "workDir", "stdin", "limits", "network",
                "securityLevel", "runtime", "sessionId", "dlpMode"));

        final Set<String> fields;

        Form(Set<String> fields) {
            this.fields = fields;
        }

        public Set<String> fields() {
            return fields;
        }
    }

    public static final Set<String> LIMIT_FIELDS = Set.of("timeoutMs", "memoryBytes", "cpus", "pids", "outputBytes");
    public static final int MAX_SESSION_ID = 256;
    public static final int MAX_NAME = 512;

    private final SandboxConfig config;

    public RequestParser(SandboxConfig config) {
        this.config = config;
    }

    /** @param userId who asks: from the API key, never from the body */
    public ExecutionRequest parse(JsonNode body, Form form, String userId) throws InvalidRequestException {
        if (body == null || !body.isObject()) {
            throw new InvalidRequestException(null, "the request must be a JSON object");
        }
        for (String name : body.propertyNames()) {
            if (!form.fields.contains(name)) {
                String hint = name.equals("userId") ? "the user comes from the API key, not the request"
                        : "is not a known field (known: " + String.join(", ", new TreeSet<>(form.fields)) + ")";
                throw new InvalidRequestException(name, hint);
            }
        }
        ExecutionRequest.Builder b = ExecutionRequest.builder().userId(userId);
        boolean snippet = form == Form.SNIPPET || (form == Form.ANY && (present(body, "language") || present(body, "code")));
        if (snippet) {
            b.language(requiredString(body, "language")).code(requiredString(body, "code"))
                    .files(stringMap(body, "files"));
        }
        if (form != Form.SNIPPET && !snippet) {
            JsonNode command = body.get("command");
            if (command == null || command.isNull()) {
                throw new InvalidRequestException("command", form == Form.ANY
                        ? "is required: give command (an array of strings), or language and code"
                        : "is required: an array of strings, the program first");
            }
            b.command(stringArray(command, "command"));
        }
        if (form == Form.ANY && snippet && present(body, "command")) {
            throw new InvalidRequestException("command", "give either command, or language and code, not both");
        }
        b.image(optionalString(body, "image", MAX_NAME))
                .env(stringMap(body, "env"))
                .workDir(optionalString(body, "workDir", 4096))
                .stdin(optionalString(body, "stdin", Integer.MAX_VALUE))
                .runtime(optionalString(body, "runtime", 64))
                .sessionId(optionalString(body, "sessionId", MAX_SESSION_ID))
                .network(optionalBoolean(body, "network"))
                .limits(limits(body.get("limits")));
        String dlp = optionalString(body, "dlpMode", 16);
        if (dlp != null) {
            try {
                b.dlpMode(DlpMode.parse(dlp));
            } catch (IllegalArgumentException e) {
                throw new InvalidRequestException("dlpMode", "must be one of report, redact, block; got '" + dlp + "'");
            }
        }
        String level = optionalString(body, "securityLevel", 32);
        if (level != null) {
            try {
                b.securityLevel(SecurityLevel.parse(level));
            } catch (IllegalArgumentException e) {
                throw new InvalidRequestException("securityLevel", "must be one of low, medium, high, critical; got '"
                        + level + "'");
            }
        }
        return b.build();
    }

    private LimitsRequest limits(JsonNode node) throws InvalidRequestException {
        if (node == null || node.isNull()) {
            return LimitsRequest.DEFAULTS;
        }
        if (!node.isObject()) {
            throw new InvalidRequestException("limits", "must be an object with any of " + String.join(", ",
                    new TreeSet<>(LIMIT_FIELDS)));
        }
        for (String name : node.propertyNames()) {
            if (!LIMIT_FIELDS.contains(name)) {
                throw new InvalidRequestException("limits." + name, "is not a known limit (known: "
                        + String.join(", ", new TreeSet<>(LIMIT_FIELDS)) + ")");
            }
        }
        var max = config.maxLimits();
        Long timeout = wholeNumber(node, "timeoutMs", max.timeout().toMillis());
        Long memory = wholeNumber(node, "memoryBytes", max.memoryBytes());
        Long pids = wholeNumber(node, "pids", max.pids());
        Long output = wholeNumber(node, "outputBytes", max.outputBytes());
        Double cpus = null;
        JsonNode c = node.get("cpus");
        if (c != null && !c.isNull()) {
            if (!c.isNumber() || !Double.isFinite(c.doubleValue())) {
                throw new InvalidRequestException("limits.cpus", "must be a number of cores, at most " + max.cpus());
            }
            cpus = c.doubleValue();
        }
        // Out-of-int pids are kept in range of the type here; policy reports the allowed range.
        Integer pidsInt = pids == null ? null : (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, pids));
        return new LimitsRequest(timeout, memory, cpus, pidsInt, output);
    }

    private static Long wholeNumber(JsonNode limits, String name, long max) throws InvalidRequestException {
        JsonNode n = limits.get(name);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isIntegralNumber() || !n.canConvertToLong()) {
            throw new InvalidRequestException("limits." + name, "must be a whole number, at most " + max
                    + "; got " + abbreviate(n.toString()));
        }
        return n.longValue();
    }

    private static boolean present(JsonNode body, String name) {
        JsonNode n = body.get(name);
        return n != null && !n.isNull();
    }

    private static String requiredString(JsonNode body, String name) throws InvalidRequestException {
        String value = optionalString(body, name, Integer.MAX_VALUE);
        if (value == null) {
            throw new InvalidRequestException(name, "is required (a string)");
        }
        return value;
    }

    private static String optionalString(JsonNode body, String name, int maxLength) throws InvalidRequestException {
        JsonNode n = body.get(name);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isString()) {
            throw new InvalidRequestException(name, "must be a string; got " + abbreviate(n.toString()));
        }
        String s = n.stringValue();
        if (s.length() > maxLength) {
            throw new InvalidRequestException(name, "is longer than " + maxLength + " characters");
        }
        return s;
    }

    private static boolean optionalBoolean(JsonNode body, String name) throws InvalidRequestException {
        JsonNode n = body.get(name);
        if (n == null || n.isNull()) {
            return false;
        }
        if (!n.isBoolean()) {
            throw new InvalidRequestException(name, "must be true or false; got " + abbreviate(n.toString()));
        }
        return n.booleanValue();
    }

    private static List<String> stringArray(JsonNode n, String name) throws InvalidRequestException {
        if (!n.isArray()) {
            throw new InvalidRequestException(name, "must be an array of strings, e.g. [\"python3\", \"-c\", \"print(1)\"]");
        }
        List<String> out = new ArrayList<>(n.size());
        for (int i = 0; i < n.size(); i++) {
            if (!n.get(i).isString()) {
                throw new InvalidRequestException(name + "[" + i + "]", "must be a string; got "
                        + abbreviate(n.get(i).toString()));
            }
            out.add(n.get(i).stringValue());
        }
        return out;
    }

    private static Map<String, String> stringMap(JsonNode body, String name) throws InvalidRequestException {
        JsonNode n = body.get(name);
        if (n == null || n.isNull()) {
            return Map.of();
        }
        if (!n.isObject()) {
            throw new InvalidRequestException(name, "must be an object whose values are strings");
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : n.properties()) {
            if (!e.getValue().isString()) {
                throw new InvalidRequestException(name + "." + e.getKey(), "must be a string; got "
                        + abbreviate(e.getValue().toString()));
            }
            out.put(e.getKey(), e.getValue().stringValue());
        }
        return out;
    }

    private static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 37) + "...";
    }
}
