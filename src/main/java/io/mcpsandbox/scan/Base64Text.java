package io.mcpsandbox.scan;


/**
 * Lenient base64 / base64url decoding of a slice of a string, and the "is this just encoded text?" test that keeps
 * base64 of ordinary prose (high entropy, all character classes) from being reported as a key.
 */
final class Base64Text {
    private static final byte[] VALUE = new byte[128];

    static {
        java.util.Arrays.fill(VALUE, (byte) -1);
        String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (int i = 0; i < 64; i++) {
            VALUE[alphabet.charAt(i)] = (byte) i;
        }
        VALUE['-'] = 62; // base64url
        VALUE['_'] = 63;
    }

    private Base64Text() {
    }

    /** Decodes s[from, to) (either alphabet, no padding needed); null when it holds a non-alphabet character. */
    static byte[] decode(CharSequence s, int from, int to) {
        int len = to - from;
        if (len % 4 == 1) {
            return null;
        }
        byte[] out = new byte[len * 3 / 4];
        int o = 0;
        int acc = 0;
        int bits = 0;
        for (int k = from; k < to; k++) {
            char c = s.charAt(k);
            int v = c < 128 ? VALUE[c] : -1;
            if (v < 0) {
                return null;
            }
            acc = (acc << 6) | v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                out[o++] = (byte) (acc >> bits);
                acc &= (1 << bits) - 1;
            }
        }
        return o == out.length ? out : java.util.Arrays.copyOf(out, o);
    }

    /**
     * True when s[from, to), decoded as base64 at any of the four alignments (the token may start mid-quantum),
     * is text: valid UTF-8 with at most 1 in 20 bytes a control character. Random key material decodes to bytes
     * that are almost never valid UTF-8 over 20+ bytes.
     */
    static boolean isEncodedText(CharSequence s, int from, int to) {
        for (int shift = 0; shift < 4 && to - from - shift >= 16; shift++) {
            int end = to - ((to - from - shift) % 4 == 1 ? 1 : 0);
            byte[] bytes = decode(s, from + shift, end);
            if (bytes != null && looksLikeText(bytes)) {
                return true;
            }
        }
        return false;
    }

    static boolean looksLikeText(byte[] bytes) {
        int control = 0;
        for (byte b : bytes) {
            if ((b >= 0 && b < 0x20 && b != '\n' && b != '\r' && b != '\t') || b == 0x7f) {
                control++;
            }
        }
        if (control * 20 > bytes.length) {
            return false;
        }
        return validUtf8(bytes);
    }

    /**
     * Strict UTF-8 validation (no overlongs, no surrogates), except that a sequence cut off at either end is
     * forgiven: the slice may start or stop in the middle of a character.
     */
    static boolean validUtf8(byte[] b) {
        int i = 0;
        int n = b.length;
        while (i < n && i < 3 && (b[i] & 0xC0) == 0x80) {
            i++; // continuation bytes of a character that began before the slice
        }
        while (i < n) {
            int c = b[i] & 0xFF;
            if (c < 0x80) {
                i++;
                continue;
            }
            int need;
            int min;
            if (c >= 0xC2 && c <= 0xDF) {
                need = 1;
                min = 0x80;
            } else if (c >= 0xE0 && c <= 0xEF) {
                need = 2;
                min = 0x800;
            } else if (c >= 0xF0 && c <= 0xF4) {
                need = 3;
                min = 0x10000;
            } else {
                return false;
            }
            int cp = c & (0x3F >> need);
            for (int k = 1; k <= need; k++) {
                if (i + k >= n) {
                    return true; // cut at the end of the slice
                }
                int cc = b[i + k] & 0xFF;
                if ((cc & 0xC0) != 0x80) {
                    return false;
                }
                cp = (cp << 6) | (cc & 0x3F);
            }
            if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
                return false;
            }
            i += need + 1;
        }
        return true;
    }
}
