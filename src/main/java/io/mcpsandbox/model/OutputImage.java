package io.mcpsandbox.model;

import java.util.Base64;

/**
 * An image file a program wrote under the watched directory (docs/api.md, "Image outputs"). The type comes from
 * the file's first bytes, never from its name; the bytes are the whole file (an image over its cap is skipped,
 * never cut).
 *
 * @param path      its absolute path in the sandbox (e.g. /workspace/chart.png)
 * @param mimeType  image/png, image/jpeg, image/gif or image/svg+xml
 * @param sizeBytes the length of {@code data}
 */
public record OutputImage(String path, String mimeType, long sizeBytes, byte[] data) {
    public OutputImage {
        data = data.clone();
        if (sizeBytes != data.length) {
            throw new IllegalArgumentException("sizeBytes " + sizeBytes + " is not the data's length " + data.length);
        }
    }

    @Override
    public byte[] data() {
        return data.clone();
    }

    /** The bytes as standard base64 (what MCP image content carries). */
    public String base64() {
        return Base64.getEncoder().encodeToString(data);
    }

    @Override
    public String toString() {
        return "OutputImage[" + path + ", " + mimeType + ", " + sizeBytes + " bytes]";
    }
}
