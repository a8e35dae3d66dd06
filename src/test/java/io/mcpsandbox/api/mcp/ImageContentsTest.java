package io.mcpsandbox.api.mcp;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.model.OutputImage;
import io.modelcontextprotocol.spec.McpSchema;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Output images as MCP content: base64, the sniffed type, the path in _meta; skip notes as one text. */
class ImageContentsTest {
    @Test
    void imagesBecomeImageContentAndNotesOneText() {
        byte[] gif = "GIF89a-pixels".getBytes();
        List<McpSchema.Content> contents = ImageContents.of(List.of(new OutputImage("/workspace/a.gif", "image/gif",
                gif.length, gif)));
        assertThat(contents).singleElement().isInstanceOfSatisfying(McpSchema.ImageContent.class, image -> {
            assertThat(image.mimeType()).isEqualTo("image/gif");
            assertThat(Base64.getDecoder().decode(image.data())).isEqualTo(gif);
            assertThat(image.meta()).isEqualTo(Map.of(ImageContents.PATH_META, "/workspace/a.gif"));
        });
        assertThat(ImageContents.skipped(List.of())).isEmpty();
        assertThat(ImageContents.skipped(List.of("/workspace/x.png: not a regular file")))
                .singleElement().isInstanceOfSatisfying(McpSchema.TextContent.class, t -> assertThat(t.text())
                        .isEqualTo("image files not returned:\n/workspace/x.png: not a regular file"));
    }
}
