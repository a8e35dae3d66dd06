package io.mcpsandbox.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.testing.SystemTest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Session files as resources through the official TypeScript SDK client (src/test/node/mcp-resources.mjs). */
@SystemTest
class NodeResourcesTest {
    private static final Path NODE_DIR = Path.of("src/test/node").toAbsolutePath();
    private static ApiServerFixture fixture;

    @BeforeAll
    static void start() throws Exception {
        assertThat(NODE_DIR.resolve("node_modules/@modelcontextprotocol/sdk")).as(
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
        ProcessBuilder pb = new ProcessBuilder("node", "mcp-resources.mjs").directory(NODE_DIR.toFile());
        pb.environment().put("MCP_URL", fixture.url("/mcp"));
        pb.environment().put("MCP_KEY", ApiServerFixture.KEY_ALICE);
        pb.environment().put("MCP_KEY_B", ApiServerFixture.KEY_BOB);
        Path err = Files.createTempFile("node-stderr", ".txt");
        pb.redirectError(err.toFile());
        Process p = pb.start();
        p.getOutputStream().close();
        String stdout = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        boolean done = p.waitFor(240, TimeUnit.SECONDS);
        if (!done) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        String stderr = Files.readString(err, StandardCharsets.UTF_8);
        Files.delete(err);
        assertThat(done ? p.exitValue() : -1).as("stdout:\n" + stdout + "\nstderr:\n" + stderr).isZero();
        assertThat(stdout).contains("6 checks passed");
    }
}
