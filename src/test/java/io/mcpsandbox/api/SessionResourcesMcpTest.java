package io.mcpsandbox.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.testing.SystemTest;
import io.modelcontextprotocol.client.McpClient;
import io.modelcontextprotocol.client.McpSyncClient;
import io.modelcontextprotocol.client.transport.HttpClientStreamableHttpTransport;
import io.modelcontextprotocol.spec.McpError;
import io.modelcontextprotocol.spec.McpSchema;
import io.modelcontextprotocol.spec.McpSchema.BlobResourceContents;
import io.modelcontextprotocol.spec.McpSchema.CallToolResult;
import io.modelcontextprotocol.spec.McpSchema.ReadResourceRequest;
import io.modelcontextprotocol.spec.McpSchema.TextResourceContents;
import java.net.http.HttpRequest;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Session files as MCP resources, through the MCP Java SDK's client over Streamable HTTP against the real server:
 * the template and the index are listed, reads go through the session's agent (text, binary, nested paths), and
 * what is outside, a link, missing or another user's is refused.
 */
@SystemTest
class SessionResourcesMcpTest {
    private static final String TEMPLATE = "sandbox://sessions/{sessionId}/files/{+path}";
    /** A 1x1 PNG. */
    private static final byte[] PNG = Base64.getDecoder().decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADE"
            + "lEQVR4nGNgYGAAAAAEAAH2FzhVAAAAAElFTkSuQmCC");

    private static ApiServerFixture fixture;

    @BeforeAll
    static void start() throws Exception {
        fixture = ApiServerFixture.start();
    }

    @AfterAll
    static void stop() throws Exception {
        fixture.close();
    }

    @Test
    void aSessionsFilesAreResourcesOfItsOwnerOnly() {
        try (McpSyncClient alice = client(ApiServerFixture.KEY_ALICE);
             McpSyncClient bob = client(ApiServerFixture.KEY_BOB)) {
            assertThat(alice.getCurrentInitializationResult().capabilities().resources()).isNotNull();
            assertThat(alice.listResourceTemplates().resourceTemplates())
                    .extracting(McpSchema.ResourceTemplate::uriTemplate).containsExactly(TEMPLATE);
            assertThat(alice.listResources().resources()).extracting(McpSchema.Resource::uri)
                    .containsExactly("sandbox://sessions");

            String id = (String) call(alice, "create_session", Map.of("runtime", "runc")).get("sessionId");
            try {
                call(alice, "write_file", Map.of("sessionId", id, "path", "/workspace/notes.txt", "content",
                        "hello\n"));
                call(alice, "write_file", Map.of("sessionId", id, "path", "/workspace/chart.png", "contentBase64",
                        Base64.getEncoder().encodeToString(PNG)));
                call(alice, "write_file", Map.of("sessionId", id, "path", "/workspace/out/deep er.json",
                        "content", "{}"));
                call(alice, "run_command", Map.of("sessionId", id, "command", java.util.List.of("sh", "-c",
                        "ln -s /etc/passwd /workspace/link.txt")));
                String base = "sandbox://sessions/" + id + "/files/workspace/";

                TextResourceContents text = (TextResourceContents) read(alice, base + "notes.txt");
                assertThat(text.text()).isEqualTo("hello\n");
                assertThat(text.mimeType()).isEqualTo("text/plain");
                BlobResourceContents blob = (BlobResourceContents) read(alice, base + "chart.png");
                assertThat(blob.mimeType()).isEqualTo("image/png");
                assertThat(Base64.getDecoder().decode(blob.blob())).isEqualTo(PNG);
                TextResourceContents nested = (TextResourceContents) read(alice, base + "out/deep%20er.json");
                assertThat(nested.text()).isEqualTo("{}");
                assertThat(nested.mimeType()).isEqualTo("application/json");

                TextResourceContents index = (TextResourceContents) read(alice, "sandbox://sessions");
                assertThat(index.mimeType()).isEqualTo("application/json");
                assertThat(index.text()).contains("\"sessionId\":\"" + id + "\"", "\"uri\":\"" + base
                        + "notes.txt\"", base + "chart.png").doesNotContain("link.txt", "deep");

                assertError(alice, base + "link.txt", McpSchema.ErrorCodes.INVALID_PARAMS, "link");
                assertError(alice, base + "missing.txt", McpSchema.ErrorCodes.RESOURCE_NOT_FOUND, "missing.txt");
                assertError(alice, "sandbox://sessions/" + id + "/files/etc/passwd",
                        McpSchema.ErrorCodes.INVALID_PARAMS, "outside");
                assertError(alice, base + "%2E%2E/etc/passwd", McpSchema.ErrorCodes.INVALID_PARAMS, "'..'");
                assertError(alice, "sandbox://sessions/nope/files/workspace/notes.txt",
                        McpSchema.ErrorCodes.RESOURCE_NOT_FOUND, "no session nope");

                // Bob: alice's session does not exist for him, and his index is empty.
                assertError(bob, base + "notes.txt", McpSchema.ErrorCodes.RESOURCE_NOT_FOUND, "no session");
                assertThat(((TextResourceContents) read(bob, "sandbox://sessions")).text())
                        .isEqualTo("{\"sessions\":[]}");
            } finally {
                call(alice, "close_session", Map.of("sessionId", id));
            }
            assertError(alice, "sandbox://sessions/" + id + "/files/workspace/notes.txt",
                    McpSchema.ErrorCodes.RESOURCE_NOT_FOUND, "closed");
        }
    }

    private static McpSyncClient client(String key) {
        HttpClientStreamableHttpTransport transport = HttpClientStreamableHttpTransport.builder(fixture.url(""))
                .endpoint("/mcp").requestBuilder(HttpRequest.newBuilder().header("Authorization", "Bearer " + key))
                .build();
        McpSyncClient client = McpClient.sync(transport).requestTimeout(Duration.ofSeconds(60)).build();
        client.initialize();
        return client;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> call(McpSyncClient client, String tool, Map<String, Object> arguments) {
        CallToolResult result = client.callTool(new McpSchema.CallToolRequest(tool, arguments));
        assertThat(result.isError()).as(tool + ": " + result.content()).isFalse();
        return (Map<String, Object>) result.structuredContent();
    }

    private static McpSchema.ResourceContents read(McpSyncClient client, String uri) {
        McpSchema.ReadResourceResult result = client.readResource(new ReadResourceRequest(uri));
        assertThat(result.contents()).hasSize(1);
        assertThat(result.contents().get(0).uri()).isEqualTo(uri);
        return result.contents().get(0);
    }

    private static void assertError(McpSyncClient client, String uri, int code, String says) {
        assertThatThrownBy(() -> client.readResource(new ReadResourceRequest(uri)))
                .isInstanceOfSatisfying(McpError.class, e -> {
                    assertThat(e.getJsonRpcError().code()).as(e.getMessage()).isEqualTo(code);
                    assertThat(e.getMessage()).contains(says);
                });
    }
}
