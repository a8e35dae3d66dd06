package io.mcpsandbox.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small strict JSON reader and string writer for {@code exec}'s hand-off ({@link LocalHandOff}): the events of
 * an NDJSON execution stream and the request body. Jackson's object mapper is some 600 classes to load and set up,
 * most of a hand-off's start, for a few flat objects; its streaming core alone, tried in this class's place
 * (2026-12-03), still cost a hand-off ~100 ms more CPU (its tables' set-up, and classes outside the start archive
 * that make the JVM open the 50 MB jar), against a 100 ms target for the whole call. Objects become {@link LinkedHashMap}s (a repeated name is
 * refused), arrays {@link ArrayList}s, numbers {@link Integer}, {@link Long} or {@link Double}, and {@code null}
 * {@link #NULL}; nesting is bounded. {@link #parseEvent} also keeps the exact text of each top-level value (the
 * result object is printed as the server wrote it).
 */
final class StreamJson {
    /** JSON's null (a map cannot hold Java's). */
    static final Object NULL = new Object() {
        @Override
        public String toString() {
            return "null";
        }
    };
    private static final int MAX_DEPTH = 64;

    /** A top-level object: its members, and the exact text of each member's value. */
    record Event(Map<String, Object> members, Map<String, String> rawValues) {
    }

    private final String text;
    private int pos;

    private StreamJson(String text) {
        this.text = text;
    }

    /** One line holding one JSON object. */
    static Event parseEvent(String line) {
        StreamJson p = new StreamJson(line);
        p.skipSpace();
        p.expect('{');
        Map<String, Object> members = new LinkedHashMap<>();
        Map<String, String> raw = new LinkedHashMap<>();
        p.skipSpace();
        if (!p.take('}')) {
            do {
                p.skipSpace();
                String name = p.string();
                p.skipSpace();
                p.expect(':');
                p.skipSpace();
                int start = p.pos;
                Object value = p.value(1);
                if (members.putIfAbsent(name, value) != null) {
                    throw p.error("repeated name " + name);
                }
                raw.put(name, line.substring(start, p.pos));
                p.skipSpace();
            } while (p.take(','));
            p.expect('}');
        }
        p.skipSpace();
        if (p.pos != line.length()) {
            throw p.error("text after the object");
        }
        return new Event(members, raw);
    }

    /** {@code s} as a JSON string, quoted, escaped as Jackson writes it. */
    static String quote(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                case '\b' -> b.append("\\b");
                case '\f' -> b.append("\\f");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04X", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }

    private Object value(int depth) {
        if (depth > MAX_DEPTH) {
            throw error("nested too deep");
        }
        if (pos >= text.length()) {
            throw error("a value is missing");
        }
        char c = text.charAt(pos);
        switch (c) {
            case '{' -> {
                pos++;
                Map<String, Object> object = new LinkedHashMap<>();
                skipSpace();
                if (take('}')) {
                    return object;
                }
                do {
                    skipSpace();
                    String name = string();
                    skipSpace();
                    expect(':');
                    skipSpace();
                    if (object.putIfAbsent(name, value(depth + 1)) != null) {
                        throw error("repeated name " + name);
                    }
                    skipSpace();
                } while (take(','));
                expect('}');
                return object;
            }
            case '[' -> {
                pos++;
                List<Object> array = new ArrayList<>();
                skipSpace();
                if (take(']')) {
                    return array;
                }
                do {
                    skipSpace();
                    array.add(value(depth + 1));
                    skipSpace();
                } while (take(','));
                expect(']');
                return array;
            }
            case '"' -> {
                return string();
            }
            case 't' -> {
                literal("true");
                return Boolean.TRUE;
            }
            case 'f' -> {
                literal("false");
                return Boolean.FALSE;
            }
            case 'n' -> {
                literal("null");
                return NULL;
            }
            default -> {
                return number();
            }
        }
    }

    private Object number() {
        int start = pos;
        take('-');
        if (take('0')) {
            // no leading zeros
        } else if (!digits()) {
            throw error("not a value");
        }
        boolean integral = true;
        if (take('.')) {
            integral = false;
            if (!digits()) {
                throw error("a fraction without digits");
            }
        }
        if (pos < text.length() && (text.charAt(pos) == 'e' || text.charAt(pos) == 'E')) {
            pos++;
            integral = false;
            if (!take('+')) {
                take('-');
            }
            if (!digits()) {
                throw error("an exponent without digits");
            }
        }
        String n = text.substring(start, pos);
        if (integral && n.length() <= 19) {
            try {
                long v = Long.parseLong(n);
                return v == (int) v ? (Object) (int) v : (Object) v;
            } catch (NumberFormatException e) {
                // larger than a long: as a double
            }
        }
        return Double.parseDouble(n);
    }

    private boolean digits() {
        int start = pos;
        while (pos < text.length() && text.charAt(pos) >= '0' && text.charAt(pos) <= '9') {
            pos++;
        }
        return pos > start;
    }

    private String string() {
        expect('"');
        StringBuilder b = new StringBuilder();
        while (true) {
            if (pos >= text.length()) {
                throw error("a string does not end");
            }
            char c = text.charAt(pos++);
            if (c == '"') {
                return b.toString();
            }
            if (c < 0x20) {
                throw error("a control character in a string");
            }
            if (c != '\\') {
                b.append(c);
                continue;
            }
            if (pos >= text.length()) {
                throw error("a string does not end");
            }
            char e = text.charAt(pos++);
            switch (e) {
                case '"', '\\', '/' -> b.append(e);
                case 'b' -> b.append('\b');
                case 'f' -> b.append('\f');
                case 'n' -> b.append('\n');
                case 'r' -> b.append('\r');
                case 't' -> b.append('\t');
                case 'u' -> {
                    if (pos + 4 > text.length()) {
                        throw error("a short \\u escape");
                    }
                    int v = 0;
                    for (int i = 0; i < 4; i++) {
                        int d = Character.digit(text.charAt(pos++), 16);
                        if (d < 0) {
                            throw error("a malformed \\u escape");
                        }
                        v = v * 16 + d;
                    }
                    b.append((char) v);
                }
                default -> throw error("an unknown escape \\" + e);
            }
        }
    }

    private void literal(String word) {
        if (!text.startsWith(word, pos)) {
            throw error("not a value");
        }
        pos += word.length();
    }

    private void skipSpace() {
        while (pos < text.length()) {
            char c = text.charAt(pos);
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                return;
            }
            pos++;
        }
    }

    private boolean take(char c) {
        if (pos < text.length() && text.charAt(pos) == c) {
            pos++;
            return true;
        }
        return false;
    }

    private void expect(char c) {
        if (!take(c)) {
            throw error("expected '" + c + "'");
        }
    }

    private IllegalArgumentException error(String what) {
        return new IllegalArgumentException("malformed JSON at offset " + pos + ": " + what);
    }
}
