package io.mcpsandbox.api.mcp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.SecurityLevel;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * The images another node's result event carries are a sandbox's files: read strictly, the type sniffed again,
 * bounded in number, and anything malformed fails the answer instead of reaching the MCP client.
 */
class ForwardedImagesTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final byte[] GIF = "GIF89a\u0001\u0000\u0001\u0000\u0000\u0000\u0000;".getBytes(
            java.nio.charset.StandardCharsets.ISO_8859_1);
    private static final ExecutionResult RESULT = ExecutionResult.notRun("e1", ExecutionStatus.COMPLETED, null,
            "runc", SecurityLevel.MEDIUM, "host", 5, List.of());

    private static ObjectNode image(String path, String type, String base64) {
        return JSON.createObjectNode().put("path", path).put("mimeType", type).put("data", base64);
    }

    private static ObjectNode event(JsonNode... images) {
        ObjectNode e = JSON.createObjectNode().put("type", "result");
        ArrayNode list = e.putArray("images");
        for (JsonNode i : images) {
            list.add(i);
        }
        return e;
    }

    @Test
    void wellFormedImagesAndNotesAreAttached() throws Exception {
        ObjectNode e = event(image("/workspace/a.gif", "image/gif", Base64.getEncoder().encodeToString(GIF)));
        e.putArray("imageNotes").add("/workspace/big.png: 9000000 bytes, over outputs.image-max-bytes");
        ExecutionResult r = ForwardedImages.attach(RESULT, e);
        assertThat(r.images()).singleElement().satisfies(i -> {
            assertThat(i.path()).isEqualTo("/workspace/a.gif");
            assertThat(i.mimeType()).isEqualTo("image/gif");
            assertThat(i.data()).isEqualTo(GIF);
        });
        assertThat(r.imageNotes()).singleElement().asString().startsWith("/workspace/big.png");
        assertThat(ForwardedImages.attach(RESULT, JSON.createObjectNode().put("type", "result"))).isSameAs(RESULT);
    }

    @Test
    void aHostileOrBrokenImageFailsTheAnswer() {
        String gif = Base64.getEncoder().encodeToString(GIF);
        String elf = Base64.getEncoder().encodeToString("\u007fELF\u0002\u0001\u0001".getBytes(
                java.nio.charset.StandardCharsets.ISO_8859_1));
        List<JsonNode> bad = List.of(
                event(image("/workspace/a.png", "image/png", gif)), // claims another type than its bytes
                event(image("/workspace/a.png", "image/png", elf)), // not an image at all
                event(image("/workspace/a.gif", "image/gif", "not base64!")),
                event(image("relative.gif", "image/gif", gif)),
                event(image("/workspace/a\u001b[2J.gif", "image/gif", gif)), // a terminal escape in the path
                event(image("/workspace/a.gif", "image/gif", gif).put("extra", 1)),
                event(JSON.createObjectNode().put("path", "/x.gif").put("mimeType", "image/gif").put("data", 1)),
                JSON.createObjectNode().put("images", "a string"),
                JSON.createObjectNode().set("imageNotes", JSON.createArrayNode().add(1)));
        for (JsonNode e : bad) {
            assertThatThrownBy(() -> ForwardedImages.attach(RESULT, e)).as(e.toString())
                    .isInstanceOf(SessionForwarder.Failed.class);
        }
    }

    @Test
    void moreImagesThanTheBoundFailTheAnswer() {
        JsonNode[] many = new JsonNode[ForwardedImages.MAX_IMAGES + 1];
        for (int i = 0; i < many.length; i++) {
            many[i] = image("/workspace/" + i + ".gif", "image/gif", Base64.getEncoder().encodeToString(GIF));
        }
        assertThatThrownBy(() -> ForwardedImages.attach(RESULT, event(many)))
                .isInstanceOf(SessionForwarder.Failed.class).hasMessageContaining("at most 64");
    }
}
