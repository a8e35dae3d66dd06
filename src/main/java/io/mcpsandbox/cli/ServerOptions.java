package io.mcpsandbox.cli;

import picocli.CommandLine.Option;

/** {@code --url} and {@code --api-key}: which running server a command talks to, and as whom. */
final class ServerOptions {
    static final String FOOTER_SERVER = "Talks to a running `mcp-sandbox serve --http` at --url (env MCP_SANDBOX_URL, "
            + "such as http://127.0.0.1:8080) with the API key of --api-key (env MCP_SANDBOX_API_KEY; the environment "
            + "keeps it out of the process list); sessions belong to that key's user.";
    static final String FOOTER_EXIT = "Exit status: 0 done; 2 bad arguments, or the server refused the request "
            + "(400, 413, 422); 3 the server cannot be reached; 4 the API key was refused (401, 403); 5 no such "
            + "session of yours, or no such file (404); 6 the session is closed (410; its reason is printed); 7 too "
            + "many open sessions (429); 1 anything else. Errors are one line on stderr with the server's message.";

    @Option(names = "--url", paramLabel = "URL", defaultValue = "${env:MCP_SANDBOX_URL}",
            description = "The server's base URL, e.g. http://127.0.0.1:8080 (env MCP_SANDBOX_URL).")
    String url;

    @Option(names = "--api-key", paramLabel = "KEY", defaultValue = "${env:MCP_SANDBOX_API_KEY}",
            description = "Your API key on that server (env MCP_SANDBOX_API_KEY).")
    String apiKey;

    /** The client, or a {@link SessionsClient.Failure} (exit 2) saying what is missing. */
    SessionsClient client() throws SessionsClient.Failure {
        if (url == null || url.isBlank()) {
            throw new SessionsClient.Failure("which server? Sessions live in a running `mcp-sandbox serve --http`: "
                    + "give its address with --url URL or MCP_SANDBOX_URL (e.g. http://127.0.0.1:8080)",
                    SessionsClient.REFUSED);
        }
        try {
            return new SessionsClient(url, apiKey);
        } catch (IllegalArgumentException e) {
            throw new SessionsClient.Failure(e.getMessage(), SessionsClient.REFUSED);
        }
    }
}
