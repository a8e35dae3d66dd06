package io.mcpsandbox.api.mcp;

import io.mcpsandbox.model.ProductVersion;
import io.modelcontextprotocol.json.McpJsonDefaults;
import io.modelcontextprotocol.server.McpAsyncServer;
import io.modelcontextprotocol.server.McpServer;
import io.modelcontextprotocol.spec.McpSchema;
import io.modelcontextprotocol.spec.McpServerTransportProvider;
import io.modelcontextprotocol.spec.McpStreamableServerTransportProvider;

/** Builds the MCP server (same tools, same instructions) over stdio or Streamable HTTP. */
public final class McpServers {
    public static final String NAME = ProductVersion.NAME;
    public static final String VERSION = ProductVersion.VERSION;
    static final String INSTRUCTIONS = "Runs untrusted code in isolated sandboxes (runc, gVisor). Use execute_code "
            + "for a snippet in a language, run_command for an argv in an image. Each call gets a fresh sandbox "
            + "without network; nothing persists between calls. Results carry stdout, stderr, exit code, status, "
            + "resource usage and security events.";

    private McpServers() {
    }

    public static McpAsyncServer stdio(McpServerTransportProvider transport, SandboxTools tools) {
        return McpServer.async(transport).serverInfo(NAME, VERSION).instructions(INSTRUCTIONS)
                .jsonMapper(McpJsonDefaults.getMapper())
                .capabilities(McpSchema.ServerCapabilities.builder().tools(false).build())
                // Our own parser checks arguments, with the same messages as REST.
                .validateToolInputs(false)
                .tools(tools.specifications()).build();
    }

    public static McpAsyncServer streamable(McpStreamableServerTransportProvider transport, SandboxTools tools) {
        return McpServer.async(transport).serverInfo(NAME, VERSION).instructions(INSTRUCTIONS)
                .jsonMapper(McpJsonDefaults.getMapper())
                .capabilities(McpSchema.ServerCapabilities.builder().tools(false).build())
                .validateToolInputs(false)
                .tools(tools.specifications()).build();
    }
}
