package io.mcpsandbox.image;

import java.util.HexFormat;
import java.util.Optional;

/**
 * How a catalog name is stored: as a tag of the OCI layout's index, escaped so that only {@code [a-z0-9_]}
 * reach skopeo's and umoci's {@code layout:tag} arguments (which split on ':') and nothing a user typed is
 * ever used as a path: every character outside {@code [a-z0-9]} becomes {@code _} and two hex digits
 * ({@code alpine:3.19} is {@code alpine_3a3_2e19}).
 */
final class ImageNames {
    private static final HexFormat HEX = HexFormat.of();

    private ImageNames() {
    }

    static String layoutTag(String name) {
        StringBuilder b = new StringBuilder(name.length() * 2);
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
                b.append(c);
            } else if (c < 0x80) {
                b.append('_').append(HEX.toHexDigits((byte) c));
            } else {
                throw new IllegalArgumentException("not an ASCII name: " + name);
            }
        }
        return b.toString();
    }

    /**
     * The catalog name a layout tag stands for: its unescaped form, or, for a tag written before names were
     * escaped (plain {@code [a-z0-9._-]}), that tag read as a reference. Empty for anything else.
     */
    static Optional<String> fromLayoutTag(String tag) {
        Optional<String> escaped = unescape(tag).flatMap(n -> canonical(n).filter(n::equals));
        return escaped.isPresent() ? escaped : canonical(tag);
    }

    private static Optional<String> canonical(String candidate) {
        try {
            ImageReference r = ImageReference.parse("tag", candidate);
            return r.digest() == null ? Optional.of(r.name()) : Optional.empty();
        } catch (IllegalArgumentException notAName) {
            return Optional.empty();
        }
    }

    private static Optional<String> unescape(String tag) {
        StringBuilder b = new StringBuilder(tag.length());
        for (int i = 0; i < tag.length(); i++) {
            char c = tag.charAt(i);
            if (c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
                b.append(c);
            } else if (c == '_' && i + 2 < tag.length() && isHex(tag.charAt(i + 1)) && isHex(tag.charAt(i + 2))) {
                b.append((char) HEX.fromHexDigits(tag, i + 1, i + 3));
                i += 2;
            } else {
                return Optional.empty();
            }
        }
        return Optional.of(b.toString());
    }

    private static boolean isHex(char c) {
        return c >= '0' && c <= '9' || c >= 'a' && c <= 'f';
    }
}
