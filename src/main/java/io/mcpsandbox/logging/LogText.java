package io.mcpsandbox.logging;

/**
 * Makes text safe for one log line: user text (work dirs, image names, reasons, anything from a request or a
 * sandbox) may hold CR, LF or other control characters that would start a forged line or steer a terminal.
 * Escapes them as {@code \r}, {@code \n}, {@code \t} or {@code \}{@code uXXXX}, and the backslash itself, so
 * the result is unambiguous.
 */
public final class LogText {
    private LogText() {
    }

    public static String escape(String text) {
        if (text == null) {
            return null;
        }
        int i = 0;
        while (i < text.length() && !needsEscape(text.charAt(i))) {
            i++;
        }
        if (i == text.length()) {
            return text;
        }
        StringBuilder out = new StringBuilder(text.length() + 16).append(text, 0, i);
        for (; i < text.length(); i++) {
            char c = text.charAt(i);
            if (!needsEscape(c)) {
                out.append(c);
                continue;
            }
            switch (c) {
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\\' -> out.append("\\\\");
                default -> out.append(String.format("\\u%04x", (int) c));
            }
        }
        return out.toString();
    }

    /**
     * C0 and C1 controls, DEL, the Unicode line and paragraph separators, bidirectional overrides (which can
     * make a line read differently than it is) and the backslash (so an escape cannot be faked).
     */
    private static boolean needsEscape(char c) {
        return c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == '\\' || c == '\u2028' || c == '\u2029'
                || (c >= '\u202a' && c <= '\u202e') || (c >= '\u2066' && c <= '\u2069') || c == '\u0085';
    }
}
