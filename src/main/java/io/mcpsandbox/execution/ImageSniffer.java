package io.mcpsandbox.execution;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;

/**
 * What kind of image a file is, from its first bytes (a file's name is the sandbox's claim and proves nothing):
 * PNG, JPEG and GIF by their signatures, SVG by an {@code <svg} root element after at most an XML declaration,
 * comments, processing instructions and a DOCTYPE.
 */
public final class ImageSniffer {
    /** How far into a file an SVG's root element is looked for. */
    static final int SVG_HEAD = 4096;

    private static final byte[] PNG = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    private static final byte[] JPEG = {(byte) 0xff, (byte) 0xd8, (byte) 0xff};
    private static final byte[] GIF87 = "GIF87a".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] GIF89 = "GIF89a".getBytes(StandardCharsets.US_ASCII);

    private ImageSniffer() {
    }

    /** The image's MIME type, or empty when the bytes are none of the four kinds. */
    public static Optional<String> mimeType(byte[] content) {
        if (startsWith(content, PNG)) {
            return Optional.of("image/png");
        }
        if (startsWith(content, JPEG)) {
            return Optional.of("image/jpeg");
        }
        if (startsWith(content, GIF87) || startsWith(content, GIF89)) {
            return Optional.of("image/gif");
        }
        return isSvg(content) ? Optional.of("image/svg+xml") : Optional.empty();
    }

    /** Whether a file name looks like one of the image kinds (a cheap first filter; its content decides). */
    public static boolean hasImageName(String name) {
        String lower = name.toLowerCase(Locale.ROOT);
        return lower.endsWith(".png") || lower.endsWith(".jpg") || lower.endsWith(".jpeg") || lower.endsWith(".gif")
                || lower.endsWith(".svg");
    }

    private static boolean startsWith(byte[] content, byte[] prefix) {
        return content.length >= prefix.length
                && Arrays.equals(content, 0, prefix.length, prefix, 0, prefix.length);
    }

    /** An XML prolog (declaration, comments, processing instructions, a DOCTYPE without an internal subset). */
    private static boolean isSvg(byte[] content) {
        String head = new String(content, 0, Math.min(content.length, SVG_HEAD), StandardCharsets.UTF_8);
        int i = head.startsWith("\uFEFF") ? 1 : 0;
        while (true) {
            i = skipSpace(head, i);
            if (head.startsWith("<?", i)) {
                i = after(head, i, "?>");
            } else if (head.startsWith("<!--", i)) {
                i = after(head, i + 4, "-->");
            } else if (head.startsWith("<!DOCTYPE", i)) {
                i = after(head, i, ">");
            } else {
                break;
            }
            if (i < 0) {
                return false;
            }
        }
        if (!head.startsWith("<svg", i) || head.length() <= i + 4) {
            return false;
        }
        char next = head.charAt(i + 4);
        return next == '>' || next == '/' || next == ' ' || next == '\t' || next == '\r' || next == '\n';
    }

    private static int skipSpace(String s, int i) {
        while (i < s.length() && (s.charAt(i) == ' ' || s.charAt(i) == '\t' || s.charAt(i) == '\r'
                || s.charAt(i) == '\n')) {
            i++;
        }
        return i;
    }

    private static int after(String s, int from, String end) {
        int at = s.indexOf(end, from);
        return at < 0 ? -1 : at + end.length();
    }
}
