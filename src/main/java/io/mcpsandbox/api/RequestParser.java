package io.mcpsandbox.api;

import io.mcpsandbox.model.DlpMode;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.model.SessionRequest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Reads the JSON arguments of {@code execute_code}, {@code run_command} and {@code POST /v1/executions} into an
 * {@link ExecutionRequest} (a session's body: {@link #parseSession}): first against the form's schema
 * ({@link RequestSchemas}, the one description of the request), then into the model. Limits and values are
 * policy's job, so MCP, REST and the CLI refuse the same things with the same words. A field that is
 * {@code null} counts as left out.
 */
public final class RequestParser {
    private final RequestSchemas schemas;
    private final SchemaCheck check;

    public RequestParser(RequestSchemas schemas) {
        this.schemas = schemas;
        this.check = new SchemaCheck(schemas);
    }

    public RequestSchemas schemas() {
        return schemas;
    }

    /** @param userId who asks: from the API key, never from the body */
    public ExecutionRequest parse(JsonNode body, RequestForm form, String userId) throws InvalidRequestException {
        if (body == null || !body.isObject()) {
            throw new InvalidRequestException(null, "the request must be a JSON object");
        }
        ObjectNode request = withoutNulls((ObjectNode) body, form);
        check.check(request, form);
        ExecutionRequest.Builder b = ExecutionRequest.builder().userId(userId);
        if (request.has("language")) {
            b.language(request.get("language").stringValue()).code(request.get("code").stringValue())
                    .files(stringMap(request.get("files")));
        } else {
            b.command(strings(request.get("command")));
        }
        b.image(string(request, "image"))
                .env(stringMap(request.get("env")))
                .workDir(string(request, "workDir"))
                .stdin(string(request, "stdin"))
                .runtime(string(request, "runtime"))
                .sessionId(string(request, "sessionId"))
                .network(networkAsked(request))
                .networkAllow(networkAllow(request))
                .background(request.has("background") && request.get("background").booleanValue())
                .keepStdinOpen(request.has("keepStdinOpen") && request.get("keepStdinOpen").booleanValue())
                .persistent(request.has("persistent") && request.get("persistent").booleanValue())
                .priority(request.has("priority") ? request.get("priority").intValue() : 0)
                .callbackUrl(string(request, "callbackUrl"))
                .limits(limits(request.get("limits")));
        String dlp = string(request, "dlpMode");
        if (dlp != null) {
            try {
                b.dlpMode(DlpMode.parse(dlp));
            } catch (IllegalArgumentException e) {
                throw new InvalidRequestException("dlpMode", "must be one of report, redact, block; got '"
                        + SchemaCheck.abbreviate(dlp) + "'");
            }
        }
        return b.securityLevel(level(request)).build();
    }

    /**
     * Reads the body of {@code POST /v1/sessions} (and MCP's create_session) into a {@link SessionRequest}:
     * the {@link RequestForm#SESSION} schema first, then the model. Values (limits, lifetimes, image, runtime)
     * are the session service's to check, as policy checks an execution's.
     *
     * @param userId who asks: from the API key, never from the body
     */
    public SessionRequest parseSession(JsonNode body, String userId) throws InvalidRequestException {
        if (body == null || !body.isObject()) {
            throw new InvalidRequestException(null, "the request must be a JSON object");
        }
        ObjectNode request = withoutNulls((ObjectNode) body, RequestForm.SESSION);
        check.check(request, RequestForm.SESSION);
        return new SessionRequest(string(request, "image"), string(request, "runtime"), level(request),
                limits(request.get("limits")), stringMap(request.get("env")), stringMap(request.get("files")),
                string(request, "rootfs"), seconds(request, "idleTimeoutSeconds"),
                seconds(request, "lifetimeSeconds"), userId, networkAsked(request), networkAllow(request));
    }

    /** {@code network}: true, or an object (its {@code allow} narrows the server's list); the schema has checked. */
    private static boolean networkAsked(JsonNode request) {
        JsonNode network = request.get("network");
        return network != null && (network.isObject() || network.booleanValue());
    }

    private static List<String> networkAllow(JsonNode request) {
        JsonNode network = request.get("network");
        return network != null && network.isObject() && network.has("allow") ? strings(network.get("allow"))
                : List.of();
    }

    private Long seconds(JsonNode request, String name) throws InvalidRequestException {
        JsonNode n = request.get(name);
        if (n == null) {
            return null;
        }
        if (!n.isIntegralNumber() || !n.canConvertToLong()) {
            throw new InvalidRequestException(name, "must be a whole number, at most "
                    + schemas.input(RequestForm.SESSION).at("/properties/" + name + "/maximum").asString()
                    + "; got " + SchemaCheck.abbreviate(n.toString()));
        }
        return n.longValue();
    }

    private static SecurityLevel level(JsonNode request) throws InvalidRequestException {
        String level = string(request, "securityLevel");
        if (level == null) {
            return null;
        }
        try {
            return SecurityLevel.parse(level);
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException("securityLevel", "must be one of low, medium, high, critical; got '"
                    + SchemaCheck.abbreviate(level) + "'");
        }
    }

    /** A copy without the null fields the form knows, at the top and in limits; unknown ones stay, to be refused. */
    private ObjectNode withoutNulls(ObjectNode body, RequestForm form) {
        ObjectNode copy = body.deepCopy();
        for (String name : schemas.fields(form)) {
            if (copy.has(name) && copy.get(name).isNull()) {
                copy.remove(name);
            }
        }
        if (copy.get("limits") instanceof ObjectNode limits) {
            for (String name : RequestSchemas.LIMIT_FIELDS) {
                if (limits.has(name) && limits.get(name).isNull()) {
                    limits.remove(name);
                }
            }
        }
        return copy;
    }

    /** The shape is checked; what is left is what JSON Schema cannot say: a whole number that fits a long. */
    private LimitsRequest limits(JsonNode node) throws InvalidRequestException {
        if (node == null) {
            return LimitsRequest.DEFAULTS;
        }
        Long timeout = wholeNumber(node, "timeoutMs");
        Long memory = wholeNumber(node, "memoryBytes");
        Long pids = wholeNumber(node, "pids");
        Long output = wholeNumber(node, "outputBytes");
        JsonNode c = node.get("cpus");
        if (c != null && !Double.isFinite(c.doubleValue())) {
            throw new InvalidRequestException("limits.cpus", "must be a number, at most "
                    + schemas.input(RequestForm.ANY).at("/properties/limits/properties/cpus/maximum").asString());
        }
        Double cpus = c == null ? null : c.doubleValue();
        // Out-of-int pids are kept in range of the type here; policy reports the allowed range.
        Integer pidsInt = pids == null ? null : (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, pids));
        return new LimitsRequest(timeout, memory, cpus, pidsInt, output);
    }

    private Long wholeNumber(JsonNode limits, String name) throws InvalidRequestException {
        JsonNode n = limits.get(name);
        if (n == null) {
            return null;
        }
        if (!n.isIntegralNumber() || !n.canConvertToLong()) {
            throw new InvalidRequestException("limits." + name, "must be a whole number, at most "
                    + schemas.input(RequestForm.ANY).at("/properties/limits/properties/" + name + "/maximum").asString()
                    + "; got " + SchemaCheck.abbreviate(n.toString()));
        }
        return n.longValue();
    }

    private static String string(JsonNode body, String name) {
        JsonNode n = body.get(name);
        return n == null ? null : n.stringValue();
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>(array.size());
        array.forEach(item -> out.add(item.stringValue()));
        return out;
    }

    private static Map<String, String> stringMap(JsonNode n) {
        if (n == null) {
            return Map.of();
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : n.properties()) {
            out.put(e.getKey(), e.getValue().stringValue());
        }
        return out;
    }
}
