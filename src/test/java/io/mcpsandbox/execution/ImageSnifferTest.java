package io.mcpsandbox.execution;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.config.Settings;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;

/** An image's type from its bytes alone, and the outputs.* settings. */
class ImageSnifferTest {
    @Test
    void theFourKindsByTheirFirstBytes() {
        assertThat(ImageSniffer.mimeType(bytes(0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0)))
                .hasValue("image/png");
        assertThat(ImageSniffer.mimeType(bytes(0xff, 0xd8, 0xff, 0xe0))).hasValue("image/jpeg");
        assertThat(ImageSniffer.mimeType(text("GIF89a..."))).hasValue("image/gif");
        assertThat(ImageSniffer.mimeType(text("GIF87a"))).hasValue("image/gif");
        assertThat(ImageSniffer.mimeType(text("<svg xmlns=\"http://www.w3.org/2000/svg\"/>")))
                .hasValue("image/svg+xml");
        assertThat(ImageSniffer.mimeType(text("\uFEFF<?xml version=\"1.0\"?>\n<!-- a <svg> in a comment -->\n"
                + "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x.dtd\">\n\n<svg>"))).hasValue("image/svg+xml");
    }

    @Test
    void lookalikesAreNotImages() {
        assertThat(ImageSniffer.mimeType(new byte[0])).isEmpty();
        // a PNG signature cut short, a broken one, JPEG's first two bytes only
        assertThat(ImageSniffer.mimeType(bytes(0x89, 'P', 'N', 'G', '\r', '\n', 0x1a))).isEmpty();
        assertThat(ImageSniffer.mimeType(bytes(0x89, 'P', 'N', 'G', '\n', '\n', 0x1a, '\n'))).isEmpty();
        assertThat(ImageSniffer.mimeType(bytes(0xff, 0xd8))).isEmpty();
        assertThat(ImageSniffer.mimeType(text("GIF90a"))).isEmpty();
        assertThat(ImageSniffer.mimeType(text("not a png"))).isEmpty();
        // SVG: another root, a root that only starts with svg, text before the root, an unclosed comment,
        // the root too far in
        assertThat(ImageSniffer.mimeType(text("<html><svg></svg></html>"))).isEmpty();
        assertThat(ImageSniffer.mimeType(text("<svgfoo/>"))).isEmpty();
        assertThat(ImageSniffer.mimeType(text("hello <svg/>"))).isEmpty();
        assertThat(ImageSniffer.mimeType(text("<!-- <svg/>"))).isEmpty();
        assertThat(ImageSniffer.mimeType(text("<svg"))).isEmpty();
        assertThat(ImageSniffer.mimeType(text(" ".repeat(ImageSniffer.SVG_HEAD) + "<svg/>"))).isEmpty();
    }

    @Test
    void theNameIsOnlyAFirstFilter() {
        assertThat(ImageSniffer.hasImageName("chart.PNG")).isTrue();
        assertThat(ImageSniffer.hasImageName("photo.jpeg")).isTrue();
        assertThat(ImageSniffer.hasImageName("a.jpg")).isTrue();
        assertThat(ImageSniffer.hasImageName("a.gif")).isTrue();
        assertThat(ImageSniffer.hasImageName("a.svg")).isTrue();
        assertThat(ImageSniffer.hasImageName("png")).isFalse();
        assertThat(ImageSniffer.hasImageName("data.csv")).isFalse();
        assertThat(ImageSniffer.hasImageName("a.png.txt")).isFalse();
    }

    @Test
    void settingsHaveSafeDefaultsAndRefuseNonsense() {
        ImageOutputSettings defaults = ImageOutputSettings.from(new Settings(new Properties(), Map.of()));
        assertThat(defaults).isEqualTo(new ImageOutputSettings("/workspace", 2L << 20, 8L << 20, 8,
                Duration.ofSeconds(5)));
        ImageOutputSettings set = ImageOutputSettings.from(new Settings(new Properties(), Map.of(
                "MCP_SANDBOX_OUTPUTS_IMAGE_DIR", "/workspace/out", "MCP_SANDBOX_OUTPUTS_MAX_IMAGES", "0")));
        assertThat(set.dir()).isEqualTo("/workspace/out");
        assertThat(set.maxImages()).isZero();
        assertThatThrownBy(() -> new ImageOutputSettings("/etc", 1, 1, 1, Duration.ofSeconds(1)))
                .hasMessageContaining("outputs.image-dir");
        assertThatThrownBy(() -> new ImageOutputSettings("/workspace/../etc", 1, 1, 1, Duration.ofSeconds(1)))
                .hasMessageContaining("outputs.image-dir");
        assertThatThrownBy(() -> new ImageOutputSettings("/workspace", 10, 5, 1, Duration.ofSeconds(1)))
                .hasMessageContaining("images-max-bytes");
        assertThatThrownBy(() -> new ImageOutputSettings("/workspace", 10, 10, -1, Duration.ofSeconds(1)))
                .hasMessageContaining("max-images");
        assertThatThrownBy(() -> new ImageOutputSettings("/workspace", 10, 10, 1, Duration.ZERO))
                .hasMessageContaining("image-timeout");
    }

    private static byte[] bytes(int... values) {
        byte[] out = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = (byte) values[i];
        }
        return out;
    }

    private static byte[] text(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
