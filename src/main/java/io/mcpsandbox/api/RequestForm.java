package io.mcpsandbox.api;

/** Which request a caller sends: each form has its own schema in {@link RequestSchemas}. */
public enum RequestForm {
    /** The MCP tool execute_code: a snippet in a language. */
    SNIPPET("execute_code"),
    /** The MCP tool run_command: an argv in an image. */
    COMMAND("run_command"),
    /** The body of REST {@code POST /v1/executions}: either of the two. */
    ANY("ExecutionRequest"),
    /** A session to open: REST {@code POST /v1/sessions}, and MCP's create_session. */
    SESSION("SessionRequest");

    private final String schemaName;

    RequestForm(String schemaName) {
        this.schemaName = schemaName;
    }

    /** The tool's name, or the schema's name in the OpenAPI document. */
    public String schemaName() {
        return schemaName;
    }
}
