package io.mcpsandbox.api.mcp;

import io.mcpsandbox.api.SandboxApi;
import io.modelcontextprotocol.server.McpAsyncServer;
import io.modelcontextprotocol.spec.McpStreamableServerTransportProvider;

/**
 * The MCP server for Streamable HTTP: the tools act for the user the HTTP layer put in the transport context
 * (from the API key). The HTTP server takes this as a factory, so api.http needs nothing of api.mcp.
 */
public final class HttpMcpServer {
    private HttpMcpServer() {
    }

    public static McpAsyncServer create(SandboxApi api, McpStreamableServerTransportProvider transport) {
        java.util.function.Function<io.modelcontextprotocol.server.McpAsyncServerExchange, String> users =
                exchange -> (String) exchange.transportContext().get(SandboxApi.USER);
        // One forwarder for all: a call for a session another cluster node holds goes there, with the caller's key.
        SessionForwarder forwarder = new SessionForwarder(api.sessions(), api.json());
        return McpServers.streamable(transport, new SandboxTools(api, users, forwarder),
                new SessionTools(api, users, forwarder), new SessionResources(api, users, forwarder));
    }
}
