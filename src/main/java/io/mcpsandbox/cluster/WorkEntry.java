package io.mcpsandbox.cluster;

import io.mcpsandbox.model.ExecutionRequest;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.json.JsonMapper;

/**
 * One request spilled to a work stream ({@code work:<runtime>}): the execution id its origin made, the origin
 * node (told when it ends), when it was written, and the parsed request as the model's own JSON (as the durable
 * queue keeps it, the user included), signed with an HMAC keyed by the cluster secret. Redis is shared: an entry
 * is parsed strictly, with bounds, and one that is not signed, altered, oversized or incomplete is refused
 * ({@link Refused}), never run.
 */
record WorkEntry(String executionId, String origin, long writtenAt, ExecutionRequest request) {
    static final String VERSION = "1";
    /** The largest request JSON an entry carries; a larger request is not spilled (it runs at its origin). */
    static final int MAX_REQUEST_CHARS = 1 << 20;
    /** Domain separation from the node entries signed with the same secret. */
    private static final String LABEL = "mcp-sandbox cluster work entry v1";
    private static final Pattern EXECUTION_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_-]{0,63}");
    private static final Pattern MILLIS = Pattern.compile("[0-9]{1,15}");
    private static final Pattern SIG = Pattern.compile("[0-9a-f]{64}");
    private static final List<String> FIELDS = List.of("v", "id", "origin", "at", "req", "sig");
    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .build();

    /** An entry that must not run: why (never its content). */
    static final class Refused extends Exception {
        Refused(String why) {
            super(why, null, false, false);
        }
    }

    /** The request's JSON, or null when it is too large to spill. */
    static String json(ExecutionRequest request) {
        String json = JSON.writeValueAsString(request);
        return json.length() > MAX_REQUEST_CHARS ? null : json;
    }

    /** The stream entry's fields, signed; {@code requestJson} from {@link #json}. */
    static Map<String, String> fields(String executionId, String origin, long writtenAt, String requestJson,
                                      ClusterSecret secret) {
        Map<String, String> f = new LinkedHashMap<>();
        f.put("v", VERSION);
        f.put("id", executionId);
        f.put("origin", origin);
        f.put("at", Long.toString(writtenAt));
        f.put("req", requestJson);
        f.put("sig", signature(secret, executionId, origin, f.get("at"), requestJson));
        return f;
    }

    private static String signature(ClusterSecret secret, String id, String origin, String at, String req) {
        return secret.entrySignature(List.of(LABEL, VERSION, id, origin, at, req));
    }

    /** The entry's execution id if it has a plausible one (to close or log a refused entry); else null. */
    static String idOf(Map<String, String> fields) {
        String id = fields == null ? null : fields.get("id");
        return id != null && EXECUTION_ID.matcher(id).matches() ? id : null;
    }

    /**
     * Reads an entry back: every field present and bounded, nothing else, the signature the secret gives, and a
     * request that parses into the model.
     */
    static WorkEntry parse(Map<String, String> fields, ClusterSecret secret) throws Refused {
        if (fields == null || fields.isEmpty()) {
            throw new Refused("empty entry");
        }
        if (fields.size() != FIELDS.size() || !fields.keySet().containsAll(FIELDS)) {
            throw new Refused("fields are not " + FIELDS);
        }
        String v = fields.get("v");
        String id = fields.get("id");
        String origin = fields.get("origin");
        String at = fields.get("at");
        String req = fields.get("req");
        String sig = fields.get("sig");
        if (!VERSION.equals(v)) {
            throw new Refused("unknown entry version");
        }
        if (!EXECUTION_ID.matcher(id).matches()) {
            throw new Refused("not an execution id");
        }
        if (origin.length() > 255 || !ClusterSettings.NODE_ID_PATTERN.matcher(origin).matches()) {
            throw new Refused("not a node id");
        }
        if (!MILLIS.matcher(at).matches()) {
            throw new Refused("not a time");
        }
        if (req.length() > MAX_REQUEST_CHARS) {
            throw new Refused("request over " + MAX_REQUEST_CHARS + " characters");
        }
        if (!SIG.matcher(sig).matches()
                || !ClusterSecret.matches(signature(secret, id, origin, at, req), sig)) {
            throw new Refused("not signed with the cluster secret");
        }
        ExecutionRequest request;
        try {
            request = JSON.readValue(req, ExecutionRequest.class);
        } catch (JacksonException e) {
            throw new Refused("the request does not parse: " + e.getOriginalMessage());
        }
        if (request == null || request.userId() == null || request.sessionId() != null) {
            throw new Refused("not a request outside a session with a user");
        }
        return new WorkEntry(id, origin, Long.parseLong(at), request);
    }
}
