package io.mcpsandbox.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.testing.SystemTest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Session files as resources through the official TypeScript SDK client (src/test/node/mcp-resources.mjs). */
@SystemTest
class NodeResourcesTest {
    private static ApiServerFixture fixture;

    @BeforeAll
    static void start() throws Exception {
        assertThat(NodeClientsTest.NODE_DIR.resolve("node_modules/@modelcontextprotocol/sdk")).as(
                "the Node test clients are not installed; run: npm ci --prefix src/test/node").isDirectory();
        fixture = ApiServerFixture.start();
    }

    @AfterAll
    static void stop() throws Exception {
        if (fixture != null) {
            fixture.close();
        }
    }

    @Test
    void typescriptSdkClientReadsSessionFiles() throws Exception {
        NodeClientsTest.Result r = NodeClientsTest.node(java.util.List.of("mcp-resources.mjs"), java.util.Map.of(
                "MCP_URL", fixture.url("/mcp"), "MCP_KEY", ApiServerFixture.KEY_ALICE,
                "MCP_KEY_B", ApiServerFixture.KEY_BOB));
        assertThat(r.exit()).as(r.output()).isZero();
        assertThat(r.stdout()).contains("6 checks passed");
    }
}
