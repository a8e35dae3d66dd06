package io.mcpsandbox.scan;

/**
 * A program's output as a terminal would show its characters, for scanning: terminal escape sequences (CSI, OSC,
 * DCS, SOS, PM, APC and two-character ESC sequences, in their 7-bit and C1 forms), C0 and C1 control characters
 * other than newline and tab (a carriage return is kept only as part of CRLF) and Unicode format characters
 * (category Cf: zero-width space/joiners, bidi marks, the BOM, tag characters, soft hyphen, ...) are removed, so
 * that a secret split by any of them is contiguous again. String sequences (OSC, DCS, ...) are removed with their
 * payload; the scanner also scans the original text, where a payload is plain text.
 *
 * <p>{@link #origin} maps each character of {@link #text} back to its offset in the original, so findings can be
 * reported and redacted in the original output. When the original has nothing to remove (the common case), it is
 * returned as is and no map is built.
 *
 * @param text          the normalised text
 * @param origin        offset in the original of each char of {@code text}; null when {@code text} is the original
 * @param rawScanNeeded whether the original must be scanned too: a string sequence's payload was removed (it is
 *                      plain text as printed), or something was removed between two characters neither of which is
 *                      whitespace (joining them can change a word or token boundary a detector relies on, e.g.
 *                      {@code x<ZWSP>AKIA...}). Where every removal touches whitespace or an end of the text (a
 *                      coloured log line), the normalised view is as separated as the original or more, and
 *                      scanning it alone finds everything the original scan would
 */
record NormalizedText(String text, int[] origin, boolean rawScanNeeded) {
    /** A string sequence (OSC, DCS, ...) longer than this without its terminator: only its introducer is removed. */
    static final int MAX_STRING_SEQUENCE = 4096;
    /** A CSI sequence longer than this is malformed: only its introducer is removed. */
    static final int MAX_CSI = 64;

    private static final char ESC = 0x1b;
    private static final char BEL = 0x07;

    boolean unchanged() {
        return origin == null;
    }

    /** Offset in the original of the char at {@code i} of the normalised text. */
    int originOf(int i) {
        return origin == null ? i : origin[i];
    }

    /** End offset (exclusive) in the original of a range of the normalised text ending (exclusive) at {@code end}. */
    int originEnd(int end) {
        return origin == null ? end : origin[end - 1] + 1;
    }

    static NormalizedText of(String s) {
        int first = firstToRemove(s);
        if (first < 0) {
            return new NormalizedText(s, null, false);
        }
        int n = s.length();
        StringBuilder out = new StringBuilder(n);
        int[] origin = new int[n];
        out.append(s, 0, first);
        for (int k = 0; k < first; k++) {
            origin[k] = k;
        }
        boolean rawNeeded = false;
        boolean inRemoval = false;
        char before = ' ';
        int i = first;
        while (i < n) {
            // a run of printable ASCII, newlines and tabs is copied in one go: the common case between escapes
            int j = i;
            while (j < n) {
                char c = s.charAt(j);
                if ((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t') {
                    j++;
                } else {
                    break;
                }
            }
            if (j == i) {
                int skip = removable(s, i);
                if (skip > 0) {
                    if (!inRemoval) {
                        before = out.isEmpty() ? ' ' : out.charAt(out.length() - 1);
                        inRemoval = true;
                    }
                    rawNeeded |= skip > 2 && isStringSequence(s, i);
                    i += skip;
                    continue;
                }
                j = i + 1; // a kept char outside printable ASCII (CRLF's CR, a letter, a non-Cf symbol)
            }
            if (inRemoval) {
                rawNeeded |= !Character.isWhitespace(before) && !Character.isWhitespace(s.charAt(i));
                inRemoval = false;
            }
            int base = out.length();
            out.append(s, i, j);
            for (int k = i; k < j; k++) {
                origin[base + k - i] = k;
            }
            i = j;
        }
        return new NormalizedText(out.toString(), origin, rawNeeded);
    }

    /** The first offset where something is removed, or -1: one cheap pass for the common clean text. */
    private static int firstToRemove(String s) {
        int n = s.length();
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c >= 0x20 && c < 0x7f) {
                continue;
            }
            if (c < 0x20) {
                if (c != '\n' && c != '\t' && !(c == '\r' && i + 1 < n && s.charAt(i + 1) == '\n')) {
                    return i;
                }
            } else if (c >= 0x7f && (c <= 0x9f || (c >= 0xad && removable(s, i) > 0))) {
                return i;
            }
        }
        return -1;
    }

    /** How many chars to remove at {@code i}: 0 when the char there is kept. */
    private static int removable(String s, int i) {
        char c = s.charAt(i);
        if (c >= 0x20 && c < 0x7f || c == '\n' || c == '\t') {
            return 0;
        }
        if (c == '\r') {
            return i + 1 < s.length() && s.charAt(i + 1) == '\n' ? 0 : 1;
        }
        if (c == ESC) {
            return escape(s, i);
        }
        if (c >= 0x80 && c <= 0x9f) {
            return switch (c) {
                case 0x9b -> csi(s, i, 1);               // CSI
                case 0x9d, 0x90, 0x98, 0x9e, 0x9f -> stringSequence(s, i, 1); // OSC, DCS, SOS, PM, APC
                default -> 1;
            };
        }
        if (c < 0x20 || c == 0x7f) {
            return 1;
        }
        if (c < 0xad) {
            return 0;
        }
        if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
            int cp = Character.toCodePoint(c, s.charAt(i + 1));
            return Character.getType(cp) == Character.FORMAT ? 2 : 0;
        }
        return Character.getType(c) == Character.FORMAT ? 1 : 0;
    }

    private static boolean isStringSequence(String s, int i) {
        char c = s.charAt(i);
        if (c == ESC && i + 1 < s.length()) {
            char k = s.charAt(i + 1);
            return k == ']' || k == 'P' || k == 'X' || k == '^' || k == '_';
        }
        return c == 0x9d || c == 0x90 || c == 0x98 || c == 0x9e || c == 0x9f;
    }

    private static int escape(String s, int i) {
        if (i + 1 >= s.length()) {
            return 1;
        }
        char k = s.charAt(i + 1);
        switch (k) {
            case '[':
                return csi(s, i, 2);
            case ']', 'P', 'X', '^', '_':
                return stringSequence(s, i, 2);
            default:
                break;
        }
        // ESC, intermediates 0x20-0x2F, one final 0x30-0x7E (ESC ( B, ESC 7, ESC =, ...)
        int j = i + 1;
        int limit = Math.min(s.length(), i + 8);
        while (j < limit && s.charAt(j) >= 0x20 && s.charAt(j) <= 0x2f) {
            j++;
        }
        if (j < limit && s.charAt(j) >= 0x30 && s.charAt(j) <= 0x7e) {
            return j + 1 - i;
        }
        return 1;
    }

    /** CSI: parameter bytes 0x30-0x3F, intermediate bytes 0x20-0x2F, one final byte 0x40-0x7E. */
    private static int csi(String s, int i, int introducer) {
        int j = i + introducer;
        int limit = Math.min(s.length(), j + MAX_CSI);
        while (j < limit && s.charAt(j) >= 0x30 && s.charAt(j) <= 0x3f) {
            j++;
        }
        while (j < limit && s.charAt(j) >= 0x20 && s.charAt(j) <= 0x2f) {
            j++;
        }
        if (j < limit && s.charAt(j) >= 0x40 && s.charAt(j) <= 0x7e) {
            return j + 1 - i;
        }
        return introducer; // malformed: drop the introducer, keep what follows visible to the scanner
    }

    /** OSC/DCS/SOS/PM/APC: up to BEL, ESC \ or C1 ST, at most {@link #MAX_STRING_SEQUENCE} chars. */
    private static int stringSequence(String s, int i, int introducer) {
        int limit = Math.min(s.length(), i + introducer + MAX_STRING_SEQUENCE);
        for (int j = i + introducer; j < limit; j++) {
            char c = s.charAt(j);
            if (c == BEL || c == 0x9c) {
                return j + 1 - i;
            }
            if (c == ESC && j + 1 < s.length() && s.charAt(j + 1) == '\\') {
                return j + 2 - i;
            }
        }
        return introducer;
    }
}
