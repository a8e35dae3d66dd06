package io.mcpsandbox.api.mcp;

import static org.assertj.core.api.Assertions.assertThat;

import io.modelcontextprotocol.util.McpUriTemplateManager;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Session file URIs: the template matcher, percent-encoding both ways, and URIs that name no file. */
class SessionResourceUrisTest {
    private final McpUriTemplateManager template = new ResourceUriTemplates().create(SessionResources.TEMPLATE);

    @Test
    void thePathVariableSpansSlashesTheSessionIdDoesNot() {
        assertThat(template.getVariableNames()).containsExactly("sessionId", "path");
        assertThat(template.isUriTemplate(SessionResources.TEMPLATE)).isTrue();
        assertThat(template.matches("sandbox://sessions/s1/files/workspace/out/chart.png")).isTrue();
        assertThat(template.extractVariableValues("sandbox://sessions/s1/files/workspace/out/chart.png"))
                .isEqualTo(Map.of("sessionId", "s1", "path", "workspace/out/chart.png"));
        assertThat(template.matches("sandbox://sessions/a/b/files/workspace/x")).isFalse();
        assertThat(template.matches("sandbox://sessions/s1/files/")).isFalse();
        assertThat(template.matches("sandbox://sessions")).isFalse();
        assertThat(template.matches("sandbox://sessions/s1/files/workspace/x?y")).isFalse();
        assertThat(new ResourceUriTemplates().create(SessionResources.INDEX).matches(SessionResources.INDEX))
                .isTrue();
    }

    @Test
    void pathsRoundTripThroughTheirUri() {
        for (String path : new String[] {"/workspace/chart.png", "/workspace/a b/ü%.txt", "/tmp/x?#+&=:",
                "/workspace/\uD83D\uDE00.png"}) {
            String uri = SessionResources.uri("sess-1", path);
            assertThat(uri).startsWith("sandbox://sessions/sess-1/files/").doesNotContain(" ", "?", "#");
            assertThat(template.matches(uri)).as(uri).isTrue();
            assertThat(SessionResources.parse(uri)).hasValue(Map.entry("sess-1", path));
        }
        assertThat(SessionResources.uri("s", "/workspace/a b.png"))
                .isEqualTo("sandbox://sessions/s/files/workspace/a%20b.png");
    }

    @Test
    void urisThatNameNoFileAreRefused() {
        assertThat(SessionResources.parse(null)).isEmpty();
        assertThat(SessionResources.parse("file:///etc/passwd")).isEmpty();
        assertThat(SessionResources.parse("sandbox://sessions/s1/workspace/x")).isEmpty();
        assertThat(SessionResources.parse("sandbox://sessions//files/workspace/x")).isEmpty();
        assertThat(SessionResources.parse("sandbox://sessions/s%31/files/workspace/x")).isEmpty();
        assertThat(SessionResources.parse("sandbox://sessions/s1/files/workspace/%zz")).isEmpty();
        assertThat(SessionResources.parse("sandbox://sessions/s1/files/workspace/%4")).isEmpty();
        assertThat(SessionResources.parse("sandbox://sessions/s1/files/workspace/%ff%fe")).isEmpty();
        assertThat(SessionResources.parse("sandbox://sessions/s1/files/workspace/x?raw")).isEmpty();
        // These parse; SessionService's path check refuses them (outside /workspace and /tmp, a '..', a NUL).
        assertThat(SessionResources.parse("sandbox://sessions/s1/files/etc/passwd"))
                .hasValue(Map.entry("s1", "/etc/passwd"));
        assertThat(SessionResources.parse("sandbox://sessions/s1/files/workspace/%2E%2E/etc"))
                .hasValue(Map.entry("s1", "/workspace/../etc"));
        assertThat(SessionResources.parse("sandbox://sessions/s1/files/workspace/a%00b"))
                .hasValue(Map.entry("s1", "/workspace/a\0b"));
    }
}
