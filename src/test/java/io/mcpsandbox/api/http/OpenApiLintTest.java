package io.mcpsandbox.api.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.api.Json;
import io.mcpsandbox.testing.SystemTest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.node.ObjectNode;

/**
 * Lints the served OpenAPI document with a real OpenAPI tool (@apidevtools/swagger-parser, src/test/node), and
 * shows the lint catches a broken document. Needs {@code npm ci --prefix src/test/node}.
 */
@SystemTest
class OpenApiLintTest {
    private static final Path NODE_DIR = Path.of("src/test/node").toAbsolutePath();

    @TempDir
    Path dir;

    @Test
    void theDocumentPassesTheLint() throws Exception {
        Lint lint = lint(OpenApiDocument.build(OpenApiDocumentTest.SCHEMAS));
        assertThat(lint.exit()).as(lint.output()).isZero();
        assertThat(lint.output()).contains("valid: OpenAPI 3.1.0");
    }

    @Test
    void aBrokenDocumentFailsTheLint() throws Exception {
        ObjectNode dangling = OpenApiDocument.build(OpenApiDocumentTest.SCHEMAS);
        ((ObjectNode) dangling.get("components").get("schemas")).remove("ExecutionResult");
        assertThat(lint(dangling).exit()).as("a $ref to nothing").isNotZero();

        ObjectNode badParameter = OpenApiDocument.build(OpenApiDocumentTest.SCHEMAS);
        ((ObjectNode) badParameter.at("/paths/~1v1~1executions/get/parameters/0")).put("in", "body");
        assertThat(lint(badParameter).exit()).as("a parameter 'in: body' (OpenAPI 2 only)").isNotZero();

        ObjectNode noVersion = OpenApiDocument.build(OpenApiDocumentTest.SCHEMAS);
        ((ObjectNode) noVersion.get("info")).remove("version");
        assertThat(lint(noVersion).exit()).as("info without a version").isNotZero();
    }

    private record Lint(int exit, String output) {
    }

    private Lint lint(ObjectNode doc) throws IOException, InterruptedException {
        assertThat(NODE_DIR.resolve("node_modules/@apidevtools/swagger-parser")).as(
                "the OpenAPI linter is not installed; run: npm ci --prefix src/test/node").isDirectory();
        Path file = Files.createTempFile(dir, "openapi", ".json");
        Files.write(file, Json.mapper().writeValueAsBytes(doc));
        Process p = new ProcessBuilder("node", "openapi-lint.mjs", file.toString()).directory(NODE_DIR.toFile())
                .redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new Lint(p.exitValue(), output);
    }
}
