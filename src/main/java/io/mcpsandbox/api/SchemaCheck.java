package io.mcpsandbox.api;

import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import com.networknt.schema.path.NodePath;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;

/**
 * Checks a request against its form's schema with the networknt validator (draft 2020-12, Jackson 3 nodes, as
 * the MCP SDK uses it) and words the first problem the door answers as an {@link InvalidRequestException} that
 * names the field: the validator's own messages name neither our field syntax nor our limits.
 */
final class SchemaCheck {
    private final RequestSchemas schemas;
    private final Map<RequestForm, Schema> compiled = new EnumMap<>(RequestForm.class);

    SchemaCheck(RequestSchemas schemas) {
        this.schemas = schemas;
        SchemaRegistry registry = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);
        for (RequestForm form : RequestForm.values()) {
            compiled.put(form, registry.getSchema(schemas.input(form)));
        }
    }

    /** @param body the request with its null fields already dropped (null means left out) */
    void check(JsonNode body, RequestForm form) throws InvalidRequestException {
        List<Error> errors = new ArrayList<>();
        List<Error> branches = new ArrayList<>();
        for (Error e : compiled.get(form).validate(body)) {
            String path = e.getEvaluationPath().toString();
            // A failed oneOf branch is explained by the oneOf itself; deferred bounds are policy's to answer.
            if (path.contains("/oneOf/")) {
                branches.add(e);
            } else if (!schemas.deferred(form, path)) {
                errors.add(e);
            }
        }
        if (errors.isEmpty()) {
            return;
        }
        errors.sort(Comparator.comparingInt(SchemaCheck::rank));
        Error first = errors.getFirst();
        if (first.getKeyword().equals("oneOf") && first.getInstanceLocation().getNameCount() > 0) {
            throw fieldOfForms(first, branches, body, form);
        }
        throw wordsFor(first, body, form);
    }

    /**
     * A field that takes one of several forms ({@code network}: true, false or {@code {"allow": [...]}}): an object
     * is explained by what its object form says of it (a bad name, an unknown key); anything else by the forms.
     */
    private InvalidRequestException fieldOfForms(Error e, List<Error> branches, JsonNode body, RequestForm form) {
        String field = field(e.getInstanceLocation());
        JsonNode value = e.getInstanceNode();
        if (value != null && value.isObject()) {
            for (Error b : branches) {
                boolean inside = b.getInstanceLocation().getNameCount() > e.getInstanceLocation().getNameCount();
                if (inside || !b.getKeyword().equals("type")) {
                    return wordsFor(b, body, form);
                }
            }
        }
        // network is the one field with forms today.
        return new InvalidRequestException(field, "must be true or false, or an object {\"allow\": [names]}; got "
                + abbreviate(value == null ? "?" : value.toString()));
    }

    /** The order the old hand-written parser answered in: not an object, unknown fields, what is missing, the rest. */
    private static int rank(Error e) {
        boolean root = e.getInstanceLocation().getNameCount() == 0;
        return switch (e.getKeyword()) {
            case "type" -> root ? 0 : 3;
            case "additionalProperties" -> root ? 1 : 3;
            case "required", "oneOf" -> 2;
            default -> 3;
        };
    }

    private InvalidRequestException wordsFor(Error e, JsonNode body, RequestForm form) {
        String field = field(e.getInstanceLocation());
        JsonNode value = e.getInstanceNode();
        JsonNode rule = schemas.input(form).at(parentOf(e.getEvaluationPath().toString()));
        return switch (e.getKeyword()) {
            case "type" -> field == null
                    ? new InvalidRequestException(null, "the request must be a JSON object")
                    : new InvalidRequestException(field, typeMessage(field, rule, value));
            case "additionalProperties" -> unknown(field, e.getProperty(), form);
            case "required" -> missing(e.getProperty(), form);
            case "oneOf" -> neitherOrBoth(body);
            case "maxLength" -> new InvalidRequestException(field, "is longer than " + rule.get("maxLength").asInt()
                    + " characters");
            case "enum" -> new InvalidRequestException(field, "must be one of " + String.join(", ",
                    rule.get("enum").valueStream().map(JsonNode::asString).toList()) + "; got "
                    + abbreviate(value == null ? "?" : value.toString()));
            default -> new InvalidRequestException(field, "does not match the schema: " + e.getMessage());
        };
    }

    private static String typeMessage(String field, JsonNode rule, JsonNode value) {
        String got = "; got " + abbreviate(value == null ? "?" : value.toString());
        return switch (rule.path("type").asString()) {
            case "string" -> "must be a string" + got;
            case "boolean" -> "must be true or false" + got;
            case "integer" -> "must be a whole number, at most " + rule.path("maximum").asString() + got;
            case "number" -> "must be a number, at most " + rule.path("maximum").asString() + got;
            case "array" -> "must be an array of strings, e.g. [\"python3\", \"-c\", \"print(1)\"]";
            case "object" -> field.equals("limits")
                    ? "must be an object with any of " + String.join(", ", RequestSchemas.LIMIT_FIELDS)
                    : "must be an object whose values are strings";
            default -> "has the wrong type" + got;
        };
    }

    private InvalidRequestException unknown(String parent, String rawName, RequestForm form) {
        String name = abbreviate(rawName); // the client's own key, echoed back: bounded
        if (parent == null) {
            String hint = name.equals("userId") ? "the user comes from the API key, not the request"
                    : "is not a known field (known: " + String.join(", ", schemas.fields(form)) + ")";
            return new InvalidRequestException(name, hint);
        }
        if (parent.equals("limits")) {
            return new InvalidRequestException("limits." + name, "is not a known limit (known: "
                    + String.join(", ", RequestSchemas.LIMIT_FIELDS) + ")");
        }
        return new InvalidRequestException(parent + "." + name, "is not a known field");
    }

    private static InvalidRequestException missing(String name, RequestForm form) {
        if (name.equals("command")) {
            return new InvalidRequestException("command", form == RequestForm.ANY
                    ? "is required: give command (an array of strings), or language and code"
                    : "is required: an array of strings, the program first");
        }
        return new InvalidRequestException(name, "is required (a string)");
    }

    /** REST's body is a snippet (language and code) or a command; say which part is missing or extra. */
    private static InvalidRequestException neitherOrBoth(JsonNode body) {
        boolean language = body.has("language");
        boolean code = body.has("code");
        if (!language && !code) {
            return missing("command", RequestForm.ANY);
        }
        if (!language || !code) {
            return missing(language ? "code" : "language", RequestForm.ANY);
        }
        return new InvalidRequestException("command", "give either command, or language and code, not both");
    }

    /** {@code limits.timeoutMs}, {@code command[1]}, {@code env.NAME}; null for the request itself. */
    static String field(NodePath path) {
        if (path.getNameCount() == 0) {
            return null;
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < path.getNameCount(); i++) {
            Object element = path.getElement(i);
            if (element instanceof Integer index) {
                sb.append('[').append(index).append(']');
            } else {
                sb.append(sb.isEmpty() ? "" : ".").append(element);
            }
        }
        return sb.toString();
    }

    private static String parentOf(String schemaPath) {
        return schemaPath.substring(0, schemaPath.lastIndexOf('/'));
    }

    static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 37) + "...";
    }
}
