package io.mcpsandbox.api.http;

import io.mcpsandbox.api.RequestForm;
import io.mcpsandbox.api.RequestSchemas;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.ProductVersion;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * The OpenAPI 3.1 description of this server's HTTP endpoints, served at {@code GET /v1/openapi.json}. The request
 * and result bodies are the {@link RequestSchemas} themselves (OpenAPI 3.1 schemas are JSON Schema 2020-12), so
 * the document cannot drift from what the server checks.
 */
final class OpenApiDocument {
    static final String PATH = "/v1/openapi.json";
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private OpenApiDocument() {
    }

    static ObjectNode build(RequestSchemas schemas) {
        ObjectNode doc = NODES.objectNode().put("openapi", "3.1.0").put("jsonSchemaDialect", RequestSchemas.DIALECT);
        doc.set("info", NODES.objectNode().put("title", "mcp-sandbox HTTP API").put("version", ProductVersion.VERSION)
                .put("description", "Runs untrusted code in isolated sandboxes. REST under /v1, MCP Streamable HTTP "
                        + "at /mcp, Prometheus metrics at /metrics, liveness at /healthz. Every endpoint but "
                        + "/healthz needs an API key: Authorization: Bearer <key>. See docs/api.md."));
        doc.set("security", NODES.arrayNode().add(NODES.objectNode().set("apiKey", NODES.arrayNode())));
        ObjectNode paths = NODES.objectNode();
        paths.set("/v1/executions", NODES.objectNode()
                .<ObjectNode>set("post", startExecution())
                .set("get", listExecutions()));
        paths.set("/v1/executions/{executionId}", NODES.objectNode()
                .<ObjectNode>set("parameters", NODES.arrayNode().add(NODES.objectNode().put("name", "executionId")
                        .put("in", "path").put("required", true).set("schema", type("string"))))
                .<ObjectNode>set("get", getExecution())
                .set("delete", operation("terminateExecution", "Cancel a queued execution, or kill every process "
                        + "of a running one (yours; an admin key's: anyone's)", responses()
                                .<ObjectNode>set("200", json("It was queued and is cancelled: it never runs",
                                        ref("Termination")))
                                .<ObjectNode>set("202", json("It is being killed; its result will say 'terminated'",
                                        ref("Termination")))
                                .<ObjectNode>set("404", error("Unknown, forgotten, or someone else's (for a "
                                        + "user's key)"))
                                .set("409", json("It had already finished", ref("Termination"))))));
        paths.set("/v1/executions/{executionId}/stdin", stdinPath());
        paths.set("/v1/executions/{executionId}/record", recordPath());
        queuePaths(paths);
        sessionPaths(paths);
        consolePaths(paths);
        paths.set("/v1/runtimes", NODES.objectNode().set("get", operation("listRuntimes", "Each runtime, whether it "
                + "is usable here, its version, levels, and known vulnerabilities", responses()
                .set("200", json("The runtimes", schemas.listOf("runtimes", "One object per runtime."))))));
        paths.set(PATH, NODES.objectNode().set("get", operation("openApi", "This document", responses()
                .set("200", json("The OpenAPI 3.1 document", type("object"))))));
        paths.set("/metrics", NODES.objectNode().set("get", operation("metrics", "Prometheus text exposition",
                responses().set("200", NODES.objectNode().put("description", "The meters (see docs/api.md)")
                        .set("content", NODES.objectNode().set("text/plain", NODES.objectNode()
                                .set("schema", type("string"))))))));
        paths.set("/healthz", NODES.objectNode().set("get", health()));
        paths.set("/mcp", NODES.objectNode().set("post", operation("mcp", "MCP Streamable HTTP: one JSON-RPC "
                + "message; the tools are described by tools/list", responses()
                .<ObjectNode>set("200", json("A JSON-RPC response (or an event stream)", type("object")))
                .<ObjectNode>set("202", NODES.objectNode().put("description", "A notification or response accepted"))
                .<ObjectNode>set("400", json("Not one JSON-RPC message, or not UTF-8", type("object")))
                .<ObjectNode>set("413", json("The body exceeds server.max-request-bytes", type("object")))
                .set("415", json("Not application/json", type("object"))))
                .set("requestBody", NODES.objectNode().put("required", true).set("content", NODES.objectNode()
                        .set("application/json", NODES.objectNode().set("schema", type("object")))))));
        doc.set("paths", paths);

        ObjectNode components = NODES.objectNode();
        components.set("securitySchemes", NODES.objectNode().set("apiKey", NODES.objectNode().put("type", "http")
                .put("scheme", "bearer").put("description", "An API key from server.api-keys (MCP_SANDBOX_API_KEYS)")));
        ObjectNode defs = NODES.objectNode();
        defs.set("ExecutionRequest", schemas.input(RequestForm.ANY));
        defs.set("ExecutionResult", schemas.result());
        defs.set("ExecutionEvent", executionEvent());
        defs.set("Termination", schemas.terminated());
        defs.set("SessionRequest", schemas.input(RequestForm.SESSION));
        defs.set("Session", schemas.session());
        defs.set("FileListing", schemas.fileListing());
        ObjectNode gone = NODES.objectNode().put("type", "object");
        ObjectNode reason = type("string").put("description", "Why it closed");
        reason.set("enum", NODES.arrayNode().add("closed").add("idle").add("expired").add("failed")
                .add("server_restart").add("node_lost"));
        gone.set("properties", NODES.objectNode().<ObjectNode>set("error", type("string")).set("reason", reason));
        gone.set("required", NODES.arrayNode().add("error").add("reason"));
        defs.set("SessionGone", gone);
        defs.set("Me", me());
        defs.set("SecurityEventEntry", securityEventEntry());
        defs.set("Stats", stats());
        defs.set("Images", images());
        ObjectNode error = NODES.objectNode().put("type", "object");
        error.set("properties", NODES.objectNode()
                .<ObjectNode>set("error", type("string").put("description", "What is wrong"))
                .set("field", type("string").put("description", "The field at fault (dotted, e.g. limits.timeoutMs), "
                        + "when a single one is")));
        error.set("required", NODES.arrayNode().add("error"));
        defs.set("Error", error);
        components.set("schemas", defs);
        doc.set("components", components);
        return doc;
    }

    private static void sessionPaths(ObjectNode paths) {
        ObjectNode create = operation("createSession", "Open a session: a sandbox that lives across executions, "
                + "with its files, until it is closed, idle or at the end of its lifetime", responses()
                .<ObjectNode>set("201", json("The session", ref("Session")).set("headers", NODES.objectNode()
                        .set("Location", NODES.objectNode().set("schema", type("string")))))
                .<ObjectNode>set("400", error("The request cannot be read; field names what is wrong"))
                .<ObjectNode>set("408", error("The body stopped arriving"))
                .<ObjectNode>set("413", error("The body exceeds server.max-request-bytes"))
                .<ObjectNode>set("415", error("Not application/json in UTF-8"))
                .<ObjectNode>set("422", error("Refused by policy (field names what); e.g. a limit beyond the "
                        + "server's maximum, network, a runtime not allowed"))
                .<ObjectNode>set("429", error("You or the server hold as many open sessions as allowed "
                        + "(session.max-per-user, session.max-open)").set("headers", retryAfter()))
                .set("500", error("The sandbox could not be started")));
        create.set("requestBody", NODES.objectNode().put("required", true).set("content", NODES.objectNode()
                .set("application/json", NODES.objectNode().set("schema", ref("SessionRequest")))));
        ObjectNode list = operation("listSessions", "Your open sessions, newest first; an admin key's: every "
                + "user's (each with its userId), or one user's (user)", responses()
                .<ObjectNode>set("200", json("The sessions", NODES.objectNode().put("type", "object")
                        .<ObjectNode>set("properties", NODES.objectNode().set("sessions", NODES.objectNode()
                                .put("type", "array").set("items", ref("Session"))))
                        .set("required", NODES.arrayNode().add("sessions"))))
                .<ObjectNode>set("400", error("user is not a user id"))
                .set("403", error("A user's key named another user")));
        list.set("parameters", NODES.arrayNode().add(userParameter()));
        paths.set("/v1/sessions", NODES.objectNode().<ObjectNode>set("post", create).set("get", list));

        paths.set("/v1/sessions/{sessionId}", NODES.objectNode()
                .<ObjectNode>set("parameters", NODES.arrayNode().add(sessionIdParameter()))
                .<ObjectNode>set("get", operation("getSession", "One of your sessions (an admin key: anyone's, with "
                        + "its userId; every other session route stays the owner's)", unavailable(responses()
                        .set("200", json("The session", ref("Session"))))))
                .set("delete", operation("closeSession", "Close a session: every process in it ends and its "
                        + "sandbox is removed", unavailable(responses()
                        .set("200", json("The session, closed", ref("Session")))))));

        ObjectNode run = startExecution("startSessionExecution", "Run a snippet or a command in the session, "
                + "exactly as POST /v1/executions does (its sessionId is this one; a body naming another is a 400)");
        paths.set("/v1/sessions/{sessionId}/executions", NODES.objectNode()
                .<ObjectNode>set("parameters", NODES.arrayNode().add(sessionIdParameter()))
                .set("post", run));

        ObjectNode listing = operation("listSessionFiles", "A directory's entries (below /workspace or /tmp), "
                + "as the sandbox gave them: names are untrusted text", fileErrors(responses()
                .set("200", json("The entries", ref("FileListing")))));
        listing.set("parameters", NODES.arrayNode().add(query("dir", "An absolute directory: /workspace (the "
                + "default), /tmp, or one below them", type("string").put("default", "/workspace"))));
        paths.set("/v1/sessions/{sessionId}/files", NODES.objectNode()
                .<ObjectNode>set("parameters", NODES.arrayNode().add(sessionIdParameter()))
                .set("get", listing));

        ObjectNode octets = NODES.objectNode().set("application/octet-stream", NODES.objectNode()
                .set("schema", type("string").put("contentMediaType", "application/octet-stream")));
        ObjectNode put = operation("putSessionFile", "Write the raw body to the file (below /workspace), making "
                + "missing parent directories, replacing a file there; never through a link", fileErrors(responses()
                .set("204", NODES.objectNode().put("description", "Written"))));
        put.set("requestBody", NODES.objectNode().put("required", true).set("content", octets.deepCopy()));
        ObjectNode get = operation("getSessionFile", "The file's bytes (below /workspace or /tmp); a link is "
                + "refused, never followed", fileErrors(responses()
                .set("200", NODES.objectNode().put("description", "The file").set("content", octets))));
        ObjectNode delete = operation("deleteSessionFile", "Delete a file, a link (never its target) or an empty "
                + "directory below /workspace", fileErrors(responses()
                .set("204", NODES.objectNode().put("description", "Deleted"))));
        ObjectNode filePath = NODES.objectNode().put("name", "path").put("in", "path").put("required", true)
                .put("description", "The file's absolute path in the sandbox without its leading slash, e.g. "
                        + "workspace/data.csv (its slashes are part of it; no '.', '..' or empty component)");
        filePath.set("schema", type("string"));
        paths.set("/v1/sessions/{sessionId}/files/{path}", NODES.objectNode()
                .<ObjectNode>set("parameters", NODES.arrayNode().add(sessionIdParameter()).add(filePath))
                .<ObjectNode>set("put", put).<ObjectNode>set("get", get).set("delete", delete));
    }

    private static ObjectNode sessionIdParameter() {
        return NODES.objectNode().put("name", "sessionId").put("in", "path").put("required", true)
                .set("schema", type("string"));
    }

    /** The answers of every route of one session that is not there (any more). */
    private static ObjectNode unavailable(ObjectNode responses) {
        responses.set("404", error("Unknown, or someone else's: the same answer"));
        responses.set("410", json("The session is closed; reason says why", ref("SessionGone")));
        return responses;
    }

    private static ObjectNode fileErrors(ObjectNode responses) {
        unavailable(responses);
        responses.set("400", error("The path breaks the rules: not absolute, a '.', '..' or empty component, or "
                + "outside /workspace (and /tmp for reading)"));
        responses.set("404", error("Unknown session, or no such file"));
        responses.set("413", error("The file is larger than session.max-file-bytes"));
        responses.set("422", error("Refused by the sandbox's agent: a link, a directory, a FIFO, a full disk..."));
        responses.set("500", error("The session's agent did not answer in time"));
        return responses;
    }

    private static ObjectNode retryAfter() {
        return NODES.objectNode().set("Retry-After", NODES.objectNode().set("schema", type("integer")));
    }

    private static ObjectNode startExecution() {
        return startExecution("startExecution", "Run a snippet (language and code) or a command in a fresh "
                + "sandbox, or in one of your sessions (sessionId); waits for the result unless async=true");
    }

    /** Either way in a session, that session is checked first: 404 and 410 as on its own routes. */
    private static ObjectNode startExecution(String id, String summary) {
        ObjectNode accepted = NODES.objectNode().put("type", "object");
        accepted.set("properties", NODES.objectNode().<ObjectNode>set("executionId", type("string"))
                .set("status", type("string").set("const", NODES.stringNode("running"))));
        ObjectNode op = operation(id, summary, responses()
                .<ObjectNode>set("200", json("The result object: the program ran (any exit code, timeout, ...)",
                        ref("ExecutionResult")))
                .<ObjectNode>set("202", json("async=true: queued (outside a session; status queued, position, "
                        + "estimatedStartAt) or started (in a session); poll the Location", accepted)
                        .set("headers", NODES.objectNode().set("Location", NODES.objectNode()
                                .set("schema", type("string")))))
                .<ObjectNode>set("400", error("The request cannot be read; field names what is wrong"))
                .<ObjectNode>set("408", error("The body stopped arriving"))
                .<ObjectNode>set("413", error("The body exceeds server.max-request-bytes"))
                .<ObjectNode>set("415", error("Not application/json in UTF-8"))
                .<ObjectNode>set("422", json("Rejected by policy; reason names the field and the limit",
                        ref("ExecutionResult")))
                .<ObjectNode>set("429", error("Admission refused (server or user at its limit), or a queue limit "
                        + "(queue.max-per-user, queue.max-total, queue.max-bytes)")
                        .set("headers", retryAfter()))
                .set("500", json("The service failed: a result object with reason, or an error",
                        NODES.objectNode().set("oneOf", NODES.arrayNode().add(ref("ExecutionResult"))
                                .add(ref("Error"))))));
        unavailable((ObjectNode) op.get("responses"));
        ((ObjectNode) op.get("responses").get("200").get("content")).set(NdjsonExecutionStream.CONTENT_TYPE
                .split(";")[0], NODES.objectNode().set("schema", ref("ExecutionEvent")));
        op.set("parameters", NODES.arrayNode().add(query("async", "Answer at once with 202 and the executionId "
                        + "(as the body's background does)", type("boolean").put("default", false)))
                .add(query("stream", "Answer with NDJSON events while it runs: started, stdout/stderr chunks, then "
                        + "one result (not with async or background)", type("boolean").put("default", false))));
        op.set("requestBody", NODES.objectNode().put("required", true).set("content", NODES.objectNode()
                .set("application/json", NODES.objectNode().set("schema", ref("ExecutionRequest")))));
        return op;
    }

    /** One line of an execution's NDJSON stream. */
    private static ObjectNode executionEvent() {
        ObjectNode p = NODES.objectNode();
        ObjectNode kind = type("string").put("description", "started (executionId), stdout or stderr (data, offset), "
                + "notice (message: why no live output), result (result): always last");
        kind.set("enum", NODES.arrayNode().add("started").add("stdout").add("stderr").add("notice").add("result"));
        p.set("type", kind);
        p.set("executionId", type("string"));
        p.set("data", type("string").put("description", "Output text as it came (UTF-8; invalid bytes are U+FFFD)"));
        p.set("offset", type("integer").put("description", "Where data starts in its stream, in bytes"));
        p.set("message", type("string"));
        p.set("result", ref("ExecutionResult"));
        ObjectNode schema = NODES.objectNode().put("type", "object");
        schema.set("properties", p);
        return schema.set("required", NODES.arrayNode().add("type"));
    }

    /** POST /v1/executions/{executionId}/stdin. */
    private static ObjectNode recordPath() {
        ObjectNode op = operation("getExecutionRecord", "The stored record of your execution (an admin key's: "
                + "anyone's) without its output: userId, sessionId, command, language, image, runtime, level, "
                + "startedAt, endedAt, status, exitCode, durationMs, outputBytes, securityEvents, and request (a "
                + "bounded summary of what was asked: the code, env and file names, limits; never env values, stdin "
                + "or file contents)", responses()
                .<ObjectNode>set("200", json("The record", type("object")))
                .<ObjectNode>set("404", error("Unknown, or someone else's"))
                .set("503", error("The execution store cannot answer right now")));
        return NODES.objectNode().<ObjectNode>set("parameters", NODES.arrayNode().add(NODES.objectNode()
                .put("name", "executionId").put("in", "path").put("required", true).set("schema", type("string"))))
                .set("get", op);
    }

    private static ObjectNode stdinPath() {
        ObjectNode written = NODES.objectNode().put("type", "object");
        written.set("properties", NODES.objectNode().<ObjectNode>set("executionId", type("string"))
                .<ObjectNode>set("bytesWritten", type("integer").put("description", "Bytes that reached the program"))
                .<ObjectNode>set("stdinClosed", type("boolean"))
                .set("error", type("string")));
        ObjectNode op = operation("writeStdin", "Write the raw body (at most " + RestServlet.MAX_STDIN_WRITE
                + " bytes) to the standard input of your running execution started with keepStdinOpen; eof=true "
                + "closes it after", responses()
                .<ObjectNode>set("200", json("All bytes reached the program", written))
                .<ObjectNode>set("404", error("Unknown, or someone else's"))
                .<ObjectNode>set("409", json("Its stdin is not open (no keepStdinOpen, or closed), or it ended",
                        written))
                .<ObjectNode>set("413", error("More than " + RestServlet.MAX_STDIN_WRITE + " bytes"))
                .set("503", json("The program did not take the bytes within " + RestServlet.STDIN_WAIT.toSeconds()
                        + " s; bytesWritten says how many it did", written).set("headers", retryAfter())));
        op.set("parameters", NODES.arrayNode().add(query("eof", "Close its stdin after these bytes",
                type("boolean").put("default", false))));
        op.set("requestBody", NODES.objectNode().put("required", false).set("content", NODES.objectNode()
                .set("application/octet-stream", NODES.objectNode().set("schema", type("string")
                        .put("contentMediaType", "application/octet-stream")))));
        return NODES.objectNode().<ObjectNode>set("parameters", NODES.arrayNode().add(NODES.objectNode()
                .put("name", "executionId").put("in", "path").put("required", true).set("schema", type("string"))))
                .set("post", op);
    }

    private static ObjectNode getExecution() {
        ObjectNode ok = json("The result object (while it runs: status running, the output so far)",
                ref("ExecutionResult"));
        ((ObjectNode) ok.get("content")).set(NdjsonExecutionStream.CONTENT_TYPE.split(";")[0],
                NODES.objectNode().set("schema", ref("ExecutionEvent")));
        ObjectNode op = operation("getExecution", "An execution's result: status 'running' while it runs, then the "
                + "final result; stream=true follows it as NDJSON events (its output from the start, then live). "
                + "Yours; an admin key's: anyone's",
                responses().<ObjectNode>set("200", ok)
                        .<ObjectNode>set("404", error("Unknown, forgotten, or someone else's (for a user's key)"))
                        .set("503", error("The execution store cannot answer right now")));
        op.set("parameters", NODES.arrayNode().add(query("stream", "Answer with NDJSON events",
                type("boolean").put("default", false))));
        return op;
    }

    /** POST /v1/executions/batch and GET /v1/queue (docs/queue.md). */
    private static void queuePaths(ObjectNode paths) {
        ObjectNode outcome = NODES.objectNode().put("type", "object");
        outcome.set("properties", NODES.objectNode()
                .<ObjectNode>set("accepted", NODES.objectNode().put("type", "array").set("items", type("object")
                        .put("description", "index, executionId, status queued, position, estimatedStartAt")))
                .set("rejected", NODES.objectNode().put("type", "array").set("items", type("object")
                        .put("description", "index, field (or null), error"))));
        ObjectNode batch = operation("submitBatch", "Queue many requests at once (at most queue.max-batch); each "
                + "is validated on its own", responses()
                .<ObjectNode>set("202", json("At least one was queued", outcome))
                .<ObjectNode>set("400", json("None was valid, or the body is not {executions: [...]}", outcome))
                .<ObjectNode>set("413", error("The body exceeds server.max-request-bytes"))
                .<ObjectNode>set("415", error("Not application/json in UTF-8"))
                .<ObjectNode>set("429", json("The valid ones all met a queue limit", outcome)
                        .set("headers", retryAfter()))
                .set("503", error("The queue cannot take it now, or this process serves none")));
        ObjectNode body = NODES.objectNode().put("type", "object");
        body.set("properties", NODES.objectNode().set("executions", NODES.objectNode().put("type", "array")
                .set("items", ref("ExecutionRequest"))));
        body.set("required", NODES.arrayNode().add("executions"));
        batch.set("requestBody", NODES.objectNode().put("required", true).set("content", NODES.objectNode()
                .set("application/json", NODES.objectNode().set("schema", body))));
        paths.set("/v1/executions/batch", NODES.objectNode().set("post", batch));
        ObjectNode queue = operation("listQueue", "Your queued executions in run order (an admin key's: everyone's)",
                responses().<ObjectNode>set("200", json("depth and items", type("object")))
                        .set("400", error("limit is not valid")));
        queue.set("parameters", NODES.arrayNode().add(query("limit", "Most items to return", type("integer")
                .put("minimum", 1).put("maximum", QueueRoutes.MAX_LIST).put("default", 100))));
        paths.set("/v1/queue", NODES.objectNode().set("get", queue));
    }

    private static ObjectNode listExecutions() {
        ObjectNode op = operation("listExecutions", "Your running executions (active=true), or your stored records, "
                + "newest first, without their result; an admin key's: every user's (or one user's: user). Each "
                + "carries its userId. With status, runtime or image the newest " + ExecutionQueries.WINDOW
                + " records of the scope are filtered", responses()
                .<ObjectNode>set("200", json("The executions", NODES.objectNode().put("type", "object")
                        .set("properties", NODES.objectNode().set("executions", NODES.objectNode()
                                .put("type", "array").set("items", type("object"))))))
                .<ObjectNode>set("400", error("active, limit, ids, status, runtime, image or user is not valid "
                        + "(field names it)"))
                .<ObjectNode>set("403", error("A user's key named another user (field user)"))
                .set("503", error("The execution store cannot answer right now")));
        ObjectNode status = type("string");
        ArrayNode statuses = status.putArray("enum");
        for (ExecutionStatus s : ExecutionStatus.values()) {
            statuses.add(s.wireName());
        }
        op.set("parameters", NODES.arrayNode()
                .add(query("ids", "These executions (1 to " + QueueRoutes.MAX_IDS + ", comma-separated), in the "
                        + "order asked, as executions; unknown ones (or others') under unknown", type("string")))
                .add(query("active", "Only the running executions", type("boolean").put("default", false)))
                .add(query("limit", "Most records to return", type("integer").put("minimum", 1)
                        .put("maximum", RestServlet.MAX_LIST).put("default", ExecutionQueries.DEFAULT_LIST)))
                .add(query("status", "Only records with this status (with active=true: running)", status))
                .add(query("runtime", "Only executions on this runtime (one of GET /v1/runtimes)", type("string")))
                .add(query("image", "Only executions of this image, as the record names it", type("string")
                        .put("pattern", "^[A-Za-z0-9._:/@+-]{1,256}$")))
                .add(userParameter()));
        return op;
    }

    /** {@code user}: an admin key's filter; a user's key may name only itself. */
    private static ObjectNode userParameter() {
        return query("user", "Only this user's (an admin key; a user's key may name only its own user: another "
                + "is a 403)", type("string").put("pattern", "^[A-Za-z0-9._@+-]{1,128}$"));
    }

    /** GET /v1/me, /v1/security-events, /v1/stats, /v1/images: what the web console reads (docs/console.md). */
    private static void consolePaths(ObjectNode paths) {
        paths.set("/v1/me", NODES.objectNode().set("get", operation("me", "Who the API key is: its user and "
                + "whether it is an admin key", responses().set("200", json("The caller", ref("Me"))))));
        ObjectNode events = operation("listSecurityEvents", "Security events (DLP findings, refused connections, "
                + "...) of executions that started since a time, newest first: yours; an admin key's: every "
                + "user's. Searched over the newest " + ExecutionQueries.WINDOW + " records of the scope",
                responses()
                        .<ObjectNode>set("200", json("The events", NODES.objectNode().put("type", "object")
                                .<ObjectNode>set("properties", NODES.objectNode().set("events", NODES.objectNode()
                                        .put("type", "array").set("items", ref("SecurityEventEntry"))))
                                .set("required", NODES.arrayNode().add("events"))))
                        .<ObjectNode>set("400", error("since, limit or user is not valid (field names it)"))
                        .<ObjectNode>set("403", error("A user's key named another user (field user)"))
                        .set("503", error("The execution store cannot answer right now")));
        events.set("parameters", NODES.arrayNode()
                .add(query("since", "Executions that started at or after this ISO-8601 instant (not in the "
                        + "future, at most " + ExecutionQueries.MAX_SINCE.toDays() + " days ago; default "
                        + ExecutionQueries.DEFAULT_SINCE.toHours() + " hours ago)", type("string")
                        .put("format", "date-time")))
                .add(query("limit", "Most events to return", type("integer").put("minimum", 1)
                        .put("maximum", ExecutionQueries.MAX_EVENTS).put("default", ExecutionQueries.DEFAULT_EVENTS)))
                .add(userParameter()));
        paths.set("/v1/security-events", NODES.objectNode().set("get", events));
        paths.set("/v1/stats", NODES.objectNode().set("get", operation("stats", "Live figures for any key, from the "
                + "meters of /metrics: running executions, executions and errors per minute (last 60 minutes), "
                + "duration percentiles per runtime, statuses, security events, warm pools",
                responses().set("200", json("The figures", ref("Stats"))))));
        paths.set("/v1/images", NODES.objectNode().set("get", operation("images", "The images this server knows, "
                + "with their latest vulnerability scan, and the scanner", responses()
                .set("200", json("The images", ref("Images"))))));
        paths.set("/v1/cluster", NODES.objectNode().set("get", operation("clusterStatus", "Cluster mode "
                + "(docs/cluster.md): every node with its state (active, draining, dead, invalid), address, "
                + "runtimes, load and last heartbeat, and which node answered (self). Admin keys only", responses()
                .<ObjectNode>set("200", json("The nodes", type("object")))
                .<ObjectNode>set("403", error("Not an admin key"))
                .<ObjectNode>set("404", error("This server is not in cluster mode"))
                .set("503", error("The cluster's Redis cannot be reached right now")))));
    }

    private static ObjectNode me() {
        ObjectNode me = NODES.objectNode().put("type", "object");
        me.set("properties", NODES.objectNode().<ObjectNode>set("userId", type("string"))
                .set("admin", type("boolean").put("description", "An admin key (TOKEN:USER:admin) sees every "
                        + "user's executions, sessions and events")));
        me.set("required", NODES.arrayNode().add("userId").add("admin"));
        return me;
    }

    private static ObjectNode securityEventEntry() {
        ObjectNode p = NODES.objectNode();
        p.set("at", type("string").put("format", "date-time").put("description", "When its execution started"));
        p.set("executionId", type("string"));
        p.set("userId", type("string"));
        p.set("sessionId", nullable("string"));
        p.set("runtime", nullable("string"));
        p.set("image", nullable("string"));
        p.set("type", type("string").put("description", "e.g. dlp.aws_access_key, network.connection_refused"));
        ObjectNode severity = type("string");
        severity.set("enum", NODES.arrayNode().add("low").add("medium").add("high").add("critical"));
        p.set("severity", severity);
        p.set("count", type("integer").put("description", "How many findings it stands for (details.count, else 1)"));
        p.set("timestamp", type("string").put("format", "date-time").put("description", "When it was seen"));
        p.set("description", type("string"));
        p.set("details", type("object").put("description", "Counts, offsets and names; never the secret"));
        ObjectNode entry = NODES.objectNode().put("type", "object");
        entry.set("properties", p);
        entry.set("required", NODES.arrayNode().add("at").add("executionId").add("userId").add("type")
                .add("severity").add("count"));
        return entry;
    }

    private static ObjectNode stats() {
        ObjectNode minute = object(NODES.objectNode()
                .<ObjectNode>set("at", type("string").put("format", "date-time").put("description", "The minute's "
                        + "start"))
                .<ObjectNode>set("executions", type("integer"))
                .set("errors", type("integer")));
        ObjectNode runtime = object(NODES.objectNode()
                .<ObjectNode>set("runtime", type("string"))
                .<ObjectNode>set("executions", type("integer"))
                .<ObjectNode>set("p50Ms", nullable("number"))
                .<ObjectNode>set("p95Ms", nullable("number"))
                .set("p99Ms", nullable("number")));
        ObjectNode pool = object(NODES.objectNode()
                .<ObjectNode>set("key", type("string").put("description", "runtime/image/language, e.g. "
                        + "runc/host/python"))
                .<ObjectNode>set("size", type("integer"))
                .<ObjectNode>set("ready", type("integer"))
                .<ObjectNode>set("hits", type("integer"))
                .<ObjectNode>set("misses", type("integer"))
                .set("hitRate", nullable("number").put("minimum", 0).put("maximum", 1)
                        .put("description", "hits / (hits + misses); null before the first take")));
        return object(NODES.objectNode()
                .<ObjectNode>set("generatedAt", type("string").put("format", "date-time"))
                .<ObjectNode>set("activeExecutions", type("integer"))
                .<ObjectNode>set("perMinute", array(minute).put("description", "The last 60 minutes, oldest first"))
                .<ObjectNode>set("runtimes", array(runtime))
                .<ObjectNode>set("statuses", type("object").put("description", "Executions by status, e.g. "
                        + "{completed: 12}").set("additionalProperties", type("integer")))
                .<ObjectNode>set("securityEvents", type("object").put("description", "Security events by "
                        + "type/severity, e.g. {\"dlp.aws_access_key/high\": 2}")
                        .set("additionalProperties", type("integer")))
                .set("pools", array(pool)));
    }

    private static ObjectNode images() {
        ObjectNode finding = object(NODES.objectNode()
                .<ObjectNode>set("severity", type("string"))
                .<ObjectNode>set("id", type("string"))
                .<ObjectNode>set("package", type("string"))
                .<ObjectNode>set("installedVersion", type("string"))
                .set("fixedVersion", type("string")));
        ObjectNode scan = object(NODES.objectNode()
                .<ObjectNode>set("scannedAt", type("string").put("format", "date-time"))
                .<ObjectNode>set("critical", type("integer"))
                .<ObjectNode>set("high", type("integer"))
                .<ObjectNode>set("analysed", type("boolean").put("description", "false when the scanner found "
                        + "nothing it could check: an empty report is then no clean bill"))
                .set("findings", array(finding).put("description", "The first critical and high findings")));
        ObjectNode image = object(NODES.objectNode()
                .<ObjectNode>set("name", type("string"))
                .<ObjectNode>set("kind", type("string"))
                .<ObjectNode>set("digest", nullable("string"))
                .<ObjectNode>set("sizeBytes", type("integer"))
                .<ObjectNode>set("unpacked", type("boolean"))
                .set("scan", NODES.objectNode().set("oneOf", NODES.arrayNode().add(type("null")).add(scan))));
        return object(NODES.objectNode()
                .<ObjectNode>set("scanner", type("string").put("description", "The scanner and its version, or "
                        + "'not installed: ...'"))
                .set("images", array(image)));
    }

    private static ObjectNode nullable(String type) {
        return NODES.objectNode().set("type", NODES.arrayNode().add(type).add("null"));
    }

    private static ObjectNode object(ObjectNode properties) {
        ObjectNode o = NODES.objectNode().put("type", "object");
        o.set("properties", properties);
        return o;
    }

    private static ObjectNode array(ObjectNode items) {
        return NODES.objectNode().put("type", "array").set("items", items);
    }

    private static ObjectNode health() {
        ObjectNode op = operation("health", "Liveness: ok, or degraded while records cannot reach their primary "
                + "store; detail=true (with an API key) adds the store's state", responses()
                .<ObjectNode>set("200", json("The status", type("object")))
                .<ObjectNode>set("400", error("detail is not true or false"))
                .set("401", error("detail=true without a valid API key")));
        op.set("security", NODES.arrayNode().add(NODES.objectNode()).add(NODES.objectNode()
                .set("apiKey", NODES.arrayNode())));
        op.set("parameters", NODES.arrayNode().add(query("detail", "Add the store's state (needs an API key)",
                type("boolean").put("default", false))));
        return op;
    }

    private static ObjectNode operation(String id, String summary, ObjectNode responses) {
        if (!responses.has("401")) {
            responses.set("401", error("No valid API key"));
        }
        ObjectNode op = NODES.objectNode().put("operationId", id).put("summary", summary);
        op.set("responses", responses);
        return op;
    }

    private static ObjectNode responses() {
        return NODES.objectNode();
    }

    private static ObjectNode json(String description, JsonNode schema) {
        ObjectNode response = NODES.objectNode().put("description", description);
        response.set("content", NODES.objectNode().set("application/json", NODES.objectNode().set("schema", schema)));
        return response;
    }

    private static ObjectNode error(String description) {
        return json(description, ref("Error"));
    }

    private static ObjectNode query(String name, String description, ObjectNode schema) {
        ObjectNode parameter = NODES.objectNode().put("name", name).put("in", "query").put("description", description);
        parameter.set("schema", schema);
        return parameter;
    }

    private static ObjectNode ref(String name) {
        return NODES.objectNode().put("$ref", "#/components/schemas/" + name);
    }

    private static ObjectNode type(String type) {
        return NODES.objectNode().put("type", type);
    }
}
