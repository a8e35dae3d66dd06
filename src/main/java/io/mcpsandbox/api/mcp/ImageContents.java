package io.mcpsandbox.api.mcp;

import io.mcpsandbox.model.OutputImage;
import io.modelcontextprotocol.spec.McpSchema;
import java.util.List;
import java.util.Map;

/** Image files an execution wrote, as MCP image content (docs/api.md, "Image outputs"). */
public final class ImageContents {
    /** The _meta key that names the file an image came from. */
    public static final String PATH_META = "io.mcpsandbox/path";

    private ImageContents() {
    }

    /** One image content per image, base64 with its sniffed MIME type, its sandbox path in _meta. */
    public static List<McpSchema.Content> of(List<OutputImage> images) {
        return images.stream().<McpSchema.Content>map(i -> new McpSchema.ImageContent(null, i.base64(),
                i.mimeType(), Map.of(PATH_META, i.path()))).toList();
    }

    /** The skip notes as one text content ("image files not returned: ..."), or none. */
    public static List<McpSchema.Content> skipped(List<String> notes) {
        if (notes.isEmpty()) {
            return List.of();
        }
        return List.of(new McpSchema.TextContent("image files not returned:\n" + String.join("\n", notes)));
    }
}
