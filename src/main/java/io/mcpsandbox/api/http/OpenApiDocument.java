package io.mcpsandbox.api.http;

import io.mcpsandbox.api.RequestForm;
import io.mcpsandbox.api.RequestSchemas;
import io.mcpsandbox.model.ProductVersion;
import tools.jackson.databind.JsonNode;
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
                .<ObjectNode>set("get", operation("getExecution", "An execution's result: status 'running' while it "
                        + "runs, then the final result", responses()
                        .<ObjectNode>set("200", json("The result object", ref("ExecutionResult")))
                        .<ObjectNode>set("404", error("Unknown, forgotten, or someone else's"))
                        .set("503", error("The execution store cannot answer right now"))))
                .set("delete", operation("terminateExecution", "Kill every process of a running execution",
                        responses()
                                .<ObjectNode>set("202", json("It is being killed; its result will say 'terminated'",
                                        ref("Termination")))
                                .<ObjectNode>set("404", error("Unknown, forgotten, or someone else's"))
                                .set("409", json("It had already finished", ref("Termination"))))));
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
        defs.set("Termination", schemas.terminated());
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

    private static ObjectNode startExecution() {
        ObjectNode accepted = NODES.objectNode().put("type", "object");
        accepted.set("properties", NODES.objectNode().<ObjectNode>set("executionId", type("string"))
                .set("status", type("string").set("const", NODES.stringNode("running"))));
        ObjectNode op = operation("startExecution", "Run a snippet (language and code) or a command in a fresh "
                + "sandbox; waits for the result unless async=true", responses()
                .<ObjectNode>set("200", json("The result object: the program ran (any exit code, timeout, ...)",
                        ref("ExecutionResult")))
                .<ObjectNode>set("202", json("async=true: started; poll the Location", accepted)
                        .set("headers", NODES.objectNode().set("Location", NODES.objectNode()
                                .set("schema", type("string")))))
                .<ObjectNode>set("400", error("The request cannot be read; field names what is wrong"))
                .<ObjectNode>set("408", error("The body stopped arriving"))
                .<ObjectNode>set("413", error("The body exceeds server.max-request-bytes"))
                .<ObjectNode>set("415", error("Not application/json in UTF-8"))
                .<ObjectNode>set("422", json("Rejected by policy; reason names the field and the limit",
                        ref("ExecutionResult")))
                .<ObjectNode>set("429", error("Admission refused (server or user at its limit)")
                        .set("headers", NODES.objectNode().set("Retry-After", NODES.objectNode()
                                .set("schema", type("integer")))))
                .set("500", json("The service failed: a result object with reason, or an error",
                        NODES.objectNode().set("oneOf", NODES.arrayNode().add(ref("ExecutionResult"))
                                .add(ref("Error"))))));
        op.set("parameters", NODES.arrayNode().add(query("async", "Answer at once with 202 and the executionId",
                type("boolean").put("default", false))));
        op.set("requestBody", NODES.objectNode().put("required", true).set("content", NODES.objectNode()
                .set("application/json", NODES.objectNode().set("schema", ref("ExecutionRequest")))));
        return op;
    }

    private static ObjectNode listExecutions() {
        ObjectNode op = operation("listExecutions", "Your running executions (active=true), or your stored records, "
                + "newest first", responses()
                .<ObjectNode>set("200", json("The executions", NODES.objectNode().put("type", "object")
                        .set("properties", NODES.objectNode().set("executions", NODES.objectNode()
                                .put("type", "array").set("items", type("object"))))))
                .<ObjectNode>set("400", error("active or limit is not valid"))
                .set("503", error("The execution store cannot answer right now")));
        op.set("parameters", NODES.arrayNode()
                .add(query("active", "Only the running executions", type("boolean").put("default", false)))
                .add(query("limit", "Most records to return", type("integer").put("minimum", 1)
                        .put("maximum", RestServlet.MAX_LIST).put("default", 50))));
        return op;
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
