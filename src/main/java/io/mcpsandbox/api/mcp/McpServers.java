package io.mcpsandbox.api.mcp;

import io.mcpsandbox.model.ProductVersion;
import io.modelcontextprotocol.json.McpJsonDefaults;
import io.modelcontextprotocol.server.McpAsyncServer;
import io.modelcontextprotocol.server.McpServer;
import io.modelcontextprotocol.server.McpServerFeatures;
import io.modelcontextprotocol.spec.McpSchema;
import io.modelcontextprotocol.spec.McpServerTransportProvider;
import io.modelcontextprotocol.spec.McpStreamableServerTransportProvider;

/** Builds the MCP server (same tools, same instructions) over stdio or Streamable HTTP. */
public final class McpServers {
    public static final String NAME = ProductVersion.NAME;
    public static final String VERSION = ProductVersion.VERSION;
    static final String INSTRUCTIONS = "Runs untrusted code in isolated sandboxes (runc, gVisor). Use execute_code "
            + "for a snippet in a language, run_command for an argv in an image. Without a sessionId each call gets a "
            + "fresh sandbox (no network unless it asks and the server allows: then HTTP(S) to allowed domains only) "
            + "and nothing persists; create_session opens a sandbox of yours that "
            + "lives across calls (pass its sessionId to execute_code, run_command, write_file, read_file, "
            + "list_files; close_session when done). Results carry stdout, stderr, exit code, status, resource "
            + "usage and security events.";

    private McpServers() {
    }

    public static McpAsyncServer stdio(McpServerTransportProvider transport, SandboxTools tools,
                                       SessionTools sessions, SessionResources resources) {
        return McpServer.async(transport).serverInfo(NAME, VERSION).instructions(INSTRUCTIONS)
                .jsonMapper(McpJsonDefaults.getMapper())
                // logging: a session's owner is warned before it is closed for idleness or at its lifetime's end
                .capabilities(McpSchema.ServerCapabilities.builder().tools(false).logging().resources(false, false)
                        .build())
                // Our own parser checks arguments, with the same messages as REST.
                .validateToolInputs(false)
                .tools(all(tools, sessions))
                // session files (SessionResources); {+path} spans "/", which the SDK's own matcher does not
                .uriTemplateManagerFactory(new ResourceUriTemplates())
                .resources(resources.resources()).resourceTemplates(resources.templates()).build();
    }

    public static McpAsyncServer streamable(McpStreamableServerTransportProvider transport, SandboxTools tools,
                                            SessionTools sessions, SessionResources resources) {
        return McpServer.async(transport).serverInfo(NAME, VERSION).instructions(INSTRUCTIONS)
                .jsonMapper(McpJsonDefaults.getMapper())
                .capabilities(McpSchema.ServerCapabilities.builder().tools(false).logging().resources(false, false)
                        .build())
                .validateToolInputs(false)
                .tools(all(tools, sessions))
                // session files (SessionResources); {+path} spans "/", which the SDK's own matcher does not
                .uriTemplateManagerFactory(new ResourceUriTemplates())
                .resources(resources.resources()).resourceTemplates(resources.templates()).build();
    }

    private static java.util.List<McpServerFeatures.AsyncToolSpecification> all(SandboxTools tools,
                                                                               SessionTools sessions) {
        java.util.List<McpServerFeatures.AsyncToolSpecification> all = new java.util.ArrayList<>(
                tools.specifications());
        all.addAll(sessions.specifications());
        return all;
    }
}
